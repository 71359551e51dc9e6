//! Rosters: who is on call when. A roster is a CSV file of shifts (format in docs/rosters.md),
//! validated like the provider directory, stored per provider, and asked "who is on call at
//! this instant?" with no clock inside.
//!
//! Times in a roster are local times of the provider's time zone (WIB, WITA, WIT). Indonesia has
//! fixed offsets and no daylight saving, so plain arithmetic converts them exactly.

mod parse;
mod store;
pub mod week;

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::directory::Provider;
use crate::directory::provider::TimeZone;

pub use parse::{HEADER, RosterError, parse_roster, read_roster};

/// What a counselor does on a shift. Escalation climbs in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Takes new cases first.
    Primary,
    /// Takes a case the primary counselor has not answered.
    Backup,
    /// Is told when neither answers, and oversees the shift.
    Supervisor,
}

impl Role {
    /// Every role with its name in files, in escalation order.
    pub const ALL: [(&'static str, Role); 3] =
        [("primary", Role::Primary), ("backup", Role::Backup), ("supervisor", Role::Supervisor)];

    /// Looks a role up by its name (any case).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim().to_lowercase();
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
    }

    /// The name in files and in the `role` column.
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, r)| *r == self).map_or("", |(n, _)| n)
    }
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    /// Monday (Senin).
    Mon,
    /// Tuesday (Selasa).
    Tue,
    /// Wednesday (Rabu).
    Wed,
    /// Thursday (Kamis).
    Thu,
    /// Friday (Jumat).
    Fri,
    /// Saturday (Sabtu).
    Sat,
    /// Sunday (Minggu).
    Sun,
}

impl Weekday {
    /// Monday to Sunday.
    pub const ALL: [Weekday; 7] =
        [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

    /// The three-letter name used in files (`mon`).
    pub fn as_str(self) -> &'static str {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][self.index()]
    }

    /// 0 for Monday .. 6 for Sunday.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Looks a day up by its three-letter name (any case).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim().to_lowercase();
        Self::ALL.into_iter().find(|d| d.as_str() == name)
    }

    /// The weekday of a day number (days since 1970-01-01, a Thursday).
    pub fn of_day(day: i64) -> Self {
        Self::ALL[(day + 3).rem_euclid(7) as usize]
    }
}

/// A time of day, `00:00` to `24:00` (the end of the day, only as the end of a shift).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    /// `minutes` after midnight, at most 24 × 60.
    pub fn from_minutes(minutes: u16) -> Option<Self> {
        (minutes <= MINUTES_PER_DAY as u16).then_some(Self(minutes))
    }

    /// Minutes after midnight.
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl From<TimeOfDay> for String {
    fn from(t: TimeOfDay) -> Self {
        t.to_string()
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        parse::time_of_day(&text, true).map_err(|e| e.describe("time", &text))
    }
}

/// A local date and time (minute precision) in a provider's time zone. `24:00` is read as
/// `00:00` of the next day, so equal instants are equal values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalDateTime {
    /// Year (2000 to 2099 in files).
    pub year: i32,
    /// Month, 1 to 12.
    pub month: u8,
    /// Day of the month, from 1.
    pub day: u8,
    /// Minutes after midnight, 0 to 1439.
    pub minute: u16,
}

impl LocalDateTime {
    /// Minutes since 1970-01-01 00:00 of the same local clock.
    pub fn local_minutes(self) -> i64 {
        days_from_civil(i64::from(self.year), u32::from(self.month), u32::from(self.day)) * MINUTES_PER_DAY
            + i64::from(self.minute)
    }

    /// The instant (ms since the epoch) this local time is in `tz`.
    pub fn to_utc_ms(self, tz: TimeZone) -> i64 {
        local_minutes_to_utc_ms(self.local_minutes(), tz)
    }

    /// The local date and time `minutes` after 1970-01-01 00:00 local.
    fn from_local_minutes(minutes: i64) -> Self {
        let (y, m, d) = civil_from_days(minutes.div_euclid(MINUTES_PER_DAY));
        Self {
            year: y as i32,
            month: m as u8,
            day: d as u8,
            minute: minutes.rem_euclid(MINUTES_PER_DAY) as u16,
        }
    }
}

impl fmt::Display for LocalDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02} {}", self.year, self.month, self.day, TimeOfDay(self.minute))
    }
}

impl From<LocalDateTime> for String {
    fn from(t: LocalDateTime) -> Self {
        t.to_string()
    }
}

impl TryFrom<String> for LocalDateTime {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        parse::local_date_time(&text, true).map_err(|e| e.describe("date and time", &text))
    }
}

/// When a shift happens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// Every week, on each of `days`, from `start` to `end`. When `end` is not after `start`
    /// the shift crosses midnight and ends the next day (`22:00`-`06:00`; `08:00`-`08:00` is
    /// 24 hours). `days` are the days a shift *starts*, Monday first, each once.
    Weekly {
        /// Days the shift starts on, in week order, without repeats.
        days: Vec<Weekday>,
        /// Start, local time (never `24:00`).
        start: TimeOfDay,
        /// End, local time.
        end: TimeOfDay,
    },
    /// Once, from `start` to `end` (after `start`), local times.
    Dated {
        /// Start.
        start: LocalDateTime,
        /// End, after the start.
        end: LocalDateTime,
    },
}

/// A shift of a roster: one counselor of one provider, in one role, at set times in the
/// provider's time zone. Stored as JSON in `roster_shifts.data`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shift {
    /// Provider id (from the provider directory).
    pub provider: String,
    /// Counselor id, one of that provider's counselors.
    pub counselor: String,
    /// Role on the shift.
    pub role: Role,
    /// When.
    pub schedule: Schedule,
}

impl Shift {
    /// The occurrence of this shift that covers the instant `utc_ms` when its times are read in
    /// `tz`, as `[start, end)` in ms since the epoch; `None` when the shift is off then.
    pub fn active_at(&self, tz: TimeZone, utc_ms: i64) -> Option<Range<i64>> {
        let local_ms = utc_ms + i64::from(tz.utc_offset_hours()) * MS_PER_HOUR;
        // Whole minutes of the local clock; a shift starting at 08:00 covers 08:00:00.000.
        let minute = local_ms.div_euclid(MS_PER_MINUTE);
        let covers = |start: i64, end: i64| {
            (start <= minute && (minute < end))
                .then(|| local_minutes_to_utc_ms(start, tz)..local_minutes_to_utc_ms(end, tz))
        };
        match &self.schedule {
            Schedule::Dated { start, end } => covers(start.local_minutes(), end.local_minutes()),
            Schedule::Weekly { days, start, end } => {
                let today = minute.div_euclid(MINUTES_PER_DAY);
                let length = weekly_length(*start, *end);
                // A shift covering now started today or, crossing midnight, yesterday.
                [today, today - 1].into_iter().find_map(|day| {
                    if !days.contains(&Weekday::of_day(day)) {
                        return None;
                    }
                    let from = day * MINUTES_PER_DAY + i64::from(start.minutes());
                    covers(from, from + length)
                })
            }
        }
    }
}

/// Length in minutes of a weekly shift: `end` after `start` the same day, or else the next day.
fn weekly_length(start: TimeOfDay, end: TimeOfDay) -> i64 {
    let (start, end) = (i64::from(start.minutes()), i64::from(end.minutes()));
    if end > start { end - start } else { end + MINUTES_PER_DAY - start }
}

/// A counselor on call at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCall<'a> {
    /// The shift that puts her on call (the first in roster order when several do).
    pub shift: &'a Shift,
    /// When her current stint began (ms since the epoch).
    pub since_utc_ms: i64,
    /// When it ends (ms since the epoch): the latest end of the shifts covering the instant.
    pub until_utc_ms: i64,
}

impl<'a> OnCall<'a> {
    /// Her role.
    pub fn role(&self) -> Role {
        self.shift.role
    }

    /// Her counselor id.
    pub fn counselor(&self) -> &'a str {
        &self.shift.counselor
    }
}

/// Who is on call for `provider` at the instant `now_utc_ms` (ms since the epoch), reading the
/// shifts' times in the provider's time zone: primary first, then backup, then supervisor, and
/// within a role in roster order. A counselor on call in one role through several shifts is
/// listed once. Shifts of other providers, and shifts of counselors no longer among the
/// provider's counselors (the directory was re-imported without her), are left out: nobody
/// could reach her.
pub fn on_call<'a>(shifts: &'a [Shift], provider: &Provider, now_utc_ms: i64) -> Vec<OnCall<'a>> {
    let tz = provider.hours.tz;
    let mut found: Vec<OnCall<'a>> = Vec::new();
    for shift in shifts.iter().filter(|s| s.provider == provider.id) {
        if !provider.counselors.iter().any(|c| c.id == shift.counselor) {
            continue;
        }
        let Some(active) = shift.active_at(tz, now_utc_ms) else { continue };
        match found.iter_mut().find(|o| o.shift.counselor == shift.counselor && o.shift.role == shift.role) {
            Some(same) => {
                same.since_utc_ms = same.since_utc_ms.min(active.start);
                same.until_utc_ms = same.until_utc_ms.max(active.end);
            }
            None => found.push(OnCall { shift, since_utc_ms: active.start, until_utc_ms: active.end }),
        }
    }
    found.sort_by_key(OnCall::role);
    found
}

/// The providers a roster names, in the order they first appear: the providers whose stored
/// shifts an import of it replaces.
pub fn roster_providers(shifts: &[Shift]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for s in shifts {
        if !ids.contains(&s.provider) {
            ids.push(s.provider.clone());
        }
    }
    ids
}

/// `teduh roster now PROVIDER` named a provider that is not in the directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider `{0}`: it is not in the provider directory")]
pub struct UnknownProvider(pub String);

/// Renders who is on call at `now_utc_ms` for the provider `only`, or else for every provider of
/// `providers` that has shifts in `shifts`, by provider id. One line per counselor on call, its
/// fields separated by tabs (shown here as `|`):
///
/// ```text
/// uptd-ppa-palu|primary|uptd-ppa-palu-k1|Konselor Contoh 2A|until 2026-11-23 16:00 WITA
/// lplpp-palu|nobody on call|at 2026-11-23 20:30 WITA
/// uptd-ppa-dki|no roster
/// ```
///
/// `no roster` appears only for a provider named in `only`. Names come from the directory;
/// contact details (phone numbers, chat ids) are never shown. With no `only` and no provider
/// with shifts, the text is one line saying so. Fails only when `only` is not in `providers`.
pub fn format_on_call(
    shifts: &[Shift],
    providers: &[Provider],
    only: Option<&str>,
    now_utc_ms: i64,
) -> Result<String, UnknownProvider> {
    let mut chosen: Vec<&Provider> = match only {
        Some(id) => {
            vec![providers.iter().find(|p| p.id == id).ok_or_else(|| UnknownProvider(id.to_string()))?]
        }
        None => providers.iter().filter(|p| shifts.iter().any(|s| s.provider == p.id)).collect(),
    };
    chosen.sort_by(|a, b| a.id.cmp(&b.id));
    if chosen.is_empty() {
        return Ok("no roster is stored: import one with `teduh roster import FILE`\n".to_string());
    }
    let mut out = String::new();
    for p in chosen {
        let tz = p.hours.tz;
        if !shifts.iter().any(|s| s.provider == p.id) {
            out.push_str(&format!("{}\tno roster\n", p.id));
            continue;
        }
        let now = on_call(shifts, p, now_utc_ms);
        if now.is_empty() {
            out.push_str(&format!("{}\tnobody on call\tat {}\n", p.id, local_label(now_utc_ms, tz)));
        }
        for o in now {
            let name = p.counselors.iter().find(|c| c.id == o.counselor()).map_or("", |c| c.name.as_str());
            out.push_str(&format!(
                "{}\t{}\t{}\t{}\tuntil {}\n",
                p.id,
                o.role().as_str(),
                o.counselor(),
                name,
                local_label(o.until_utc_ms, tz)
            ));
        }
    }
    Ok(out)
}

/// `2026-11-23 16:00 WITA`: the instant on the provider's clock, to the minute.
pub fn local_label(utc_ms: i64, tz: TimeZone) -> String {
    let local = (utc_ms + i64::from(tz.utc_offset_hours()) * MS_PER_HOUR).div_euclid(MS_PER_MINUTE);
    format!("{} {}", LocalDateTime::from_local_minutes(local), tz.as_str())
}

// ---- Calendar arithmetic (fixed offsets, proleptic Gregorian) ------------------------------

const MINUTES_PER_DAY: i64 = 24 * 60;
const MS_PER_MINUTE: i64 = 60_000;
const MS_PER_HOUR: i64 = 3_600_000;

fn local_minutes_to_utc_ms(minutes: i64, tz: TimeZone) -> i64 {
    minutes * MS_PER_MINUTE - i64::from(tz.utc_offset_hours()) * MS_PER_HOUR
}

use crate::case::time::{civil_from_days, days_from_civil};

/// Days in a month of a year.
fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_arithmetic_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(Weekday::of_day(0), Weekday::Thu);
        let d = days_from_civil(2026, 11, 23);
        assert_eq!(civil_from_days(d), (2026, 11, 23));
        assert_eq!(Weekday::of_day(d), Weekday::Mon);
        assert_eq!(civil_from_days(days_from_civil(2028, 2, 29)), (2028, 2, 29));
        assert_eq!(days_in_month(2028, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(
            LocalDateTime::from_local_minutes(d * MINUTES_PER_DAY + 90).to_string(),
            "2026-11-23 01:30"
        );
    }
}
