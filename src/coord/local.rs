//! In-process coordination for the embedded default (one instance).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{CoordError, CoordFuture, Coordination, Topic, Wakers};

/// Most delivery keys remembered; the oldest half is forgotten when full.
const MAX_SEEN: usize = 50_000;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Coordination inside one process.
#[derive(Debug)]
pub struct Local {
    wakers: Wakers,
    buckets: Mutex<HashMap<String, Bucket>>,
    seen: Mutex<HashMap<String, Instant>>,
}

impl Local {
    /// Coordination that wakes `wakers` directly.
    pub fn new(wakers: Wakers) -> Self {
        Self { wakers, buckets: Mutex::default(), seen: Mutex::default() }
    }

    fn take(&self, bucket: &str, per_second: f64, burst: f64) -> Duration {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let b = buckets.entry(bucket.to_string()).or_insert(Bucket { tokens: burst, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * per_second).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - b.tokens) / per_second.max(f64::MIN_POSITIVE))
        }
    }
}

impl Coordination for Local {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn take_token(&self, bucket: &str, per_second: f64, burst: f64) -> CoordFuture<'_, Duration> {
        let wait = self.take(bucket, per_second, burst);
        Box::pin(async move { Ok(wait) })
    }

    fn notify(&self, topic: Topic) -> CoordFuture<'_, ()> {
        self.wakers.wake(topic);
        Box::pin(async { Ok(()) })
    }

    fn seen(&self, key: &str) -> CoordFuture<'_, bool> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner).contains_key(key);
        Box::pin(async move { Ok(seen) })
    }

    fn remember(&self, key: &str) -> CoordFuture<'_, ()> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= MAX_SEEN {
            let mut ages: Vec<Instant> = seen.values().copied().collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            seen.retain(|_, at| *at > cut);
        }
        seen.insert(key.to_string(), Instant::now());
        Box::pin(async { Ok(()) })
    }

    fn ping(&self) -> CoordFuture<'_, ()> {
        Box::pin(async { Ok::<(), CoordError>(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bucket_gives_its_burst_then_makes_callers_wait() {
        let local = Local::new(Wakers::default());
        assert_eq!(local.take_token("t", 10.0, 2.0).await.unwrap(), Duration::ZERO);
        assert_eq!(local.take_token("t", 10.0, 2.0).await.unwrap(), Duration::ZERO);
        let wait = local.take_token("t", 10.0, 2.0).await.unwrap();
        assert!(wait > Duration::from_millis(50) && wait <= Duration::from_millis(100), "{wait:?}");
        assert_eq!(local.take_token("other", 10.0, 1.0).await.unwrap(), Duration::ZERO, "buckets are apart");
    }

    #[tokio::test]
    async fn deliveries_are_remembered_and_topics_wake_workers() {
        let wakers = Wakers::default();
        let local = Local::new(wakers.clone());
        assert!(!local.seen("telegram:1").await.unwrap());
        local.remember("telegram:1").await.unwrap();
        assert!(local.seen("telegram:1").await.unwrap());
        local.notify(Topic::Outbox).await.unwrap();
        tokio::time::timeout(Duration::from_secs(1), wakers.outbox.notified()).await.unwrap();
    }
}
