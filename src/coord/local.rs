//! In-process coordination for the embedded default (one instance).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{CoordError, CoordFuture, Coordination, Topic, Wakers};

/// Most delivery keys remembered; the oldest half is forgotten when full.
const MAX_SEEN: usize = 50_000;

/// Coordination inside one process.
#[derive(Debug)]
pub struct Local {
    wakers: Wakers,
    /// Each schedule's theoretical arrival time, in seconds since `origin`.
    schedules: Mutex<HashMap<String, f64>>,
    origin: Instant,
    seen: Mutex<HashMap<String, Instant>>,
}

impl Local {
    /// Coordination that wakes `wakers` directly.
    pub fn new(wakers: Wakers) -> Self {
        Self { wakers, schedules: Mutex::default(), origin: Instant::now(), seen: Mutex::default() }
    }

    fn reserve(&self, bucket: &str, per_second: f64, burst: f64) -> Duration {
        let mut schedules = self.schedules.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.origin.elapsed().as_secs_f64();
        let tat = schedules.get(bucket).copied();
        let (tat, opens) = crate::dispatch::rate::reserve(tat, now, per_second, burst);
        schedules.insert(bucket.to_string(), tat);
        Duration::from_secs_f64((opens - now).max(0.0))
    }
}

impl Coordination for Local {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn reserve_token(&self, bucket: &str, per_second: f64, burst: f64) -> CoordFuture<'_, Duration> {
        let wait = self.reserve(bucket, per_second, burst);
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
    async fn a_schedule_gives_its_burst_then_spaces_the_slots() {
        let local = Local::new(Wakers::default());
        assert_eq!(local.reserve_token("t", 10.0, 2.0).await.unwrap(), Duration::ZERO);
        assert_eq!(local.reserve_token("t", 10.0, 2.0).await.unwrap(), Duration::ZERO);
        let third = local.reserve_token("t", 10.0, 2.0).await.unwrap();
        assert!(third > Duration::from_millis(50) && third <= Duration::from_millis(100), "{third:?}");
        let fourth = local.reserve_token("t", 10.0, 2.0).await.unwrap();
        assert!(fourth > Duration::from_millis(150) && fourth <= Duration::from_millis(200), "{fourth:?}");
        assert_eq!(
            local.reserve_token("other", 10.0, 1.0).await.unwrap(),
            Duration::ZERO,
            "schedules are apart"
        );
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
