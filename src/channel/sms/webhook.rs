//! SMS webhooks: inbound messages and delivery statuses from Twilio or the generic gateway.
//!
//! Every request is authenticated before anything else: a missing or wrong signature gets 403
//! and nothing is stored. A signed but malformed request gets 400; a message that cannot be
//! stored gets 503 so the provider delivers it again.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;

use super::sign::{self, Form};
use super::{CHANNEL, SmsConfig, SmsProvider, TwilioConfig};
use crate::channel::{Inbound, InboundEvent, Ingress};

/// Twilio's incoming-message webhook ("A message comes in").
pub const TWILIO_PATH: &str = "/webhook/sms/twilio";
/// Twilio's status callback, set on every message sent.
pub const TWILIO_STATUS_PATH: &str = "/webhook/sms/twilio/status";
/// The generic gateway's incoming messages.
pub const GATEWAY_PATH: &str = "/webhook/sms/gateway";
/// The generic gateway's delivery statuses.
pub const GATEWAY_STATUS_PATH: &str = "/webhook/sms/gateway/status";

const TWILIO_SIGNATURE: &str = "x-twilio-signature";
const GATEWAY_SIGNATURE: &str = "x-teduh-signature";

/// Longest contact (phone number or sender id) accepted.
const MAX_CONTACT: usize = 64;

#[derive(Clone)]
struct Hooks {
    ingress: Ingress,
    config: Arc<SmsConfig>,
}

/// The webhooks of the configured provider: `POST /webhook/sms/twilio` and
/// `POST /webhook/sms/twilio/status` for Twilio, `POST /webhook/sms/gateway` and
/// `POST /webhook/sms/gateway/status` for the generic gateway.
pub fn routes(ingress: Ingress, config: Arc<SmsConfig>) -> Router {
    let router = match &config.provider {
        SmsProvider::Twilio(_) => Router::new()
            .route(TWILIO_PATH, post(twilio_inbound))
            .route(TWILIO_STATUS_PATH, post(twilio_status)),
        SmsProvider::Gateway(_) => Router::new()
            .route(GATEWAY_PATH, post(gateway_inbound))
            .route(GATEWAY_STATUS_PATH, post(gateway_status)),
    };
    router.with_state(Hooks { ingress, config })
}

/// Why a webhook request is turned away.
enum Reject {
    /// Missing or wrong signature: 403.
    Forbidden,
    /// Signed, but not what the provider documents: 400.
    Malformed(String),
    /// Could not be stored: 503, so the provider retries.
    Unavailable,
    /// The route of a provider that is not configured.
    NotFound,
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        match self {
            Reject::Forbidden => (StatusCode::FORBIDDEN, "invalid signature\n".to_string()),
            Reject::Malformed(what) => (StatusCode::BAD_REQUEST, format!("malformed request: {what}\n")),
            Reject::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable, please retry\n".to_string())
            }
            Reject::NotFound => (StatusCode::NOT_FOUND, String::new()),
        }
        .into_response()
    }
}

/// A signed request that is not what the provider documents (answered with 400).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("malformed request: {0}")]
pub struct Malformed(String);

impl From<Malformed> for Reject {
    fn from(m: Malformed) -> Self {
        Reject::Malformed(m.0)
    }
}

fn bad(what: &str) -> Malformed {
    Malformed(what.to_string())
}

/// An empty TwiML answer: the reply, if any, goes out through the outbox.
fn twiml() -> Response {
    ([(header::CONTENT_TYPE, "text/xml")], "<Response></Response>").into_response()
}

fn gateway_ok() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], "{\"ok\":true}").into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether a contact can be stored: a phone number or sender id, nothing odd.
fn valid_contact(contact: &str) -> bool {
    !contact.is_empty() && contact.chars().count() <= MAX_CONTACT && !contact.chars().any(char::is_control)
}

/// A signed Twilio form, as text.
struct TwilioForm(Vec<(String, String)>);

impl TwilioForm {
    /// The decoded pairs as text; Twilio sends UTF-8.
    fn decode(form: Form) -> Result<Self, Malformed> {
        form.into_iter()
            .map(|(k, v)| Ok((String::from_utf8(k).map_err(|_| ())?, String::from_utf8(v).map_err(|_| ())?)))
            .collect::<Result<Vec<_>, ()>>()
            .map(TwilioForm)
            .map_err(|()| bad("parameters are not UTF-8"))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, Malformed> {
        self.get(name).filter(|v| !v.trim().is_empty()).ok_or_else(|| bad(&format!("{name} is missing")))
    }
}

impl Hooks {
    fn twilio(&self) -> Option<&TwilioConfig> {
        match &self.config.provider {
            SmsProvider::Twilio(t) => Some(t),
            SmsProvider::Gateway(_) => None,
        }
    }

    fn gateway_secret(&self) -> Option<&str> {
        match &self.config.provider {
            SmsProvider::Gateway(g) => Some(&g.secret),
            SmsProvider::Twilio(_) => None,
        }
    }

    /// Checks Twilio's signature over the public URL of `path` (with the query Twilio used),
    /// then decodes the form.
    fn twilio_form(
        &self,
        path: &str,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<TwilioForm, Reject> {
        let Some(twilio) = self.twilio() else { return Err(Reject::NotFound) };
        let form: Form = sign::parse_form(body);
        let mut url = format!("{}{path}", twilio.public_url);
        if let Some(query) = uri.query() {
            url.push('?');
            url.push_str(query);
        }
        if self.config.insecure_dev {
            tracing::warn!(path, "--insecure-dev: SMS webhook accepted WITHOUT checking X-Twilio-Signature");
        } else if !sign::twilio_valid(&twilio.auth_token, &url, &form, header_str(headers, TWILIO_SIGNATURE))
        {
            tracing::warn!(path, "sms webhook refused: missing or invalid X-Twilio-Signature");
            return Err(Reject::Forbidden);
        }
        Ok(TwilioForm::decode(form)?)
    }

    async fn store(&self, messages: &[Inbound]) -> Result<(), Reject> {
        for message in messages {
            if let Err(e) = self.ingress.receive(message).await {
                tracing::warn!(error = %e, "sms inbound could not be stored; the provider will retry");
                return Err(Reject::Unavailable);
            }
        }
        Ok(())
    }

    /// Applies a delivery status to the outbox row that sent `id`.
    async fn status(&self, id: &str, status: &str, error: Option<String>) -> Result<(), Reject> {
        let Some(mapped) = map_status(status) else {
            tracing::debug!(status, "sms status ignored");
            return Ok(());
        };
        let runtime = self.ingress.runtime();
        let error = if mapped == "failed" {
            Some(error.unwrap_or_else(|| format!("provider reported {status}")))
        } else {
            None
        };
        match runtime.store().outbox_status(CHANNEL, id, mapped, error.as_deref(), runtime.now_ms()).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                tracing::debug!(provider_id = id, "sms status for an unknown message");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "sms status could not be stored; the provider will retry");
                Err(Reject::Unavailable)
            }
        }
    }
}

/// The outbox status for a provider's delivery status; `None` for statuses that change nothing
/// (queued, accepted, sending, ...).
fn map_status(status: &str) -> Option<&'static str> {
    match status.trim().to_ascii_lowercase().as_str() {
        "sent" => Some("sent"),
        "delivered" => Some("delivered"),
        "read" => Some("read"),
        "undelivered" | "failed" | "canceled" => Some("failed"),
        _ => None,
    }
}

/// `photo`, `voice`, `video` or `document`, from a MIME type.
fn media_kind(content_type: Option<&str>) -> &'static str {
    let t = content_type.unwrap_or_default().trim().to_ascii_lowercase();
    if t.starts_with("image/") {
        "photo"
    } else if t.starts_with("audio/") {
        "voice"
    } else if t.starts_with("video/") {
        "video"
    } else {
        "document"
    }
}

/// The inbound messages of one Twilio webhook: the text, or the first attachment followed by
/// its caption (stored under `<MessageSid>:body` so a redelivery is still recognised).
fn twilio_messages(form: &TwilioForm) -> Result<Vec<Inbound>, Malformed> {
    let sid = form.required("MessageSid")?.trim().to_string();
    let from = form.required("From")?.trim().to_string();
    if !valid_contact(&from) {
        return Err(bad("From is not a phone number"));
    }
    let media = match form.get("NumMedia").map(str::trim).filter(|n| !n.is_empty()) {
        None => 0,
        Some(n) => n.parse::<usize>().map_err(|_| bad("NumMedia is not a number"))?,
    };
    let body = form.get("Body").unwrap_or_default();
    let message = |provider_id: String, event: InboundEvent| Inbound {
        channel: CHANNEL.to_string(),
        provider_id: Some(provider_id),
        contact: from.clone(),
        event,
        lang_hint: None,
    };
    if media == 0 {
        return Ok(vec![message(sid, InboundEvent::Text { text: body.to_string() })]);
    }
    let url = form.required("MediaUrl0")?.trim().to_string();
    let kind = media_kind(form.get("MediaContentType0")).to_string();
    let mut messages = vec![message(sid.clone(), InboundEvent::Media { kind, reference: url })];
    if !body.trim().is_empty() {
        messages.push(message(format!("{sid}:body"), InboundEvent::Text { text: body.to_string() }));
    }
    Ok(messages)
}

async fn twilio_inbound(State(hooks): State<Hooks>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let form = hooks.twilio_form(TWILIO_PATH, &uri, &headers, &body)?;
        let messages = twilio_messages(&form)?;
        hooks.store(&messages).await
    };
    match result.await {
        Ok(()) => twiml(),
        Err(reject) => reject.into_response(),
    }
}

async fn twilio_status(State(hooks): State<Hooks>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let form = hooks.twilio_form(TWILIO_STATUS_PATH, &uri, &headers, &body)?;
        let sid = form.required("MessageSid")?;
        let status = form.required("MessageStatus")?;
        let error = form
            .get("ErrorCode")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| format!("twilio error {c} ({})", status.trim()));
        hooks.status(sid.trim(), status, error).await
    };
    match result.await {
        Ok(()) => twiml(),
        Err(reject) => reject.into_response(),
    }
}

/// An incoming message from the generic gateway.
#[derive(Deserialize)]
struct GatewayInbound {
    id: String,
    from: String,
    text: String,
}

/// A delivery status from the generic gateway.
#[derive(Deserialize)]
struct GatewayStatus {
    id: String,
    status: String,
    #[serde(default)]
    error: Option<String>,
}

impl Hooks {
    /// Checks the gateway's signature over the raw body.
    fn gateway_verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Reject> {
        let Some(secret) = self.gateway_secret() else { return Err(Reject::NotFound) };
        if self.config.insecure_dev {
            tracing::warn!("--insecure-dev: SMS gateway webhook accepted WITHOUT checking X-Teduh-Signature");
        } else if !sign::gateway_valid(secret, body, header_str(headers, GATEWAY_SIGNATURE)) {
            tracing::warn!("sms gateway webhook refused: missing or invalid X-Teduh-Signature");
            return Err(Reject::Forbidden);
        }
        Ok(())
    }
}

/// A gateway body as the documented JSON.
fn gateway_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Malformed> {
    serde_json::from_slice(body).map_err(|e| {
        // Only where it broke: serde's message can quote the offending value (a number).
        tracing::info!(kind = ?e.classify(), line = e.line(), column = e.column(), "sms gateway sent a malformed body");
        bad("expected JSON with the documented fields")
    })
}

/// The inbound messages of a (verified) Twilio "a message comes in" form body.
pub fn parse_twilio_inbound(body: &[u8]) -> Result<Vec<Inbound>, Malformed> {
    twilio_messages(&TwilioForm::decode(sign::parse_form(body))?)
}

/// The inbound message of a (verified) generic gateway body.
pub fn parse_gateway_inbound(body: &[u8]) -> Result<Inbound, Malformed> {
    let message: GatewayInbound = gateway_json(body)?;
    let id = message.id.trim();
    let from = message.from.trim();
    if id.is_empty() {
        return Err(bad("id is empty"));
    }
    if !valid_contact(from) {
        return Err(bad("from is not a phone number"));
    }
    Ok(Inbound {
        channel: CHANNEL.to_string(),
        provider_id: Some(id.to_string()),
        contact: from.to_string(),
        event: InboundEvent::Text { text: message.text },
        lang_hint: None,
    })
}

async fn gateway_inbound(State(hooks): State<Hooks>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        hooks.gateway_verify(&headers, &body)?;
        let inbound = parse_gateway_inbound(&body)?;
        hooks.store(&[inbound]).await
    };
    match result.await {
        Ok(()) => gateway_ok(),
        Err(reject) => reject.into_response(),
    }
}

async fn gateway_status(State(hooks): State<Hooks>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        hooks.gateway_verify(&headers, &body)?;
        let status: GatewayStatus = gateway_json(&body)?;
        if status.id.trim().is_empty() || status.status.trim().is_empty() {
            return Err(bad("id and status are required").into());
        }
        // The gateway's reason is kept short: it must not carry message text.
        let error = status.error.map(|e| format!("gateway: {}", e.chars().take(100).collect::<String>()));
        hooks.status(status.id.trim(), &status.status, error).await
    };
    match result.await {
        Ok(()) => gateway_ok(),
        Err(reject) => reject.into_response(),
    }
}
