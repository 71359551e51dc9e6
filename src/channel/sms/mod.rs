//! The SMS channel: Twilio, or any SMS gateway that speaks a small signed JSON contract.
//!
//! Inbound messages arrive on webhooks ([`routes`]), are checked against the provider's
//! signature and handed to the [`Ingress`](crate::channel::Ingress); replies go out through
//! [`SmsSender`] as plain text with choices as a numbered list, split into messages of at most
//! two segments each. Carrier opt-out words (STOP / BERHENTI, START / MULAI) are honoured by the
//! runtime; the sender refuses to write to a number that opted out.
//!
//! Phone numbers and message texts are never logged.
//!
//! # Setting it up
//!
//! **Twilio.** Set `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`, `TWILIO_FROM` (the number, sender
//! id or Messaging Service SID) and `SMS_PUBLIC_URL` (the base URL Twilio reaches Teduh at, as
//! the world sees it, e.g. `https://teduh.example.org`). On the number (or Messaging Service),
//! set "A message comes in" to `POST {SMS_PUBLIC_URL}/webhook/sms/twilio`, with exactly that URL:
//! signatures are checked against it. Delivery statuses come back on
//! `{SMS_PUBLIC_URL}/webhook/sms/twilio/status`, set on every message sent.
//!
//! **Generic gateway.** Set `SMS_GATEWAY_URL` and `SMS_GATEWAY_SECRET` (16 characters or more).
//! Every request either way carries `X-Teduh-Signature: sha256=<hex HMAC-SHA256(secret, raw
//! body)>`. Teduh POSTs `{"id": "<outbox id>-<part>", "to": "+62...", "text": "..."}` to
//! `SMS_GATEWAY_URL` and expects a 2xx (429 or 5xx: retried later, honouring `Retry-After` in
//! seconds; other 4xx: failed for good); the gateway may drop a repeated `id`. The gateway POSTs
//! incoming messages as `{"id": "...", "from": "+62...", "text": "..."}` to
//! `/webhook/sms/gateway` (a repeated `id` is stored once) and statuses as `{"id": "<the id
//! Teduh sent>", "status": "sent" | "delivered" | "undelivered" | "failed", "error": "<short
//! code>"}` to `/webhook/sms/gateway/status`. Answers: 200 stored, 400 malformed (do not retry),
//! 403 bad signature, 503 retry later.
//!
//! `SMS_RATE` caps messages per second over all numbers (default 10); each part of a long
//! reply counts.

mod gsm;
mod sender;
mod sign;
mod webhook;

use std::fmt;

use crate::config::ConfigError;
use crate::flow::Reply;

pub use gsm::{Encoding, encoding, gsm7_septets, segments, split};
pub use sender::SmsSender;
pub use sign::gateway_signature;
pub use webhook::{
    GATEWAY_PATH, GATEWAY_STATUS_PATH, Malformed, TWILIO_PATH, TWILIO_STATUS_PATH, parse_gateway_inbound,
    parse_twilio_inbound, routes,
};

/// Channel name stored with SMS conversations and outbox rows.
pub const CHANNEL: &str = "sms";

/// Most segments one SMS of a reply may take; longer replies are sent as several messages.
pub const MAX_SEGMENTS: usize = 2;

/// Sends per second when `SMS_RATE` is not set.
pub const DEFAULT_RATE: f64 = 10.0;

/// Twilio's API when `TWILIO_API_URL` is not set.
pub const DEFAULT_TWILIO_API_URL: &str = "https://api.twilio.com";

/// Renders a reply as SMS text: the message, then one `N. label` line per choice, so she can
/// answer with the number.
pub fn render(reply: &Reply) -> String {
    let mut out = reply.text.trim_end().to_string();
    for (i, label) in reply.choices.iter().enumerate() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("{}. {}", i + 1, label));
    }
    out
}

/// The SMS provider in use and how to reach it.
#[derive(Clone)]
pub enum SmsProvider {
    /// Twilio's Messages API and webhooks.
    Twilio(TwilioConfig),
    /// A generic HTTP gateway (e.g. an Android phone or a local aggregator).
    Gateway(GatewayConfig),
}

/// Twilio settings.
#[derive(Clone)]
pub struct TwilioConfig {
    /// Account SID (`AC...`), also the API user name.
    pub account_sid: String,
    /// Auth token: the API password and the key of webhook signatures.
    pub auth_token: String,
    /// Sender: a Twilio number in E.164, an alphanumeric sender id, or a Messaging Service SID
    /// (`MG...`).
    pub from: String,
    /// Public base URL Twilio calls (scheme, host, optional path; no trailing slash).
    pub public_url: String,
    /// Base URL of Twilio's REST API (no trailing slash).
    pub api_url: String,
}

/// Generic gateway settings.
#[derive(Clone)]
pub struct GatewayConfig {
    /// Where outgoing messages are POSTed.
    pub url: String,
    /// Shared secret of the HMAC-SHA256 signatures, both ways.
    pub secret: String,
}

/// SMS settings, from environment variables.
#[derive(Clone)]
pub struct SmsConfig {
    /// The provider.
    pub provider: SmsProvider,
    /// Messages per second over all numbers.
    pub rate: f64,
    /// Development only (`teduh serve --insecure-dev`): accept unsigned webhooks.
    pub insecure_dev: bool,
}

impl fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets stay out of logs and panics.
        let mut d = f.debug_struct("SmsConfig");
        match &self.provider {
            SmsProvider::Twilio(t) => d
                .field("provider", &"twilio")
                .field("account_sid", &t.account_sid)
                .field("from", &t.from)
                .field("public_url", &t.public_url)
                .field("api_url", &t.api_url),
            SmsProvider::Gateway(g) => d.field("provider", &"gateway").field("url", &g.url),
        };
        d.field("rate", &self.rate).finish_non_exhaustive()
    }
}

/// The environment variables of the SMS channel.
pub const ENV_VARS: &[&str] = &[
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM",
    "SMS_PUBLIC_URL",
    "TWILIO_API_URL",
    "SMS_GATEWAY_URL",
    "SMS_GATEWAY_SECRET",
    "SMS_RATE",
];

/// The config key named after an environment variable (`TWILIO_FROM` → `twilio_from`).
fn key(var: &'static str) -> &'static str {
    match var {
        "TWILIO_ACCOUNT_SID" => "twilio_account_sid",
        "TWILIO_AUTH_TOKEN" => "twilio_auth_token",
        "TWILIO_FROM" => "twilio_from",
        "SMS_PUBLIC_URL" => "sms_public_url",
        "TWILIO_API_URL" => "twilio_api_url",
        "SMS_GATEWAY_URL" => "sms_gateway_url",
        "SMS_GATEWAY_SECRET" => "sms_gateway_secret",
        "SMS_RATE" => "sms_rate",
        _ => "sms",
    }
}

fn invalid(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Value {
        key: key(var),
        origin: format!("environment variable {var}"),
        message: message.into(),
    }
}

/// A base URL: http(s), no query or fragment, trailing slashes removed.
fn base_url(var: &'static str, value: String) -> Result<String, ConfigError> {
    let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(r)
            if !r.is_empty()
                && !r.starts_with('/')
                && !r.contains(['?', '#'])
                && !r.contains(char::is_whitespace) =>
        {
            Ok(value.trim_end_matches('/').to_string())
        }
        _ => Err(invalid(var, format!("`{value}` is not a base URL like https://teduh.example.org"))),
    }
}

impl SmsConfig {
    /// Reads the SMS settings through `env`. `Ok(None)` when SMS is not configured at all;
    /// an error names the variable that is missing or wrong.
    ///
    /// The Twilio profile is chosen by `TWILIO_ACCOUNT_SID` and needs `TWILIO_AUTH_TOKEN`,
    /// `TWILIO_FROM` and `SMS_PUBLIC_URL` (`TWILIO_API_URL` is optional); the gateway profile is
    /// chosen by `SMS_GATEWAY_URL` and needs `SMS_GATEWAY_SECRET`. `SMS_RATE` (messages per
    /// second, default 10) applies to both.
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let get = |var: &str| env(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let required = |var: &'static str, because: &str| {
            get(var).ok_or_else(|| invalid(var, format!("missing: it is required when {because} is set")))
        };
        let twilio = get("TWILIO_ACCOUNT_SID");
        let gateway = get("SMS_GATEWAY_URL");
        let provider = match (twilio, gateway) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "SMS_GATEWAY_URL",
                    "both TWILIO_ACCOUNT_SID and SMS_GATEWAY_URL are set: choose one SMS provider",
                ));
            }
            (None, None) => {
                if let Some(var) = ENV_VARS.iter().copied().find(|v| get(v).is_some()) {
                    return Err(invalid(
                        var,
                        "is set but no SMS provider is: set TWILIO_ACCOUNT_SID (Twilio) or SMS_GATEWAY_URL \
                         (generic gateway)",
                    ));
                }
                return Ok(None);
            }
            (Some(account_sid), None) => {
                if !(account_sid.starts_with("AC") && account_sid.chars().all(|c| c.is_ascii_alphanumeric()))
                {
                    return Err(invalid("TWILIO_ACCOUNT_SID", "must be an account SID starting with AC"));
                }
                let auth_token = required("TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID")?;
                let from = required("TWILIO_FROM", "TWILIO_ACCOUNT_SID")?;
                if from.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(invalid(
                        "TWILIO_FROM",
                        "must be a number like +6281234567890, a sender id or a Messaging Service SID",
                    ));
                }
                let public_url =
                    base_url("SMS_PUBLIC_URL", required("SMS_PUBLIC_URL", "TWILIO_ACCOUNT_SID")?)?;
                let api_url = match get("TWILIO_API_URL") {
                    Some(v) => base_url("TWILIO_API_URL", v)?,
                    None => DEFAULT_TWILIO_API_URL.to_string(),
                };
                SmsProvider::Twilio(TwilioConfig { account_sid, auth_token, from, public_url, api_url })
            }
            (None, Some(url)) => {
                let url = base_url("SMS_GATEWAY_URL", url)?;
                let secret = required("SMS_GATEWAY_SECRET", "SMS_GATEWAY_URL")?;
                if secret.chars().count() < 16 {
                    return Err(invalid("SMS_GATEWAY_SECRET", "must be at least 16 characters long"));
                }
                SmsProvider::Gateway(GatewayConfig { url, secret })
            }
        };
        let rate = match get("SMS_RATE") {
            None => DEFAULT_RATE,
            Some(v) => match v.parse::<f64>() {
                Ok(r) if (0.01..=10_000.0).contains(&r) => r,
                _ => {
                    return Err(invalid(
                        "SMS_RATE",
                        format!("`{v}` is not a number of messages per second between 0.01 and 10000"),
                    ));
                }
            },
        };
        Ok(Some(Self { provider, rate, insecure_dev: false }))
    }

    /// Reads the SMS settings from the process environment.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    /// `twilio` or `gateway`, for logs.
    pub fn provider_name(&self) -> &'static str {
        match self.provider {
            SmsProvider::Twilio(_) => "twilio",
            SmsProvider::Gateway(_) => "gateway",
        }
    }
}
