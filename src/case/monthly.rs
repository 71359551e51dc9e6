//! Service figures by month: cases per kind of violence and region, and the satisfaction
//! survey's scores per provider (the providers' periodic measurement of beneficiaries'
//! satisfaction).

use std::collections::BTreeMap;

use super::export::violence_kind;
use super::time::format_local;
use crate::store::{CaseRecord, SurveyRow};

/// Cases per (month `YYYY-MM` local, kind, region code); unknown kind or region is `-`.
pub fn cases_per_month(
    records: &[CaseRecord],
    offset_hours: i32,
) -> BTreeMap<(String, String, String), usize> {
    let mut counts = BTreeMap::new();
    for r in records {
        let month = format_local(r.created_at, offset_hours)[..7].to_string();
        let kind = Some(violence_kind(r)).filter(|k| !k.is_empty()).unwrap_or_else(|| "-".into());
        let region = r.case.region_code.clone().unwrap_or_else(|| "-".into());
        *counts.entry((month, kind, region)).or_default() += 1;
    }
    counts
}

/// One provider's survey answers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Satisfaction {
    /// Answers with a rating.
    pub responses: usize,
    /// How many gave 1, 2, 3, 4 and 5.
    pub scores: [usize; 5],
    /// Mean rating, when there is one.
    pub mean: Option<f64>,
}

/// Survey figures per provider (`-` when unknown) for answers given in `[from, to)`.
pub fn satisfaction(rows: &[SurveyRow], from: i64, to: i64) -> BTreeMap<String, Satisfaction> {
    let mut out: BTreeMap<String, Satisfaction> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.created_at >= from && r.created_at < to) {
        let Some(rating) = row.rating.filter(|r| (1..=5).contains(r)) else { continue };
        let s = out.entry(row.provider_id.clone().unwrap_or_else(|| "-".into())).or_default();
        s.responses += 1;
        s.scores[(rating - 1) as usize] += 1;
    }
    for s in out.values_mut() {
        let total: usize = s.scores.iter().enumerate().map(|(i, n)| (i + 1) * n).sum();
        s.mean = (s.responses > 0).then(|| total as f64 / s.responses as f64);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CaseRow;

    fn record(at: i64, category: &str, region: &str) -> CaseRecord {
        CaseRecord {
            case: CaseRow {
                id: at.to_string(),
                code: format!("K-{at}"),
                conversation_id: None,
                priority: "urgent".into(),
                category: Some(category.into()),
                status: "closed".into(),
                region_code: Some(region.into()),
                provider_id: Some("p".into()),
                fields: None,
                accepted_by: None,
            },
            created_at: at,
            events: Vec::new(),
        }
    }

    #[test]
    fn cases_are_counted_by_local_month_kind_and_region() {
        // 2026-11-30 20:00 UTC is already December in WIB (UTC+7) and WITA (UTC+8).
        let late_november = crate::case::time::parse_date("2026-11-30", 0).unwrap() + 20 * 3_600_000;
        let records =
            [record(late_november, "physical", "72.71"), record(late_november + 1, "physical", "72.71")];
        let wib = cases_per_month(&records, 7);
        let wita = cases_per_month(&records, 8);
        let kind = crate::case::fields::simfoni_kind("physical").map_or("-".to_string(), str::to_string);
        assert_eq!(wib.get(&("2026-12".into(), kind.clone(), "72.71".into())), Some(&2));
        assert_eq!(wita.len(), 1);
        assert!(wita.keys().all(|(m, _, _)| m == "2026-12"));
    }

    #[test]
    fn satisfaction_counts_ratings_in_the_period() {
        let row = |provider: &str, rating: Option<i64>, at: i64| SurveyRow {
            provider_id: Some(provider.into()),
            case_code: None,
            rating,
            comment: None,
            created_at: at,
        };
        let rows = [row("a", Some(5), 10), row("a", Some(3), 20), row("a", None, 30), row("b", Some(1), 99)];
        let figures = satisfaction(&rows, 0, 50);
        assert_eq!(figures.len(), 1);
        assert_eq!(figures["a"].responses, 2);
        assert_eq!(figures["a"].scores, [0, 0, 1, 0, 1]);
        assert_eq!(figures["a"].mean, Some(4.0));
    }
}
