//! The WhatsApp channel, through Meta's WhatsApp Business Cloud API.
//!
//! - Inbound: Meta posts webhooks to `/webhook/whatsapp` (see [`routes`]). Each is checked against
//!   `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the app secret) before anything is
//!   parsed, then its messages go to the inbox and its delivery statuses to the outbox rows.
//! - Outbound: [`WhatsAppSender`] posts to `{api}/{phone_number_id}/messages`: plain text,
//!   reply buttons (1-3 short choices) or a list (4-10 choices); anything else becomes text with
//!   a numbered list, as on the console.
//! - The 24-hour customer service window: a message to someone who has not written in the last
//!   24 hours is replaced by the configured approved template, or refused when there is none.
//!
//! Logs carry outbox ids, HTTP statuses and API error codes: never message text or numbers.

mod sender;
mod webhook;

use crate::config::ConfigError;

pub use sender::WhatsAppSender;
pub use webhook::{Batch, Status, WEBHOOK_PATH, parse_notification, routes};

/// Channel name stored with WhatsApp conversations and outbox rows.
pub const CHANNEL: &str = "whatsapp";

/// Graph API base used when `WHATSAPP_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://graph.facebook.com/v21.0";

/// Messages per second when `WHATSAPP_RATE` is not set (Cloud API default throughput).
pub const DEFAULT_RATE: f64 = 80.0;

/// Template language when `WHATSAPP_TEMPLATE_LANG` is not set.
pub const DEFAULT_TEMPLATE_LANG: &str = "id";

const ACCESS_TOKEN: &str = "WHATSAPP_ACCESS_TOKEN";
const PHONE_NUMBER_ID: &str = "WHATSAPP_PHONE_NUMBER_ID";
const APP_SECRET: &str = "WHATSAPP_APP_SECRET";
const VERIFY_TOKEN: &str = "WHATSAPP_VERIFY_TOKEN";
const API_URL: &str = "WHATSAPP_API_URL";
const RATE: &str = "WHATSAPP_RATE";
const TEMPLATE: &str = "WHATSAPP_TEMPLATE";
const TEMPLATE_LANG: &str = "WHATSAPP_TEMPLATE_LANG";

/// Settings of the WhatsApp channel, from `WHATSAPP_*` environment variables.
#[derive(Clone, PartialEq)]
pub struct WhatsAppConfig {
    /// Bearer token for the Graph API (a system user's permanent token in production).
    pub access_token: String,
    /// The business phone number's id (not the phone number itself).
    pub phone_number_id: String,
    /// The Meta app's secret, which signs webhooks.
    pub app_secret: String,
    /// The token Meta echoes when the webhook is registered.
    pub verify_token: String,
    /// Graph API base URL, without a trailing slash.
    pub api_url: String,
    /// Messages per second over all chats.
    pub rate: f64,
    /// Approved template sent instead of a message outside the 24-hour window.
    pub template: Option<String>,
    /// Language code of that template.
    pub template_lang: String,
    /// Development only (`teduh serve --insecure-dev`): accept unsigned webhooks.
    pub insecure_dev: bool,
}

impl std::fmt::Debug for WhatsAppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs and panics.
        f.debug_struct("WhatsAppConfig")
            .field("access_token", &"<redacted>")
            .field("phone_number_id", &self.phone_number_id)
            .field("app_secret", &"<redacted>")
            .field("verify_token", &"<redacted>")
            .field("api_url", &self.api_url)
            .field("rate", &self.rate)
            .field("template", &self.template)
            .field("template_lang", &self.template_lang)
            .finish()
    }
}

fn invalid(key: &'static str, var: &str, message: String) -> ConfigError {
    ConfigError::Value { key, origin: format!("environment variable {var}"), message }
}

impl WhatsAppConfig {
    /// Reads the channel's variables through `env`. `Ok(None)` when `WHATSAPP_ACCESS_TOKEN` is
    /// unset or empty (the channel is off); otherwise every required variable must be set and
    /// every optional one valid, and errors name the variable.
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let get = |var: &str| env(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let Some(access_token) = get(ACCESS_TOKEN) else {
            return Ok(None);
        };
        let require = |key: &'static str, var: &str| {
            get(var).ok_or_else(|| {
                invalid(key, var, format!("{var} must be set when {ACCESS_TOKEN} is set (it is missing)"))
            })
        };
        let phone_number_id = require("whatsapp_phone_number_id", PHONE_NUMBER_ID)?;
        if !phone_number_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid(
                "whatsapp_phone_number_id",
                PHONE_NUMBER_ID,
                "must be the numeric phone number id shown in the Meta app (not the phone number)"
                    .to_string(),
            ));
        }
        let app_secret = require("whatsapp_app_secret", APP_SECRET)?;
        let verify_token = require("whatsapp_verify_token", VERIFY_TOKEN)?;
        let api_url = match get(API_URL) {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                url.trim_end_matches('/').to_string()
            }
            Some(url) => {
                return Err(invalid(
                    "whatsapp_api_url",
                    API_URL,
                    format!("`{url}` must start with https:// or http://"),
                ));
            }
            None => DEFAULT_API_URL.to_string(),
        };
        let rate = match get(RATE) {
            Some(v) => match v.parse::<f64>() {
                Ok(r) if r.is_finite() && r > 0.0 => r,
                _ => {
                    return Err(invalid(
                        "whatsapp_rate",
                        RATE,
                        format!("`{v}` is not a positive number of messages per second"),
                    ));
                }
            },
            None => DEFAULT_RATE,
        };
        let template = match get(TEMPLATE) {
            Some(name) if name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') => {
                Some(name)
            }
            Some(name) => {
                return Err(invalid(
                    "whatsapp_template",
                    TEMPLATE,
                    format!("`{name}` is not a template name (lowercase letters, digits and _)"),
                ));
            }
            None => None,
        };
        let template_lang = match get(TEMPLATE_LANG) {
            Some(lang) if lang.chars().all(|c| c.is_ascii_alphabetic() || c == '_') => lang,
            Some(lang) => {
                return Err(invalid(
                    "whatsapp_template_lang",
                    TEMPLATE_LANG,
                    format!("`{lang}` is not a template language code such as id or en_US"),
                ));
            }
            None => DEFAULT_TEMPLATE_LANG.to_string(),
        };
        Ok(Some(Self {
            access_token,
            phone_number_id,
            app_secret,
            verify_token,
            api_url,
            rate,
            template,
            template_lang,
            insecure_dev: false,
        }))
    }

    /// Reads the channel's variables from the process environment.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    const BASE: [(&str, &str); 4] = [
        (ACCESS_TOKEN, "token"),
        (PHONE_NUMBER_ID, "1234567890"),
        (APP_SECRET, "secret"),
        (VERIFY_TOKEN, "verify"),
    ];

    #[test]
    fn off_without_a_token_and_defaults_otherwise() {
        assert_eq!(WhatsAppConfig::from_lookup(&lookup(&[])).unwrap(), None);
        assert_eq!(WhatsAppConfig::from_lookup(&lookup(&[(ACCESS_TOKEN, " ")])).unwrap(), None);
        let c = WhatsAppConfig::from_lookup(&lookup(&BASE)).unwrap().unwrap();
        assert_eq!(c.api_url, DEFAULT_API_URL);
        assert_eq!(c.rate, DEFAULT_RATE);
        assert_eq!(c.template, None);
        assert_eq!(c.template_lang, "id");
        let shown = format!("{c:?}");
        assert!(!shown.contains("token\"") && !shown.contains("secret\""), "{shown}");
    }

    #[test]
    fn errors_name_the_variable() {
        for missing in [PHONE_NUMBER_ID, APP_SECRET, VERIFY_TOKEN] {
            let pairs: Vec<_> = BASE.iter().copied().filter(|(k, _)| *k != missing).collect();
            let err = WhatsAppConfig::from_lookup(&lookup(&pairs)).unwrap_err().to_string();
            assert!(err.contains(missing), "{err}");
        }
        for (var, value) in [
            (RATE, "fast"),
            (RATE, "0"),
            (API_URL, "graph.facebook.com"),
            (TEMPLATE, "Hello World"),
            (TEMPLATE_LANG, "id-ID!"),
            (PHONE_NUMBER_ID, "+62 811"),
        ] {
            let mut pairs = BASE.to_vec();
            pairs.push((var, value));
            let err = WhatsAppConfig::from_lookup(&lookup(&pairs)).unwrap_err().to_string();
            assert!(err.contains(var), "{err}");
        }
    }
}
