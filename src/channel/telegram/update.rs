//! Telegram updates to inbox messages.
//!
//! Only the fields the channel uses are read, and leniently: an update whose message has an
//! unexpected shape is ignored rather than refused, so Telegram does not redeliver it forever.

use serde::Deserialize;

use super::CHANNEL;
use crate::channel::{Inbound, InboundEvent};

/// An update as Telegram delivers it. Only `update_id` is required.
#[derive(Debug, Deserialize)]
pub(crate) struct Update {
    pub update_id: i64,
    #[serde(default)]
    message: Option<serde_json::Value>,
    #[serde(default)]
    callback_query: Option<serde_json::Value>,
}

/// What to do with an update.
#[derive(Debug, Default, PartialEq)]
pub struct Handled {
    /// The message to store, if the update carries one the service understands.
    pub inbound: Option<Inbound>,
    /// A callback query to answer (so her client stops showing a spinner).
    pub answer_callback: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Chat {
    id: i64,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
struct User {
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    language_code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Location {
    latitude: f64,
    longitude: f64,
}

#[derive(Debug, Deserialize)]
struct File {
    file_id: String,
    #[serde(default)]
    width: Option<u64>,
    #[serde(default)]
    height: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Message {
    message_id: i64,
    chat: Chat,
    #[serde(default)]
    from: Option<User>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    location: Option<Location>,
    #[serde(default)]
    photo: Option<Vec<File>>,
    #[serde(default)]
    voice: Option<File>,
    #[serde(default)]
    audio: Option<File>,
    #[serde(default)]
    document: Option<File>,
    #[serde(default)]
    video: Option<File>,
    #[serde(default)]
    video_note: Option<File>,
}

/// The message a button belonged to: a full or an "inaccessible" message, both with these.
#[derive(Debug, Deserialize)]
struct ButtonMessage {
    message_id: i64,
    chat: Chat,
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    id: String,
    #[serde(default)]
    from: Option<User>,
    #[serde(default)]
    message: Option<ButtonMessage>,
    #[serde(default)]
    data: Option<String>,
}

impl Chat {
    fn is_private(&self) -> bool {
        self.kind.as_deref() == Some("private")
    }
}

/// `id…` → `id`, `en…` → `en`; other languages leave the service default.
fn lang_hint(from: Option<&User>) -> Option<String> {
    let code = from?.language_code.as_deref()?.to_ascii_lowercase();
    ["id", "en"].into_iter().find(|l| code.starts_with(l)).map(str::to_string)
}

/// `c:<index>` → the index of the pressed choice.
fn choice_index(data: &str) -> Option<usize> {
    data.strip_prefix("c:")?.parse().ok()
}

/// Parses a webhook body (one update) into what the service does with it. A body that is not
/// an update is an error; an update of a kind the service ignores is an empty [`Handled`].
pub fn parse_update(body: &[u8]) -> Result<Handled, serde_json::Error> {
    serde_json::from_slice::<Update>(body).map(|update| update.handle())
}

impl Update {
    /// What the update asks of the service. Updates of other kinds, messages in groups and
    /// channels, and messages without text, location or a file are not handled.
    pub fn handle(&self) -> Handled {
        if let Some(message) = &self.message {
            return Handled { inbound: message_inbound(message), answer_callback: None };
        }
        if let Some(query) = &self.callback_query {
            let Ok(query) = serde_json::from_value::<CallbackQuery>(query.clone()) else {
                return Handled::default();
            };
            return Handled { inbound: callback_inbound(&query), answer_callback: Some(query.id) };
        }
        Handled::default()
    }
}

fn message_inbound(message: &serde_json::Value) -> Option<Inbound> {
    let message: Message = serde_json::from_value(message.clone()).ok()?;
    if !message.chat.is_private() || message.from.as_ref().is_some_and(|u| u.is_bot) {
        return None;
    }
    let media = |kind: &str, file: &Option<File>| {
        file.as_ref().map(|f| InboundEvent::Media { kind: kind.to_string(), reference: f.file_id.clone() })
    };
    let event = if let Some(text) = &message.text {
        InboundEvent::Text { text: text.clone() }
    } else if let Some(at) = &message.location {
        InboundEvent::Location { lat: at.latitude, lon: at.longitude }
    } else if let Some(sizes) = &message.photo {
        // Telegram lists a photo in several sizes; the largest is the one worth keeping.
        let largest = sizes
            .iter()
            .enumerate()
            .max_by_key(|(i, f)| (f.width.unwrap_or(0).saturating_mul(f.height.unwrap_or(0)), *i))?;
        InboundEvent::Media { kind: "photo".to_string(), reference: largest.1.file_id.clone() }
    } else {
        media("voice", &message.voice)
            .or_else(|| media("audio", &message.audio))
            .or_else(|| media("document", &message.document))
            .or_else(|| media("video", &message.video))
            .or_else(|| media("video_note", &message.video_note))?
    };
    Some(Inbound {
        channel: CHANNEL.to_string(),
        // A message id is unique within its chat and never reused, so a redelivered update (by
        // webhook retry or after a restart of the poller) is recognised.
        provider_id: Some(format!("tg:{}:{}", message.chat.id, message.message_id)),
        contact: message.chat.id.to_string(),
        event,
        lang_hint: lang_hint(message.from.as_ref()),
    })
}

fn callback_inbound(query: &CallbackQuery) -> Option<Inbound> {
    let index = choice_index(query.data.as_deref()?)?;
    let pressed_on = query.message.as_ref()?;
    let chat = &pressed_on.chat;
    if !chat.is_private() {
        return None;
    }
    Some(Inbound {
        channel: CHANNEL.to_string(),
        // One answer per keyboard: the message the button is on, not the press, identifies it.
        // A redelivered press is dropped, and so is a second tap (a double tap, or another
        // button of the same keyboard), which would otherwise answer the next question.
        provider_id: Some(format!("tg:cb:{}:{}", chat.id, pressed_on.message_id)),
        contact: chat.id.to_string(),
        event: InboundEvent::Choice { index },
        lang_hint: lang_hint(query.from.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn update(value: serde_json::Value) -> Handled {
        serde_json::from_value::<Update>(value).unwrap().handle()
    }

    fn message(extra: serde_json::Value) -> serde_json::Value {
        let mut m = json!({
            "message_id": 7,
            "date": 1_700_000_000,
            "chat": { "id": 555, "type": "private", "first_name": "A" },
            "from": { "id": 555, "is_bot": false, "first_name": "A", "language_code": "id-ID" },
        });
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        json!({ "update_id": 10, "message": m })
    }

    #[test]
    fn text_location_and_files_become_events() {
        let h = update(message(json!({ "text": "halo" })));
        let inbound = h.inbound.unwrap();
        assert_eq!(inbound.event, InboundEvent::Text { text: "halo".into() });
        assert_eq!(inbound.contact, "555");
        assert_eq!(inbound.provider_id.as_deref(), Some("tg:555:7"));
        assert_eq!(inbound.lang_hint.as_deref(), Some("id"));
        let h = update(message(json!({ "location": { "latitude": -0.9, "longitude": 119.87 } })));
        assert_eq!(h.inbound.unwrap().event, InboundEvent::Location { lat: -0.9, lon: 119.87 });
        let photo = json!({ "photo": [
            { "file_id": "small", "file_unique_id": "s", "width": 90, "height": 90 },
            { "file_id": "big", "file_unique_id": "b", "width": 1280, "height": 960 },
            { "file_id": "mid", "file_unique_id": "m", "width": 320, "height": 240 },
        ]});
        let h = update(message(photo));
        assert_eq!(
            h.inbound.unwrap().event,
            InboundEvent::Media { kind: "photo".into(), reference: "big".into() }
        );
        for kind in ["voice", "audio", "document", "video", "video_note"] {
            let h = update(message(json!({ kind: { "file_id": "F1", "file_unique_id": "u" } })));
            assert_eq!(
                h.inbound.unwrap().event,
                InboundEvent::Media { kind: kind.into(), reference: "F1".into() }
            );
        }
    }

    #[test]
    fn unhandled_updates_store_nothing() {
        assert_eq!(update(message(json!({ "sticker": { "file_id": "x" } }))), Handled::default());
        let mut group = message(json!({ "text": "halo" }));
        group["message"]["chat"]["type"] = json!("group");
        assert_eq!(update(group), Handled::default());
        assert_eq!(update(json!({ "update_id": 1, "edited_message": {} })), Handled::default());
        assert_eq!(update(json!({ "update_id": 1, "message": { "text": "no chat" } })), Handled::default());
        assert!(serde_json::from_value::<Update>(json!({ "message": {} })).is_err());
    }

    #[test]
    fn callback_queries_become_choices_and_are_answered() {
        let q = |data: &str| {
            json!({ "update_id": 11, "callback_query": {
                "id": "cbq-1", "chat_instance": "ci",
                "from": { "id": 555, "is_bot": false, "first_name": "A", "language_code": "en" },
                "message": { "message_id": 3, "date": 0, "chat": { "id": 555, "type": "private" } },
                "data": data,
            }})
        };
        let h = update(q("c:3"));
        assert_eq!(h.answer_callback.as_deref(), Some("cbq-1"));
        let inbound = h.inbound.unwrap();
        assert_eq!(inbound.event, InboundEvent::Choice { index: 3 });
        assert_eq!(inbound.provider_id.as_deref(), Some("tg:cb:555:3"));
        assert_eq!(inbound.lang_hint.as_deref(), Some("en"));
        let h = update(q("something else"));
        assert_eq!(h.inbound, None);
        assert_eq!(h.answer_callback.as_deref(), Some("cbq-1"));
    }

    #[test]
    fn language_hints() {
        let user = |code: &str| User { is_bot: false, language_code: Some(code.to_string()) };
        assert_eq!(lang_hint(Some(&user("EN-us"))).as_deref(), Some("en"));
        assert_eq!(lang_hint(Some(&user("id"))).as_deref(), Some("id"));
        assert_eq!(lang_hint(Some(&user("ms"))), None);
        assert_eq!(lang_hint(None), None);
    }
}
