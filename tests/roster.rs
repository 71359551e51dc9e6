//! On-call rosters: the shipped example, every kind of bad row with its line and message, who is
//! on call at chosen UTC instants across time zones, the "on call now" text, and the stored
//! round trip on SQLite and PostgreSQL.

mod common;

use teduh::directory::Provider;
use teduh::directory::provider::read_directory;
use teduh::escalation::roster::{
    HEADER, LocalDateTime, Role, RosterError, Schedule, Shift, TimeOfDay, UnknownProvider, Weekday,
    format_on_call, on_call, parse_roster, read_roster, roster_providers,
};
use teduh::store::Db;
use teduh::store::Store;

fn providers() -> Vec<Provider> {
    let regions = teduh::directory::Regions::embedded().expect("embedded regions");
    read_directory(&common::crate_path("providers/example.yaml"), &regions)
        .unwrap_or_else(|e| panic!("providers/example.yaml has problems: {e:#?}"))
}

fn provider<'a>(providers: &'a [Provider], id: &str) -> &'a Provider {
    providers.iter().find(|p| p.id == id).unwrap_or_else(|| panic!("no provider {id} in the example"))
}

fn example() -> Vec<Shift> {
    read_roster(&common::crate_path("rosters/example.csv"), &providers())
        .unwrap_or_else(|e| panic!("rosters/example.csv has problems: {e:#?}"))
}

fn parse(text: &str) -> Vec<Shift> {
    parse_roster(text, &providers()).unwrap_or_else(|e| panic!("expected a valid roster, got {e:#?}"))
}

fn problems(text: &str) -> Vec<RosterError> {
    match parse_roster(text, &providers()) {
        Ok(s) => panic!("expected problems, but {} shift(s) parsed:\n{text}", s.len()),
        Err(errors) => errors,
    }
}

/// A roster with the header on line 1 and `rows` from line 2.
fn with_header(rows: &[&str]) -> String {
    let mut text = HEADER.join(",");
    for row in rows {
        text.push('\n');
        text.push_str(row);
    }
    text.push('\n');
    text
}

/// The rows give exactly these problems, as (line, message).
fn assert_problems(rows: &[&str], expected: &[(u64, &str)]) {
    let got: Vec<(u64, String)> =
        problems(&with_header(rows)).into_iter().map(|e| (e.line, e.message)).collect();
    let expected: Vec<(u64, String)> = expected.iter().map(|(l, m)| (*l, m.to_string())).collect();
    assert_eq!(got, expected, "rows: {rows:#?}");
}

const OK: &str = "uptd-ppa-palu,uptd-ppa-palu-k1,primary,mon-fri,08:00,16:00";

// ---- Instants -------------------------------------------------------------------------------

/// 2026-11-23 00:00 UTC, a Monday.
const MONDAY_UTC: i64 = 1_795_392_000_000;
const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * HOUR;

/// `days` after Monday 2026-11-23, at `h:m` UTC.
fn utc(days: i64, h: i64, m: i64) -> i64 {
    MONDAY_UTC + days * DAY + h * HOUR + m * MINUTE
}

/// `days` after Monday 2026-11-23, at `h:m` WITA (UTC+8).
fn wita(days: i64, h: i64, m: i64) -> i64 {
    utc(days, h, m) - 8 * HOUR
}

/// `days` after Monday 2026-11-23, at `h:m` WIB (UTC+7).
fn wib(days: i64, h: i64, m: i64) -> i64 {
    utc(days, h, m) - 7 * HOUR
}

/// `role counselor` for everyone on call, in order.
fn who(shifts: &[Shift], providers: &[Provider], id: &str, at: i64) -> Vec<String> {
    on_call(shifts, provider(providers, id), at)
        .iter()
        .map(|o| format!("{} {}", o.role().as_str(), o.counselor()))
        .collect()
}

// ---- The shipped example --------------------------------------------------------------------

#[test]
fn the_example_roster_parses_and_covers_wib_wita_overnight_dated_and_supervisors() {
    let providers = providers();
    let shifts = example();
    assert_eq!(shifts.len(), 15);
    assert_eq!(
        roster_providers(&shifts),
        ["uptd-ppa-palu", "uptd-ppa-sulteng", "uptd-ppa-padang", "uptd-ppa-dki"]
    );
    let zones: Vec<&str> =
        roster_providers(&shifts).iter().map(|id| provider(&providers, id).hours.tz.as_str()).collect();
    assert_eq!(zones, ["WITA", "WITA", "WIB", "WIB"]);
    assert!(shifts.iter().any(|s| s.role == Role::Supervisor));
    assert!(shifts.iter().any(|s| s.role == Role::Backup));
    assert_eq!(
        shifts[2],
        Shift {
            provider: "uptd-ppa-palu".into(),
            counselor: "uptd-ppa-palu-k2".into(),
            role: Role::Primary,
            schedule: Schedule::Weekly {
                days: vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
                start: TimeOfDay::from_minutes(22 * 60).unwrap(),
                end: TimeOfDay::from_minutes(6 * 60).unwrap(),
            },
        },
        "line 13 is the overnight shift"
    );
    assert_eq!(
        shifts[8].schedule,
        Schedule::Weekly {
            days: vec![Weekday::Mon, Weekday::Wed, Weekday::Fri],
            start: TimeOfDay::from_minutes(8 * 60).unwrap(),
            end: TimeOfDay::from_minutes(16 * 60).unwrap(),
        },
        "line 22 has a quoted list of days"
    );
    assert_eq!(
        shifts[14].schedule,
        Schedule::Dated {
            start: LocalDateTime { year: 2026, month: 12, day: 31, minute: 20 * 60 },
            end: LocalDateTime { year: 2027, month: 1, day: 1, minute: 8 * 60 },
        },
        "line 29 is dated and crosses the new year"
    );
}

#[test]
fn a_spreadsheet_export_with_bom_crlf_quotes_and_empty_rows_parses() {
    let text = std::fs::read_to_string(common::crate_path("tests/fixtures/roster/spreadsheet_export.csv"))
        .expect("read fixture");
    let shifts = parse(&text);
    assert_eq!(shifts.len(), 2);
    assert_eq!(shifts[0].role, Role::Primary);
    assert_eq!(
        shifts[0].schedule,
        Schedule::Weekly {
            days: vec![Weekday::Mon, Weekday::Wed, Weekday::Fri],
            start: TimeOfDay::from_minutes(480).unwrap(),
            end: TimeOfDay::from_minutes(960).unwrap(),
        }
    );
    assert_eq!(shifts[1].counselor, "uptd-ppa-palu-k2");
    assert_eq!(shifts[1].role, Role::Backup);
}

// ---- Every kind of problem ------------------------------------------------------------------

#[test]
fn unknown_provider() {
    assert_problems(
        &[OK, "uptd-ppa-paluu,uptd-ppa-palu-k1,primary,mon-fri,08:00,16:00"],
        &[(3, "unknown provider `uptd-ppa-paluu`: it is not in the provider directory")],
    );
}

#[test]
fn counselor_of_another_provider() {
    assert_problems(
        &["uptd-ppa-palu,uptd-ppa-padang-k1,backup,mon-fri,08:00,16:00"],
        &[(2, "counselor `uptd-ppa-padang-k1` belongs to `uptd-ppa-padang`, not to `uptd-ppa-palu`")],
    );
}

#[test]
fn unknown_counselor_lists_the_providers_counselors() {
    assert_problems(
        &["uptd-ppa-palu,uptd-ppa-palu-k3,backup,mon-fri,08:00,16:00"],
        &[(
            2,
            "unknown counselor `uptd-ppa-palu-k3`; `uptd-ppa-palu` has uptd-ppa-palu-k1, uptd-ppa-palu-k2",
        )],
    );
}

#[test]
fn a_provider_without_counselors() {
    assert_problems(
        &["sapa-129,someone,primary,mon-sun,00:00,24:00"],
        &[(2, "unknown counselor `someone`: provider `sapa-129` has no counselors in the directory")],
    );
}

#[test]
fn empty_provider_and_counselor() {
    assert_problems(
        &[",,primary,mon-fri,08:00,16:00"],
        &[(2, "provider is empty"), (2, "counselor is empty")],
    );
}

#[test]
fn unknown_role() {
    assert_problems(
        &["uptd-ppa-palu,uptd-ppa-palu-k1,kepala,mon-fri,08:00,16:00"],
        &[(2, "unknown role `kepala`; use primary, backup or supervisor")],
    );
}

#[test]
fn malformed_time() {
    assert_problems(
        &["uptd-ppa-palu,uptd-ppa-palu-k1,primary,mon-fri,08.00,4pm"],
        &[
            (2, "start `08.00` should be a time such as `08:00`"),
            (2, "end `4pm` should be a time such as `08:00`"),
        ],
    );
}

#[test]
fn impossible_times() {
    assert_problems(
        &[
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,mon-fri,25:00,16:00",
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,mon-fri,08:00,16:60",
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,mon-fri,24:00,06:00",
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,mon-fri,08:00,24:01",
        ],
        &[
            (2, "start `25:00` has an impossible time of day (00:00 to 23:59)"),
            (3, "end `16:60` has an impossible time of day (00:00 to 24:00)"),
            (4, "start `24:00` has an impossible time of day (00:00 to 23:59)"),
            (5, "end `24:01` has an impossible time of day (00:00 to 24:00)"),
        ],
    );
}

#[test]
fn impossible_dates() {
    assert_problems(
        &[
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,,2026-02-30 08:00,2026-03-01 08:00",
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,,2026-11-23 08:00,2026-13-01 08:00",
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,,2026-11-31 08:00,2026-11-23 25:00",
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,,0026-11-23 08:00,2026-11-23 16:00",
        ],
        &[
            (2, "start `2026-02-30 08:00` is not a real date: 2026-02 has 28 days"),
            (3, "end `2026-13-01 08:00` is not a real date: there is no month 13"),
            (4, "start `2026-11-31 08:00` is not a real date: 2026-11 has 30 days"),
            (4, "end `2026-11-23 25:00` has an impossible time of day (00:00 to 24:00)"),
            (5, "start `0026-11-23 08:00`: the year 26 is not between 2000 and 2099"),
        ],
    );
}

#[test]
fn a_leap_day_is_a_real_date() {
    let shifts =
        parse(&with_header(&["uptd-ppa-palu,uptd-ppa-palu-k1,primary,,2028-02-29 08:00,2028-02-29 24:00"]));
    assert_eq!(
        shifts[0].schedule,
        Schedule::Dated {
            start: LocalDateTime { year: 2028, month: 2, day: 29, minute: 480 },
            end: LocalDateTime { year: 2028, month: 3, day: 1, minute: 0 },
        },
        "24:00 is the next day's midnight"
    );
}

#[test]
fn malformed_dates() {
    assert_problems(
        &[
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,,2026/11/23 08:00,2026-11-23T16:00",
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,,08:00,16:00",
        ],
        &[
            (2, "start `2026/11/23 08:00` should be a date and time such as `2026-11-23 08:00`"),
            (2, "end `2026-11-23T16:00` should be a date and time such as `2026-11-23 08:00`"),
            (
                3,
                "start `08:00` has no date; a shift without `days` needs a date and time such as `2026-11-23 08:00`",
            ),
            (
                3,
                "end `16:00` has no date; a shift without `days` needs a date and time such as `2026-11-23 08:00`",
            ),
        ],
    );
}

#[test]
fn a_weekly_shift_with_dates() {
    assert_problems(
        &["uptd-ppa-palu,uptd-ppa-palu-k1,primary,mon-fri,2026-11-23 08:00,16:00"],
        &[(
            2,
            "start `2026-11-23 08:00` has a date; a shift with `days` repeats every week and takes a time such as `08:00`",
        )],
    );
}

#[test]
fn a_dated_shift_must_end_after_it_starts() {
    assert_problems(
        &[
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,,2026-11-24 16:00,2026-11-24 08:00",
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,,2026-11-24 08:00,2026-11-24 08:00",
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,,2026-11-24 24:00,2026-11-25 00:00",
        ],
        &[
            (2, "end `2026-11-24 08:00` is not after start `2026-11-24 16:00`"),
            (3, "end `2026-11-24 08:00` is not after start `2026-11-24 08:00`"),
            (4, "start `2026-11-24 24:00` has an impossible time of day (00:00 to 23:59)"),
        ],
    );
}

#[test]
fn bad_day_ranges() {
    assert_problems(
        &[
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,senin-jumat,08:00,16:00",
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,fri-mon,08:00,16:00",
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,\"mon-fri,wed\",08:00,16:00",
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,\"mon,,fri\",08:00,16:00",
        ],
        &[
            (
                2,
                "days `senin-jumat` should be days such as `mon-fri`, `sat` or `mon,wed,fri` (mon tue wed thu fri sat sun)",
            ),
            (
                3,
                "days `fri-mon`: the range `fri-mon` runs backwards; a range runs from mon to sun, so write `fri-sun,mon`",
            ),
            (4, "days `mon-fri,wed` name `wed` more than once"),
            (
                5,
                "days `mon,,fri` should be days such as `mon-fri`, `sat` or `mon,wed,fri` (mon tue wed thu fri sat sun)",
            ),
        ],
    );
}

#[test]
fn duplicate_rows_are_reported_at_the_second_even_when_written_differently() {
    assert_problems(
        &[
            OK,
            "uptd-ppa-palu,uptd-ppa-palu-k2,backup,mon-fri,08:00,16:00",
            OK,
            "Uptd-ppa-palu,uptd-ppa-palu-k1,Primary,Mon-Fri,8:00,16:00",
        ],
        &[
            (4, "duplicate of line 2"),
            (5, "unknown provider `Uptd-ppa-palu`: it is not in the provider directory"),
        ],
    );
    assert_problems(
        &[OK, "uptd-ppa-palu,uptd-ppa-palu-k1,Primary,Mon-Fri,8:00,16:00"],
        &[(3, "duplicate of line 2")],
    );
}

#[test]
fn wrong_header_stops_the_check() {
    let errors = problems("provider,counselor,role,start,end\nuptd-ppa-palu,nobody,boss,x,y\n");
    assert_eq!(
        errors,
        [RosterError {
            line: 1,
            message: "the header should be `provider,counselor,role,days,start,end`, not `provider,counselor,role,start,end`"
                .into()
        }]
    );
    let errors = problems("# a comment first\n\n\"provider,counselor,role,days,start,end\n");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 3, "comments and blank lines are skipped but counted");
}

#[test]
fn an_empty_file_and_a_header_without_shifts_are_refused() {
    assert_eq!(
        problems(""),
        [RosterError {
            line: 0,
            message:
                "the file is empty; a roster starts with the header `provider,counselor,role,days,start,end`"
                    .into()
        }]
    );
    assert_eq!(problems("# only a comment\n\n").len(), 1);
    assert_eq!(
        problems(&with_header(&[",,,,,"])),
        [RosterError { line: 0, message: "the roster lists no shifts".into() }]
    );
}

#[test]
fn an_empty_provider_directory_is_one_problem_not_one_per_row() {
    let text = with_header(&[OK, "uptd-ppa-palu,uptd-ppa-palu-k1,kepala,mon-fri,08:00,16:00"]);
    let errors = parse_roster(&text, &[]).expect_err("no directory");
    assert_eq!(
        errors,
        [
            RosterError {
                line: 0,
                message:
                    "the provider directory is empty: import it first with `teduh providers import FILE`"
                        .into()
            },
            RosterError {
                line: 3,
                message: "unknown role `kepala`; use primary, backup or supervisor".into()
            },
        ]
    );
}

#[test]
fn wrong_number_of_fields() {
    assert_problems(
        &[
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,mon-fri,08:00",
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,mon,wed,08:00,16:00",
        ],
        &[
            (2, "expected 6 fields (provider,counselor,role,days,start,end), found 5"),
            (3, "expected 6 fields (provider,counselor,role,days,start,end), found 7"),
        ],
    );
}

#[test]
fn bad_quoting() {
    assert_problems(
        &[
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,\"mon,wed,08:00,16:00",
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,\"mon\"x,08:00,16:00",
            "uptd-ppa-palu,uptd-ppa-palu-k1,pri\"mary,mon,08:00,16:00",
        ],
        &[
            (2, "field 4: the quoted field is not closed on this line"),
            (3, "field 4: text after the closing quote; quote the whole field"),
            (4, "field 3: a `\"` inside a field; quote the whole field and double the quote (`\"\"`)"),
        ],
    );
}

#[test]
fn every_problem_of_a_file_is_reported_by_line() {
    let errors = read_roster(&common::crate_path("tests/fixtures/roster/several_problems.csv"), &providers())
        .expect_err("the fixture has problems");
    let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            "line 3: unknown provider `uptd-ppa-paluu`: it is not in the provider directory",
            "line 4: counselor `uptd-ppa-padang-k1` belongs to `uptd-ppa-padang`, not to `uptd-ppa-palu`",
            "line 5: unknown role `kepala`; use primary, backup or supervisor",
            "line 5: days `senin-jumat` should be days such as `mon-fri`, `sat` or `mon,wed,fri` (mon tue wed thu fri sat sun)",
            "line 5: start `25:00` has an impossible time of day (00:00 to 23:59)",
            "line 6: start `2026-02-30 08:00` is not a real date: 2026-02 has 28 days",
            "line 7: end `2026-11-24 08:00` is not after start `2026-11-24 16:00`",
            "line 9: duplicate of line 2",
            "line 10: expected 6 fields (provider,counselor,role,days,start,end), found 5",
        ]
    );
}

#[test]
fn an_unreadable_file_is_a_problem_without_a_line() {
    let errors = read_roster(&common::crate_path("tests/fixtures/roster/missing.csv"), &providers())
        .expect_err("no such file");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 0);
    assert!(errors[0].message.starts_with("cannot read "), "{}", errors[0].message);
    assert!(errors[0].message.contains("missing.csv"), "{}", errors[0].message);
}

// ---- Who is on call -------------------------------------------------------------------------

#[test]
fn the_same_instant_is_a_different_local_time_in_palu_and_padang() {
    let (providers, shifts) = (providers(), example());
    // Monday 00:30 UTC is 08:30 WITA in Palu but 07:30 WIB in Padang.
    let at = utc(0, 0, 30);
    assert_eq!(
        who(&shifts, &providers, "uptd-ppa-palu", at),
        ["primary uptd-ppa-palu-k1", "backup uptd-ppa-palu-k2"]
    );
    assert_eq!(
        who(&shifts, &providers, "uptd-ppa-sulteng", at),
        ["primary uptd-ppa-sulteng-k1", "supervisor uptd-ppa-sulteng-k2"]
    );
    assert!(who(&shifts, &providers, "uptd-ppa-padang", at).is_empty(), "07:30 WIB is before office hours");
    // An hour later Padang opens: Monday is k1's day.
    assert_eq!(
        who(&shifts, &providers, "uptd-ppa-padang", utc(0, 1, 30)),
        ["primary uptd-ppa-padang-k1", "backup uptd-ppa-padang-k2"]
    );
    // Tuesday they swap.
    assert_eq!(
        who(&shifts, &providers, "uptd-ppa-padang", wib(1, 10, 0)),
        ["primary uptd-ppa-padang-k2", "backup uptd-ppa-padang-k1"]
    );
}

#[test]
fn on_call_reports_when_the_stint_began_and_ends() {
    let (providers, shifts) = (providers(), example());
    let now = on_call(&shifts, provider(&providers, "uptd-ppa-palu"), utc(0, 0, 30));
    assert_eq!(now.len(), 2);
    assert_eq!(now[0].since_utc_ms, wita(0, 8, 0));
    assert_eq!(now[0].until_utc_ms, wita(0, 16, 0));
    assert_eq!(now[0].until_utc_ms, utc(0, 8, 0), "16:00 WITA is 08:00 UTC");
}

#[test]
fn shifts_start_inclusive_and_end_exclusive() {
    let (providers, shifts) = (providers(), example());
    let palu = |at| who(&shifts, &providers, "uptd-ppa-palu", at);
    assert!(palu(wita(0, 8, 0) - 1).is_empty(), "07:59:59.999 WITA");
    assert_eq!(palu(wita(0, 8, 0)), ["primary uptd-ppa-palu-k1", "backup uptd-ppa-palu-k2"]);
    assert_eq!(palu(wita(0, 16, 0) - 1), ["primary uptd-ppa-palu-k1", "backup uptd-ppa-palu-k2"]);
    assert!(palu(wita(0, 16, 0)).is_empty(), "16:00 WITA: the day shift is over");
}

#[test]
fn an_overnight_shift_runs_past_midnight_into_the_next_day() {
    let (providers, shifts) = (providers(), example());
    let palu = |at| who(&shifts, &providers, "uptd-ppa-palu", at);
    let night = ["primary uptd-ppa-palu-k2", "supervisor uptd-ppa-palu-k1"];
    assert!(palu(wita(0, 21, 59)).is_empty());
    assert_eq!(palu(wita(0, 22, 0)), night, "Monday 22:00 WITA");
    assert_eq!(palu(wita(1, 0, 0)), night, "Tuesday midnight");
    assert_eq!(palu(wita(1, 5, 59)), night, "Tuesday 05:59");
    assert!(palu(wita(1, 6, 0)).is_empty(), "Tuesday 06:00");
    let now = on_call(&shifts, provider(&providers, "uptd-ppa-palu"), wita(1, 3, 0));
    assert_eq!((now[0].since_utc_ms, now[0].until_utc_ms), (wita(0, 22, 0), wita(1, 6, 0)));
    // In UTC the whole night is on Monday: 14:00 to 22:00.
    assert_eq!((now[0].since_utc_ms, now[0].until_utc_ms), (utc(0, 14, 0), utc(0, 22, 0)));
}

#[test]
fn the_friday_night_shift_ends_on_saturday_and_weekends_differ() {
    let (providers, shifts) = (providers(), example());
    let palu = |at| who(&shifts, &providers, "uptd-ppa-palu", at);
    // Friday is day 4; its night shift ends Saturday 06:00.
    assert_eq!(palu(wita(5, 5, 0)), ["primary uptd-ppa-palu-k2", "supervisor uptd-ppa-palu-k1"]);
    assert!(palu(wita(5, 7, 0)).is_empty(), "Saturday 07:00: between the night and the weekend day");
    assert_eq!(palu(wita(5, 8, 0)), ["primary uptd-ppa-palu-k1"], "weekend day shift");
    assert!(palu(wita(5, 22, 30)).is_empty(), "no night shift starts on Saturday");
    assert!(palu(wita(7, 1, 0)).is_empty(), "nor on Sunday: Monday 01:00 is empty");
    assert!(
        who(&shifts, &providers, "uptd-ppa-padang", wib(5, 10, 0)).is_empty(),
        "Padang is closed on Saturday"
    );
}

#[test]
fn a_night_starting_on_sunday_covers_monday_morning() {
    let (providers, shifts) = (providers(), example());
    // Jakarta's night shift runs every day from 20:00 to 08:00 WIB: Monday 07:59 is Sunday's.
    let dki = |at| who(&shifts, &providers, "uptd-ppa-dki", at);
    assert_eq!(dki(wib(0, 7, 59)), ["primary uptd-ppa-dki-k2"]);
    assert_eq!(dki(wib(0, 8, 0)), ["primary uptd-ppa-dki-k1"]);
    let now = on_call(&shifts, provider(&providers, "uptd-ppa-dki"), wib(0, 7, 59));
    assert_eq!(now[0].since_utc_ms, wib(-1, 20, 0));
}

#[test]
fn dated_shifts_add_to_weekly_ones_and_cross_the_new_year() {
    let (providers, shifts) = (providers(), example());
    // Saturday 2026-12-26 is 33 days after Monday 2026-11-23.
    assert_eq!(
        who(&shifts, &providers, "uptd-ppa-palu", wita(33, 10, 0)),
        ["primary uptd-ppa-palu-k1", "backup uptd-ppa-palu-k2"]
    );
    assert_eq!(who(&shifts, &providers, "uptd-ppa-palu", wita(40, 10, 0)), ["primary uptd-ppa-palu-k1"]);
    assert!(who(&shifts, &providers, "uptd-ppa-palu", wita(33, 20, 0)).is_empty());
    // New Year's Eve (Thursday 2026-12-31, day 38) 23:00 WIB and 2027-01-01 07:00 WIB.
    let dki = |at| who(&shifts, &providers, "uptd-ppa-dki", at);
    assert_eq!(dki(wib(38, 23, 0)), ["primary uptd-ppa-dki-k2", "supervisor uptd-ppa-dki-k1"]);
    assert_eq!(dki(wib(39, 7, 0)), ["primary uptd-ppa-dki-k2", "supervisor uptd-ppa-dki-k1"]);
    assert_eq!(dki(wib(39, 8, 0)), ["primary uptd-ppa-dki-k1"]);
    assert_eq!(dki(wib(37, 23, 0)), ["primary uptd-ppa-dki-k2"], "the night before has no supervisor");
}

#[test]
fn wit_providers_read_times_at_utc_plus_nine() {
    let mut providers = providers();
    let mut papua = provider(&providers, "uptd-ppa-palu").clone();
    papua.id = "uptd-ppa-papua".into();
    papua.hours.tz = teduh::directory::provider::TimeZone::Wit;
    for c in &mut papua.counselors {
        c.id = c.id.replace("palu", "papua");
    }
    providers.push(papua);
    let shifts =
        parse_roster(&with_header(&["uptd-ppa-papua,uptd-ppa-papua-k1,primary,mon,08:00,09:00"]), &providers)
            .expect("valid");
    assert_eq!(
        who(&shifts, &providers, "uptd-ppa-papua", utc(0, 23, 0) - DAY),
        ["primary uptd-ppa-papua-k1"]
    );
    assert!(who(&shifts, &providers, "uptd-ppa-papua", utc(0, 0, 0)).is_empty(), "09:00 WIT");
}

#[test]
fn twenty_four_hour_weekly_shifts() {
    let (providers, shifts) = (
        providers(),
        parse(&with_header(&[
            "uptd-ppa-palu,uptd-ppa-palu-k1,primary,mon,08:00,08:00",
            "uptd-ppa-palu,uptd-ppa-palu-k2,backup,sun,00:00,24:00",
        ])),
    );
    let palu = |at| who(&shifts, &providers, "uptd-ppa-palu", at);
    assert_eq!(palu(wita(1, 7, 59)), ["primary uptd-ppa-palu-k1"], "08:00 to 08:00 is 24 hours");
    assert!(palu(wita(1, 8, 0)).is_empty());
    assert_eq!(palu(wita(6, 0, 0)), ["backup uptd-ppa-palu-k2"]);
    assert_eq!(palu(wita(6, 23, 59)), ["backup uptd-ppa-palu-k2"]);
    assert!(palu(wita(7, 0, 0)).is_empty(), "Sunday 00:00-24:00 ends at Monday midnight");
}

#[test]
fn overlapping_shifts_list_a_counselor_once_per_role_with_the_latest_end() {
    let providers = providers();
    let shifts = parse(&with_header(&[
        "uptd-ppa-palu,uptd-ppa-palu-k2,supervisor,mon,08:00,12:00",
        "uptd-ppa-palu,uptd-ppa-palu-k1,primary,mon,08:00,12:00",
        "uptd-ppa-palu,uptd-ppa-palu-k1,primary,,2026-11-23 10:00,2026-11-23 18:00",
        "uptd-ppa-palu,uptd-ppa-palu-k2,backup,mon,09:00,10:00",
        "uptd-ppa-palu,uptd-ppa-palu-k1,backup,mon,08:00,12:00",
        "uptd-ppa-sulteng,uptd-ppa-sulteng-k1,primary,mon,08:00,12:00",
    ]));
    let now = on_call(&shifts, provider(&providers, "uptd-ppa-palu"), wita(0, 11, 0));
    let got: Vec<(Role, &str, i64, i64)> =
        now.iter().map(|o| (o.role(), o.counselor(), o.since_utc_ms, o.until_utc_ms)).collect();
    assert_eq!(
        got,
        [
            (Role::Primary, "uptd-ppa-palu-k1", wita(0, 8, 0), wita(0, 18, 0)),
            (Role::Backup, "uptd-ppa-palu-k1", wita(0, 8, 0), wita(0, 12, 0)),
            (Role::Supervisor, "uptd-ppa-palu-k2", wita(0, 8, 0), wita(0, 12, 0)),
        ],
        "by role, merged, other providers left out"
    );
    // Within a role the roster's order is kept.
    let shifts = parse(&with_header(&[
        "uptd-ppa-palu,uptd-ppa-palu-k2,backup,mon,08:00,12:00",
        "uptd-ppa-palu,uptd-ppa-palu-k1,backup,mon,08:00,12:00",
    ]));
    assert_eq!(
        who(&shifts, &providers, "uptd-ppa-palu", wita(0, 9, 0)),
        ["backup uptd-ppa-palu-k2", "backup uptd-ppa-palu-k1"]
    );
}

#[test]
fn counselors_no_longer_in_the_directory_are_not_on_call() {
    let mut providers = providers();
    let shifts = example();
    let palu = providers.iter_mut().find(|p| p.id == "uptd-ppa-palu").expect("palu");
    palu.counselors.retain(|c| c.id != "uptd-ppa-palu-k1");
    assert_eq!(who(&shifts, &providers, "uptd-ppa-palu", wita(0, 9, 0)), ["backup uptd-ppa-palu-k2"]);
}

// ---- "Who is on call now" as text -----------------------------------------------------------

#[test]
fn on_call_now_for_every_provider_with_a_roster() {
    let (providers, shifts) = (providers(), example());
    let text = format_on_call(&shifts, &providers, None, utc(0, 0, 30)).expect("no provider named");
    assert_eq!(
        text,
        "uptd-ppa-dki\tprimary\tuptd-ppa-dki-k2\tKonselor Contoh 13B\tuntil 2026-11-23 08:00 WIB\n\
         uptd-ppa-padang\tnobody on call\tat 2026-11-23 07:30 WIB\n\
         uptd-ppa-palu\tprimary\tuptd-ppa-palu-k1\tKonselor Contoh 2A\tuntil 2026-11-23 16:00 WITA\n\
         uptd-ppa-palu\tbackup\tuptd-ppa-palu-k2\tKonselor Contoh 2B\tuntil 2026-11-23 16:00 WITA\n\
         uptd-ppa-sulteng\tprimary\tuptd-ppa-sulteng-k1\tKonselor Contoh 1A\tuntil 2026-11-23 16:00 WITA\n\
         uptd-ppa-sulteng\tsupervisor\tuptd-ppa-sulteng-k2\tKonselor Contoh 1B\tuntil 2026-11-23 16:00 WITA\n"
    );
    for p in &providers {
        for c in &p.counselors {
            for number in [&c.channels.telegram, &c.channels.whatsapp, &c.channels.sms].into_iter().flatten()
            {
                assert!(!text.contains(number.as_str()), "the text must not show {number}");
            }
        }
    }
}

#[test]
fn on_call_now_for_one_provider() {
    let (providers, shifts) = (providers(), example());
    assert_eq!(
        format_on_call(&shifts, &providers, Some("uptd-ppa-palu"), wita(1, 2, 0)).expect("known"),
        "uptd-ppa-palu\tprimary\tuptd-ppa-palu-k2\tKonselor Contoh 2B\tuntil 2026-11-24 06:00 WITA\n\
         uptd-ppa-palu\tsupervisor\tuptd-ppa-palu-k1\tKonselor Contoh 2A\tuntil 2026-11-24 06:00 WITA\n"
    );
    assert_eq!(
        format_on_call(&shifts, &providers, Some("sapa-129"), wita(1, 2, 0)).expect("known"),
        "sapa-129\tno roster\n"
    );
    assert_eq!(format_on_call(&shifts, &providers, Some("nope"), 0), Err(UnknownProvider("nope".into())));
    assert_eq!(
        UnknownProvider("nope".into()).to_string(),
        "unknown provider `nope`: it is not in the provider directory"
    );
    assert_eq!(
        format_on_call(&[], &providers, None, 0).expect("no provider named"),
        "no roster is stored: import one with `teduh roster import FILE`\n"
    );
}

// ---- Stored form ----------------------------------------------------------------------------

#[test]
fn shifts_are_stored_as_readable_json() {
    let shifts = example();
    assert_eq!(
        serde_json::to_string(&shifts[2]).expect("json"),
        r#"{"provider":"uptd-ppa-palu","counselor":"uptd-ppa-palu-k2","role":"primary","schedule":{"kind":"weekly","days":["mon","tue","wed","thu","fri"],"start":"22:00","end":"06:00"}}"#
    );
    assert_eq!(
        serde_json::to_string(&shifts[14]).expect("json"),
        r#"{"provider":"uptd-ppa-dki","counselor":"uptd-ppa-dki-k1","role":"supervisor","schedule":{"kind":"dated","start":"2026-12-31 20:00","end":"2027-01-01 08:00"}}"#
    );
    for s in &shifts {
        let json = serde_json::to_string(s).expect("json");
        assert_eq!(&serde_json::from_str::<Shift>(&json).expect("read back"), s);
    }
    let bad = r#"{"provider":"p","counselor":"c","role":"primary","schedule":{"kind":"weekly","days":["mon"],"start":"25:00","end":"06:00"}}"#;
    assert!(serde_json::from_str::<Shift>(bad).is_err(), "impossible times are refused when read back too");
}

/// (provider_id, counselor_id, role) rows, in id order.
async fn shift_rows(store: &Store) -> Vec<(String, String, String)> {
    const SQL: &str = "SELECT provider_id, counselor_id, role FROM roster_shifts ORDER BY id";
    let rows = match store.db() {
        Db::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
        Db::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
    };
    rows.expect("read roster_shifts")
}

/// Stores the example, replaces one provider's roster, empties another's, and checks what
/// comes back each time.
async fn round_trip(store: &Store) -> Vec<Shift> {
    assert!(store.roster().await.expect("read roster").is_empty(), "a new store has no roster");
    let all = example();
    store.replace_roster(&roster_providers(&all), &all).await.expect("store the example");
    assert_eq!(store.roster().await.expect("read roster"), all);
    let rows = shift_rows(store).await;
    assert_eq!(rows.len(), 15);
    assert_eq!(rows[3], ("uptd-ppa-palu".into(), "uptd-ppa-palu-k1".into(), "supervisor".into()));

    // The same file again changes nothing.
    store.replace_roster(&roster_providers(&all), &all).await.expect("store the example again");
    assert_eq!(store.roster().await.expect("read roster"), all);

    // A file naming only Palu replaces Palu's shifts and keeps everyone else's.
    let palu = parse(&with_header(&["uptd-ppa-palu,uptd-ppa-palu-k2,primary,mon-sun,00:00,24:00"]));
    store.replace_roster(&roster_providers(&palu), &palu).await.expect("store Palu's roster");
    let stored = store.roster().await.expect("read roster");
    let others: Vec<Shift> = all.iter().filter(|s| s.provider != "uptd-ppa-palu").cloned().collect();
    assert_eq!(stored.len(), others.len() + 1);
    assert_eq!(stored.iter().filter(|s| s.provider != "uptd-ppa-palu").cloned().collect::<Vec<_>>(), others);
    assert_eq!(store.roster_of("uptd-ppa-palu").await.expect("read Palu"), palu);
    assert_eq!(store.roster_of("sapa-129").await.expect("read SAPA"), []);

    // Naming a provider with no shifts empties its roster.
    store.replace_roster(&["uptd-ppa-padang".to_string()], &[]).await.expect("empty Padang");
    assert!(store.roster_of("uptd-ppa-padang").await.expect("read Padang").is_empty());
    let stored = store.roster().await.expect("read roster");
    assert_eq!(stored.len(), others.len() + 1 - 4);
    let providers = providers();
    assert_eq!(
        format_on_call(&stored, &providers, Some("uptd-ppa-palu"), utc(0, 0, 30)).expect("known"),
        "uptd-ppa-palu\tprimary\tuptd-ppa-palu-k2\tKonselor Contoh 2B\tuntil 2026-11-24 00:00 WITA\n"
    );
    stored
}

#[tokio::test]
async fn sqlite_round_trip() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("teduh.db");
    let store = Store::open_sqlite(&path).await.expect("open SQLite");
    let stored = round_trip(&store).await;
    store.close().await;

    let reopened = Store::open_sqlite(&path).await.expect("reopen SQLite");
    assert_eq!(reopened.roster().await.expect("read roster"), stored, "survives a restart");
    reopened.close().await;
}

#[tokio::test]
async fn postgres_round_trip() {
    let Some(pg) = common::pg_store("roster").await else { return };
    let stored = round_trip(&pg.store).await;

    let reopened = pg.reopen().await;
    assert_eq!(reopened.roster().await.expect("read roster"), stored, "survives a restart");
    reopened.close().await;
    pg.cleanup().await;
}
