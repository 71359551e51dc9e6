//! Coordination through Redis, for several instances: a send schedule per channel in a Lua
//! script on Redis' own clock, wake-ups over pub/sub, delivery keys with a day's expiry.
//!
//! Keys are `<prefix>:bucket:<channel>` and `<prefix>:seen:<keyed hash>`; the channel is
//! `<prefix>:wake`. Nothing in Redis names a person: delivery keys are keyed hashes.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Client, Script};

use super::{CoordError, CoordFuture, Coordination, Topic, Wakers};

/// Answers slower than this count as Redis being away.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How long a delivery key is remembered.
const SEEN_SECS: u64 = 86_400;

/// Reserves the next slot of the schedule `KEYS[1]` (paced at `ARGV[1]` per second, bursts of
/// `ARGV[2]`): keeps its theoretical arrival time in microseconds and returns the microseconds
/// until the slot opens. Redis' clock is the one every instance shares.
const RESERVE_TOKEN: &str = r"
local pace = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = 1000000 / pace
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end
local opens = math.max(now, tat - (burst - 1) * interval)
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', 60000)
return math.floor(opens - now)
";

fn unavailable(e: impl std::fmt::Display) -> CoordError {
    CoordError(e.to_string())
}

/// Coordination through Redis.
#[derive(Clone)]
pub struct RedisCoord {
    connection: ConnectionManager,
    prefix: String,
    reserve_token: Arc<Script>,
    listener: Arc<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for RedisCoord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCoord").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl Drop for RedisCoord {
    fn drop(&mut self) {
        if Arc::strong_count(&self.listener) == 1 {
            self.listener.abort();
        }
    }
}

impl RedisCoord {
    /// Connects (lazily: an instance starts while Redis is away, and is not ready until it
    /// answers) and starts listening for wake-ups.
    pub async fn connect(url: &str, prefix: &str, wakers: Wakers) -> Result<Self, CoordError> {
        let client = Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let connection = client.get_connection_manager_lazy(config).map_err(unavailable)?;
        let channel = format!("{prefix}:wake");
        let listener = tokio::spawn(listen(client, channel, wakers));
        let this = Self {
            connection,
            prefix: prefix.to_string(),
            reserve_token: Arc::new(Script::new(RESERVE_TOKEN)),
            listener: Arc::new(listener),
        };
        if let Err(e) = this.ping().await {
            tracing::warn!(error = %e, "Redis does not answer yet; not ready until it does");
        }
        Ok(this)
    }

    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }
}

/// Forwards wake-ups from the channel to this instance's workers, reconnecting after a loss;
/// after each (re)connection every worker is woken once, for what was missed meanwhile.
async fn listen(client: Client, channel: String, wakers: Wakers) {
    let mut failures: u32 = 0;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!("Redis wake-ups restored");
                    }
                    failures = 0;
                    for topic in [Topic::Inbox, Topic::Outbox, Topic::Escalation] {
                        wakers.wake(topic);
                    }
                    let mut messages = pubsub.into_on_message();
                    while let Some(message) = messages.next().await {
                        if let Some(topic) =
                            message.get_payload::<String>().ok().as_deref().and_then(Topic::parse)
                        {
                            wakers.wake(topic);
                        }
                    }
                    tracing::warn!("Redis wake-up connection lost; workers poll until it is back");
                }
                Err(e) => tracing::warn!(error = %e, "Redis subscribe failed"),
            },
            Err(e) if failures == 0 => tracing::warn!(error = %e, "Redis unreachable for wake-ups"),
            Err(_) => {}
        }
        failures = failures.saturating_add(1);
        tokio::time::sleep(Duration::from_millis(250 * u64::from(failures.min(8)))).await;
    }
}

impl Coordination for RedisCoord {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn reserve_token(&self, bucket: &str, per_second: f64, burst: f64) -> CoordFuture<'_, Duration> {
        let key = format!("{}:bucket:{bucket}", self.prefix);
        Box::pin(async move {
            let mut connection = self.connection();
            let wait: u64 = self
                .reserve_token
                .key(key)
                .arg(per_second)
                .arg(burst)
                .invoke_async(&mut connection)
                .await
                .map_err(unavailable)?;
            Ok(Duration::from_micros(wait))
        })
    }

    fn notify(&self, topic: Topic) -> CoordFuture<'_, ()> {
        let channel = format!("{}:wake", self.prefix);
        Box::pin(async move {
            let mut connection = self.connection();
            let _: i64 = connection.publish(channel, topic.as_str()).await.map_err(unavailable)?;
            Ok(())
        })
    }

    fn seen(&self, key: &str) -> CoordFuture<'_, bool> {
        let key = format!("{}:seen:{key}", self.prefix);
        Box::pin(async move {
            let mut connection = self.connection();
            connection.exists(key).await.map_err(unavailable)
        })
    }

    fn remember(&self, key: &str) -> CoordFuture<'_, ()> {
        let key = format!("{}:seen:{key}", self.prefix);
        Box::pin(async move {
            let mut connection = self.connection();
            let _: () = connection.set_ex(key, 1, SEEN_SECS).await.map_err(unavailable)?;
            Ok(())
        })
    }

    fn ping(&self) -> CoordFuture<'_, ()> {
        Box::pin(async move {
            let mut connection = self.connection();
            let pong: String = redis::cmd("PING").query_async(&mut connection).await.map_err(unavailable)?;
            if pong == "PONG" { Ok(()) } else { Err(CoordError(format!("unexpected PING answer {pong}"))) }
        })
    }
}
