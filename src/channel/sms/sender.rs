//! Sending SMS: replies rendered as text, split into messages of at most two segments, sent in
//! order through Twilio's Messages API or the generic gateway.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::time::Instant;

use super::webhook::TWILIO_STATUS_PATH;
use super::{
    CHANNEL, GatewayConfig, MAX_SEGMENTS, SmsConfig, SmsProvider, TwilioConfig, render, sign, split,
};
use crate::channel::{Outgoing, OutgoingPayload, RateLimits, Receipt, SendError, SendFuture, Sender};
use crate::store::Store;

/// Longest wait a provider's `Retry-After` is followed for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// How long the parts already sent of a row that failed half-way are remembered.
const PARTIAL_TTL: Duration = Duration::from_secs(6 * 3600);
/// Twilio: the recipient replied STOP to this sender at the carrier.
const TWILIO_UNSUBSCRIBED: i64 = 21610;

/// Spaces sends so no window of `window` holds more than `capacity` of them at the provider:
/// SMS parts are paced one by one, however many a reply needs. A send counts from its turn
/// until a window after it has finished, so parts held up together after their turn (a busy
/// machine) cannot reach the provider as more than the limit in one second: whatever arrives
/// in a window was either still in flight or finished within a window when the last of them
/// took its turn.
#[derive(Debug)]
struct Pacer {
    capacity: usize,
    window: Duration,
    log: Mutex<PaceLog>,
}

#[derive(Debug, Default)]
struct PaceLog {
    in_flight: usize,
    /// When sends finished, oldest first.
    finished: VecDeque<Instant>,
}

/// A send's turn; dropping it marks the send finished.
struct Turn<'a>(&'a Pacer);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut log = self.0.log();
        log.in_flight = log.in_flight.saturating_sub(1);
        log.finished.push_back(Instant::now());
    }
}

impl Pacer {
    fn new(per_second: f64) -> Self {
        // At fast rates, 3% of room, from when a send counted only from its turn and parts
        // held up together reached the drain's fake gateway as 2,007, then 2,001 and 2,015 of
        // 2,000 a second; counted until finished, the busiest second is the capacity exactly.
        let whole = (per_second.floor() as usize).max(1);
        let window =
            Duration::try_from_secs_f64(whole as f64 / per_second).unwrap_or(Duration::from_secs(100));
        let room = if per_second >= 50.0 { (per_second * 0.03).ceil() as usize } else { 0 };
        let capacity = whole.saturating_sub(room).max(1);
        Self { capacity, window, log: Mutex::new(PaceLog::default()) }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, PaceLog> {
        self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for a turn to send; the send counts until a window after the turn is dropped.
    async fn acquire(&self) -> Turn<'_> {
        loop {
            let wait = {
                let mut log = self.log();
                let now = Instant::now();
                while log.finished.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                    log.finished.pop_front();
                }
                if log.in_flight + log.finished.len() < self.capacity {
                    log.in_flight += 1;
                    return Turn(self);
                }
                // Everything counted still in flight: look again once some of it has finished.
                log.finished
                    .front()
                    .map_or(Duration::from_millis(10), |t| (*t + self.window).saturating_duration_since(now))
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }
}

/// Parts of an outbox row already accepted by the provider when a later part failed: a retry
/// sends only the rest.
type Partial = HashMap<i64, (Instant, Vec<Option<String>>)>;

/// The SMS channel's sender.
pub struct SmsSender {
    config: Arc<SmsConfig>,
    store: Store,
    client: reqwest::Client,
    pacer: Pacer,
    partial: Mutex<Partial>,
}

impl std::fmt::Debug for SmsSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsSender").field("config", &self.config).finish_non_exhaustive()
    }
}

/// How one request to the provider ended.
enum PartError {
    Send(SendError),
    /// The provider says she unsubscribed at the carrier.
    Unsubscribed,
}

impl SmsSender {
    /// A sender for `config`, checking opt-outs in `store`.
    pub fn new(config: Arc<SmsConfig>, store: Store) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("teduh/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let pacer = Pacer::new(config.rate);
        Ok(Self { config, store, client, pacer, partial: Mutex::new(HashMap::new()) })
    }

    fn partial(&self) -> std::sync::MutexGuard<'_, Partial> {
        match self.partial.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    async fn deliver(&self, message: &Outgoing) -> Result<Receipt, SendError> {
        let reply = match &message.payload {
            // SMS cannot be taken back from her phone.
            OutgoingPayload::ClearChat { .. } => return Ok(Receipt::default()),
            OutgoingPayload::Reply(reply) => reply,
        };
        let opted_out = match message.opted_out {
            Some(known) => Ok(known),
            None => self.store.channel_contact(CHANNEL, &message.contact).await.map(|(_, out)| out),
        };
        match opted_out {
            Ok(true) => {
                return Err(SendError::Refused(
                    "the number opted out of SMS (STOP); it can text START or MULAI to opt back in"
                        .to_string(),
                ));
            }
            Ok(false) => {}
            Err(e) => {
                return Err(SendError::Retry { reason: format!("opt-out check failed: {e}"), after: None });
            }
        }
        let parts = split(&render(reply), MAX_SEGMENTS);
        let mut sent = self.partial().remove(&message.id).map(|(_, ids)| ids).unwrap_or_default();
        for (index, part) in parts.iter().enumerate().skip(sent.len()) {
            let turn = self.pacer.acquire().await;
            let result = self.send_part(message, index, part).await;
            drop(turn);
            match result {
                Ok(id) => sent.push(id),
                Err(error) => {
                    let error = match error {
                        PartError::Send(e) => e,
                        PartError::Unsubscribed => {
                            self.record_carrier_opt_out(message).await;
                            SendError::Refused(
                                "the number unsubscribed at the carrier (Twilio 21610); it can text START to \
                                 opt back in"
                                    .to_string(),
                            )
                        }
                    };
                    if index > 0 {
                        tracing::info!(
                            outbox = message.id,
                            sent = index,
                            parts = parts.len(),
                            "sms sent in part"
                        );
                    }
                    if matches!(error, SendError::Retry { .. }) && !sent.is_empty() {
                        let mut partial = self.partial();
                        partial.retain(|_, (at, _)| at.elapsed() < PARTIAL_TTL);
                        partial.insert(message.id, (Instant::now(), sent));
                    }
                    return Err(annotate(error, index, parts.len()));
                }
            }
        }
        Ok(Receipt { provider_ids: sent.into_iter().flatten().collect() })
    }

    /// Notes a carrier-level opt-out so later sends are refused without asking the provider.
    async fn record_carrier_opt_out(&self, message: &Outgoing) {
        if let Err(e) = self.store.set_opted_out(CHANNEL, &message.contact, Some(message.now_ms)).await {
            tracing::warn!(outbox = message.id, error = %e, "could not record a carrier opt-out");
        }
    }

    async fn send_part(
        &self,
        message: &Outgoing,
        index: usize,
        text: &str,
    ) -> Result<Option<String>, PartError> {
        match &self.config.provider {
            SmsProvider::Twilio(twilio) => self.send_twilio(twilio, message, text).await,
            SmsProvider::Gateway(gateway) => self.send_gateway(gateway, message, index, text).await,
        }
    }

    async fn send_twilio(
        &self,
        twilio: &TwilioConfig,
        message: &Outgoing,
        text: &str,
    ) -> Result<Option<String>, PartError> {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", twilio.api_url, twilio.account_sid);
        let callback = format!("{}{TWILIO_STATUS_PATH}", twilio.public_url);
        let sender = if is_messaging_service(&twilio.from) { "MessagingServiceSid" } else { "From" };
        let form = [
            ("To", message.contact.as_str()),
            (sender, twilio.from.as_str()),
            ("Body", text),
            ("StatusCallback", callback.as_str()),
        ];
        let response = self
            .client
            .post(url)
            .basic_auth(&twilio.account_sid, Some(&twilio.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|e| PartError::Send(transport("twilio", e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body: Option<serde_json::Value> = response.json().await.ok();
        if status.is_success() {
            let sid = body.as_ref().and_then(|b| b.get("sid")).and_then(|s| s.as_str()).map(str::to_string);
            if sid.is_none() {
                tracing::warn!(outbox = message.id, "twilio accepted a message without returning its sid");
            }
            return Ok(sid);
        }
        let code = body.as_ref().and_then(|b| b.get("code")).and_then(serde_json::Value::as_i64);
        if code == Some(TWILIO_UNSUBSCRIBED) {
            return Err(PartError::Unsubscribed);
        }
        Err(PartError::Send(classify("twilio", status, &headers, code)))
    }

    async fn send_gateway(
        &self,
        gateway: &GatewayConfig,
        message: &Outgoing,
        index: usize,
        text: &str,
    ) -> Result<Option<String>, PartError> {
        let id = format!("{}-{index}", message.id);
        let body = serde_json::json!({ "id": id, "to": message.contact, "text": text }).to_string();
        let signature = sign::gateway_signature(&gateway.secret, body.as_bytes());
        let response = self
            .client
            .post(&gateway.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Teduh-Signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| PartError::Send(transport("gateway", e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(Some(id));
        }
        Err(PartError::Send(classify("gateway", status, response.headers(), None)))
    }
}

/// Whether a Twilio sender is a Messaging Service SID (`MG` and 32 hex digits) rather than a
/// number or an alphanumeric sender id.
fn is_messaging_service(from: &str) -> bool {
    from.len() == 34 && from.starts_with("MG") && from[2..].chars().all(|c| c.is_ascii_hexdigit())
}

/// Adds which part failed to a multi-part failure.
fn annotate(error: SendError, index: usize, parts: usize) -> SendError {
    if parts <= 1 {
        return error;
    }
    let note = |r: String| format!("{r} (part {} of {parts})", index + 1);
    match error {
        SendError::Retry { reason, after } => SendError::Retry { reason: note(reason), after },
        SendError::Permanent(r) => SendError::Permanent(note(r)),
        SendError::Refused(r) => SendError::Refused(note(r)),
    }
}

/// A network failure: always worth retrying. The URL is left out of the reason.
fn transport(provider: &str, error: reqwest::Error) -> SendError {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    SendError::Retry { reason: format!("{provider} {kind}: {}", error.without_url()), after: None }
}

/// `Retry-After` in seconds, if the provider gave one.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// What a provider's error answer means. The answer's text is not kept: it may quote the number.
fn classify(provider: &str, status: StatusCode, headers: &HeaderMap, code: Option<i64>) -> SendError {
    let code_note = code.map(|c| format!(", code {c}")).unwrap_or_default();
    let reason = format!("{provider} answered HTTP {}{code_note}", status.as_u16());
    match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => {
            SendError::Retry { reason, after: retry_after(headers) }
        }
        s if s.is_server_error() => SendError::Retry { reason, after: retry_after(headers) },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            // Wrong credentials are an operator's mistake: keep the messages until it is fixed.
            tracing::error!(provider, status = status.as_u16(), "sms provider rejected our credentials");
            SendError::Retry { reason: format!("{reason}: credentials rejected"), after: None }
        }
        s if s.is_client_error() => SendError::Permanent(reason),
        _ => SendError::Retry { reason: format!("{reason}: unexpected answer"), after: None },
    }
}

impl Sender for SmsSender {
    fn channel(&self) -> &str {
        CHANNEL
    }

    fn limits(&self) -> RateLimits {
        RateLimits { per_second: self.config.rate, per_chat_interval: Duration::from_secs(1) }
    }

    fn send<'a>(&'a self, message: &'a Outgoing) -> SendFuture<'a> {
        Box::pin(self.deliver(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pacer_keeps_any_window_within_the_rate() {
        let pacer = Pacer::new(5.0);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..12 {
            pacer.acquire().await;
            times.push(start.elapsed());
        }
        for pair in times.windows(6) {
            assert!(pair[5] - pair[0] >= Duration::from_secs(1), "{times:?}");
        }
        // 5 at once, 5 a second later, 2 a second after that.
        assert!(times[11] >= Duration::from_secs(2) && times[11] < Duration::from_millis(2_100), "{times:?}");
        // A fast rate keeps 3% of room in every window.
        let fast = Pacer::new(3_000.0);
        assert_eq!(fast.capacity, 2_910);
        let slow = Pacer::new(0.5);
        let start = Instant::now();
        slow.acquire().await;
        slow.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_held_up_after_its_turn_counts_until_a_window_after_it_finished() {
        let pacer = Pacer::new(5.0);
        let start = Instant::now();
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(pacer.acquire().await);
        }
        // The machine stalls for 1.5 s with all five on their way; they reach the provider
        // together at the end of it, so nothing more may arrive within the next second.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        drop(held);
        drop(pacer.acquire().await);
        assert!(start.elapsed() >= Duration::from_millis(2_500), "{:?}", start.elapsed());
        assert!(start.elapsed() < Duration::from_millis(2_600), "{:?}", start.elapsed());
    }

    #[test]
    fn messaging_services_are_told_from_sender_ids() {
        assert!(is_messaging_service("MG0123456789abcdef0123456789abcdef"));
        assert!(!is_messaging_service("MGTEDUH"));
        assert!(!is_messaging_service("+6281234567890"));
    }

    #[test]
    fn provider_answers_are_classified() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(
            classify("twilio", StatusCode::TOO_MANY_REQUESTS, &headers, Some(20429)),
            SendError::Retry {
                reason: "twilio answered HTTP 429, code 20429".into(),
                after: Some(Duration::from_secs(7))
            }
        );
        assert!(matches!(
            classify("twilio", StatusCode::BAD_GATEWAY, &HeaderMap::new(), None),
            SendError::Retry { after: None, .. }
        ));
        assert_eq!(
            classify("twilio", StatusCode::BAD_REQUEST, &HeaderMap::new(), Some(21211)),
            SendError::Permanent("twilio answered HTTP 400, code 21211".into())
        );
        assert!(matches!(
            classify("gateway", StatusCode::UNAUTHORIZED, &HeaderMap::new(), None),
            SendError::Retry { .. }
        ));
    }
}
