//! When a provider is next open, for policies with `office_hours_only: true`.

use crate::directory::provider::Hours;

const MS_PER_MINUTE: i64 = 60_000;
const MS_PER_HOUR: i64 = 3_600_000;
const MS_PER_DAY: i64 = 86_400_000;

/// The first instant at or after `now_ms` (ms since the epoch) when a provider with these
/// opening hours is open: `now_ms` itself when it is open now, is always open, or has no opening
/// slots at all (a provider whose hours say nothing must not hold a case back forever).
///
/// Slots are read in the provider's time zone, `open` inclusive and `close` exclusive. Public
/// holidays are not known to the directory and count as ordinary days.
pub fn next_open_ms(hours: &Hours, now_ms: i64) -> i64 {
    if hours.always || hours.slots.is_empty() {
        return now_ms;
    }
    let offset = i64::from(hours.tz.utc_offset_hours()) * MS_PER_HOUR;
    let local = now_ms.saturating_add(offset);
    let today = local.div_euclid(MS_PER_DAY);
    let into_day = local.rem_euclid(MS_PER_DAY);
    // Day 0 (1970-01-01) was a Thursday; 0 = Monday as in `Slot`.
    let weekday = (today + 3).rem_euclid(7);
    for ahead in 0..=7i64 {
        let day_of_week = (weekday + ahead) % 7;
        let mut earliest: Option<i64> = None;
        for slot in &hours.slots {
            let covers = i64::from(slot.from_day) <= day_of_week && day_of_week <= i64::from(slot.to_day);
            if !covers || slot.open >= slot.close {
                continue;
            }
            let (open, close) = (i64::from(slot.open) * MS_PER_MINUTE, i64::from(slot.close) * MS_PER_MINUTE);
            let opens_in_day = if ahead == 0 {
                if into_day >= close {
                    continue;
                }
                if into_day >= open {
                    return now_ms;
                }
                open
            } else {
                open
            };
            earliest = Some(earliest.map_or(opens_in_day, |e: i64| e.min(opens_in_day)));
        }
        if let Some(opens) = earliest {
            let local_ms = today.saturating_add(ahead).saturating_mul(MS_PER_DAY).saturating_add(opens);
            return local_ms.saturating_sub(offset).max(now_ms);
        }
    }
    // Slots that cover no day at all (not produced by the directory parser).
    now_ms
}
