//! A small Bot API client: JSON requests to `{api_url}/bot{token}/{method}`, answers in the
//! `{"ok": ..., "result" | "error_code", "description", "parameters"}` envelope.
//!
//! The token is part of every request URL, so no error or log line built here carries a URL.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::TelegramConfig;
use crate::channel::SendError;

/// Longest provider description kept in an error.
const MAX_DESCRIPTION: usize = 200;
/// Longest wait honoured from a 429's `retry_after`.
const MAX_RETRY_AFTER_SECS: u64 = 3_600;

/// Why a Bot API call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TelegramError {
    /// No answer in time.
    #[error("Telegram API timed out")]
    Timeout,
    /// The API could not be reached, or the connection broke.
    #[error("Telegram API unreachable: {0}")]
    Network(String),
    /// The API answered with an error.
    #[error("Telegram API error {code}: {description}")]
    Api {
        /// `error_code` (the HTTP status when the body has none).
        code: i64,
        /// `description`, shortened.
        description: String,
        /// `parameters.retry_after` in seconds, on a 429.
        retry_after: Option<u64>,
    },
    /// The answer was not the Bot API's JSON envelope, or not the expected result.
    #[error("Telegram API answered HTTP {status} with an unexpected body")]
    BadResponse {
        /// HTTP status.
        status: u16,
    },
    /// `register_webhook` without a webhook configured.
    #[error("no Telegram webhook is configured: set TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET")]
    NoWebhook,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl TelegramError {
    /// A short label for logs: never the text, a chat id or a URL.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            TelegramError::Timeout => "timeout",
            TelegramError::Network(_) => "network",
            TelegramError::Api { code: 429, .. } => "rate_limited",
            TelegramError::Api { code: 401 | 404, .. } => "token_rejected",
            TelegramError::Api { code: 403, .. } => "forbidden",
            TelegramError::Api { code: 409, .. } => "conflict",
            TelegramError::Api { code, .. } if *code >= 500 => "server_error",
            TelegramError::Api { .. } => "bad_request",
            TelegramError::BadResponse { .. } => "bad_response",
            TelegramError::NoWebhook => "no_webhook",
            TelegramError::Client(_) => "client",
        }
    }

    /// Whether trying again later may succeed: timeouts, network trouble, 429 and 5xx.
    pub(crate) fn is_temporary(&self) -> bool {
        match self {
            TelegramError::Timeout | TelegramError::Network(_) | TelegramError::Client(_) => true,
            TelegramError::Api { code, .. } => *code == 429 || *code >= 500,
            // Not the envelope: a proxy's error page, or a cut-off body. The request may not
            // have reached Telegram at all.
            TelegramError::BadResponse { .. } => true,
            TelegramError::NoWebhook => false,
        }
    }

    /// What the dispatcher should do about a failed send: 429 → retry after Telegram's wait;
    /// 5xx, timeouts and network errors → retry with backoff; a blocked bot, a chat that does
    /// not exist and every other refusal → permanent.
    pub(crate) fn to_send_error(&self) -> SendError {
        if self.is_temporary() {
            let after = match self {
                TelegramError::Api { retry_after: Some(secs), .. } => {
                    Some(Duration::from_secs((*secs).min(MAX_RETRY_AFTER_SECS)))
                }
                _ => None,
            };
            return SendError::Retry { reason: self.to_string(), after };
        }
        SendError::Permanent(self.to_string())
    }

    fn from_reqwest(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            return TelegramError::Timeout;
        }
        let error = error.without_url();
        let what = if error.is_connect() {
            "connection failed"
        } else if error.is_body() || error.is_decode() {
            "reading the answer failed"
        } else {
            "request failed"
        };
        // The innermost cause says most ("Connection refused", "dns error"); it names no URL.
        let mut cause: &dyn std::error::Error = &error;
        while let Some(next) = cause.source() {
            cause = next;
        }
        TelegramError::Network(format!("{what}: {}", shorten(&cause.to_string())))
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_DESCRIPTION) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    error_code: Option<i64>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize)]
struct ResponseParameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

/// The part of a sent `Message` the channel needs.
#[derive(Debug, Deserialize)]
pub(crate) struct SentMessage {
    pub message_id: i64,
}

/// A Bot API client for one bot. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    /// `{api_url}/bot{token}`: a credential, never logged.
    base: Arc<str>,
    /// The token alone, to scrub it from any error text.
    token: Arc<str>,
    request_timeout: Duration,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish_non_exhaustive()
    }
}

impl Api {
    pub fn new(config: &TelegramConfig) -> Result<Self, TelegramError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("teduh/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TelegramError::Client(e.without_url().to_string()))?;
        Ok(Self {
            http,
            base: format!("{}/bot{}", config.api_url, config.token).into(),
            token: config.token.as_str().into(),
            request_timeout: config.request_timeout,
        })
    }

    /// Errors name no URL; should a cause ever quote one, the token is cut out all the same.
    fn scrub(&self, error: TelegramError) -> TelegramError {
        match error {
            TelegramError::Network(text) if !self.token.is_empty() && text.contains(&*self.token) => {
                TelegramError::Network(text.replace(&*self.token, "<token>"))
            }
            other => other,
        }
    }

    /// Calls `method` with JSON `params`, within the configured request timeout.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &serde_json::Value,
    ) -> Result<T, TelegramError> {
        self.call_within(method, params, self.request_timeout).await
    }

    /// Calls `method` with an idempotency key in the `X-Teduh-Idempotency-Key` header: the Bot
    /// API ignores it; a proxy or a test double can drop or count repeated sends by it (sends
    /// are at least once: a crash between sending and recording sends again).
    pub async fn call_keyed<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &serde_json::Value,
        key: &str,
    ) -> Result<T, TelegramError> {
        self.exchange(method, params, self.request_timeout, Some(key)).await
    }

    /// Calls `method`, allowing `timeout` for the whole exchange (long polls need longer).
    pub async fn call_within<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &serde_json::Value,
        timeout: Duration,
    ) -> Result<T, TelegramError> {
        self.exchange(method, params, timeout, None).await
    }

    async fn exchange<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &serde_json::Value,
        timeout: Duration,
        key: Option<&str>,
    ) -> Result<T, TelegramError> {
        let mut request = self.http.post(format!("{}/{method}", self.base)).timeout(timeout).json(params);
        if let Some(key) = key {
            request = request.header("X-Teduh-Idempotency-Key", key);
        }
        let response = request.send().await.map_err(|e| self.scrub(TelegramError::from_reqwest(e)))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| self.scrub(TelegramError::from_reqwest(e)))?;
        let Ok(envelope) = serde_json::from_slice::<Envelope>(&body) else {
            // A 429 or 5xx from something in between still tells us what to do.
            return Err(if status == 429 || status >= 500 {
                TelegramError::Api {
                    code: i64::from(status),
                    description: format!("HTTP {status}"),
                    retry_after: None,
                }
            } else {
                TelegramError::BadResponse { status }
            });
        };
        if !envelope.ok {
            return Err(TelegramError::Api {
                code: envelope.error_code.unwrap_or(i64::from(status)),
                description: shorten(envelope.description.as_deref().unwrap_or("no description")),
                retry_after: envelope.parameters.and_then(|p| p.retry_after),
            });
        }
        let result = envelope.result.ok_or(TelegramError::BadResponse { status })?;
        serde_json::from_value(result).map_err(|_| TelegramError::BadResponse { status })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: i64, description: &str, retry_after: Option<u64>) -> TelegramError {
        TelegramError::Api { code, description: description.to_string(), retry_after }
    }

    #[test]
    fn failures_map_to_retry_or_permanent() {
        assert_eq!(
            api(429, "Too Many Requests: retry after 7", Some(7)).to_send_error(),
            SendError::Retry {
                reason: "Telegram API error 429: Too Many Requests: retry after 7".to_string(),
                after: Some(Duration::from_secs(7)),
            }
        );
        assert!(matches!(
            api(502, "Bad Gateway", None).to_send_error(),
            SendError::Retry { after: None, .. }
        ));
        assert!(matches!(TelegramError::Timeout.to_send_error(), SendError::Retry { .. }));
        assert!(matches!(
            TelegramError::Network("connection failed".into()).to_send_error(),
            SendError::Retry { .. }
        ));
        assert!(matches!(
            api(403, "Forbidden: bot was blocked by the user", None).to_send_error(),
            SendError::Permanent(r) if r.contains("blocked")
        ));
        assert!(matches!(
            api(400, "Bad Request: chat not found", None).to_send_error(),
            SendError::Permanent(r) if r.contains("chat not found")
        ));
        let huge = api(429, "", Some(u64::MAX)).to_send_error();
        assert!(matches!(huge, SendError::Retry { after: Some(d), .. } if d == Duration::from_secs(3_600)));
    }

    #[test]
    fn network_errors_never_carry_the_token() {
        let api = Api::new(&TelegramConfig::new("42:SECRET")).unwrap();
        let scrubbed = api.scrub(TelegramError::Network("failed for /bot42:SECRET/sendMessage".into()));
        assert_eq!(scrubbed, TelegramError::Network("failed for /bot<token>/sendMessage".into()));
    }

    #[tokio::test]
    async fn unreachable_api_is_a_network_error_without_the_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut config = TelegramConfig::new("42:SECRET");
        config.api_url = format!("http://127.0.0.1:{port}");
        let err = Api::new(&config).unwrap().call::<bool>("getMe", &serde_json::json!({})).await.unwrap_err();
        assert!(matches!(err, TelegramError::Network(_)), "{err:?}");
        let text = err.to_string();
        assert!(!text.contains("SECRET") && !text.contains("127.0.0.1"), "{text}");
        assert!(err.is_temporary());
    }

    #[test]
    fn descriptions_are_shortened() {
        let long = "x".repeat(500);
        assert_eq!(shorten(&long).chars().count(), MAX_DESCRIPTION + 1);
        assert_eq!(shorten("short"), "short");
    }
}
