//! Choosing the provider for a case: the nearest with someone on call now, else the region's,
//! else SAPA 129, and the reason for the timeline.

mod common;

use teduh::case::time::parse_date;
use teduh::directory::{Directory, Place, Regions, Service, provider};
use teduh::escalation::roster::read_roster;
use teduh::escalation::target::choose;

fn setup() -> (Directory, Vec<teduh::escalation::roster::Shift>) {
    let regions = Regions::embedded().unwrap();
    let providers =
        provider::read_directory(&common::crate_path("providers/example.yaml"), &regions).unwrap();
    let shifts = read_roster(&common::crate_path("rosters/example.csv"), &providers).unwrap();
    (Directory { regions, providers }, shifts)
}

/// Monday 23 November 2026 at `hour`:`minute` local time at `offset` hours from UTC.
fn monday(hour: i64, minute: i64, offset: i32) -> i64 {
    parse_date("2026-11-23", offset).unwrap() + (hour * 60 + minute) * 60_000
}

#[test]
fn a_pin_in_palu_during_office_hours_goes_to_the_city() {
    let (d, shifts) = setup();
    let t =
        choose(&d, &shifts, Place::Pin(-0.90, 119.86), Some(Service::Pengaduan), monday(10, 0, 8)).unwrap();
    assert_eq!(t.provider.id, "uptd-ppa-palu");
    assert!(t.reason.starts_with("nearest with someone on call"), "{}", t.reason);
}

#[test]
fn nobody_on_call_nearby_falls_to_the_national_line_and_says_why() {
    let (d, shifts) = setup();
    // 17:00 WITA: Palu's day shift has ended and its night shift has not begun.
    let t =
        choose(&d, &shifts, Place::Pin(-0.90, 119.86), Some(Service::Pengaduan), monday(17, 0, 8)).unwrap();
    assert_eq!(t.provider.id, "sapa-129");
    assert!(t.reason.contains("nobody on call at uptd-ppa-palu"), "{}", t.reason);
    assert!(t.reason.contains("uptd-ppa-sulteng"), "{}", t.reason);
    // 23:00 WITA: the night shift has it.
    let t =
        choose(&d, &shifts, Place::Pin(-0.90, 119.86), Some(Service::Pengaduan), monday(23, 0, 8)).unwrap();
    assert_eq!(t.provider.id, "uptd-ppa-palu");
}

#[test]
fn by_region_the_city_then_the_province() {
    let (d, shifts) = setup();
    let t = choose(&d, &shifts, Place::Region("72.71"), Some(Service::Pengaduan), monday(10, 0, 8)).unwrap();
    assert_eq!(
        (t.provider.id.as_str(), t.reason.as_str()),
        ("uptd-ppa-palu", "for the region, with someone on call")
    );
    // Kabupaten Sigi has no provider of its own: the province's UPTD PPA takes it.
    let t = choose(&d, &shifts, Place::Region("72.10"), Some(Service::Pengaduan), monday(10, 0, 8)).unwrap();
    assert_eq!(t.provider.id, "uptd-ppa-sulteng", "{}", t.reason);
    // Padang keeps WIB hours: 07:30 WIB is before its shifts, 08:30 is inside them.
    let early =
        choose(&d, &shifts, Place::Region("13.71"), Some(Service::Pengaduan), monday(7, 30, 7)).unwrap();
    assert_eq!(early.provider.id, "sapa-129");
    let open =
        choose(&d, &shifts, Place::Region("13.71"), Some(Service::Pengaduan), monday(8, 30, 7)).unwrap();
    assert_eq!(open.provider.id, "uptd-ppa-padang");
}
