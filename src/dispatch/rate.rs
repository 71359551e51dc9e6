//! Send-rate limits: a token bucket over all chats and a minimum gap per chat. With several
//! instances the bucket is shared through the coordinator (Redis), so together they keep the
//! provider's limit; the gap per chat stays local (a chat's messages go out one at a time).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::channel::RateLimits;
use crate::coord::Coordination;

#[derive(Debug)]
struct State {
    tokens: f64,
    refilled: Instant,
    last_per_chat: HashMap<String, Instant>,
}

/// The share of a provider's rate the instances together use: sends leave an instance some
/// milliseconds after their token, unevenly, so a little room keeps the provider's own
/// one-second count within its limit.
const SHARED_MARGIN: f64 = 0.85;

/// Waits until a send is allowed under a channel's limits.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    state: Mutex<State>,
}

impl RateLimiter {
    /// A limiter that starts with a full second's worth of tokens.
    pub fn new(limits: RateLimits) -> Self {
        let burst = limits.per_second.max(1.0);
        Self {
            limits,
            state: Mutex::new(State {
                tokens: burst,
                refilled: Instant::now(),
                last_per_chat: HashMap::new(),
            }),
        }
    }

    /// Returns once one message to `chat` may be sent under the bucket shared through `shared`
    /// (named `bucket`), and counts it; without `shared`, or while it is unreachable, under this
    /// instance's own bucket.
    pub async fn acquire_shared(&self, chat: &str, shared: Option<&dyn Coordination>, bucket: &str) {
        let Some(coord) = shared else { return self.acquire(chat).await };
        self.wait_for_chat(chat).await;
        loop {
            match coord.take_token(bucket, self.limits.per_second * SHARED_MARGIN, 1.0).await {
                Ok(wait) if wait.is_zero() => return,
                Ok(wait) => tokio::time::sleep(wait).await,
                Err(e) => {
                    // Delivery matters more than a strict shared limit: a provider that is
                    // pushed too hard answers 429 and the send is retried.
                    tracing::warn!(error = %e, "shared send limit unavailable; using this instance's own");
                    return self.acquire_token().await;
                }
            }
        }
    }

    /// Marks a message to `chat` done now: with a shared bucket the gap runs from the end of a
    /// send, so the channel's sender never waits again after the token was taken (a wait
    /// there would bunch sends up at the provider).
    pub fn sent(&self, chat: &str) {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        s.last_per_chat.insert(chat.to_string(), now);
        if s.last_per_chat.len() > 10_000 {
            let gap = self.limits.per_chat_interval;
            s.last_per_chat.retain(|_, last| now.duration_since(*last) < gap);
        }
    }

    /// Waits out the gap since the last message to `chat`.
    async fn wait_for_chat(&self, chat: &str) {
        loop {
            let wait = {
                let s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = Instant::now();
                let wait = s
                    .last_per_chat
                    .get(chat)
                    .map(|last| (*last + self.limits.per_chat_interval).saturating_duration_since(now))
                    .unwrap_or(Duration::ZERO);
                if wait.is_zero() {
                    return;
                }
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes one token from this instance's bucket, waiting for it.
    async fn acquire_token(&self) {
        loop {
            let wait = {
                let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = Instant::now();
                let elapsed = now.duration_since(s.refilled).as_secs_f64();
                s.tokens = (s.tokens + elapsed * self.limits.per_second).min(1.0);
                s.refilled = now;
                if s.tokens >= 1.0 {
                    s.tokens -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - s.tokens) / self.limits.per_second)
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    /// Returns once one message to `chat` may be sent, and counts it.
    pub async fn acquire(&self, chat: &str) {
        loop {
            let wait = {
                let mut s = match self.state.lock() {
                    Ok(s) => s,
                    Err(poisoned) => poisoned.into_inner(),
                };
                let now = Instant::now();
                let elapsed = now.duration_since(s.refilled).as_secs_f64();
                s.tokens = (s.tokens + elapsed * self.limits.per_second).min(1.0);
                s.refilled = now;
                let chat_wait = s
                    .last_per_chat
                    .get(chat)
                    .map(|last| (*last + self.limits.per_chat_interval).saturating_duration_since(now))
                    .unwrap_or(Duration::ZERO);
                if s.tokens >= 1.0 && chat_wait.is_zero() {
                    s.tokens -= 1.0;
                    s.last_per_chat.insert(chat.to_string(), now);
                    // Forget chats idle for longer than their gap, so the map stays small.
                    if s.last_per_chat.len() > 10_000 {
                        let gap = self.limits.per_chat_interval;
                        s.last_per_chat.retain(|_, last| now.duration_since(*last) < gap);
                    }
                    return;
                }
                let token_wait = if s.tokens >= 1.0 {
                    Duration::ZERO
                } else {
                    Duration::from_secs_f64((1.0 - s.tokens) / self.limits.per_second)
                };
                token_wait.max(chat_wait)
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
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
        // Evenly paced at 10 per second: the 30th goes out after about 2.9 s, never sooner.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(2_850) && took <= Duration::from_millis(3_100), "{took:?}");
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire("same").await;
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(2_000) && took <= Duration::from_millis(2_200), "{took:?}");
    }
}
