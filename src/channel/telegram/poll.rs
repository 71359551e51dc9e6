//! Long polling: `getUpdates` in a loop. An update is confirmed to Telegram (by asking for the
//! next offset) only after it is stored, so a crash or a database outage loses nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::json;

use super::TelegramConfig;
use super::api::{Api, TelegramError};
use super::update::Update;
use crate::channel::Ingress;

/// The update kinds the service handles; Telegram sends no others.
pub(crate) const ALLOWED_UPDATES: [&str; 2] = ["message", "callback_query"];
/// Updates asked for per call.
const BATCH: u32 = 100;
/// Extra time a long poll may take beyond its timeout before it counts as failed.
const POLL_GRACE: Duration = Duration::from_secs(10);
/// Longest wait between failed attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long answering a button press may take; it is only cosmetic.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Delay before attempt `failures + 1`: 1 s doubling to 30 s, ±25 % jitter.
fn backoff(failures: u32) -> Duration {
    let base = Duration::from_secs(1).saturating_mul(1 << failures.saturating_sub(1).min(5)).min(MAX_BACKOFF);
    base.mul_f64(rand::rng().random_range(0.75..1.25))
}

/// Sleeps for `wait`; true if `shutdown` resolved first.
async fn sleep_or_stop(shutdown: &mut Pin<&mut impl Future<Output = ()>>, wait: Duration) -> bool {
    tokio::select! {
        () = shutdown.as_mut() => true,
        () = tokio::time::sleep(wait) => false,
    }
}

/// Acknowledges a button press so her client stops showing a spinner. Best effort, in the
/// background: the choice itself is already stored.
pub(crate) fn answer_callback(api: Api, id: String) {
    tokio::spawn(async move {
        let params = json!({ "callback_query_id": id });
        if let Err(e) = api.call_within::<bool>("answerCallbackQuery", &params, ANSWER_TIMEOUT).await {
            tracing::debug!(error = e.kind(), "answering a Telegram button press failed");
        }
    });
}

/// Receives updates by long polling until `shutdown` resolves, storing each through `ingress`.
/// Network errors, Telegram errors and database outages are waited out with backoff; an update
/// that cannot be stored is retried before any later one, and is not confirmed until stored.
/// If a webhook is still registered (Telegram then refuses `getUpdates`), it is removed.
pub async fn poll(ingress: Ingress, config: Arc<TelegramConfig>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut failures = 0u32;
    let api = loop {
        match Api::new(&config) {
            Ok(api) => break api,
            Err(e) => {
                failures += 1;
                tracing::error!(error = %e, "Telegram client unavailable; retrying");
                if sleep_or_stop(&mut shutdown, backoff(failures)).await {
                    return;
                }
            }
        }
    };
    tracing::info!("Telegram long polling started");
    let timeout_secs = config.poll_timeout.as_secs();
    let mut offset: Option<i64> = None;
    failures = 0;
    loop {
        let params = json!({
            "offset": offset,
            "limit": BATCH,
            "timeout": timeout_secs,
            "allowed_updates": ALLOWED_UPDATES,
        });
        let call = api.call_within::<Vec<serde_json::Value>>(
            "getUpdates",
            &params,
            config.poll_timeout + POLL_GRACE,
        );
        let result = tokio::select! {
            () = shutdown.as_mut() => break,
            result = call => result,
        };
        let updates = match result {
            Ok(updates) => {
                failures = 0;
                updates
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, failures, "Telegram getUpdates failed; retrying");
                if is_webhook_conflict(&e) {
                    remove_webhook(&api).await;
                }
                if sleep_or_stop(&mut shutdown, backoff(failures)).await {
                    break;
                }
                continue;
            }
        };
        for raw in updates {
            let Ok(update) = serde_json::from_value::<Update>(raw) else {
                // Without an update id it cannot even be confirmed; the next one confirms it.
                tracing::warn!("Telegram sent an update without an id; skipped");
                continue;
            };
            let handled = update.handle();
            if let Some(inbound) = &handled.inbound {
                let mut attempts = 0u32;
                loop {
                    let stored = tokio::select! {
                        () = shutdown.as_mut() => return stopped(),
                        stored = ingress.receive(inbound) => stored,
                    };
                    match stored {
                        Ok(_) => break,
                        Err(e) => {
                            attempts += 1;
                            tracing::warn!(error = %e, attempts, "Telegram update not stored; retrying");
                            if sleep_or_stop(&mut shutdown, backoff(attempts)).await {
                                return stopped();
                            }
                        }
                    }
                }
            }
            if let Some(id) = handled.answer_callback {
                answer_callback(api.clone(), id);
            }
            let next = update.update_id.saturating_add(1);
            offset = Some(offset.map_or(next, |o| o.max(next)));
        }
    }
    stopped();
}

fn stopped() {
    tracing::info!("Telegram long polling stopped");
}

fn is_webhook_conflict(error: &TelegramError) -> bool {
    matches!(error, TelegramError::Api { code: 409, description, .. } if description.contains("webhook"))
}

/// Long polling was chosen (no webhook URL is configured) but Telegram still has a webhook from
/// an earlier configuration: remove it, keeping the updates waiting.
async fn remove_webhook(api: &Api) {
    match api.call::<bool>("deleteWebhook", &json!({ "drop_pending_updates": false })).await {
        Ok(_) => tracing::info!("removed the Telegram webhook so long polling can work"),
        Err(e) => tracing::warn!(error = %e, "removing the Telegram webhook failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap() {
        for (failures, secs) in [(1u32, 1.0f64), (2, 2.0), (3, 4.0), (6, 30.0), (60, 30.0)] {
            let d = backoff(failures).as_secs_f64();
            assert!(d >= secs * 0.75 && d <= secs * 1.25, "{failures}: {d}");
        }
    }
}
