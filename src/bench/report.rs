//! The bench's numbers and their table.

use std::time::Duration;

use super::BenchOptions;

/// What a bench run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// `SQLite` or `PostgreSQL + Redis`, and so on.
    pub backend: String,
    /// People walking the menus.
    pub users: usize,
    /// From spawning `teduh serve` to `/readyz` answering 200.
    pub startup: Duration,
    /// Resident memory once ready, before the load (KiB).
    pub idle_rss_kib: u64,
    /// Highest resident memory of the server (KiB).
    pub peak_rss_kib: u64,
    /// Inbound messages the server accepted.
    pub accepted: usize,
    /// How long the load ran.
    pub elapsed: Duration,
    /// From sending a message to its first reply arriving at the gateway.
    pub latencies: Vec<Duration>,
    /// From an emergency's last answer to the counselor's notice arriving.
    pub emergency: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1).min(sorted.len() - 1)).copied()
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.1} ms", d.as_secs_f64() * 1000.0))
}

impl Report {
    /// An empty report for `options`.
    pub fn new(options: &BenchOptions) -> Self {
        let backend = match (&options.database_url, &options.redis_url) {
            (Some(_), Some(_)) => "PostgreSQL + Redis",
            (Some(_), None) => "PostgreSQL",
            (None, Some(_)) => "SQLite + Redis",
            (None, None) => "SQLite",
        };
        Self { backend: backend.into(), users: options.users, ..Self::default() }
    }

    /// Inbound messages per second over the run.
    pub fn rate(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// The table `teduh bench` prints.
    pub fn render(&self) -> String {
        let mut latencies = self.latencies.clone();
        latencies.sort();
        let mut emergency = self.emergency.clone();
        emergency.sort();
        let rows = [
            ("backend", self.backend.clone()),
            ("people walking the menus", self.users.to_string()),
            ("start-up (spawn to ready)", ms(Some(self.startup))),
            ("idle RSS", format!("{:.1} MiB", self.idle_rss_kib as f64 / 1024.0)),
            ("inbound accepted", format!("{} in {:.1} s", self.accepted, self.elapsed.as_secs_f64())),
            ("inbound messages/s sustained", format!("{:.0}", self.rate())),
            ("end-to-end p50", ms(percentile(&latencies, 50.0))),
            ("end-to-end p99", ms(percentile(&latencies, 99.0))),
            ("end-to-end max", ms(latencies.last().copied())),
            ("replies timed", latencies.len().to_string()),
            ("emergency to counselor p50", ms(percentile(&emergency, 50.0))),
            ("emergency to counselor p99", ms(percentile(&emergency, 99.0))),
            ("emergencies timed", emergency.len().to_string()),
            ("peak RSS", format!("{:.1} MiB", self.peak_rss_kib as f64 / 1024.0)),
        ];
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&sorted, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&sorted[..1], 99.0), Some(Duration::from_millis(1)));
    }
}
