//! `teduh report response-times`: how fast each provider's counselors take cases, and how far
//! escalation had to climb: the providers' service-quality figures.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::detail;
use crate::store::CaseRecord;

/// Figures for one provider.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProviderFigures {
    /// Cases for the provider.
    pub cases: usize,
    /// Of those, accepted by a counselor.
    pub accepted: usize,
    /// Time to accept, 50th percentile, in ms.
    pub p50_ms: Option<i64>,
    /// 90th percentile.
    pub p90_ms: Option<i64>,
    /// Slowest.
    pub max_ms: Option<i64>,
    /// Cases whose escalation reached each level (1 = first notification).
    pub reached_level: BTreeMap<u32, usize>,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank - 1).copied()
}

/// Response-time figures per provider (cases without a provider under `-`).
pub fn response_times(records: &[CaseRecord]) -> BTreeMap<String, ProviderFigures> {
    let mut times: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut figures: BTreeMap<String, ProviderFigures> = BTreeMap::new();
    for record in records {
        let accepted = record.events.iter().find(|e| e.kind == "accepted");
        // The provider that took the case, else the one it was for.
        let provider = accepted
            .and_then(|e| detail(e.detail.as_deref(), "provider"))
            .map(str::to_string)
            .or_else(|| record.case.provider_id.clone())
            .unwrap_or_else(|| "-".to_string());
        let f = figures.entry(provider.clone()).or_default();
        f.cases += 1;
        let levels: Vec<u32> = record
            .events
            .iter()
            .filter(|e| e.kind == "notified")
            .filter_map(|e| detail(e.detail.as_deref(), "level")?.parse().ok())
            .collect();
        let mut seen: Vec<u32> = levels.clone();
        seen.sort_unstable();
        seen.dedup();
        for level in seen {
            *f.reached_level.entry(level).or_default() += 1;
        }
        if let Some(e) = accepted {
            f.accepted += 1;
            times.entry(provider).or_default().push(e.at - record.created_at);
        }
    }
    for (provider, mut t) in times {
        t.sort_unstable();
        if let Some(f) = figures.get_mut(&provider) {
            f.p50_ms = percentile(&t, 50.0);
            f.p90_ms = percentile(&t, 90.0);
            f.max_ms = t.last().copied();
        }
    }
    figures
}

fn duration(ms: Option<i64>) -> String {
    match ms {
        None => "-".to_string(),
        Some(ms) => {
            let s = ms / 1_000;
            if s < 60 {
                format!("{s}s")
            } else if s < 3_600 {
                format!("{}m{:02}s", s / 60, s % 60)
            } else {
                format!("{}h{:02}m", s / 3_600, s % 3_600 / 60)
            }
        }
    }
}

/// The report as a plain-text table.
pub fn render(figures: &BTreeMap<String, ProviderFigures>) -> String {
    let max_level = figures.values().flat_map(|f| f.reached_level.keys().copied()).max().unwrap_or(0);
    let mut out =
        format!("{:<28} {:>5} {:>8} {:>8} {:>8} {:>8}", "provider", "cases", "accepted", "p50", "p90", "max");
    for level in 1..=max_level {
        let _ = write!(out, " {:>7}", format!("level{level}"));
    }
    out.push('\n');
    for (provider, f) in figures {
        let _ = write!(
            out,
            "{:<28} {:>5} {:>8} {:>8} {:>8} {:>8}",
            provider,
            f.cases,
            f.accepted,
            duration(f.p50_ms),
            duration(f.p90_ms),
            duration(f.max_ms)
        );
        for level in 1..=max_level {
            let _ = write!(out, " {:>7}", f.reached_level.get(&level).copied().unwrap_or(0));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&v, 50.0), Some(5));
        assert_eq!(percentile(&v, 90.0), Some(9));
        assert_eq!(percentile(&[7], 90.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
