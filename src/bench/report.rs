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
    /// Each timed reply: when its message was sent (from the load's start) and its latency,
    /// from sending the message to its first reply arriving at the gateway.
    pub timeline: Vec<(Duration, Duration)>,
    /// From an emergency's last answer to the counselor's notice arriving.
    pub emergency: Vec<Duration>,
    /// Inbound messages per second offered (open loop), if any.
    pub offered: Option<f64>,
    /// Offered messages no person was free to send before the end.
    pub unserved: usize,
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
        Self {
            backend: backend.into(),
            users: options.users,
            offered: options.inbound_rate,
            ..Self::default()
        }
    }

    /// Inbound messages per second over the run.
    pub fn rate(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// The table `teduh bench` prints.
    pub fn render(&self) -> String {
        render_all(std::slice::from_ref(self))
    }

    fn rows(&self) -> Vec<(&'static str, String)> {
        let mut latencies: Vec<Duration> = self.timeline.iter().map(|&(_, latency)| latency).collect();
        latencies.sort();
        let mut emergency = self.emergency.clone();
        emergency.sort();
        vec![
            ("backend", self.backend.clone()),
            ("people", self.users.to_string()),
            ("inbound offered/s", self.offered.map_or("-".into(), |r| format!("{r:.0}"))),
            ("start-up (spawn to ready)", ms(Some(self.startup))),
            ("idle RSS", format!("{:.1} MiB", self.idle_rss_kib as f64 / 1024.0)),
            ("inbound accepted", format!("{} in {:.1} s", self.accepted, self.elapsed.as_secs_f64())),
            ("inbound messages/s sustained", format!("{:.0}", self.rate())),
            ("offered but nobody free", self.unserved.to_string()),
            ("end-to-end p50", ms(percentile(&latencies, 50.0))),
            ("end-to-end p99", ms(percentile(&latencies, 99.0))),
            ("end-to-end max", ms(latencies.last().copied())),
            ("replies timed", latencies.len().to_string()),
            ("emergency to counselor p50", ms(percentile(&emergency, 50.0))),
            ("emergency to counselor p99", ms(percentile(&emergency, 99.0))),
            ("emergencies timed", emergency.len().to_string()),
            ("peak RSS", format!("{:.1} MiB", self.peak_rss_kib as f64 / 1024.0)),
        ]
    }
}

/// A row per second of the load (by when each message was sent): replies timed, their p50,
/// p99 and max, so a stall shows as the second it happened in rather than only in the p99.
pub fn render_timeline(report: &Report) -> String {
    let mut seconds: std::collections::BTreeMap<u64, Vec<Duration>> = std::collections::BTreeMap::new();
    for &(sent, latency) in &report.timeline {
        seconds.entry(sent.as_secs()).or_default().push(latency);
    }
    let mut out = format!("{}: second  replies  p50  p99  max\n", report.backend);
    for (second, mut latencies) in seconds {
        latencies.sort();
        out.push_str(&format!(
            "{second:>6}  {:>7}  {}  {}  {}\n",
            latencies.len(),
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 99.0)),
            ms(latencies.last().copied())
        ));
    }
    out
}

/// One table for several runs: a row per measure, a column per run.
pub fn render_all(reports: &[Report]) -> String {
    let columns: Vec<Vec<(&str, String)>> = reports.iter().map(Report::rows).collect();
    let Some(first) = columns.first() else {
        return String::new();
    };
    let label = first.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let widths: Vec<usize> =
        columns.iter().map(|c| c.iter().map(|(_, v)| v.len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (row, (name, _)) in first.iter().enumerate() {
        let mut line = format!("{name:<label$}");
        for (column, width) in columns.iter().zip(&widths) {
            line.push_str(&format!("  {:<width$}", column[row].1));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_runs_share_one_table_a_column_each() {
        let sqlite = Report {
            backend: "SQLite".into(),
            accepted: 100,
            elapsed: Duration::from_secs(2),
            ..Report::default()
        };
        let pg = Report {
            backend: "PostgreSQL + Redis".into(),
            accepted: 300,
            elapsed: Duration::from_secs(2),
            ..Report::default()
        };
        let table = render_all(&[sqlite, pg]);
        let backend = table.lines().next().unwrap_or_default();
        assert!(
            backend.starts_with("backend")
                && backend.contains("SQLite")
                && backend.ends_with("PostgreSQL + Redis")
        );
        let rate = table.lines().find(|l| l.starts_with("inbound messages/s sustained")).unwrap_or_default();
        assert_eq!(rate.split_whitespace().rev().take(2).collect::<Vec<_>>(), ["150", "50"]);
    }

    #[test]
    fn the_timeline_shows_the_second_a_stall_happened_in() {
        let ms = Duration::from_millis;
        let report = Report {
            backend: "SQLite".into(),
            timeline: vec![(ms(100), ms(10)), (ms(900), ms(30)), (ms(1_200), ms(180)), (ms(2_500), ms(12))],
            ..Report::default()
        };
        let timeline = render_timeline(&report);
        let rows: Vec<Vec<&str>> = timeline.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(rows.len(), 3, "{timeline}");
        assert_eq!(rows[0][..3], ["0", "2", "10.0"], "{timeline}");
        assert_eq!(rows[1][..2], ["1", "1"], "{timeline}");
        assert_eq!(rows[1][rows[1].len() - 2..], ["180.0", "ms"], "{timeline}");
        assert_eq!(rows[2][..3], ["2", "1", "12.0"], "{timeline}");
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&sorted, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&sorted[..1], 99.0), Some(Duration::from_millis(1)));
    }
}
