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
use crate::coord::Coordination;
use crate::store::{Store, StoreError};
use rate::RateLimiter;

/// Delivered sends recorded in one transaction at most.
const SENT_GROUP: usize = 256;

type SentGroup = crate::store::group::Group<(i64, Vec<String>), ()>;

/// Attempts before a send is given up as failed.
pub const MAX_ATTEMPTS: i64 = 8;
/// How long a claimed row is leased before another dispatcher may take it.
const LEASE_MS: i64 = 20_000;
/// Rows claimed per round.
const BATCH: i64 = 64;
/// Chats being sent to at once; more wait for one to finish. Most of them are waiting out
/// their chat's gap (a second between SMS), which costs a timer and the rows in hand, so the
/// bound is set by memory, not by work: with 1,024 the dispatcher topped out near a thousand
/// chats a second, one gap each.
const MAX_CHATS_IN_FLIGHT: usize = 16_384;

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
    shared: Option<Arc<dyn Coordination>>,
    metrics: Arc<crate::metrics::Metrics>,
    /// Set on shutdown: rows not yet sent are handed back instead.
    stopping: Arc<std::sync::atomic::AtomicBool>,
    /// Records delivered sends together; started with the first send (it needs a runtime).
    recorder: Arc<std::sync::OnceLock<SentGroup>>,
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
        Self {
            store,
            clock,
            senders,
            wake: Arc::new(Notify::new()),
            shared: None,
            metrics: Arc::default(),
            stopping: Arc::default(),
            recorder: Arc::default(),
        }
    }

    /// How long to sleep when idle: until the next row comes due, or the idle poll.
    async fn until_due(&self) -> Duration {
        let idle = self.idle_poll();
        match self.store.next_outbox_due(self.clock.now_ms()).await {
            Ok(Some(due)) => {
                let wait = Duration::from_millis((due - self.clock.now_ms()).max(1) as u64);
                wait.min(idle)
            }
            Ok(None) => idle,
            Err(e) => {
                tracing::debug!(error = %e, "next outbox due time unavailable");
                idle
            }
        }
    }

    fn idle_poll(&self) -> Duration {
        match &self.shared {
            Some(coord) => crate::coord::idle_poll(&**coord, Duration::from_millis(250)),
            None => Duration::from_millis(250),
        }
    }

    /// The same dispatcher, counting into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The same dispatcher, woken by `wake` and keeping send limits shared with other
    /// instances through `coord` (when it is not in-process).
    pub fn with_coordination(mut self, coord: Arc<dyn Coordination>, wake: Arc<Notify>) -> Self {
        self.shared = (coord.kind() != "local").then_some(coord);
        self.wake = wake;
        self
    }

    /// A handle that wakes the dispatcher when new rows are queued.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Claims one batch of due rows and sends them: each chat's rows in order, chats side by
    /// side. Returns how many rows were handled, once they all were.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let mut tasks = tokio::task::JoinSet::new();
        let count = self.claim_into(&mut tasks).await?;
        while tasks.join_next().await.is_some() {}
        Ok(count)
    }

    /// Claims one batch and starts a task per chat in `tasks`; returns how many rows it took.
    async fn claim_into(&self, tasks: &mut tokio::task::JoinSet<()>) -> Result<usize, StoreError> {
        let batch = self.store.claim_outbox(self.clock.now_ms(), BATCH, LEASE_MS).await?;
        let count = batch.len();
        let mut chats: Vec<Vec<Outgoing>> = Vec::new();
        for row in batch {
            match chats.iter_mut().find(|c| c[0].channel == row.channel && c[0].contact == row.contact) {
                Some(chat) => chat.push(row),
                None => chats.push(vec![row]),
            }
        }
        for chat in chats {
            let this = self.clone();
            tasks.spawn(async move { this.send_chat(chat).await });
        }
        Ok(count)
    }

    /// Sends one chat's claimed rows in order.
    async fn send_chat(&self, chat: Vec<Outgoing>) {
        let mut rows = chat.into_iter();
        while let Some(row) = rows.next() {
            if self.stopping.load(std::sync::atomic::Ordering::Relaxed) {
                // Shutting down: another instance sends these now, not after the lease.
                let left: Vec<i64> = std::iter::once(row.id).chain(rows.map(|r| r.id)).collect();
                let now = self.clock.now_ms();
                if let Err(e) = self.store.outbox_release(&left, now, now).await {
                    tracing::warn!(error = %e, "could not hand rows back; their lease will expire");
                }
                break;
            }
            match self.deliver(row).await {
                Ok(None) => {}
                Ok(Some(retry_at)) => {
                    // The chat's later messages wait behind the one being retried.
                    let later: Vec<i64> = rows.map(|r| r.id).collect();
                    if let Err(e) = self.store.outbox_release(&later, retry_at, self.clock.now_ms()).await {
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
    }

    fn sent_group(&self) -> SentGroup {
        let (store, clock) = (self.store.clone(), self.clock.clone());
        crate::store::group::Group::start(
            SENT_GROUP,
            Arc::new(move |sent: Vec<(i64, Vec<String>)>| {
                let (store, now) = (store.clone(), clock.now_ms());
                Box::pin(async move {
                    store.outbox_sent_many(&sent, now).await?;
                    Ok(vec![(); sent.len()])
                })
            }),
        )
    }

    /// Sends one row and records the outcome; returns when it is due again if it will be
    /// retried.
    async fn deliver(&self, row: Outgoing) -> Result<Option<i64>, StoreError> {
        let Some((sender, limiter)) = self.senders.get(&row.channel) else {
            let reason = format!("no sender is configured for channel `{}`", row.channel);
            self.store.outbox_give_up(row.id, "refused", &reason, self.clock.now_ms()).await?;
            return Ok(None);
        };
        limiter.acquire_shared(&row.contact, self.shared.as_deref(), &row.channel).await;
        let result = sender.send(&row).await;
        if self.shared.is_some() {
            limiter.sent(&row.contact);
        }
        let now = self.clock.now_ms();
        match result {
            Ok(receipt) => {
                tracing::debug!(outbox = row.id, channel = %row.channel, "sent");
                self.metrics.count_out(&row.channel);
                self.recorder.get_or_init(|| self.sent_group()).write((row.id, receipt.provider_ids)).await?;
            }
            Err(SendError::Retry { reason, after }) if row.attempts + 1 < MAX_ATTEMPTS => {
                let wait = after.unwrap_or_else(|| backoff(row.attempts + 1));
                let due = now + wait.as_millis() as i64;
                tracing::info!(outbox = row.id, channel = %row.channel, wait_ms = wait.as_millis() as u64, "send will be retried");
                self.metrics.count_send_error(&row.channel, "retry");
                self.store.outbox_retry(row.id, due, &reason, now).await?;
                return Ok(Some(due));
            }
            Err(SendError::Retry { reason, .. }) => {
                tracing::warn!(outbox = row.id, channel = %row.channel, "send failed after every retry");
                self.metrics.count_send_error(&row.channel, "gave_up");
                let reason = format!("gave up after {MAX_ATTEMPTS} attempts: {reason}");
                self.store.outbox_give_up(row.id, "failed", &reason, now).await?;
            }
            Err(SendError::Permanent(reason)) => {
                tracing::warn!(outbox = row.id, channel = %row.channel, "send failed permanently");
                self.metrics.count_send_error(&row.channel, "permanent");
                self.store.outbox_give_up(row.id, "failed", &reason, now).await?;
            }
            Err(SendError::Refused(reason)) => {
                tracing::info!(outbox = row.id, channel = %row.channel, "send refused by rule");
                self.metrics.count_send_error(&row.channel, "refused");
                self.store.outbox_give_up(row.id, "refused", &reason, now).await?;
            }
        }
        Ok(None)
    }

    /// Runs until `shutdown` resolves: claims whatever is due and sends each chat in a task of
    /// its own, so a chat waiting out its gap or a slow provider never holds the others up;
    /// when idle, waits for a wake-up, a task to finish, or the next row coming due. On
    /// shutdown, sends in flight finish and the rest is handed back.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut in_flight: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
        loop {
            while in_flight.try_join_next().is_some() {}
            let claimed = if in_flight.len() >= MAX_CHATS_IN_FLIGHT {
                0
            } else {
                match self.claim_into(&mut in_flight).await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox claim failed");
                        0
                    }
                }
            };
            if claimed > 0 {
                continue;
            }
            let wait = self.until_due().await;
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        self.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
        while in_flight.join_next().await.is_some() {}
    }
}
