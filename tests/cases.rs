//! Case exports for SIMFONI PPA data entry and the response-time report, from cases the shipped
//! flows opened.

mod common;

use std::process::Command;
use std::sync::Arc;

use teduh::case::{export, report, time};
use teduh::clock::ManualClock;
use teduh::directory::{Directory, Regions, provider};
use teduh::runtime::Runtime;
use teduh::store::Store;

/// 2026-11-23 09:00 WIB.
fn nine_am() -> i64 {
    time::parse_date("2026-11-23", 7).unwrap() + 9 * 3_600_000
}

fn directory() -> Directory {
    let regions = Regions::embedded().unwrap();
    let providers =
        provider::read_directory(&common::crate_path("providers/example.yaml"), &regions).unwrap();
    Directory { regions, providers }
}

async fn conversation(rt: &Runtime, who: &str, lines: &[&str]) {
    rt.handle("test", who, &teduh::flow::Event::Start, None).await.unwrap();
    for line in lines {
        rt.handle("test", who, &teduh::channel::console::parse_line(line), None).await.unwrap();
    }
}

/// Two emergencies and a consultation, with escalation events as the escalation work writes them.
async fn seed(store: &Store) -> Vec<String> {
    let clock = Arc::new(ManualClock::new(nine_am()));
    let engine =
        common::engine_from(&common::crate_path("flows"), &common::crate_path("locales"), "helpline")
            .with_directory(Arc::new(directory()));
    let rt = Runtime::new(engine, store.clone(), clock.clone());
    conversation(&rt, "a", &["darurat", "tidak", "kota palu", "3", "ya", "tidak"]).await;
    clock.advance_ms(60_000);
    conversation(&rt, "b", &["darurat", "ya", "kota palu", "6", "tidak", "ya"]).await;
    clock.advance_ms(60_000);
    conversation(&rt, "c", &["2", "ya", "1", "kota kupang", "1", "5", "ya"]).await;
    let records = store.cases_between(0, i64::MAX).await.unwrap();
    assert_eq!(records.len(), 3);
    let ids: Vec<String> = records.iter().map(|r| r.case.id.clone()).collect();
    let t0 = records[0].created_at;
    // Case a: primary silent, backup accepts after 2.5 minutes.
    store
        .add_case_event(&ids[0], t0, "notified", Some("level=1;provider=uptd-ppa-palu;role=primary"))
        .await
        .unwrap();
    store
        .add_case_event(&ids[0], t0 + 120_000, "notified", Some("level=2;provider=uptd-ppa-palu;role=backup"))
        .await
        .unwrap();
    store
        .add_case_event(
            &ids[0],
            t0 + 150_000,
            "accepted",
            Some("provider=uptd-ppa-palu;counselor=uptd-ppa-palu-k2;level=2"),
        )
        .await
        .unwrap();
    store.add_case_event(&ids[0], t0 + 3_600_000, "closed", None).await.unwrap();
    store.set_case_status(&ids[0], "closed").await.unwrap();
    // Case b: the primary accepts after 40 s.
    let t1 = records[1].created_at;
    store
        .add_case_event(&ids[1], t1, "notified", Some("level=1;provider=uptd-ppa-palu;role=primary"))
        .await
        .unwrap();
    store
        .add_case_event(
            &ids[1],
            t1 + 40_000,
            "accepted",
            Some("provider=uptd-ppa-palu;counselor=uptd-ppa-palu-k1;level=1"),
        )
        .await
        .unwrap();
    ids
}

#[tokio::test]
async fn the_export_has_simfoni_fields_and_nothing_identifying() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    seed(&store).await;
    let records = store.cases_between(0, i64::MAX).await.unwrap();
    let csv = export::export_csv(&records, &directory(), &[], 7).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(header, export::COLUMNS.iter().map(|(c, _)| *c).collect::<Vec<_>>());
    let row = |i: usize| -> std::collections::HashMap<&str, &str> {
        header.iter().copied().zip(lines[i].split(',')).collect()
    };
    let a = row(1);
    assert_eq!(a["tanggal_lapor"], "2026-11-23 09:00");
    assert_eq!(a["prioritas"], "urgent");
    assert_eq!(a["status"], "closed");
    assert_eq!(a["jenis_kekerasan"], "seksual");
    assert_eq!(a["korban_anak"], "ya");
    assert_eq!(a["pelaku_di_dekat"], "tidak");
    assert_eq!(a["kode_wilayah"], "72.71");
    assert_eq!(a["wilayah"], "Kota Palu");
    assert_eq!(a["provinsi"], "Sulawesi Tengah");
    assert_eq!(a["layanan"], "[CONTOH FIKTIF] UPTD PPA Kota Palu");
    assert_eq!(a["diterima_pada"], "2026-11-23 09:02");
    assert_eq!(a["diterima_oleh"], "uptd-ppa-palu-k2");
    assert_eq!(a["waktu_respons_menit"], "2.5");
    assert_eq!(a["ditutup_pada"], "2026-11-23 10:00");
    let b = row(2);
    assert_eq!(b["jenis_kekerasan"], "trafficking", "the flow's tppo is SIMFONI's trafficking");
    let c = row(3);
    assert_eq!((c["prioritas"], c["jenis_kekerasan"], c["kategori"]), ("normal", "", "kdrt"));
    assert_eq!(c["wilayah"], "Kota Kupang");
    assert_eq!(c["tanggal_lapor"], "2026-11-23 09:02");
    // In WITA the same instants are an hour later.
    let wita = export::export_csv(&records, &directory(), &["kode_kasus".into(), "tanggal_lapor".into()], 8)
        .unwrap();
    assert!(wita.lines().nth(1).unwrap().ends_with(",2026-11-23 10:00"), "{wita}");
    assert!(matches!(
        export::export_csv(&records, &directory(), &["telepon".into()], 7),
        Err(export::ExportError::UnknownColumn(c, _)) if c == "telepon"
    ));
    for forbidden in ["test", "Halo", "+62"] {
        assert!(!csv.contains(forbidden), "the export must not contain `{forbidden}`:\n{csv}");
    }
}

#[tokio::test]
async fn response_times_per_provider_and_levels_reached() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    seed(&store).await;
    let records = store.cases_between(0, i64::MAX).await.unwrap();
    let figures = report::response_times(&records);
    let palu = &figures["uptd-ppa-palu"];
    assert_eq!((palu.cases, palu.accepted), (2, 2));
    assert_eq!((palu.p50_ms, palu.p90_ms, palu.max_ms), (Some(40_000), Some(150_000), Some(150_000)));
    assert_eq!(palu.reached_level.get(&1), Some(&2));
    assert_eq!(palu.reached_level.get(&2), Some(&1));
    let kupang = &figures["uptd-ppa-kupang"];
    assert_eq!((kupang.cases, kupang.accepted, kupang.p50_ms), (1, 0, None));
    let table = report::render(&figures);
    assert!(table.contains("uptd-ppa-palu"), "{table}");
    assert!(
        table.lines().any(|l| l.starts_with("uptd-ppa-palu") && l.contains("40s") && l.contains("2m30s")),
        "{table}"
    );
}

#[tokio::test]
async fn the_commands_export_and_report_a_period() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("teduh.db")).await.unwrap();
    seed(&store).await;
    store.close().await;
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_teduh"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("TEDUH_DATA_DIR", dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("TEDUH_CONFIG")
            .output()
            .unwrap()
    };
    let out = run(&[
        "cases",
        "export",
        "--from",
        "2026-11-23",
        "--to",
        "2026-11-23",
        "--columns",
        "kode_kasus,prioritas",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert_eq!(csv.lines().next(), Some("kode_kasus,prioritas"));
    let out = run(&["cases", "export", "--from", "2026-11-24", "--to", "2026-11-30"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().lines().count(),
        1,
        "only the header outside the period"
    );
    let out = run(&["cases", "export", "--from", "2026-02-30", "--to", "2026-03-01"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from `2026-02-30` is not a date"));
    let out =
        run(&["report", "response-times", "--from", "2026-11-01", "--to", "2026-11-30", "--tz", "WITA"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("provider"), "{table}");
    assert!(table.contains("uptd-ppa-kupang"), "{table}");
}
