//! Sending: replies as `sendMessage` with an inline keyboard, quick exit as `deleteMessage`.
//!
//! The dispatcher already paces sends to the channel's [`RateLimits`]; the sender also keeps
//! Telegram's limits as measured at the API, where they count: at most 30 messages in any
//! second (a slot is freed one second after its request finished) and one second between the
//! end of one message to a chat and the start of the next, long texts' parts included.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::api::{Api, SentMessage, TelegramError};
use super::{CHANNEL, TelegramConfig};
use crate::channel::{Outgoing, OutgoingPayload, RateLimits, Receipt, SendError, SendFuture, Sender};
use crate::flow::Reply;

/// Longest message text, in UTF-16 code units (how Telegram measures text).
pub(crate) const MAX_TEXT: usize = 4096;
/// Messages per second over all chats.
const PER_SECOND: usize = 30;
/// Gap between messages to one chat.
const PER_CHAT_GAP: Duration = Duration::from_secs(1);
/// Remembered partial sends; beyond this the memory is dropped (a retry may then repeat parts).
const MAX_PROGRESS: usize = 10_000;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sends the outbox's Telegram rows.
pub struct TelegramSender {
    api: Api,
    /// One permit per message in the last second (held until a second after it finished).
    window: Arc<Semaphore>,
    /// When the last message to each chat finished.
    last_to_chat: Mutex<HashMap<String, Instant>>,
    /// Outbox id → how far an earlier attempt got (message ids sent, or deletions done), so a
    /// retry after a partial failure resumes instead of repeating.
    progress: Mutex<HashMap<i64, (usize, Vec<String>)>>,
}

impl std::fmt::Debug for TelegramSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramSender").finish_non_exhaustive()
    }
}

impl TelegramSender {
    /// A sender for the configured bot.
    pub fn new(config: Arc<TelegramConfig>) -> Result<Self, TelegramError> {
        Ok(Self {
            api: Api::new(&config)?,
            window: Arc::new(Semaphore::new(PER_SECOND)),
            last_to_chat: Mutex::new(HashMap::new()),
            progress: Mutex::new(HashMap::new()),
        })
    }

    async fn deliver(&self, message: &Outgoing) -> Result<Receipt, SendError> {
        match &message.payload {
            OutgoingPayload::Reply(reply) => self.send_reply(message, reply).await,
            OutgoingPayload::ClearChat { message_ids, .. } => self.clear_chat(message, message_ids).await,
        }
    }

    async fn send_reply(&self, message: &Outgoing, reply: &Reply) -> Result<Receipt, SendError> {
        let mut parts = split_text(&reply.text, MAX_TEXT);
        if parts.is_empty() {
            if reply.choices.is_empty() {
                return Ok(Receipt::default());
            }
            // Buttons need a message to hang on.
            parts.push("…".to_string());
        }
        let (_, mut sent) = self.take_progress(message.id);
        let chat = chat_id(&message.contact);
        let count = parts.len();
        for (i, part) in parts.into_iter().enumerate().skip(sent.len()) {
            let mut params = json!({ "chat_id": chat, "text": part });
            if i + 1 == count && !reply.choices.is_empty() {
                params["reply_markup"] = keyboard(&reply.choices);
            }
            let key = format!("{}.{i}", message.id);
            match self.send_message(&message.contact, &params, &key).await {
                Ok(sent_message) => sent.push(sent_message.message_id.to_string()),
                Err(e) => {
                    tracing::debug!(outbox = message.id, part = i, error = e.kind(), "Telegram send failed");
                    let error = e.to_send_error();
                    if matches!(error, SendError::Retry { .. }) {
                        self.keep_progress(message.id, sent.len(), sent);
                    }
                    return Err(error);
                }
            }
        }
        Ok(Receipt { provider_ids: sent })
    }

    /// Deletes the bot's messages in the chat. A message Telegram refuses to delete (too old,
    /// already gone, the bot blocked) is skipped; rate limits and outages are retried from the
    /// first message not yet handled.
    async fn clear_chat(&self, message: &Outgoing, message_ids: &[String]) -> Result<Receipt, SendError> {
        let (start, _) = self.take_progress(message.id);
        let chat = chat_id(&message.contact);
        let (mut deleted, mut skipped) = (0usize, 0usize);
        for (i, id) in message_ids.iter().enumerate().skip(start) {
            let Ok(message_id) = id.parse::<i64>() else {
                skipped += 1;
                continue;
            };
            let params = json!({ "chat_id": chat, "message_id": message_id });
            match self.windowed(self.api.call::<bool>("deleteMessage", &params)).await {
                Ok(_) => deleted += 1,
                Err(e) if e.is_temporary() => {
                    tracing::debug!(outbox = message.id, error = e.kind(), "Telegram delete will be retried");
                    self.keep_progress(message.id, i, Vec::new());
                    return Err(e.to_send_error());
                }
                Err(e) => {
                    tracing::debug!(
                        outbox = message.id,
                        error = e.kind(),
                        "Telegram refused a delete; skipped"
                    );
                    skipped += 1;
                }
            }
        }
        tracing::info!(outbox = message.id, deleted, skipped, "Telegram chat cleared");
        Ok(Receipt::default())
    }

    /// One `sendMessage`, within the overall and the per-chat limits. `key` names this part of
    /// this outbox row, the same on every attempt, so a redelivery can be recognised.
    async fn send_message(
        &self,
        chat: &str,
        params: &Value,
        key: &str,
    ) -> Result<SentMessage, TelegramError> {
        loop {
            let wait = lock(&self.last_to_chat).get(chat).map_or(Duration::ZERO, |last| {
                (*last + PER_CHAT_GAP).saturating_duration_since(Instant::now())
            });
            if wait.is_zero() {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        let result = self.windowed(self.api.call_keyed::<SentMessage>("sendMessage", params, key)).await;
        let now = Instant::now();
        let mut last = lock(&self.last_to_chat);
        last.insert(chat.to_string(), now);
        if last.len() > 10_000 {
            last.retain(|_, at| now.duration_since(*at) < PER_CHAT_GAP);
        }
        result
    }

    /// Runs `call` holding a slot of the one-second window, released a second after it ends.
    async fn windowed<T>(&self, call: impl Future<Output = T>) -> T {
        // The semaphore is never closed; if it were, sending unpaced beats not sending.
        let permit = self.window.clone().acquire_owned().await.ok();
        let result = call.await;
        if let Some(permit) = permit {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                drop(permit);
            });
        }
        result
    }

    fn take_progress(&self, outbox_id: i64) -> (usize, Vec<String>) {
        lock(&self.progress).remove(&outbox_id).unwrap_or_default()
    }

    fn keep_progress(&self, outbox_id: i64, done: usize, ids: Vec<String>) {
        if done == 0 {
            return;
        }
        let mut progress = lock(&self.progress);
        if progress.len() >= MAX_PROGRESS {
            progress.clear();
        }
        progress.insert(outbox_id, (done, ids));
    }
}

impl Sender for TelegramSender {
    fn channel(&self) -> &str {
        CHANNEL
    }

    fn limits(&self) -> RateLimits {
        RateLimits { per_second: PER_SECOND as f64, per_chat_interval: PER_CHAT_GAP }
    }

    fn send<'a>(&'a self, message: &'a Outgoing) -> SendFuture<'a> {
        Box::pin(self.deliver(message))
    }
}

/// Chat ids are numbers; anything else (a `@channel` name) is passed as it is.
fn chat_id(contact: &str) -> Value {
    contact.parse::<i64>().map_or_else(|_| Value::String(contact.to_string()), Value::from)
}

/// One button per row, numbered like the choices she may also type; pressing one sends
/// `c:<index>`.
fn keyboard(choices: &[String]) -> Value {
    let rows: Vec<Value> = choices
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let text =
                if label.trim().is_empty() { format!("{}", i + 1) } else { format!("{}. {label}", i + 1) };
            json!([{ "text": text, "callback_data": format!("c:{i}") }])
        })
        .collect();
    json!({ "inline_keyboard": rows })
}

fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Splits `text` into parts of at most `max` UTF-16 code units: at the last line break in the
/// second half of a part if there is one, else at the last space, else (one very long word)
/// anywhere. Whitespace around the cuts is dropped; an all-blank text gives no parts.
pub(crate) fn split_text(text: &str, max: usize) -> Vec<String> {
    let max = max.max(2);
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if utf16_len(rest) <= max {
            parts.push(rest.to_string());
            break;
        }
        // The longest prefix that fits.
        let mut units = 0;
        let mut fits = rest.len();
        for (at, c) in rest.char_indices() {
            if units + c.len_utf16() > max {
                fits = at;
                break;
            }
            units += c.len_utf16();
        }
        let head = &rest[..fits];
        let half = head.len() / 2;
        let cut = head
            .rfind('\n')
            .filter(|&at| at >= half)
            .or_else(|| head.rfind(char::is_whitespace).filter(|&at| at > 0))
            .unwrap_or(fits);
        // A first character wider than `max` cannot happen (max ≥ 2), but never loop forever.
        let cut = if cut == 0 { rest.chars().next().map_or(rest.len(), char::len_utf8) } else { cut };
        let (part, tail) = rest.split_at(cut);
        let part = part.trim_end();
        if !part.is_empty() {
            parts.push(part.to_string());
        }
        rest = tail.trim_start();
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_stay_whole() {
        assert_eq!(split_text("  Halo  ", MAX_TEXT), vec!["Halo"]);
        assert!(split_text(" \n ", MAX_TEXT).is_empty());
    }

    #[test]
    fn long_texts_split_between_words() {
        let words: Vec<String> = (0..2_000).map(|i| format!("kata{i}")).collect();
        let text = words.join(" ");
        let parts = split_text(&text, MAX_TEXT);
        assert!(parts.len() >= 3, "{}", parts.len());
        for part in &parts {
            assert!(utf16_len(part) <= MAX_TEXT);
            assert!(!part.starts_with(' ') && !part.ends_with(' '));
        }
        // Every word survives, none is cut in two.
        let rejoined: Vec<&str> = parts.iter().flat_map(|p| p.split(' ')).collect();
        assert_eq!(rejoined, words.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn line_breaks_are_preferred_and_long_words_are_cut() {
        let text = format!("{}\n{}", "a ".repeat(30).trim(), "b ".repeat(30).trim());
        let parts = split_text(&text, 80);
        assert_eq!(parts, vec!["a ".repeat(30).trim().to_string(), "b ".repeat(30).trim().to_string()]);
        let parts = split_text(&"x".repeat(10), 4);
        assert_eq!(parts, vec!["xxxx", "xxxx", "xx"]);
    }

    #[test]
    fn length_counts_utf16_units() {
        // Each emoji is two UTF-16 units: five fit in ten.
        let parts = split_text(&"😀".repeat(7), 10);
        assert_eq!(parts, vec!["😀".repeat(5), "😀".repeat(2)]);
    }

    #[test]
    fn keyboards_have_one_numbered_button_per_row() {
        let k = keyboard(&["Ya".to_string(), "Tidak".to_string()]);
        assert_eq!(
            k,
            json!({ "inline_keyboard": [
                [{ "text": "1. Ya", "callback_data": "c:0" }],
                [{ "text": "2. Tidak", "callback_data": "c:1" }],
            ]})
        );
    }

    #[test]
    fn chat_ids_are_numbers_when_they_can_be() {
        assert_eq!(chat_id("-100123"), json!(-100123));
        assert_eq!(chat_id("@kanal"), json!("@kanal"));
    }
}
