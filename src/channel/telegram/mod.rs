//! The Telegram channel, over the Bot API.
//!
//! Inbound: long polling with `getUpdates` when only a bot token is configured ([`poll`]), or a
//! webhook at [`WEBHOOK_PATH`] when a public URL is ([`routes`], [`register_webhook`]). Either
//! way an update is stored in the inbox before Telegram is told it arrived, and a duplicate
//! delivery of one message is dropped by its provider id.
//!
//! Outbound: [`TelegramSender`] sends replies with their choices as an inline keyboard, splits
//! texts longer than Telegram allows, and deletes the bot's messages for a quick exit.
//!
//! Only private chats are served: a message from a group or a channel is ignored, so nothing
//! said in a shared chat is ever taken as hers.
//!
//! | Variable | Meaning | Default |
//! |---|---|---|
//! | `TELEGRAM_BOT_TOKEN` | Bot token from @BotFather; switches the channel on | unset: channel off |
//! | `TELEGRAM_API_URL` | Bot API base URL (a local Bot API server, a test double) | `https://api.telegram.org` |
//! | `TELEGRAM_WEBHOOK_URL` | Public HTTPS URL Telegram posts updates to (`.../webhook/telegram`); switches long polling off | unset: long polling |
//! | `TELEGRAM_WEBHOOK_SECRET` | Secret Telegram sends with every webhook request; required with a webhook URL | none |

mod api;
mod poll;
mod sender;
mod update;
mod webhook;

use std::fmt;
use std::time::Duration;

use crate::config::ConfigError;

pub use api::TelegramError;
pub use poll::poll;
pub use sender::TelegramSender;
pub use update::{Handled, parse_update};
pub use webhook::{WEBHOOK_PATH, register_webhook, routes};

/// Channel name in the inbox, the outbox and conversations.
pub const CHANNEL: &str = "telegram";
/// Where the Bot API lives unless `TELEGRAM_API_URL` says otherwise.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

/// Environment variable with the bot token.
pub const TOKEN_VAR: &str = "TELEGRAM_BOT_TOKEN";
/// Environment variable with the Bot API base URL.
pub const API_URL_VAR: &str = "TELEGRAM_API_URL";
/// Environment variable with the public webhook URL.
pub const WEBHOOK_URL_VAR: &str = "TELEGRAM_WEBHOOK_URL";
/// Environment variable with the webhook secret.
pub const WEBHOOK_SECRET_VAR: &str = "TELEGRAM_WEBHOOK_SECRET";

/// Shortest webhook secret accepted: it is all that tells Telegram's requests from forged ones.
const MIN_SECRET_LEN: usize = 16;
/// Longest webhook secret Telegram accepts.
const MAX_SECRET_LEN: usize = 256;

/// Webhook settings: where Telegram posts updates and the secret it sends with each.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Public HTTPS URL of this service's `/webhook/telegram`.
    pub url: String,
    /// Sent by Telegram in `X-Telegram-Bot-Api-Secret-Token`; requests without it are refused.
    pub secret: String,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig").field("url", &self.url).field("secret", &"<redacted>").finish()
    }
}

/// Telegram settings. `Debug` never shows the token or the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TelegramConfig {
    /// Bot token from @BotFather.
    pub token: String,
    /// Bot API base URL, without a trailing slash.
    pub api_url: String,
    /// Webhook mode when set; long polling otherwise.
    pub webhook: Option<WebhookConfig>,
    /// How long one `getUpdates` call waits for updates (long polling).
    pub poll_timeout: Duration,
    /// How long any other Bot API call may take before it counts as failed.
    pub request_timeout: Duration,
    /// Development only (`teduh serve --insecure-dev`): accept webhooks without the secret.
    pub insecure_dev: bool,
}

impl fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("token", &"<redacted>")
            .field("api_url", &self.api_url)
            .field("webhook", &self.webhook)
            .field("poll_timeout", &self.poll_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl TelegramConfig {
    /// A configuration for `token` with every other setting at its default (long polling).
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            api_url: DEFAULT_API_URL.to_string(),
            webhook: None,
            poll_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(15),
            insecure_dev: false,
        }
    }

    /// Reads the `TELEGRAM_*` variables through `env`. `None` when no bot token is set (the
    /// channel is off); an error naming the variable for a value that cannot work.
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let get = |var: &str| env(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let Some(token) = get(TOKEN_VAR) else {
            return Ok(None);
        };
        if !valid_token(&token) {
            // The value itself is never repeated: it is a credential.
            return Err(invalid(
                "telegram_bot_token",
                TOKEN_VAR,
                "does not look like a bot token from @BotFather (digits, a colon, then letters, digits, `_` or `-`)"
                    .to_string(),
            ));
        }
        let mut config = Self::new(token);
        if let Some(url) = get(API_URL_VAR) {
            config.api_url = parse_url(&url, "telegram_api_url", API_URL_VAR, false)?;
        }
        if let Some(url) = get(WEBHOOK_URL_VAR) {
            let url = parse_url(&url, "telegram_webhook_url", WEBHOOK_URL_VAR, true)?;
            let Some(secret) = get(WEBHOOK_SECRET_VAR) else {
                return Err(invalid(
                    "telegram_webhook_secret",
                    WEBHOOK_SECRET_VAR,
                    format!(
                        "must be set when {WEBHOOK_URL_VAR} is set: Telegram sends it with every update so \
                         forged requests can be refused (e.g. the output of `openssl rand -hex 32`)"
                    ),
                ));
            };
            if !valid_secret(&secret) {
                return Err(invalid(
                    "telegram_webhook_secret",
                    WEBHOOK_SECRET_VAR,
                    format!(
                        "must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} characters from A-Z, a-z, 0-9, `_` and `-` \
                         (e.g. the output of `openssl rand -hex 32`)"
                    ),
                ));
            }
            config.webhook = Some(WebhookConfig { url, secret });
        }
        Ok(Some(config))
    }

    /// Reads the `TELEGRAM_*` variables of the process environment.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    /// Whether updates come by webhook rather than long polling.
    pub fn is_webhook(&self) -> bool {
        self.webhook.is_some()
    }
}

fn invalid(key: &'static str, var: &str, message: String) -> ConfigError {
    ConfigError::Value { key, origin: format!("environment variable {var}"), message }
}

/// `<bot id>:<secret>`, as @BotFather hands them out. The token ends up in request paths, so
/// nothing else is let through.
fn valid_token(token: &str) -> bool {
    let Some((id, secret)) = token.split_once(':') else {
        return false;
    };
    !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && !secret.is_empty()
        && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Telegram's own rule for `secret_token`, with a floor on the length.
fn valid_secret(secret: &str) -> bool {
    (MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&secret.len())
        && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An absolute http(s) URL with a host; `https_only` for what Telegram itself must reach.
fn parse_url(value: &str, key: &'static str, var: &str, https_only: bool) -> Result<String, ConfigError> {
    let url = reqwest::Url::parse(value)
        .map_err(|e| invalid(key, var, format!("`{value}` is not an absolute URL ({e})")))?;
    let scheme_ok = match url.scheme() {
        "https" => true,
        "http" => !https_only,
        _ => false,
    };
    if !scheme_ok {
        let wanted = if https_only {
            "https:// (Telegram delivers webhooks over HTTPS only)"
        } else {
            "http:// or https://"
        };
        return Err(invalid(key, var, format!("`{value}` must start with {wanted}")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(key, var, format!("`{value}` has no host")));
    }
    if !https_only && (url.query().is_some() || url.fragment().is_some()) {
        return Err(invalid(key, var, format!("`{value}` must not have a query or fragment")));
    }
    Ok(if https_only { url.to_string() } else { url.as_str().trim_end_matches('/').to_string() })
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

    #[test]
    fn tokens_and_secrets_follow_telegrams_rules() {
        assert!(valid_token("123456789:AAH-abc_DEF"));
        assert!(!valid_token("123456789"));
        assert!(!valid_token("abc:def"));
        assert!(!valid_token("123:de/f"));
        assert!(!valid_token("123:"));
        assert!(valid_secret("0123456789abcdef-_"));
        assert!(!valid_secret("short"));
        assert!(!valid_secret("has spaces in it, sixteen+"));
        assert!(!valid_secret(&"a".repeat(257)));
    }

    #[test]
    fn debug_hides_credentials() {
        let env = lookup(&[
            (TOKEN_VAR, "42:SECRET-TOKEN"),
            (WEBHOOK_URL_VAR, "https://teduh.example/webhook/telegram"),
            (WEBHOOK_SECRET_VAR, "very-secret-value-123"),
        ]);
        let config = TelegramConfig::from_lookup(&env).unwrap().unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("SECRET-TOKEN") && !shown.contains("very-secret-value-123"), "{shown}");
        assert!(shown.contains("teduh.example"), "{shown}");
    }

    #[test]
    fn api_url_loses_its_trailing_slash() {
        let env = lookup(&[(TOKEN_VAR, "42:abc"), (API_URL_VAR, "http://127.0.0.1:8081/")]);
        let config = TelegramConfig::from_lookup(&env).unwrap().unwrap();
        assert_eq!(config.api_url, "http://127.0.0.1:8081");
    }
}
