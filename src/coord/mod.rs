//! Coordination between instances: shared send-rate buckets, wake-ups, and a fast check for
//! inbound deliveries already stored. In embedded mode it all happens in the process
//! ([`Local`]); with `REDIS_URL`, in Redis ([`RedisCoord`]), so several instances behave as one.
//!
//! The database stays the authority for everything that must not be lost or done twice (the
//! inbox's unique delivery ids, inbox and outbox leases, versioned escalations). What lives in
//! Redis is only what makes instances fast and polite together; when Redis is away, each
//! instance carries on alone (local rate limits, polling) and readiness says so.

mod local;
mod redis;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

pub use local::Local;
pub use redis::RedisCoord;

/// A boxed future of a coordination call.
pub type CoordFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CoordError>> + Send + 'a>>;

/// Why a coordination call failed (Redis unreachable or refusing).
#[derive(Debug, Clone, thiserror::Error)]
#[error("coordination unavailable: {0}")]
pub struct CoordError(pub String);

/// Work every instance may be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// New inbound messages were stored.
    Inbox,
    /// New messages were queued to send.
    Outbox,
    /// An escalation step may be due.
    Escalation,
}

impl Topic {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Inbox => "inbox",
            Topic::Outbox => "outbox",
            Topic::Escalation => "escalation",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "inbox" => Some(Topic::Inbox),
            "outbox" => Some(Topic::Outbox),
            "escalation" => Some(Topic::Escalation),
            _ => None,
        }
    }
}

/// This instance's workers, woken by topic.
#[derive(Debug, Clone, Default)]
pub struct Wakers {
    /// The inbox worker.
    pub inbox: Arc<Notify>,
    /// The outbox dispatcher.
    pub outbox: Arc<Notify>,
    /// The escalation worker.
    pub escalation: Arc<Notify>,
}

impl Wakers {
    /// Wakes this instance's worker for `topic`.
    pub fn wake(&self, topic: Topic) {
        match topic {
            Topic::Inbox => self.inbox.notify_one(),
            Topic::Outbox => self.outbox.notify_one(),
            Topic::Escalation => self.escalation.notify_one(),
        }
    }
}

/// What instances share.
pub trait Coordination: Send + Sync + std::fmt::Debug {
    /// `local` or `redis`.
    fn kind(&self) -> &'static str;

    /// Reserves the next send slot of the shared schedule `bucket`, paced at `per_second` with
    /// bursts of `burst`; returns how long until the slot opens (the slot is taken either way).
    fn reserve_token(&self, bucket: &str, per_second: f64, burst: f64) -> CoordFuture<'_, Duration>;

    /// Wakes every instance's worker for `topic` (this one's included).
    fn notify(&self, topic: Topic) -> CoordFuture<'_, ()>;

    /// Whether an inbound delivery `key` was stored already (a cheap check before the
    /// database's own).
    fn seen(&self, key: &str) -> CoordFuture<'_, bool>;

    /// Remembers a stored delivery `key` for a day.
    fn remember(&self, key: &str) -> CoordFuture<'_, ()>;

    /// Whether the coordinator answers.
    fn ping(&self) -> CoordFuture<'_, ()>;
}

/// How long an idle worker waits before looking at the database again. With shared wake-ups
/// new work rings at once on every instance, so the look is only for work that comes due (a
/// retry, a timer) and can be rarer.
pub fn idle_poll(coord: &dyn Coordination, alone: std::time::Duration) -> std::time::Duration {
    if coord.kind() == "local" { alone } else { alone.max(std::time::Duration::from_secs(2)) }
}

/// The coordinator for a configuration: Redis when `redis_url` is set, else in-process.
pub async fn connect(
    redis_url: Option<&str>,
    prefix: &str,
    wakers: Wakers,
) -> Result<Arc<dyn Coordination>, CoordError> {
    match redis_url {
        Some(url) => Ok(Arc::new(RedisCoord::connect(url, prefix, wakers).await?)),
        None => Ok(Arc::new(Local::new(wakers))),
    }
}
