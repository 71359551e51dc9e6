//! The regency/city matcher against the real region data.

use teduh::directory::{RegionMatch, Regions};

fn one(regions: &Regions, typed: &str) -> String {
    match regions.find(typed) {
        RegionMatch::One(r) => r.code.clone(),
        other => panic!("{typed:?} should match one region, got {other:?}"),
    }
}

fn several(regions: &Regions, typed: &str) -> Vec<String> {
    match regions.find(typed) {
        RegionMatch::Several(list) => list.into_iter().map(|r| r.name.clone()).collect(),
        other => panic!("{typed:?} should be ambiguous, got {other:?}"),
    }
}

#[test]
fn names_with_and_without_their_kind() {
    let r = Regions::embedded().unwrap();
    assert_eq!(one(&r, "Kota Palu"), "72.71");
    assert_eq!(one(&r, "palu"), "72.71");
    assert_eq!(one(&r, "PALU"), "72.71");
    assert_eq!(one(&r, "kab. sigi"), "72.10");
    assert_eq!(one(&r, "Kabupaten Sigi"), "72.10");
    assert_eq!(one(&r, "kab sigi"), "72.10");
    assert_eq!(one(&r, "kota banjarbaru"), "63.72");
    assert_eq!(one(&r, "Kota Padang"), "13.71");
    assert_eq!(one(&r, "padang"), "13.71");
    assert_eq!(one(&r, "jakarta selatan"), "31.74");
    assert_eq!(one(&r, "Kota Administrasi Jakarta Timur"), "31.75");
    assert_eq!(one(&r, "kepulauan seribu"), "31.01");
}

#[test]
fn provinces_by_name() {
    let r = Regions::embedded().unwrap();
    assert_eq!(one(&r, "Sulawesi Tengah"), "72");
    assert_eq!(one(&r, "provinsi nusa tenggara timur"), "53");
    assert_eq!(one(&r, "dki jakarta"), "31");
    assert_eq!(one(&r, "kalimantan selatan"), "63");
}

#[test]
fn small_typos_are_forgiven_but_short_names_must_be_exact() {
    let r = Regions::embedded().unwrap();
    assert_eq!(one(&r, "banjarbru"), "63.72");
    assert_eq!(one(&r, "Banjar baru"), "63.72");
    assert_eq!(one(&r, "sulawesi tenggah"), "72");
    assert_eq!(one(&r, "kota kupnag"), "53.71");
    assert_eq!(one(&r, "bukittingi"), "13.75");
    assert!(matches!(r.find("plau"), RegionMatch::None));
    assert!(matches!(r.find("atlantis"), RegionMatch::None));
    assert!(matches!(r.find("   "), RegionMatch::None));
    assert!(matches!(r.find("zzz"), RegionMatch::None));
}

#[test]
fn ambiguous_names_offer_the_candidates() {
    let r = Regions::embedded().unwrap();
    assert_eq!(several(&r, "kupang"), vec!["Kota Kupang", "Kabupaten Kupang"]);
    assert_eq!(several(&r, "banjar"), vec!["Kota Banjar", "Kabupaten Banjar"]);
    let jakarta = several(&r, "jakarta");
    assert_eq!(jakarta.len(), 6, "{jakarta:?}");
    assert_eq!(jakarta[0], "Kota Jakarta Pusat");
    assert_eq!(jakarta[5], "DKI Jakarta");
    // Saying the kind settles it.
    assert_eq!(one(&r, "kabupaten kupang"), "53.01");
    assert_eq!(one(&r, "kota kupang"), "53.71");
    // A city, a regency and a province share the name: all three are offered.
    assert_eq!(several(&r, "gorontalo"), vec!["Kota Gorontalo", "Kabupaten Gorontalo", "Gorontalo"]);
}
