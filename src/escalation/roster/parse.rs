//! The roster file: CSV with the header `provider,counselor,role,days,start,end`, checked
//! against the provider directory with every problem reported at its line.

use std::collections::HashMap;
use std::path::Path;

use super::{LocalDateTime, Role, Schedule, Shift, TimeOfDay, Weekday, days_in_month};
use crate::directory::Provider;

/// The header every roster starts with (names in any case, in this order).
pub const HEADER: [&str; 6] = ["provider", "counselor", "role", "days", "start", "end"];

/// A problem in a roster file, at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterError {
    /// 1-based line (0 for the file as a whole).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for RosterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Why a time or date-time is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimeProblem {
    /// Not shaped like one at all.
    Malformed,
    /// An hour or minute out of range (25:00, 08:60, 24:00 as a start).
    Clock,
    /// A month out of range.
    Month(u32),
    /// A day past the end of its month.
    Day { year: i64, month: u32, days: u32 },
    /// A year out of range (a typo such as 0026 or 2206).
    Year(i64),
}

impl TimeProblem {
    /// The message for `field` (`start` or `end`) holding `text`.
    pub(super) fn describe(self, field: &str, text: &str) -> String {
        match self {
            TimeProblem::Malformed => format!("{field} `{text}` is not a valid {field}"),
            TimeProblem::Clock if field == "end" => {
                format!("{field} `{text}` has an impossible time of day (00:00 to 24:00)")
            }
            TimeProblem::Clock => format!("{field} `{text}` has an impossible time of day (00:00 to 23:59)"),
            TimeProblem::Month(m) => format!("{field} `{text}` is not a real date: there is no month {m}"),
            TimeProblem::Day { year, month, days } => {
                format!("{field} `{text}` is not a real date: {year:04}-{month:02} has {days} days")
            }
            TimeProblem::Year(y) => format!("{field} `{text}`: the year {y} is not between 2000 and 2099"),
        }
    }
}

fn digits(text: &str, lengths: std::ops::RangeInclusive<usize>) -> Option<u32> {
    (lengths.contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// `HH:MM` (or `H:MM`), 24-hour. `24:00` only when `end`.
pub(super) fn time_of_day(text: &str, end: bool) -> Result<TimeOfDay, TimeProblem> {
    let (h, m) = text.trim().split_once(':').ok_or(TimeProblem::Malformed)?;
    let (h, m) =
        (digits(h, 1..=2).ok_or(TimeProblem::Malformed)?, digits(m, 2..=2).ok_or(TimeProblem::Malformed)?);
    let minutes = h * 60 + m;
    if m >= 60 || minutes > 24 * 60 || (minutes == 24 * 60 && !end) {
        return Err(TimeProblem::Clock);
    }
    TimeOfDay::from_minutes(minutes as u16).ok_or(TimeProblem::Clock)
}

/// `YYYY-MM-DD HH:MM`; `24:00` (only when `end`) is the next day's `00:00`.
pub(super) fn local_date_time(text: &str, end: bool) -> Result<LocalDateTime, TimeProblem> {
    let (date, time) = text.trim().split_once(' ').ok_or(TimeProblem::Malformed)?;
    let mut parts = date.split('-');
    let (Some(y), Some(mo), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TimeProblem::Malformed);
    };
    let year = digits(y, 4..=4).ok_or(TimeProblem::Malformed)?;
    let month = digits(mo, 2..=2).ok_or(TimeProblem::Malformed)?;
    let day = digits(d, 2..=2).ok_or(TimeProblem::Malformed)?;
    if !(2000..=2099).contains(&year) {
        return Err(TimeProblem::Year(i64::from(year)));
    }
    if !(1..=12).contains(&month) {
        return Err(TimeProblem::Month(month));
    }
    let days = days_in_month(i64::from(year), month);
    if day == 0 || day > days {
        return Err(TimeProblem::Day { year: i64::from(year), month, days });
    }
    let clock = time_of_day(time.trim(), end)?;
    let at = LocalDateTime { year: year as i32, month: month as u8, day: day as u8, minute: 0 };
    Ok(LocalDateTime::from_local_minutes(at.local_minutes() + i64::from(clock.minutes())))
}

/// `mon-fri`, `sat`, `mon,wed,fri`, `mon-thu,sat`: days in week order, each once.
fn parse_days(text: &str) -> Result<Vec<Weekday>, String> {
    let shape = || {
        format!(
            "days `{text}` should be days such as `mon-fri`, `sat` or `mon,wed,fri` (mon tue wed thu fri sat sun)"
        )
    };
    let mut days: Vec<Weekday> = Vec::new();
    for part in text.split(',') {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        let (Some(first), Some(last)) = (Weekday::from_name(first), Weekday::from_name(last)) else {
            return Err(shape());
        };
        if first > last {
            return Err(format!(
                "days `{text}`: the range `{}` runs backwards; a range runs from mon to sun, so write `{},{}`",
                part.trim(),
                day_range(first, Weekday::Sun),
                day_range(Weekday::Mon, last)
            ));
        }
        for day in &Weekday::ALL[first.index()..=last.index()] {
            if days.contains(day) {
                return Err(format!("days `{text}` name `{}` more than once", day.as_str()));
            }
            days.push(*day);
        }
    }
    days.sort();
    Ok(days)
}

/// `sat`, or `mon-fri`.
fn day_range(first: Weekday, last: Weekday) -> String {
    if first == last { first.as_str().to_string() } else { format!("{}-{}", first.as_str(), last.as_str()) }
}

/// Splits one line into trimmed fields: a field may be quoted with `"`, and then hold commas
/// and doubled quotes (`""`). A field cannot run over several lines.
fn split_record(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let n = fields.len() + 1;
        let mut field = String::new();
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    None => return Err(format!("field {n}: the quoted field is not closed on this line")),
                    Some('"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
            match chars.next() {
                None => {
                    fields.push(field.trim().to_string());
                    return Ok(fields);
                }
                Some(',') => fields.push(field.trim().to_string()),
                Some(_) => {
                    return Err(format!("field {n}: text after the closing quote; quote the whole field"));
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field.trim().to_string());
                        return Ok(fields);
                    }
                    Some(',') => {
                        fields.push(field.trim().to_string());
                        break;
                    }
                    Some('"') => {
                        return Err(format!(
                            "field {n}: a `\"` inside a field; quote the whole field and double the quote (`\"\"`)"
                        ));
                    }
                    Some(c) => field.push(c),
                }
            }
        }
    }
}

/// The directory, indexed for checking rows.
struct Known<'a> {
    providers: HashMap<&'a str, &'a Provider>,
    /// Counselor id to the id of her provider.
    counselors: HashMap<&'a str, &'a str>,
}

/// Checks one data row; pushes every problem found, returns the shift when there is none.
fn parse_row(
    line: u64,
    fields: &[String],
    known: &Known<'_>,
    errors: &mut Vec<RosterError>,
) -> Option<Shift> {
    let before = errors.len();
    let mut err = |message: String| errors.push(RosterError { line, message });
    if fields.len() != HEADER.len() {
        err(format!("expected {} fields ({}), found {}", HEADER.len(), HEADER.join(","), fields.len()));
        return None;
    }
    let [provider, counselor, role, days, start, end] = [0, 1, 2, 3, 4, 5].map(|i| fields[i].as_str());

    let provider_found = if provider.is_empty() {
        err("provider is empty".into());
        None
    } else if known.providers.is_empty() {
        // Reported once for the whole file.
        None
    } else {
        let found = known.providers.get(provider).copied();
        if found.is_none() {
            err(format!("unknown provider `{provider}`: it is not in the provider directory"));
        }
        found
    };
    if counselor.is_empty() {
        err("counselor is empty".into());
    } else if let Some(p) = provider_found {
        match known.counselors.get(counselor) {
            Some(owner) if *owner == p.id => {}
            Some(owner) => err(format!("counselor `{counselor}` belongs to `{owner}`, not to `{}`", p.id)),
            None if p.counselors.is_empty() => err(format!(
                "unknown counselor `{counselor}`: provider `{}` has no counselors in the directory",
                p.id
            )),
            None => {
                let ids: Vec<&str> = p.counselors.iter().map(|c| c.id.as_str()).collect();
                err(format!("unknown counselor `{counselor}`; `{}` has {}", p.id, ids.join(", ")))
            }
        }
    }
    let role_found = Role::from_name(role);
    if role_found.is_none() {
        err(format!("unknown role `{role}`; use primary, backup or supervisor"));
    }

    let schedule = if days.is_empty() {
        // A dated shift.
        let mut at = |field: &str, text: &str| match local_date_time(text, field == "end") {
            Ok(t) => Some(t),
            Err(TimeProblem::Malformed) if time_of_day(text, true).is_ok() => {
                err(format!(
                    "{field} `{text}` has no date; a shift without `days` needs a date and time such as `2026-11-23 08:00`"
                ));
                None
            }
            Err(TimeProblem::Malformed) => {
                err(format!("{field} `{text}` should be a date and time such as `2026-11-23 08:00`"));
                None
            }
            Err(problem) => {
                err(problem.describe(field, text));
                None
            }
        };
        let (from, to) = (at("start", start), at("end", end));
        match (from, to) {
            (Some(from), Some(to)) if to.local_minutes() <= from.local_minutes() => {
                err(format!("end `{end}` is not after start `{start}`"));
                None
            }
            (Some(start), Some(end)) => Some(Schedule::Dated { start, end }),
            _ => None,
        }
    } else {
        // A weekly shift.
        let days = parse_days(days).map_err(&mut err).ok();
        let mut at = |field: &str, text: &str| match time_of_day(text, field == "end") {
            Ok(t) => Some(t),
            Err(TimeProblem::Malformed) if local_date_time(text, true) != Err(TimeProblem::Malformed) => {
                err(format!(
                    "{field} `{text}` has a date; a shift with `days` repeats every week and takes a time such as `08:00`"
                ));
                None
            }
            Err(TimeProblem::Malformed) => {
                err(format!("{field} `{text}` should be a time such as `08:00`"));
                None
            }
            Err(problem) => {
                err(problem.describe(field, text));
                None
            }
        };
        let (from, to) = (at("start", start), at("end", end));
        match (days, from, to) {
            (Some(days), Some(start), Some(end)) => Some(Schedule::Weekly { days, start, end }),
            _ => None,
        }
    };
    let (Some(provider), Some(role), Some(schedule)) = (provider_found, role_found, schedule) else {
        return None;
    };
    (errors.len() == before).then(|| Shift {
        provider: provider.id.clone(),
        counselor: counselor.to_string(),
        role,
        schedule,
    })
}

/// Parses and checks a roster against the provider directory; either every shift is valid or
/// every problem is returned (sorted by line), so an import never half-happens.
///
/// Blank lines, lines whose fields are all empty and lines starting with `#` are skipped; the
/// first other line is the header. See docs/rosters.md.
pub fn parse_roster(text: &str, providers: &[Provider]) -> Result<Vec<Shift>, Vec<RosterError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let known = Known {
        providers: providers.iter().map(|p| (p.id.as_str(), p)).collect(),
        counselors: providers
            .iter()
            .flat_map(|p| p.counselors.iter().map(|c| (c.id.as_str(), p.id.as_str())))
            .collect(),
    };
    let mut errors = Vec::new();
    if providers.is_empty() {
        errors.push(RosterError {
            line: 0,
            message: "the provider directory is empty: import it first with `teduh providers import FILE`"
                .into(),
        });
    }
    let mut shifts = Vec::new();
    let mut seen: HashMap<Shift, u64> = HashMap::new();
    let mut header = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index as u64 + 1;
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        let fields = match split_record(raw) {
            Ok(fields) if fields.iter().all(String::is_empty) => continue,
            Ok(fields) => fields,
            Err(message) if header => {
                errors.push(RosterError { line, message });
                continue;
            }
            Err(_) => vec![raw.trim().to_string()],
        };
        if !header {
            header = true;
            let names: Vec<String> = fields.iter().map(|f| f.to_lowercase()).collect();
            if names != HEADER {
                errors.push(RosterError {
                    line,
                    message: format!("the header should be `{}`, not `{}`", HEADER.join(","), raw.trim()),
                });
                // Without the right columns every row would be misread: stop here.
                return Err(errors);
            }
            continue;
        }
        if let Some(shift) = parse_row(line, &fields, &known, &mut errors) {
            match seen.get(&shift) {
                Some(first) => {
                    errors.push(RosterError { line, message: format!("duplicate of line {first}") })
                }
                None => {
                    seen.insert(shift.clone(), line);
                    shifts.push(shift);
                }
            }
        }
    }
    if !header {
        errors.push(RosterError {
            line: 0,
            message: format!("the file is empty; a roster starts with the header `{}`", HEADER.join(",")),
        });
    } else if shifts.is_empty() && errors.is_empty() {
        errors.push(RosterError { line: 0, message: "the roster lists no shifts".into() });
    }
    if errors.is_empty() {
        Ok(shifts)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

/// Reads and checks a roster file.
pub fn read_roster(path: &Path, providers: &[Provider]) -> Result<Vec<Shift>, Vec<RosterError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![RosterError { line: 0, message: format!("cannot read {}: {e}", path.display()) }]
    })?;
    parse_roster(&text, providers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_split_on_commas_outside_quotes() {
        assert_eq!(split_record("a,b , c").unwrap(), ["a", "b", "c"]);
        assert_eq!(split_record(r#"a,"mon,wed",x"#).unwrap(), ["a", "mon,wed", "x"]);
        assert_eq!(split_record(r#""say ""hi""",,"#).unwrap(), [r#"say "hi""#, "", ""]);
        assert_eq!(split_record(r#" "a" ,b"#).unwrap(), ["a", "b"]);
        assert!(split_record(r#""open,b"#).unwrap_err().contains("field 1: the quoted field is not closed"));
        assert!(split_record(r#"a,"b"c"#).unwrap_err().contains("field 2: text after the closing quote"));
        assert!(split_record(r#"a,b"c"#).unwrap_err().contains("field 2: a `\"` inside a field"));
    }

    #[test]
    fn times_and_dates() {
        let local_date_time_end = |text: &str| local_date_time(text, true);
        assert_eq!(local_date_time("2026-12-31 24:00", false), Err(TimeProblem::Clock));
        assert_eq!(time_of_day("8:00", false).map(TimeOfDay::minutes), Ok(480));
        assert_eq!(time_of_day("24:00", true).map(TimeOfDay::minutes), Ok(1440));
        assert_eq!(time_of_day("24:00", false), Err(TimeProblem::Clock));
        assert_eq!(time_of_day("25:00", true), Err(TimeProblem::Clock));
        assert_eq!(time_of_day("08:60", true), Err(TimeProblem::Clock));
        assert_eq!(time_of_day("0800", true), Err(TimeProblem::Malformed));
        assert_eq!(time_of_day("08.00", true), Err(TimeProblem::Malformed));
        assert_eq!(
            local_date_time_end("2026-02-30 08:00"),
            Err(TimeProblem::Day { year: 2026, month: 2, days: 28 })
        );
        assert_eq!(
            local_date_time_end("2028-02-29 08:00").map(|t| t.to_string()),
            Ok("2028-02-29 08:00".into())
        );
        assert_eq!(
            local_date_time_end("2026-12-31 24:00").map(|t| t.to_string()),
            Ok("2027-01-01 00:00".into())
        );
        assert_eq!(local_date_time_end("2026-13-01 08:00"), Err(TimeProblem::Month(13)));
        assert_eq!(local_date_time_end("0026-11-01 08:00"), Err(TimeProblem::Year(26)));
        assert_eq!(local_date_time_end("2026/11/01 08:00"), Err(TimeProblem::Malformed));
    }

    #[test]
    fn day_lists() {
        use Weekday::*;
        assert_eq!(parse_days("mon-fri"), Ok(vec![Mon, Tue, Wed, Thu, Fri]));
        assert_eq!(parse_days("Sat"), Ok(vec![Sat]));
        assert_eq!(parse_days("sun, mon-tue"), Ok(vec![Mon, Tue, Sun]));
        assert!(parse_days("sat-mon").unwrap_err().contains("write `sat-sun,mon`"));
        assert!(parse_days("fri-tue").unwrap_err().contains("write `fri-sun,mon-tue`"));
        assert!(parse_days("mon-fri,wed").unwrap_err().contains("name `wed` more than once"));
        assert!(parse_days("senin").unwrap_err().contains("should be days such as"));
        assert!(parse_days("mon,").unwrap_err().contains("should be days such as"));
    }
}
