//! Send-rate limits: a rate over all chats and a minimum gap per chat. With several instances
//! the rate is shared through the coordinator (Redis), so together they keep the provider's
//! limit; the gap per chat stays local (a chat's messages go out one at a time).
//!
//! Sends reserve their slot (the generic cell rate algorithm): each caller learns at once when
//! it may send and sleeps once, so a thousand chats waiting on a busy channel cost a thousand
//! timers, not a thousand tasks polling a bucket every millisecond.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::channel::RateLimits;
use crate::coord::Coordination;

/// The burst and the pace for a limit of `per_second`: a burst of 10 ms of sends, so a fast
/// limit is not lost to the timer's 1 ms steps, and a pace slower by that burst and by 2% (at
/// least half a message): room for sends that leave up to 20 ms after their slot on a busy
/// machine, so no one-second window at the provider holds more than the limit.
pub fn shape(per_second: f64) -> (f64, f64) {
    let per_second = per_second.max(0.001);
    let burst = (per_second / 100.0).floor().max(1.0);
    let jitter = (per_second / 50.0).max(0.5);
    let pace = (per_second - (burst - 1.0) - jitter).max(per_second / 2.0);
    (burst, pace)
}

/// How many slots a shared send reserves at most when it keeps waking up late.
const MAX_RESERVATIONS: u32 = 3;

/// [`shape`] for a rate shared by several instances through Redis: a wider margin (3%, at least
/// one message), since several processes on a busy machine wake up later than one does.
pub fn shape_shared(per_second: f64) -> (f64, f64) {
    let (burst, _) = shape(per_second);
    let per_second = per_second.max(0.001);
    let margin = (per_second * 0.03).max(1.0);
    (burst, (per_second - (burst - 1.0) - margin).max(per_second / 2.0))
}

/// Reserves the next slot of a schedule paced at `pace` per second with a burst of `burst`:
/// returns the schedule's new theoretical arrival time and the moment the slot opens.
pub fn reserve(tat: Option<f64>, now: f64, pace: f64, burst: f64) -> (f64, f64) {
    let interval = 1.0 / pace.max(f64::MIN_POSITIVE);
    let tat = tat.map_or(now, |t| t.max(now));
    let opens = (tat - (burst - 1.0) * interval).max(now);
    (tat + interval, opens)
}

#[derive(Debug)]
struct State {
    /// The theoretical arrival time of the next send, in seconds since `origin`.
    tat: Option<f64>,
    last_per_chat: HashMap<String, Instant>,
}

/// Waits until a send is allowed under a channel's limits.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    origin: Instant,
    state: Mutex<State>,
}

impl RateLimiter {
    /// A limiter whose first burst may go at once.
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            origin: Instant::now(),
            state: Mutex::new(State { tat: None, last_per_chat: HashMap::new() }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Returns once one message to `chat` may be sent under the rate shared through `shared`
    /// (named `bucket`), and counts it; without `shared`, or while it is unreachable, under this
    /// instance's own.
    pub async fn acquire_shared(&self, chat: &str, shared: Option<&dyn Coordination>, bucket: &str) {
        let Some(coord) = shared else { return self.acquire(chat).await };
        self.wait_for_chat(chat).await;
        let (burst, pace) = shape_shared(self.limits.per_second);
        let slack = Duration::from_secs_f64(0.5 / pace);
        // One schedule on Redis' clock for every instance.
        for attempt in 1..=MAX_RESERVATIONS {
            match coord.reserve_token(bucket, pace, burst).await {
                Ok(wait) => {
                    let opens = Instant::now() + wait;
                    tokio::time::sleep_until(opens).await;
                    // Woken late (a busy machine), the slot's moment is gone: sending now would
                    // crowd the sends of the next second, so take a new slot instead.
                    if Instant::now().saturating_duration_since(opens) <= slack || attempt == MAX_RESERVATIONS
                    {
                        return;
                    }
                }
                Err(e) => {
                    // Delivery matters more than a strict shared limit: a provider that is
                    // pushed too hard answers 429 and the send is retried.
                    tracing::warn!(error = %e, "shared send limit unavailable; using this instance's own");
                    self.reserve_local().await;
                    return;
                }
            }
        }
    }

    /// Marks a message to `chat` done now: with a shared rate the gap runs from the end of a
    /// send, so the channel's sender never waits again after its slot (a wait there would
    /// bunch sends up at the provider).
    pub fn sent(&self, chat: &str) {
        let now = Instant::now();
        self.remember_chat(&mut self.lock(), chat, now);
    }

    fn remember_chat(&self, s: &mut State, chat: &str, at: Instant) {
        s.last_per_chat.insert(chat.to_string(), at);
        // Forget chats idle for longer than their gap, so the map stays small.
        if s.last_per_chat.len() > 10_000 {
            let gap = self.limits.per_chat_interval;
            let now = Instant::now();
            s.last_per_chat.retain(|_, last| now.saturating_duration_since(*last) < gap);
        }
    }

    /// How long until `chat`'s gap since its last message has passed.
    fn chat_wait(&self, s: &State, chat: &str, now: Instant) -> Duration {
        s.last_per_chat
            .get(chat)
            .map(|last| (*last + self.limits.per_chat_interval).saturating_duration_since(now))
            .unwrap_or(Duration::ZERO)
    }

    /// Waits out the gap since the last message to `chat`.
    async fn wait_for_chat(&self, chat: &str) {
        loop {
            let wait = self.chat_wait(&self.lock(), chat, Instant::now());
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Reserves a slot of this instance's own schedule and sleeps until it opens.
    async fn reserve_local(&self) -> Instant {
        let opens = {
            let mut s = self.lock();
            let (burst, pace) = shape(self.limits.per_second);
            let now = Instant::now().duration_since(self.origin).as_secs_f64();
            let (tat, opens) = reserve(s.tat, now, pace, burst);
            s.tat = Some(tat);
            self.origin + Duration::from_secs_f64(opens)
        };
        tokio::time::sleep_until(opens).await;
        opens
    }

    /// Returns once one message to `chat` may be sent, and counts it.
    pub async fn acquire(&self, chat: &str) {
        self.wait_for_chat(chat).await;
        let opens = self.reserve_local().await;
        self.remember_chat(&mut self.lock(), chat, opens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn holds_the_overall_rate_and_the_per_chat_gap() {
        let limiter =
            RateLimiter::new(RateLimits { per_second: 10.0, per_chat_interval: Duration::from_secs(1) });
        let start = Instant::now();
        for i in 0..30 {
            limiter.acquire(&format!("chat-{i}")).await;
        }
        // Evenly paced just under 10 per second: the 30th goes out after about 2.96 s.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(2_900) && took <= Duration::from_millis(3_100), "{took:?}");
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire("same").await;
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(2_000) && took <= Duration::from_millis(2_200), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_fast_limit_is_reached_and_no_second_holds_more() {
        // 2,000 a second is faster than the timer's 1 ms steps: the burst keeps the pace.
        let limiter = std::sync::Arc::new(RateLimiter::new(RateLimits {
            per_second: 2_000.0,
            per_chat_interval: Duration::from_secs(1),
        }));
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..6_000 {
            let limiter = limiter.clone();
            tasks.spawn(async move {
                limiter.acquire(&format!("chat-{i}")).await;
                start.elapsed()
            });
        }
        let mut at: Vec<Duration> = Vec::new();
        while let Some(t) = tasks.join_next().await {
            at.push(t.unwrap());
        }
        at.sort();
        let rate = at.len() as f64 / at[at.len() - 1].as_secs_f64();
        assert!((1_900.0..=2_000.0).contains(&rate), "{rate} a second");
        for (i, t) in at.iter().enumerate() {
            let within = at[i..].iter().take_while(|u| **u < *t + Duration::from_secs(1)).count();
            assert!(within <= 2_000, "{within} sends in the second from {t:?}");
        }
    }

    #[test]
    fn a_shared_rate_keeps_a_wider_margin() {
        let (burst, pace) = shape_shared(30.0);
        assert_eq!((burst, pace), (1.0, 29.0));
        let (burst, pace) = shape_shared(2_000.0);
        assert_eq!(burst, 20.0);
        assert!((1_900.0..1_930.0).contains(&pace), "{pace}");
        assert!(shape_shared(2_000.0).1 < shape(2_000.0).1);
    }

    #[test]
    fn reservations_space_slots_after_the_burst() {
        let (burst, pace) = (3.0, 10.0);
        let mut tat = None;
        let mut opens = Vec::new();
        for _ in 0..5 {
            let (t, o) = reserve(tat, 0.0, pace, burst);
            tat = Some(t);
            opens.push((o * 1000.0).round() as i64);
        }
        assert_eq!(opens, [0, 0, 0, 100, 200]);
        // After a quiet spell the burst is there again.
        let (_, o) = reserve(tat, 10.0, pace, burst);
        assert_eq!(o, 10.0);
    }
}
