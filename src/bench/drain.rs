//! The outbox drain: a backlog queued before the server starts, sent to the fake gateway at
//! the configured rate. It reports the pace reached and the busiest one-second window, which
//! must never hold more than the rate.

use std::time::{Duration, Instant};

use super::{BenchError, BenchOptions, fake::Gateway, setup};
use crate::channel::OutgoingPayload;
use crate::flow::state::Reply;

/// People the backlog is spread over; each gets several messages, a second apart at least.
const MESSAGES_PER_NUMBER: usize = 5;
/// Rows queued per transaction while filling the backlog.
const CHUNK: usize = 2_000;

/// What to drain.
#[derive(Debug, Clone)]
pub struct DrainOptions {
    /// Messages in the backlog.
    pub messages: usize,
    /// The SMS rate the server is configured with (messages per second).
    pub rate: f64,
    /// PostgreSQL instead of SQLite (a fresh schema is made and dropped).
    pub database_url: Option<String>,
    /// Redis for the server's coordination (the shared send schedule).
    pub redis_url: Option<String>,
}

/// What a drain measured.
#[derive(Debug, Clone)]
pub struct DrainReport {
    /// The database (and Redis) it ran on.
    pub backend: String,
    /// Messages queued.
    pub messages: usize,
    /// Messages that arrived at the gateway.
    pub arrived: usize,
    /// The configured rate.
    pub rate: f64,
    /// From the first arrival to the last.
    pub elapsed: Duration,
    /// Most arrivals within any one second.
    pub busiest_second: usize,
}

impl DrainReport {
    /// The pace reached, messages per second.
    pub fn achieved(&self) -> f64 {
        self.arrived.saturating_sub(1) as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// Everything arrived, at 95% of the rate or more, and no second held more than the rate.
    pub fn passed(&self) -> bool {
        self.arrived == self.messages
            && self.achieved() >= self.rate * 0.95
            && self.busiest_second as f64 <= self.rate
    }

    /// The table `teduh bench --drain` prints.
    pub fn render(&self) -> String {
        let verdict = |ok: bool| if ok { "yes" } else { "NO" };
        format!(
            "teduh bench --drain\n\
             backend                          {}\n\
             messages queued                  {}\n\
             messages arrived                 {}\n\
             configured rate                  {:.0}/s\n\
             achieved rate                    {:.1}/s ({:.1}% of configured)\n\
             busiest one-second window        {}\n\
             drain time                       {:.1} s\n\
             within 5% of the rate            {}\n\
             never above the rate             {}\n",
            self.backend,
            self.messages,
            self.arrived,
            self.rate,
            self.achieved(),
            self.achieved() / self.rate * 100.0,
            self.busiest_second,
            self.elapsed.as_secs_f64(),
            verdict(self.arrived == self.messages && self.achieved() >= self.rate * 0.95),
            verdict(self.busiest_second as f64 <= self.rate),
        )
    }
}

/// Most instants within any window of `window` (half-open), for sorted `at`.
pub fn busiest(at: &[Instant], window: Duration) -> usize {
    let mut best = 0;
    let mut start = 0;
    for (end, t) in at.iter().enumerate() {
        while *t >= at[start] + window {
            start += 1;
        }
        best = best.max(end + 1 - start);
    }
    best
}

/// Queues `count` SMS replies in the database at `database_url` (already migrated), spread
/// over numbers that each get a few, interleaved as a broadcast would be.
pub(super) async fn queue_backlog(database_url: &str, keys: &str, count: usize) -> Result<(), BenchError> {
    let ring = crate::vault::Keyring::parse(keys).map_err(setup)?;
    let store = crate::store::Store::open_with(database_url, ring).await.map_err(setup)?;
    let numbers = count.div_ceil(MESSAGES_PER_NUMBER).max(1);
    let messages: Vec<(String, String, OutgoingPayload)> = (0..count)
        .map(|i| {
            let text = format!("Pesan {} dari {count}", i + 1);
            let reply = Reply { text, choices: Vec::new(), expect: None };
            ("sms".to_string(), format!("+62897{:07}", i % numbers), OutgoingPayload::Reply(reply))
        })
        .collect();
    let now = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
    for chunk in messages.chunks(CHUNK) {
        store.queue_messages(chunk, now).await.map_err(setup)?;
    }
    store.close().await;
    Ok(())
}

/// Queues the backlog, starts the server at `rate` and measures the drain.
pub async fn run(options: &DrainOptions) -> Result<DrainReport, BenchError> {
    let gateway = Gateway::start().await.map_err(setup)?;
    gateway.record_all();
    let server_options = BenchOptions {
        users: 0,
        duration: Duration::ZERO,
        think: Duration::ZERO,
        database_url: options.database_url.clone(),
        redis_url: options.redis_url.clone(),
        inbound_rate: None,
    };
    let backend = super::Report::new(&server_options).backend;
    let mut server = super::start_server(&server_options, &gateway, options.rate, options.messages).await?;
    // Bounded: twice the time the rate needs, and a minute for a slow start.
    let limit = Duration::from_secs_f64(options.messages as f64 / options.rate * 2.0 + 60.0);
    let started = Instant::now();
    let mut last_count = 0;
    let mut last_change = Instant::now();
    while gateway.recorded() < options.messages && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = gateway.recorded();
        if now != last_count {
            (last_count, last_change) = (now, Instant::now());
        } else if last_change.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    server.stop().await;
    let arrivals = gateway.arrivals();
    let elapsed = match (arrivals.first(), arrivals.last()) {
        (Some(first), Some(last)) => last.duration_since(*first),
        _ => Duration::ZERO,
    };
    Ok(DrainReport {
        backend,
        messages: options.messages,
        arrived: arrivals.len(),
        rate: options.rate,
        elapsed,
        busiest_second: busiest(&arrivals, Duration::from_secs(1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_window_counts_half_open_seconds() {
        let t0 = Instant::now();
        let at: Vec<Instant> = [0, 100, 999, 1_000, 1_500, 1_600, 1_700]
            .iter()
            .map(|ms| t0 + Duration::from_millis(*ms))
            .collect();
        // [999, 1999) holds 999, 1000, 1500, 1600, 1700.
        assert_eq!(busiest(&at, Duration::from_secs(1)), 5);
        assert_eq!(busiest(&[], Duration::from_secs(1)), 0);
    }
}
