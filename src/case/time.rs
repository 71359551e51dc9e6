//! Calendar dates without a time-zone database: Indonesia has fixed offsets (WIB +7, WITA +8,
//! WIT +9) and no daylight saving, so plain arithmetic is exact.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The UTC offset in hours of an Indonesian time zone name: WIB, WITA or WIT.
pub fn zone_offset(name: &str) -> Option<i32> {
    match name.trim().to_ascii_uppercase().as_str() {
        "WIB" => Some(7),
        "WITA" => Some(8),
        "WIT" => Some(9),
        _ => None,
    }
}

/// Why a period cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PeriodError {
    /// Not WIB, WITA or WIT.
    #[error("unknown time zone `{0}`: use WIB, WITA or WIT")]
    Zone(String),
    /// Not a real `YYYY-MM-DD` date.
    #[error("{0} `{1}` is not a date like 2026-11-23")]
    Date(&'static str, String),
    /// The first day is after the last.
    #[error("from is after to")]
    Reversed,
}

/// Local calendar days `from`..=`to` in zone `tz` as `[from, to)` in ms, with the offset.
pub fn period(from: &str, to: &str, tz: &str) -> Result<(i64, i64, i32), PeriodError> {
    let offset = zone_offset(tz).ok_or_else(|| PeriodError::Zone(tz.to_string()))?;
    let start = parse_date(from, offset).ok_or_else(|| PeriodError::Date("from", from.to_string()))?;
    let end = parse_date(to, offset).ok_or_else(|| PeriodError::Date("to", to.to_string()))? + 86_400_000;
    if start >= end {
        return Err(PeriodError::Reversed);
    }
    Ok((start, end, offset))
}

/// Parses `YYYY-MM-DD` into the UTC instant (ms) of that local midnight at `offset_hours`.
pub fn parse_date(text: &str, offset_hours: i32) -> Option<i64> {
    let mut parts = text.trim().splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // Reject 2026-02-30 and friends: the round trip must give the same date back.
    if civil_from_days(days) != (year, month, day) {
        return None;
    }
    Some((days * 86_400 - i64::from(offset_hours) * 3_600) * 1_000)
}

/// Formats a UTC instant as local `YYYY-MM-DD HH:MM` at `offset_hours`.
pub fn format_local(ms: i64, offset_hours: i32) -> String {
    let secs = ms.div_euclid(1_000) + i64::from(offset_hours) * 3_600;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", rest / 3_600, rest % 3_600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_impossible_dates_are_refused() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2026, 11, 23)), (2026, 11, 23));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(parse_date("2026-02-30", 7), None);
        assert_eq!(parse_date("2026-13-01", 7), None);
        assert_eq!(parse_date("nope", 7), None);
        // Midnight WIB is 17:00 UTC the day before.
        let ms = parse_date("2026-11-23", 7).unwrap();
        assert_eq!(format_local(ms, 0), "2026-11-22 17:00");
        assert_eq!(format_local(ms, 7), "2026-11-23 00:00");
        assert_eq!(format_local(ms, 8), "2026-11-23 01:00");
    }
}
