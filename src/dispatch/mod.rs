//! The outbox dispatcher: claims queued sends, keeps each channel's rate limits, retries
//! temporary failures with backoff and jitter, and records what could not be sent and why.

pub mod rate;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Notify;

use crate::channel::{Outgoing, SendError, Sender};
use crate::clock::Clock;
use crate::store::{Store, StoreError};
use rate::RateLimiter;

/// Attempts before a send is given up as failed.
pub const MAX_ATTEMPTS: i64 = 8;
/// How long a claimed row is leased before another dispatcher may take it.
const LEASE_MS: i64 = 60_000;
/// Rows claimed per round.
const BATCH: i64 = 200;

/// Delay before retry number `attempts` (1-based): 1 s doubling to 5 min, ±25 % jitter so
/// many failed sends do not retry in lockstep.
pub fn backoff(attempts: i64) -> Duration {
    let base = 1_000u64.saturating_mul(1u64 << attempts.clamp(0, 20)).min(300_000);
    let jitter = rand::rng().random_range(0.75..1.25);
    Duration::from_millis((base as f64 * jitter) as u64)
}

/// Sends what the outbox holds through the configured channels.
#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    clock: Arc<dyn Clock>,
    senders: HashMap<String, (Arc<dyn Sender>, Arc<RateLimiter>)>,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").field("channels", &self.senders.keys().collect::<Vec<_>>()).finish()
    }
}

impl Dispatcher {
    /// A dispatcher for the given channel senders.
    pub fn new(store: Store, clock: Arc<dyn Clock>, senders: Vec<Arc<dyn Sender>>) -> Self {
        let senders = senders
            .into_iter()
            .map(|s| {
                let limiter = Arc::new(RateLimiter::new(s.limits()));
                (s.channel().to_string(), (s, limiter))
            })
            .collect();
        Self { store, clock, senders, wake: Arc::new(Notify::new()) }
    }

    /// A handle that wakes the dispatcher when new rows are queued.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Claims one batch of due rows and sends them: each chat's rows in order, chats side by
    /// side. Returns how many rows were handled.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let batch = self.store.claim_outbox(self.clock.now_ms(), BATCH, LEASE_MS).await?;
        let count = batch.len();
        let mut chats: Vec<Vec<Outgoing>> = Vec::new();
        for row in batch {
            match chats.iter_mut().find(|c| c[0].channel == row.channel && c[0].contact == row.contact) {
                Some(chat) => chat.push(row),
                None => chats.push(vec![row]),
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        for chat in chats {
            let this = self.clone();
            tasks.spawn(async move {
                let mut rows = chat.into_iter();
                while let Some(row) = rows.next() {
                    match this.deliver(row).await {
                        Ok(None) => {}
                        Ok(Some(retry_at)) => {
                            // The chat's later messages wait behind the one being retried.
                            let later: Vec<i64> = rows.map(|r| r.id).collect();
                            if let Err(e) = this.store.outbox_release(&later, retry_at, this.clock.now_ms()).await {
                                tracing::warn!(error = %e, "could not hand rows back; their lease will expire");
                            }
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "outbox bookkeeping failed; the lease will expire and retry");
                            break;
                        }
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        Ok(count)
    }

    /// Sends one row and records the outcome; returns when it is due again if it will be
    /// retried.
    async fn deliver(&self, row: Outgoing) -> Result<Option<i64>, StoreError> {
        let Some((sender, limiter)) = self.senders.get(&row.channel) else {
            let reason = format!("no sender is configured for channel `{}`", row.channel);
            self.store.outbox_give_up(row.id, "refused", &reason, self.clock.now_ms()).await?;
            return Ok(None);
        };
        limiter.acquire(&row.contact).await;
        let result = sender.send(&row).await;
        let now = self.clock.now_ms();
        match result {
            Ok(receipt) => {
                tracing::debug!(outbox = row.id, channel = %row.channel, "sent");
                self.store.outbox_sent(row.id, &receipt.provider_ids, now).await?;
            }
            Err(SendError::Retry { reason, after }) if row.attempts + 1 < MAX_ATTEMPTS => {
                let wait = after.unwrap_or_else(|| backoff(row.attempts + 1));
                let due = now + wait.as_millis() as i64;
                tracing::info!(outbox = row.id, channel = %row.channel, wait_ms = wait.as_millis() as u64, "send will be retried");
                self.store.outbox_retry(row.id, due, &reason, now).await?;
                return Ok(Some(due));
            }
            Err(SendError::Retry { reason, .. }) => {
                tracing::warn!(outbox = row.id, channel = %row.channel, "send failed after every retry");
                let reason = format!("gave up after {MAX_ATTEMPTS} attempts: {reason}");
                self.store.outbox_give_up(row.id, "failed", &reason, now).await?;
            }
            Err(SendError::Permanent(reason)) => {
                tracing::warn!(outbox = row.id, channel = %row.channel, "send failed permanently");
                self.store.outbox_give_up(row.id, "failed", &reason, now).await?;
            }
            Err(SendError::Refused(reason)) => {
                tracing::info!(outbox = row.id, channel = %row.channel, "send refused by rule");
                self.store.outbox_give_up(row.id, "refused", &reason, now).await?;
            }
        }
        Ok(None)
    }

    /// Runs until `shutdown` resolves: sends whatever is due, then waits for a wake-up or a
    /// short interval (for retries coming due).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let handled = match self.run_once().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox claim failed");
                    0
                }
            };
            if handled > 0 {
                continue;
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }
}
