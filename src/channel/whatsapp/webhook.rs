//! The webhook Meta calls: a GET to verify it, then a signed POST per batch of messages and
//! delivery statuses.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{CHANNEL, WhatsAppConfig};
use crate::channel::{Inbound, InboundEvent, Ingress};

/// Where Meta's webhook is served.
pub const WEBHOOK_PATH: &str = "/webhook/whatsapp";

/// Header carrying `sha256=<hex HMAC of the body>`.
const SIGNATURE_HEADER: &str = "x-hub-signature-256";

#[derive(Clone)]
struct Hook {
    ingress: Ingress,
    config: Arc<WhatsAppConfig>,
}

/// The WhatsApp webhook: `GET` answers Meta's verification request, `POST` takes messages
/// and delivery statuses.
pub fn routes(ingress: Ingress, config: Arc<WhatsAppConfig>) -> Router {
    Router::new().route(WEBHOOK_PATH, get(verify).post(receive)).with_state(Hook { ingress, config })
}

/// Subscription check: `hub.mode=subscribe` with our verify token gets `hub.challenge` back.
async fn verify(State(hook): State<Hook>, Query(query): Query<HashMap<String, String>>) -> Response {
    let subscribe = query.get("hub.mode").is_some_and(|m| m == "subscribe");
    let token_ok = query
        .get("hub.verify_token")
        .is_some_and(|t| bool::from(t.as_bytes().ct_eq(hook.config.verify_token.as_bytes())));
    match query.get("hub.challenge") {
        Some(challenge) if subscribe && token_ok => {
            tracing::info!("WhatsApp webhook verified");
            (StatusCode::OK, [(CONTENT_TYPE, "text/plain; charset=utf-8")], challenge.clone()).into_response()
        }
        _ => {
            tracing::warn!("WhatsApp webhook verification refused");
            StatusCode::FORBIDDEN.into_response()
        }
    }
}

/// Whether `header` is `sha256=<hex>` of HMAC-SHA256(`secret`, `body`), compared in constant time.
fn signature_ok(secret: &str, header: Option<&str>, body: &[u8]) -> bool {
    let Some(signature) = header.and_then(|h| h.trim().strip_prefix("sha256=")).and_then(decode_hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |b: u8| (b as char).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct Notification {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
struct Change {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    value: Value,
}

/// A delivery status Meta reported for a message Teduh sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// Meta's message id (`wamid...`), as returned when it was sent.
    pub id: String,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    /// For a failure, Meta's code and title.
    pub error: Option<String>,
}

/// What one webhook delivery carries for our phone number.
#[derive(Debug, Default, PartialEq)]
pub struct Batch {
    /// Messages of the kinds Teduh handles, in order.
    pub messages: Vec<Inbound>,
    /// Delivery statuses of our messages.
    pub statuses: Vec<Status>,
}

/// Parses a (verified) webhook body. Changes for another phone number of the same Meta app, and
/// entries of kinds Teduh does not handle, are left out; a body that is not JSON of the
/// documented shape is an error.
pub fn parse_notification(body: &[u8], phone_number_id: &str) -> Result<Batch, serde_json::Error> {
    let notification: Notification = serde_json::from_slice(body)?;
    let mut batch = Batch::default();
    let changes = notification.entry.iter().flat_map(|e| &e.changes);
    for change in changes.filter(|c| c.field.as_deref().is_none_or(|f| f == "messages")) {
        let value = &change.value;
        if value
            .pointer("/metadata/phone_number_id")
            .and_then(Value::as_str)
            .is_some_and(|n| n != phone_number_id)
        {
            // Another number of the same Meta app: not ours to answer.
            tracing::debug!("WhatsApp webhook for another phone number id ignored");
            continue;
        }
        for message in value.get("messages").and_then(Value::as_array).into_iter().flatten() {
            match to_inbound(message) {
                Some(inbound) => batch.messages.push(inbound),
                None => tracing::debug!(
                    kind = str_at(message, "/type").unwrap_or("?"),
                    "WhatsApp message of an unhandled kind ignored"
                ),
            }
        }
        let statuses = value.get("statuses").and_then(Value::as_array).into_iter().flatten();
        batch.statuses.extend(statuses.filter_map(to_status));
    }
    Ok(batch)
}

async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = headers.get(SIGNATURE_HEADER).and_then(|h| h.to_str().ok());
    if hook.config.insecure_dev {
        tracing::warn!("--insecure-dev: WhatsApp webhook accepted WITHOUT checking its signature");
    } else if !signature_ok(&hook.config.app_secret, header, &body) {
        tracing::warn!(signed = header.is_some(), "WhatsApp webhook with a missing or bad signature refused");
        return StatusCode::UNAUTHORIZED;
    }
    let batch = match parse_notification(&body, &hook.config.phone_number_id) {
        Ok(batch) => batch,
        Err(e) => {
            tracing::warn!(line = e.line(), column = e.column(), "malformed WhatsApp webhook body");
            return StatusCode::BAD_REQUEST;
        }
    };
    for inbound in &batch.messages {
        if let Err(e) = hook.ingress.receive(inbound).await {
            tracing::warn!(error = %e, "WhatsApp message could not be stored; asking Meta to deliver again");
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    let runtime = hook.ingress.runtime();
    for status in &batch.statuses {
        let now = runtime.now_ms();
        let error = status.error.as_deref();
        match runtime.store().outbox_status(CHANNEL, &status.id, &status.status, error, now).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(status = %status.status, "WhatsApp status for an unknown message ignored")
            }
            Err(e) => {
                tracing::warn!(error = %e, "WhatsApp status could not be stored; asking Meta to deliver again");
                return StatusCode::SERVICE_UNAVAILABLE;
            }
        }
    }
    StatusCode::OK
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// A pressed button or list row: `c:<index>` is one of our choices; any other id (a template's
/// quick reply, an old message) counts as its label typed.
fn choice(id: Option<&str>, label: Option<&str>) -> Option<InboundEvent> {
    match id.and_then(|id| id.strip_prefix("c:")).and_then(|i| i.parse::<usize>().ok()) {
        Some(index) => Some(InboundEvent::Choice { index }),
        None => label.map(|text| InboundEvent::Text { text: text.to_string() }),
    }
}

/// One `messages[]` entry as an inbox message, or `None` for kinds Teduh does not handle
/// (reactions, contacts, orders, system notices, unsupported content).
fn to_inbound(message: &Value) -> Option<Inbound> {
    let from = str_at(message, "/from").map(str::trim).filter(|f| !f.is_empty())?;
    let id = str_at(message, "/id").filter(|i| !i.is_empty())?;
    let kind = str_at(message, "/type")?;
    let event = match kind {
        "text" => InboundEvent::Text { text: str_at(message, "/text/body")?.to_string() },
        "interactive" => {
            let reply =
                message.pointer("/interactive/button_reply").or(message.pointer("/interactive/list_reply"))?;
            choice(str_at(reply, "/id"), str_at(reply, "/title"))?
        }
        "button" => choice(str_at(message, "/button/payload"), str_at(message, "/button/text"))?,
        "location" => {
            let lat = message.pointer("/location/latitude").and_then(Value::as_f64)?;
            let lon = message.pointer("/location/longitude").and_then(Value::as_f64)?;
            if !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) {
                return None;
            }
            InboundEvent::Location { lat, lon }
        }
        "image" | "audio" | "voice" | "video" | "document" | "sticker" => {
            let media = message.get(kind)?;
            let reference = str_at(media, "/id")?.to_string();
            // The names every channel uses: a photo, a voice note, ...
            let kind = match kind {
                "image" => "photo",
                "audio" if media.get("voice").and_then(Value::as_bool) == Some(true) => "voice",
                other => other,
            };
            InboundEvent::Media { kind: kind.to_string(), reference }
        }
        _ => return None,
    };
    Some(Inbound {
        channel: CHANNEL.to_string(),
        provider_id: Some(id.to_string()),
        contact: from.to_string(),
        event,
        lang_hint: None,
    })
}

/// One `statuses[]` entry: message id, status and, for a failure, the reason.
fn to_status(status: &Value) -> Option<Status> {
    let id = str_at(status, "/id")?;
    let state =
        str_at(status, "/status").filter(|s| matches!(*s, "sent" | "delivered" | "read" | "failed"))?;
    let error = status.pointer("/errors/0").map(|e| {
        let mut reason = String::from("WhatsApp error");
        if let Some(code) = e.get("code").and_then(Value::as_i64) {
            reason.push_str(&format!(" {code}"));
        }
        let title = str_at(e, "/title").or(str_at(e, "/message"));
        if let Some(title) = title {
            reason.push_str(&format!(": {title}"));
        }
        if let Some(details) = str_at(e, "/error_data/details").filter(|d| Some(*d) != title) {
            reason.push_str(&format!(" ({details})"));
        }
        reason
    });
    Some(Status { id: id.to_string(), status: state.to_string(), error })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn signatures() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(b"{}");
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert!(signature_ok("s3cret", Some(&format!("sha256={hex}")), b"{}"));
        assert!(signature_ok("s3cret", Some(&format!("sha256={}", hex.to_uppercase())), b"{}"));
        assert!(!signature_ok("s3cret", Some(&format!("sha256={hex}")), b"{ }"));
        assert!(!signature_ok("other", Some(&format!("sha256={hex}")), b"{}"));
        assert!(!signature_ok("s3cret", Some(&hex), b"{}"));
        assert!(!signature_ok("s3cret", Some("sha256=zz"), b"{}"));
        assert!(!signature_ok("s3cret", None, b"{}"));
    }

    #[test]
    fn message_kinds() {
        let m = |v: Value| to_inbound(&v).map(|i| i.event);
        assert_eq!(
            m(json!({"from": "62", "id": "w", "type": "text", "text": {"body": "halo"}})),
            Some(InboundEvent::Text { text: "halo".into() })
        );
        assert_eq!(
            m(json!({"from": "62", "id": "w", "type": "interactive",
                     "interactive": {"type": "list_reply", "list_reply": {"id": "c:3", "title": "x"}}})),
            Some(InboundEvent::Choice { index: 3 })
        );
        assert_eq!(
            m(json!({"from": "62", "id": "w", "type": "button", "button": {"payload": "p", "text": "Ya"}})),
            Some(InboundEvent::Text { text: "Ya".into() })
        );
        assert_eq!(
            m(json!({"from": "62", "id": "w", "type": "audio", "audio": {"id": "m1", "voice": true}})),
            Some(InboundEvent::Media { kind: "voice".into(), reference: "m1".into() })
        );
        assert_eq!(m(json!({"from": "62", "id": "w", "type": "reaction", "reaction": {}})), None);
        assert_eq!(m(json!({"from": "62", "type": "text", "text": {"body": "no id"}})), None);
        assert_eq!(
            m(
                json!({"from": "62", "id": "w", "type": "location", "location": {"latitude": 91.0, "longitude": 0.0}})
            ),
            None
        );
    }
}
