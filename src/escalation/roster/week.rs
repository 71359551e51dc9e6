//! A roster written back as its CSV file (what the console edits), and the shifts that start
//! on each of the coming days (what the console shows for the week).

use super::{Schedule, Shift, Weekday};
use crate::case::time::civil_from_days;

/// `shifts` as a roster file that `parse_roster` reads back to the same shifts.
pub fn to_csv(shifts: &[Shift]) -> String {
    let mut out = super::HEADER.join(",");
    out.push('\n');
    for s in shifts {
        let (days, start, end) = match &s.schedule {
            Schedule::Weekly { days, start, end } => {
                let names: Vec<&str> = days.iter().map(|d| d.as_str()).collect();
                let days = if names.len() > 1 { format!("\"{}\"", names.join(",")) } else { names.join(",") };
                (days, start.to_string(), end.to_string())
            }
            Schedule::Dated { start, end } => (String::new(), start.to_string(), end.to_string()),
        };
        out.push_str(&format!("{},{},{},{days},{start},{end}\n", s.provider, s.counselor, s.role.as_str()));
    }
    out
}

/// One day of the week view: its local date and the shifts that start on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day<'a> {
    /// `YYYY-MM-DD`, local.
    pub date: String,
    /// Its weekday.
    pub weekday: Weekday,
    /// Shifts starting that day, in roster order, with their local start and end times.
    pub shifts: Vec<(&'a Shift, String, String)>,
}

/// The `days` local days from local day number `first` (days since 1970-01-01), each with the
/// shifts of `shifts` that start on it.
pub fn week(shifts: &[Shift], first: i64, days: i64) -> Vec<Day<'_>> {
    (first..first + days)
        .map(|day| {
            let weekday = Weekday::of_day(day);
            let (y, m, d) = civil_from_days(day);
            let starting = shifts
                .iter()
                .filter_map(|s| match &s.schedule {
                    Schedule::Weekly { days, start, end } if days.contains(&weekday) => {
                        Some((s, start.to_string(), end.to_string()))
                    }
                    Schedule::Dated { start, end } if start.local_minutes().div_euclid(24 * 60) == day => {
                        Some((s, start.to_string(), end.to_string()))
                    }
                    _ => None,
                })
                .collect();
            Day { date: format!("{y:04}-{m:02}-{d:02}"), weekday, shifts: starting }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{Regions, provider};

    #[test]
    fn a_roster_written_back_reads_the_same_and_a_week_lists_each_days_shifts() {
        let regions = Regions::embedded().unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let providers = provider::read_directory(&root.join("providers/example.yaml"), &regions).unwrap();
        let text = std::fs::read_to_string(root.join("rosters/example.csv")).unwrap();
        let mut with_dated = text.clone();
        with_dated.push_str("uptd-ppa-palu,uptd-ppa-palu-k2,backup,,2026-12-26 07:00,2026-12-26 19:00\n");
        let shifts = super::super::parse_roster(&with_dated, &providers).unwrap();
        let again = super::super::parse_roster(&to_csv(&shifts), &providers).unwrap();
        assert_eq!(again, shifts);

        // 2026-12-21 is a Monday; the dated shift is on Saturday the 26th.
        let monday = crate::case::time::days_from_civil(2026, 12, 21);
        let days = week(&shifts, monday, 7);
        assert_eq!(days.len(), 7);
        assert_eq!((days[0].date.as_str(), days[0].weekday), ("2026-12-21", Weekday::Mon));
        let palu = |d: &Day| d.shifts.iter().filter(|(s, _, _)| s.provider == "uptd-ppa-palu").count();
        assert!(palu(&days[0]) > 0, "weekday shifts on Monday");
        let saturday = &days[5];
        assert!(
            saturday
                .shifts
                .iter()
                .any(|(s, start, _)| s.counselor == "uptd-ppa-palu-k2" && start == "2026-12-26 07:00"),
            "{saturday:?}"
        );
    }
}
