//! Sending through the Cloud API's messages endpoint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::{Value, json};

use super::{CHANNEL, WhatsAppConfig};
use crate::channel::{Outgoing, OutgoingPayload, RateLimits, Receipt, SendError, SendFuture, Sender};
use crate::flow::Reply;

/// The customer service window: free-form messages only within 24 hours of her last message.
pub(crate) const SERVICE_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// Treat the window as closed this much early, so a send in flight does not arrive just after.
const WINDOW_MARGIN_MS: i64 = 60 * 1000;
/// Replies queued together outside the window (a step's several messages) share one template:
/// the rest are refused for this long after it was sent to the same person.
const TEMPLATE_COLLAPSE_MS: i64 = 60 * 1000;
/// Longest text message body.
pub(crate) const TEXT_LIMIT: usize = 4096;
/// Longest body of an interactive message.
pub(crate) const INTERACTIVE_BODY_LIMIT: usize = 1024;
/// Most reply buttons in one message, and their longest title.
const MAX_BUTTONS: usize = 3;
const BUTTON_TITLE_LIMIT: usize = 20;
/// Most list rows in one message, and their longest title.
const MAX_ROWS: usize = 10;
const ROW_TITLE_LIMIT: usize = 24;
/// Label of the button that opens a list (at most 20 characters). The reply carries no language,
/// so it reads in both.
const LIST_BUTTON: &str = "Pilih / Choose";
/// Smallest gap between two messages to one chat, which keeps them in order on her phone.
const PER_CHAT_GAP: Duration = Duration::from_millis(200);
/// Longest wait honoured from a `Retry-After` header.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Graph API error codes worth retrying although the HTTP status is a 4xx: throttling (4,
/// 80007, 130429, 131056) and transient service trouble (1, 2, 131000, 131016, 133004).
const RETRY_CODES: [i64; 9] = [1, 2, 4, 80007, 130429, 131000, 131016, 131056, 133004];

/// Delivers outbox rows through the WhatsApp Cloud API.
#[derive(Debug, Clone)]
pub struct WhatsAppSender {
    config: Arc<WhatsAppConfig>,
    client: reqwest::Client,
    /// When a template was last sent to each person (ms), to send one per burst of replies.
    templates: Arc<Mutex<HashMap<String, i64>>>,
}

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .build()
        .unwrap_or_default()
}

impl WhatsAppSender {
    /// A sender for the configured business number, with a 15 s request timeout.
    pub fn new(config: Arc<WhatsAppConfig>) -> Self {
        Self { config, client: client(DEFAULT_TIMEOUT), templates: Arc::default() }
    }

    /// The same sender with another request timeout.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { client: client(timeout), ..self }
    }

    /// Posts one message to `to`; returns the provider's message id when it gave one.
    async fn post(&self, outbox: i64, to: &str, mut message: Value) -> Result<Option<String>, SendError> {
        if let Some(object) = message.as_object_mut() {
            object.insert("messaging_product".into(), json!("whatsapp"));
            object.insert("recipient_type".into(), json!("individual"));
            object.insert("to".into(), json!(to));
        }
        let url = format!("{}/{}/messages", self.config.api_url, self.config.phone_number_id);
        let response = self
            .client
            .post(url)
            .bearer_auth(&self.config.access_token)
            .json(&message)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = response.bytes().await.map_err(transport_error)?;
        if status.is_success() {
            let id = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.pointer("/messages/0/id").and_then(Value::as_str).map(str::to_string));
            if id.is_none() {
                tracing::warn!(outbox, "WhatsApp accepted a message without returning its id");
            }
            return Ok(id);
        }
        let error = api_error(&body);
        tracing::info!(
            outbox,
            status = status.as_u16(),
            code = error.as_ref().and_then(|e| e.code),
            "WhatsApp API refused a send"
        );
        Err(classify(status, retry_after, error))
    }
}

impl Sender for WhatsAppSender {
    fn channel(&self) -> &str {
        CHANNEL
    }

    fn limits(&self) -> RateLimits {
        RateLimits { per_second: self.config.rate, per_chat_interval: PER_CHAT_GAP }
    }

    fn send<'a>(&'a self, message: &'a Outgoing) -> SendFuture<'a> {
        Box::pin(async move {
            let reply = match &message.payload {
                // WhatsApp lets a business delete nothing it sent: nothing to do.
                OutgoingPayload::ClearChat { .. } => return Ok(Receipt::default()),
                OutgoingPayload::Reply(reply) => reply,
            };
            if !within_window(message) {
                return self.send_template(message).await;
            }
            let messages = compose(reply);
            let mut provider_ids = Vec::with_capacity(messages.len());
            for body in messages {
                if let Some(id) = self.post(message.id, &message.contact, body).await? {
                    provider_ids.push(id);
                }
            }
            Ok(Receipt { provider_ids })
        })
    }
}

impl WhatsAppSender {
    /// Outside the window: the approved template instead of the message, once per burst.
    async fn send_template(&self, message: &Outgoing) -> Result<Receipt, SendError> {
        let Some(name) = &self.config.template else {
            return Err(SendError::Refused(
                "outside WhatsApp's 24-hour customer service window (she has not written in the last \
                 24 hours) and no approved template is configured (WHATSAPP_TEMPLATE)"
                    .to_string(),
            ));
        };
        let now = message.now_ms;
        let recent =
            self.templates_sent().get(&message.contact).is_some_and(|at| now - at < TEMPLATE_COLLAPSE_MS);
        if recent {
            return Err(SendError::Refused(
                "outside WhatsApp's 24-hour customer service window; the template sent to her moments \
                 ago stands for this message"
                    .to_string(),
            ));
        }
        let id = self.post(message.id, &message.contact, template(name, &self.config.template_lang)).await?;
        let mut sent = self.templates_sent();
        if sent.len() > 10_000 {
            sent.retain(|_, at| now - *at < TEMPLATE_COLLAPSE_MS);
        }
        sent.insert(message.contact.clone(), now);
        Ok(Receipt { provider_ids: id.into_iter().collect() })
    }

    fn templates_sent(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.templates.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether free-form messages may still be sent: she wrote less than 24 hours ago.
fn within_window(message: &Outgoing) -> bool {
    message
        .last_inbound_at
        .is_some_and(|last| message.now_ms.saturating_sub(last) < SERVICE_WINDOW_MS - WINDOW_MARGIN_MS)
}

fn template(name: &str, lang: &str) -> Value {
    json!({ "type": "template", "template": { "name": name, "language": { "code": lang } } })
}

fn text_message(body: String) -> Value {
    json!({ "type": "text", "text": { "body": body, "preview_url": false } })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    Buttons,
    List,
}

fn layout(choices: &[String]) -> Option<Layout> {
    let fits =
        |limit: usize| choices.iter().all(|c| !c.trim().is_empty() && c.trim().chars().count() <= limit);
    let distinct =
        choices.iter().enumerate().all(|(i, c)| !choices[..i].iter().any(|d| d.trim() == c.trim()));
    match choices.len() {
        1..=MAX_BUTTONS if fits(BUTTON_TITLE_LIMIT) && distinct => Some(Layout::Buttons),
        4..=MAX_ROWS if fits(ROW_TITLE_LIMIT) => Some(Layout::List),
        _ => None,
    }
}

fn interactive(layout: Layout, body: String, choices: &[String]) -> Value {
    let action = match layout {
        Layout::Buttons => json!({
            "buttons": choices.iter().enumerate().map(|(i, c)| json!({
                "type": "reply",
                "reply": { "id": format!("c:{i}"), "title": c.trim() },
            })).collect::<Vec<_>>(),
        }),
        Layout::List => json!({
            "button": LIST_BUTTON,
            "sections": [{
                "rows": choices.iter().enumerate().map(|(i, c)| json!({
                    "id": format!("c:{i}"),
                    "title": c.trim(),
                })).collect::<Vec<_>>(),
            }],
        }),
    };
    let kind = match layout {
        Layout::Buttons => "button",
        Layout::List => "list",
    };
    json!({ "type": "interactive", "interactive": { "type": kind, "body": { "text": body }, "action": action } })
}

/// The API messages for a reply, in order: interactive buttons or a list when the choices fit,
/// otherwise text with the choices as `1. label` lines; long text is split at word boundaries.
pub(crate) fn compose(reply: &Reply) -> Vec<Value> {
    let text = reply.text.trim();
    let layout = if text.is_empty() { None } else { layout(&reply.choices) };
    let Some(layout) = layout else {
        let mut full = text.to_string();
        if !reply.choices.is_empty() {
            if !full.is_empty() {
                full.push_str("\n\n");
            }
            let lines: Vec<String> =
                reply.choices.iter().enumerate().map(|(i, c)| format!("{}. {}", i + 1, c.trim())).collect();
            full.push_str(&lines.join("\n"));
        }
        return split_text(&full, TEXT_LIMIT).into_iter().map(text_message).collect();
    };
    // Leading text goes as plain messages; the last part (short enough) carries the choices.
    let mut parts = split_text(text, TEXT_LIMIT);
    let last = parts.pop().unwrap_or_default();
    let mut tail = split_text(&last, INTERACTIVE_BODY_LIMIT);
    let body = tail.pop().unwrap_or_default();
    parts.extend(tail);
    let mut out: Vec<Value> = parts.into_iter().map(text_message).collect();
    out.push(interactive(layout, body, &reply.choices));
    out
}

/// Splits `text` into pieces of at most `limit` characters, breaking at a line break in the
/// second half of a piece, else at the last space, and inside a word only when it is itself too
/// long. Whitespace at the breaks is dropped.
pub(crate) fn split_text(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(1);
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while rest.chars().count() > limit {
        let end = rest.char_indices().nth(limit).map_or(rest.len(), |(i, _)| i);
        // The window plus the character after it: a break right there keeps the whole window.
        let after = rest[end..].chars().next().map_or(0, char::len_utf8);
        let window = &rest[..end + after];
        let cut = window
            .rfind('\n')
            .filter(|&i| i >= end / 2)
            .or_else(|| window.rfind(char::is_whitespace).filter(|&i| i > 0))
            .unwrap_or(end);
        let (head, tail) = rest.split_at(cut);
        parts.push(head.trim_end().to_string());
        rest = tail.trim_start();
    }
    if !rest.is_empty() {
        parts.push(rest.to_string());
    }
    parts
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

fn transport_error(error: reqwest::Error) -> SendError {
    let error = error.without_url();
    if error.is_builder() {
        return SendError::Permanent(format!("WhatsApp request could not be built: {error}"));
    }
    let what = if error.is_timeout() { "timed out" } else { "failed" };
    SendError::Retry { reason: format!("WhatsApp request {what}: {error}"), after: None }
}

/// The `error` object of a Graph API error response.
#[derive(Debug, Clone, PartialEq)]
struct ApiError {
    code: Option<i64>,
    message: Option<String>,
    details: Option<String>,
}

fn api_error(body: &[u8]) -> Option<ApiError> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    Some(ApiError {
        code: error.get("code").and_then(Value::as_i64),
        message: text(error.get("message")),
        details: text(error.pointer("/error_data/details")),
    })
}

fn classify(status: StatusCode, retry_after: Option<Duration>, error: Option<ApiError>) -> SendError {
    let mut reason = format!("HTTP {}", status.as_u16());
    if let Some(e) = &error {
        if let Some(code) = e.code {
            reason.push_str(&format!(", WhatsApp error {code}"));
        }
        if let Some(message) = &e.message {
            reason.push_str(&format!(": {message}"));
        }
        if let Some(details) = e.details.as_ref().filter(|d| Some(*d) != e.message.as_ref()) {
            reason.push_str(&format!(" ({details})"));
        }
    }
    let throttled_code = error.as_ref().and_then(|e| e.code).is_some_and(|c| RETRY_CODES.contains(&c));
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() || throttled_code {
        SendError::Retry { reason, after: retry_after }
    } else {
        SendError::Permanent(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str, choices: &[&str]) -> Reply {
        Reply { text: text.into(), choices: choices.iter().map(|c| c.to_string()).collect(), expect: None }
    }

    #[test]
    fn splits_at_word_boundaries() {
        let text = "satu dua tiga empat lima";
        let parts = split_text(text, 10);
        assert_eq!(parts, ["satu dua", "tiga empat", "lima"]);
        assert!(parts.iter().all(|p| p.chars().count() <= 10));
        assert_eq!(split_text("abcdefghijkl", 5), ["abcde", "fghij", "kl"]);
        assert_eq!(split_text("  ", 5), Vec::<String>::new());
        let long: String = "kata ".repeat(2000);
        let parts = split_text(&long, TEXT_LIMIT);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.join(" "), long.trim());
        let multibyte = "é".repeat(9);
        assert_eq!(split_text(&multibyte, 4), ["éééé", "éééé", "é"]);
    }

    #[test]
    fn layouts_follow_the_api_limits() {
        let m = compose(&reply("Q?", &["Ya", "Tidak"]));
        assert_eq!(m.len(), 1);
        assert_eq!(m[0]["interactive"]["type"], "button");
        assert_eq!(m[0]["interactive"]["action"]["buttons"][1]["reply"]["id"], "c:1");
        let m = compose(&reply("Q?", &["a", "b", "c", "d"]));
        assert_eq!(m[0]["interactive"]["type"], "list");
        let m = compose(&reply("Q?", &["a", "b", "twenty-one characters"]));
        assert_eq!(m[0]["type"], "text");
        assert_eq!(m[0]["text"]["body"], "Q?\n\n1. a\n2. b\n3. twenty-one characters");
        let m = compose(&reply("Q?", &["same", "same"]));
        assert_eq!(m[0]["type"], "text");
        let eleven: Vec<String> = (0..11).map(|i| i.to_string()).collect();
        let m = compose(&Reply { text: "Q?".into(), choices: eleven, expect: None });
        assert_eq!(m[0]["type"], "text");
        assert!(compose(&reply(" ", &[])).is_empty());
        let long = format!("{} Q?", "kata ".repeat(300));
        let m = compose(&reply(&long, &["Ya", "Tidak"]));
        assert_eq!(m.len(), 2);
        assert_eq!(m[0]["type"], "text");
        let body = m[1]["interactive"]["body"]["text"].as_str().unwrap();
        assert!(body.chars().count() <= INTERACTIVE_BODY_LIMIT && body.ends_with("Q?"));
    }

    #[test]
    fn errors_are_classified() {
        let e = |code| Some(ApiError { code: Some(code), message: Some("m".into()), details: None });
        assert!(
            matches!(classify(StatusCode::BAD_REQUEST, None, e(131030)), SendError::Permanent(r) if r.contains("131030"))
        );
        assert!(matches!(classify(StatusCode::BAD_REQUEST, None, e(130429)), SendError::Retry { .. }));
        assert!(matches!(classify(StatusCode::BAD_GATEWAY, None, None), SendError::Retry { .. }));
        let wait = Some(Duration::from_secs(3));
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, wait, None),
            SendError::Retry { reason: "HTTP 429".into(), after: wait }
        );
    }
}
