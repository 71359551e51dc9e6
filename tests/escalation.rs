//! Escalation end to end inside Teduh, on a simulated clock: an emergency reported on WhatsApp
//! in Palu reaches the city's on-call primary on Telegram, climbs on silence, and stops at the
//! first acceptance; the survivor is told. Outgoing messages are read from the outbox.

mod common;

use std::sync::Arc;

use teduh::case::time::parse_date;
use teduh::channel::{Inbound, InboundEvent};
use teduh::clock::ManualClock;
use teduh::directory::{Directory, Regions, provider};
use teduh::escalation::policy::Policies;
use teduh::escalation::roster::read_roster;
use teduh::escalation::run::Escalator;
use teduh::runtime::Runtime;
use teduh::store::Store;

const SURVIVOR: &str = "6281299990000";
/// Telegram chat ids of the example directory's Kota Palu counselors, and the province's.
const PALU_K1: &str = "100000021";
const PALU_K2: &str = "100000022";
const SULTENG_K1: &str = "100000011";

struct World {
    store: Store,
    clock: Arc<ManualClock>,
    runtime: Runtime,
    escalator: Escalator,
    _dir: tempfile::TempDir,
}

async fn world(monday_local: (i64, i64), offset: i32) -> World {
    world_with(monday_local, offset, |_| {}).await
}

async fn world_with(
    monday_local: (i64, i64),
    offset: i32,
    edit: impl FnOnce(&mut Vec<teduh::directory::Provider>),
) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    let regions = Regions::embedded().unwrap();
    let mut providers =
        provider::read_directory(&common::crate_path("providers/example.yaml"), &regions).unwrap();
    edit(&mut providers);
    let shifts = read_roster(&common::crate_path("rosters/example.csv"), &providers).unwrap();
    store.replace_providers(&providers).await.unwrap();
    let ids: Vec<String> = providers.iter().map(|p| p.id.clone()).collect();
    store.replace_roster(&ids, &shifts).await.unwrap();
    let directory = Arc::new(Directory { regions, providers });
    let start = parse_date("2026-11-23", offset).unwrap() + (monday_local.0 * 60 + monday_local.1) * 60_000;
    let clock = Arc::new(ManualClock::new(start));
    let engine =
        common::engine_from(&common::crate_path("flows"), &common::crate_path("locales"), "helpline")
            .with_directory(directory.clone());
    let i18n = Arc::new(teduh::i18n::I18n::load(&common::crate_path("locales"), "id").unwrap());
    let policies = Arc::new(Policies::shipped().unwrap());
    let escalator = Escalator::new(store.clone(), clock.clone(), policies, directory, i18n);
    let runtime =
        Runtime::new(engine, store.clone(), clock.clone()).with_escalator(Arc::new(escalator.clone()));
    World { store, clock, runtime, escalator, _dir: dir }
}

impl World {
    async fn say(&self, channel: &str, contact: &str, id: &str, event: InboundEvent) {
        let inbound = Inbound {
            channel: channel.into(),
            provider_id: Some(id.into()),
            contact: contact.into(),
            event,
            lang_hint: None,
        };
        self.runtime.accept(&inbound).await.unwrap();
        self.runtime.process_pending(50).await.unwrap();
    }

    async fn text(&self, channel: &str, contact: &str, id: &str, text: &str) {
        self.say(channel, contact, id, InboundEvent::Text { text: text.into() }).await;
    }

    /// The emergency report from the WhatsApp user, with a pin in Palu.
    async fn report_emergency(&self) {
        self.text("whatsapp", SURVIVOR, "w1", "darurat").await;
        self.text("whatsapp", SURVIVOR, "w2", "tidak").await;
        self.say("whatsapp", SURVIVOR, "w3", InboundEvent::Location { lat: -0.90, lon: 119.86 }).await;
        for (i, answer) in ["1", "tidak", "tidak"].iter().enumerate() {
            self.text("whatsapp", SURVIVOR, &format!("w{}", 4 + i), answer).await;
        }
    }

    async fn texts_to(&self, channel: &str, contact: &str) -> Vec<String> {
        common::queued_texts(&self.store, channel, contact).await
    }

    /// A second escalator over the same database and clock: a restarted process, or another
    /// instance.
    async fn another_escalator(&self) -> Escalator {
        Escalator::new(
            self.store.clone(),
            self.clock.clone(),
            Arc::new(Policies::shipped().unwrap()),
            Arc::new(Directory {
                regions: Regions::embedded().unwrap(),
                providers: self.store.providers().await.unwrap(),
            }),
            Arc::new(teduh::i18n::I18n::load(&common::crate_path("locales"), "id").unwrap()),
        )
    }

    fn minutes(&self, m: i64) {
        self.clock.advance_ms(m * 60_000);
    }

    async fn code_in(&self, contact: &str) -> String {
        let notices = self.texts_to("telegram", contact).await;
        let last = notices.iter().rev().find(|t| t.contains("TERIMA")).expect("a notice");
        last.split("TERIMA ").nth(1).unwrap()[..4].to_string()
    }
}

#[tokio::test]
async fn silence_reaches_the_backup_who_accepts_and_the_survivor_is_told() {
    // Monday 10:00 WITA: the Palu day shift is on.
    let w = world((10, 0), 8).await;
    w.report_emergency().await;
    assert_eq!(w.store.cases_between(0, i64::MAX).await.unwrap()[0].case.status, "new");
    assert_eq!(w.escalator.run_once().await.unwrap(), 1);
    assert_eq!(w.store.cases_between(0, i64::MAX).await.unwrap()[0].case.status, "escalating");
    let notice = &w.texts_to("telegram", PALU_K1).await[0];
    assert!(notice.starts_with("[Teduh] Kasus K-") && notice.contains("urgent, fisik"), "{notice}");
    assert!(!notice.contains(SURVIVOR), "the counselor never sees her number");
    assert!(w.texts_to("telegram", PALU_K2).await.is_empty(), "the backup waits for the primary");

    // Nothing due before two minutes; then the backup.
    w.minutes(1);
    assert_eq!(w.escalator.run_once().await.unwrap(), 0);
    w.minutes(1);
    assert_eq!(w.escalator.run_once().await.unwrap(), 1);
    assert_eq!(w.texts_to("telegram", PALU_K2).await.len(), 1);

    let code = w.code_in(PALU_K2).await;
    w.text("telegram", PALU_K2, "t1", &format!("TERIMA {code}")).await;
    assert!(w.texts_to("telegram", PALU_K2).await.last().unwrap().contains("sekarang Anda tangani"));
    let told = w.texts_to("whatsapp", SURVIVOR).await;
    assert!(
        told.last()
            .unwrap()
            .starts_with("Konselor Contoh 2B dari [CONTOH FIKTIF] UPTD PPA Kota Palu telah menerima"),
        "{told:#?}"
    );

    // The primary's late accept loses and is told who has it; the chain sends nothing more.
    let late = w.code_in(PALU_K1).await;
    w.text("telegram", PALU_K1, "t2", &format!("terima {late}")).await;
    assert!(
        w.texts_to("telegram", PALU_K1)
            .await
            .last()
            .unwrap()
            .contains("sudah diterima oleh Konselor Contoh 2B")
    );
    w.minutes(60);
    assert_eq!(w.escalator.run_once().await.unwrap(), 0);
    assert_eq!(w.texts_to("telegram", SULTENG_K1).await.len(), 0);

    let code = w.store.cases_between(0, i64::MAX).await.unwrap()[0].case.code.clone();
    let case = w.store.case_by_code(&code).await.unwrap().unwrap();
    assert_eq!(case.status, "accepted");
    let kinds: Vec<String> =
        w.store.case_events(&case.id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["opened", "escalation_requested", "notified", "notified", "accepted"]);
}

#[tokio::test]
async fn silence_at_every_level_reaches_the_province_then_sapa_129_and_a_restart_loses_nothing() {
    let w = world((10, 0), 8).await;
    w.report_emergency().await;
    w.escalator.run_once().await.unwrap();
    for _ in 0..2 {
        w.minutes(2);
        w.escalator.run_once().await.unwrap();
    }
    // A restart: a new escalator over the same database carries on at the right step.
    let restarted = w.another_escalator().await;
    w.minutes(2);
    assert_eq!(restarted.run_once().await.unwrap(), 1);
    assert_eq!(w.texts_to("telegram", SULTENG_K1).await.len(), 1, "the province's primary at six minutes");
    w.minutes(3);
    restarted.run_once().await.unwrap();
    let case = &w.store.cases_between(0, i64::MAX).await.unwrap()[0];
    let notified: Vec<String> = case
        .events
        .iter()
        .filter(|e| e.kind == "notified")
        .map(|e| e.detail.clone().unwrap_or_default())
        .collect();
    assert_eq!(notified.len(), 5, "{notified:#?}");
    assert!(notified[0].contains("provider=uptd-ppa-palu;role=primary;counselor=uptd-ppa-palu-k1"));
    assert!(notified[1].contains("role=backup;counselor=uptd-ppa-palu-k2"));
    assert!(notified[2].contains("role=supervisor"));
    assert!(notified[3].contains("provider=uptd-ppa-sulteng"));
    assert!(notified[4].contains("provider=sapa-129"), "{notified:#?}");
    // Each counselor got exactly one notice for this round: nothing repeated by the restart.
    assert_eq!(w.texts_to("telegram", PALU_K1).await.len(), 1);
    assert_eq!(w.texts_to("telegram", PALU_K2).await.len(), 1);
}

#[tokio::test]
async fn a_pass_moves_on_at_once_and_unknown_codes_are_explained() {
    let w = world((10, 0), 8).await;
    w.report_emergency().await;
    w.escalator.run_once().await.unwrap();
    let code = w.code_in(PALU_K1).await;
    w.text("telegram", PALU_K1, "p1", &format!("LEWAT {code}")).await;
    assert!(
        w.texts_to("telegram", PALU_K1).await.last().unwrap().contains("diteruskan ke konselor berikutnya")
    );
    assert_eq!(
        w.texts_to("telegram", PALU_K2).await.len(),
        1,
        "the backup at once, without waiting two minutes"
    );
    w.text("telegram", PALU_K2, "p2", "TERIMA 0000").await;
    assert!(w.texts_to("telegram", PALU_K2).await.last().unwrap().contains("tidak kami kenali"));
    // The Accept button answers the newest notice.
    w.say("telegram", PALU_K2, "p3", InboundEvent::Choice { index: 0 }).await;
    assert!(w.texts_to("telegram", PALU_K2).await.last().unwrap().contains("sekarang Anda tangani"));
}

#[tokio::test]
async fn nobody_on_call_at_the_nearest_provider_routes_elsewhere_and_says_why() {
    // Monday 17:00 WITA: Palu's day shift is over, the night shift not begun.
    let w = world((17, 0), 8).await;
    w.report_emergency().await;
    w.escalator.run_once().await.unwrap();
    let case = &w.store.cases_between(0, i64::MAX).await.unwrap()[0];
    let routed = case.events.iter().find(|e| e.kind == "routed").expect("a routing event");
    let detail = routed.detail.as_deref().unwrap();
    assert!(detail.contains("nobody on call at uptd-ppa-palu"), "{detail}");
    assert_eq!(case.case.provider_id.as_deref(), Some("sapa-129"));
    assert!(w.texts_to("telegram", PALU_K1).await.is_empty());
}

#[tokio::test]
async fn messages_relay_both_ways_then_closing_brings_the_survey() {
    let w = world((10, 0), 8).await;
    w.report_emergency().await;
    w.escalator.run_once().await.unwrap();
    let code = w.code_in(PALU_K1).await;
    w.text("telegram", PALU_K1, "a1", &format!("TERIMA {code}")).await;
    let case_code = w.store.cases_between(0, i64::MAX).await.unwrap()[0].case.code.clone();

    // Her words reach the counselor under the case code, never her number.
    w.text("whatsapp", SURVIVOR, "r1", "Saya takut, dia masih di luar.").await;
    let at_counselor = w.texts_to("telegram", PALU_K1).await;
    assert_eq!(at_counselor.last().unwrap(), &format!("[{case_code}] Saya takut, dia masih di luar."));
    // The counselor's words reach her under the counselor's name.
    w.text("telegram", PALU_K1, "r2", "Saya di sini. Apakah pintu terkunci?").await;
    assert_eq!(
        w.texts_to("whatsapp", SURVIVOR).await.last().unwrap(),
        "Konselor Contoh 2A: Saya di sini. Apakah pintu terkunci?"
    );
    // Keywords still reach the flows during a relay.
    w.text("whatsapp", SURVIVOR, "r3", "menu").await;
    assert!(w.texts_to("whatsapp", SURVIVOR).await.last().unwrap().starts_with("Apa yang Anda perlukan?"));
    w.text("whatsapp", SURVIVOR, "r4", "6").await;
    w.text("whatsapp", SURVIVOR, "r5", "tidak").await;

    w.text("telegram", PALU_K1, "n1", "CATAT korban aman sementara di rumah kerabat").await;
    assert!(w.texts_to("telegram", PALU_K1).await.last().unwrap().contains("tersimpan"));
    w.text("telegram", PALU_K1, "c1", "TUTUP").await;
    assert!(w.texts_to("telegram", PALU_K1).await.last().unwrap().contains("ditutup"));
    let survey = w.texts_to("whatsapp", SURVIVOR).await;
    assert!(survey.last().unwrap().starts_with("Seberapa puas Anda dengan layanan kami?"), "{survey:#?}");
    w.text("whatsapp", SURVIVOR, "s1", "5").await;
    w.text("whatsapp", SURVIVOR, "s2", "tidak").await;
    let rows = w.store.surveys(None).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].rating, rows[0].case_code.as_deref()), (Some(5), Some(case_code.as_str())));

    let case = w.store.case_by_code(&case_code).await.unwrap().unwrap();
    assert_eq!(case.status, "closed");
    let events = w.store.case_events(&case.id).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.ends_with(&["relayed", "relayed", "note", "closed"]), "{kinds:?}");
    assert!(
        events.iter().filter(|e| e.kind == "relayed").all(|e| !e
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("takut"))
    );
    // After closing, her words no longer go to the counselor.
    let before = w.texts_to("telegram", PALU_K1).await.len();
    w.text("whatsapp", SURVIVOR, "z1", "terima kasih").await;
    assert_eq!(w.texts_to("telegram", PALU_K1).await.len(), before);
}

#[tokio::test]
async fn a_counselor_hands_the_case_to_a_colleague_who_refers_it_to_the_province() {
    let w = world((10, 0), 8).await;
    w.report_emergency().await;
    w.escalator.run_once().await.unwrap();
    let code = w.code_in(PALU_K1).await;
    w.text("telegram", PALU_K1, "a1", &format!("TERIMA {code}")).await;

    // To a colleague, by name: she holds it at once and everyone is told.
    w.text("telegram", PALU_K1, "x1", "ALIH Konselor Contoh 2B").await;
    assert!(
        w.texts_to("telegram", PALU_K1).await.last().unwrap().contains("dialihkan ke Konselor Contoh 2B")
    );
    let handed = w.texts_to("telegram", PALU_K2).await;
    assert!(handed.last().unwrap().contains("dialihkan kepada Anda oleh Konselor Contoh 2A"), "{handed:#?}");
    assert!(!handed.last().unwrap().contains(SURVIVOR));
    assert!(
        w.texts_to("whatsapp", SURVIVOR)
            .await
            .last()
            .unwrap()
            .starts_with("Pendamping Anda sekarang Konselor Contoh 2B")
    );
    w.text("whatsapp", SURVIVOR, "r1", "Baik, terima kasih.").await;
    assert!(w.texts_to("telegram", PALU_K2).await.last().unwrap().ends_with("Baik, terima kasih."));
    assert!(!w.texts_to("telegram", PALU_K1).await.last().unwrap().contains("terima kasih"));

    // Structured fields: good values are kept, bad ones explained.
    w.text("telegram", PALU_K2, "d1", "DATA umur 25-44").await;
    w.text("telegram", PALU_K2, "d2", "DATA hubungan suami").await;
    assert!(w.texts_to("telegram", PALU_K2).await.last().unwrap().contains("hubungan = suami tersimpan"));
    w.text("telegram", PALU_K2, "d3", "DATA umur anak").await;
    assert!(w.texts_to("telegram", PALU_K2).await.last().unwrap().contains("0-5, 6-12, 13-17"));
    w.text("telegram", PALU_K2, "x0", "ALIH nobody-here").await;
    assert!(w.texts_to("telegram", PALU_K2).await.last().unwrap().contains("\"nobody-here\""));

    // To another provider, by id: referred, and the chain starts over there.
    w.text("telegram", PALU_K2, "x2", "ALIH uptd-ppa-sulteng").await;
    assert!(
        w.texts_to("telegram", PALU_K2)
            .await
            .last()
            .unwrap()
            .contains("dirujuk ke [CONTOH FIKTIF] UPTD PPA Provinsi")
    );
    assert!(w.texts_to("whatsapp", SURVIVOR).await.last().unwrap().starts_with("Laporan Anda kami rujuk ke"));
    let case_code = w.store.cases_between(0, i64::MAX).await.unwrap()[0].case.code.clone();
    let case = w.store.case_by_code(&case_code).await.unwrap().unwrap();
    assert_eq!((case.status.as_str(), case.provider_id.as_deref()), ("referred", Some("uptd-ppa-sulteng")));
    // While it waits at the province, her words go nowhere near Palu, and Palu's old code is void.
    w.text("telegram", PALU_K1, "o1", &format!("TERIMA {code}")).await;
    assert!(w.texts_to("telegram", PALU_K1).await.last().unwrap().contains("tidak kami kenali"));
    assert_eq!(w.escalator.run_once().await.unwrap(), 1);
    let province_code = w.code_in(SULTENG_K1).await;
    w.text("telegram", SULTENG_K1, "a2", &format!("TERIMA {province_code}")).await;
    assert!(w.texts_to("whatsapp", SURVIVOR).await.last().unwrap().starts_with("Konselor Contoh 1A dari"));

    let record = w.store.cases_between(0, i64::MAX).await.unwrap().remove(0);
    let kinds: Vec<&str> = record.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "transferred").count(), 2, "{kinds:?}");
    assert_eq!(record.case.status, "accepted");
    let directory =
        Directory { regions: Regions::embedded().unwrap(), providers: w.store.providers().await.unwrap() };
    let columns: Vec<String> =
        ["kelompok_umur", "hubungan_pelaku", "dirujuk_ke", "diterima_oleh", "jumlah_pesan"]
            .map(String::from)
            .to_vec();
    let csv = teduh::case::export::export_csv(&[record], &directory, &columns, 8).unwrap();
    assert_eq!(
        csv.lines().nth(1).unwrap(),
        "25-44,suami,[CONTOH FIKTIF] UPTD PPA Provinsi Sulawesi Tengah,uptd-ppa-palu-k1,1"
    );
}

#[tokio::test]
async fn counselors_without_a_case_get_help_not_silence() {
    let w = world((10, 0), 8).await;
    w.text("telegram", PALU_K2, "h1", "halo").await;
    assert!(
        w.texts_to("telegram", PALU_K2)
            .await
            .last()
            .unwrap()
            .starts_with("Anda tidak sedang menangani kasus")
    );
    w.text("telegram", PALU_K2, "h2", "bantuan").await;
    let help = w.texts_to("telegram", PALU_K2).await;
    assert!(help.last().unwrap().contains("ALIH") && help.last().unwrap().contains("TUTUP"), "{help:#?}");
}

#[tokio::test]
async fn two_workers_advancing_the_same_chain_notify_each_counselor_once() {
    let w = world((10, 0), 8).await;
    w.report_emergency().await;
    let other = w.another_escalator().await;
    for _ in 0..3 {
        let (a, b) = tokio::join!(w.escalator.run_once(), other.run_once());
        a.unwrap();
        b.unwrap();
        w.minutes(2);
    }
    assert_eq!(w.texts_to("telegram", PALU_K1).await.len(), 1);
    assert_eq!(w.texts_to("telegram", PALU_K2).await.len(), 1);
    let case = &w.store.cases_between(0, i64::MAX).await.unwrap()[0];
    let notified = case.events.iter().filter(|e| e.kind == "notified").count();
    assert_eq!(notified, 3, "primary, backup, supervisor: each step once");
}

#[tokio::test]
async fn a_provider_that_keeps_names_private_is_named_instead_of_its_counselor() {
    let w = world_with((10, 0), 8, |providers| {
        for p in providers.iter_mut().filter(|p| p.id == "uptd-ppa-palu") {
            p.show_counselor_names = false;
        }
    })
    .await;
    w.report_emergency().await;
    w.escalator.run_once().await.unwrap();
    let code = w.code_in(PALU_K1).await;
    w.text("telegram", PALU_K1, "a1", &format!("TERIMA {code}")).await;
    assert_eq!(
        w.texts_to("whatsapp", SURVIVOR).await.last().unwrap(),
        "Seorang konselor dari [CONTOH FIKTIF] UPTD PPA Kota Palu telah menerima laporan Anda dan akan \
         menghubungi Anda di sini."
    );
    w.text("telegram", PALU_K1, "r1", "Saya di sini.").await;
    assert_eq!(w.texts_to("whatsapp", SURVIVOR).await.last().unwrap(), "Konselor: Saya di sini.");
    assert!(w.texts_to("whatsapp", SURVIVOR).await.iter().all(|t| !t.contains("Contoh 2A")));
}

impl World {
    /// A consultation request on WhatsApp from Kota Palu: domestic violence, to be contacted on
    /// WhatsApp at any time; `consent` to share her details.
    async fn request_consultation(&self, consent: &str) {
        let lines = ["halo", "2", "ya", "1", "kota palu", "4", "5", consent];
        for (i, line) in lines.iter().enumerate() {
            self.text("whatsapp", SURVIVOR, &format!("c{i}"), line).await;
        }
    }
}

#[tokio::test]
async fn a_consultation_waits_for_office_hours_and_shares_her_number_only_with_consent() {
    // Monday 20:00 WITA: Palu is closed; the normal policy waits for it to open.
    let w = world((20, 0), 8).await;
    w.request_consultation("ya").await;
    let case = &w.store.cases_between(0, i64::MAX).await.unwrap()[0];
    assert_eq!((case.case.priority.as_str(), case.case.category.as_deref()), ("normal", Some("kdrt")));
    w.escalator.run_once().await.unwrap();
    assert!(w.texts_to("telegram", PALU_K1).await.is_empty(), "nobody is disturbed at night");
    w.minutes(11 * 60 + 59);
    w.escalator.run_once().await.unwrap();
    assert!(w.texts_to("telegram", PALU_K1).await.is_empty());
    w.minutes(1);
    w.escalator.run_once().await.unwrap();
    let notice = w.texts_to("telegram", PALU_K1).await;
    assert_eq!(notice.len(), 1, "the primary at 08:00 when Palu opens");
    assert!(notice[0].contains("normal, kdrt, Kota Palu") && !notice[0].contains(SURVIVOR), "{notice:?}");
    let code = w.code_in(PALU_K1).await;
    w.text("telegram", PALU_K1, "a1", &format!("TERIMA {code}")).await;
    let after = w.texts_to("telegram", PALU_K1).await;
    assert!(
        after.iter().any(|t| t.contains(
            "ia setuju dihubungi lewat whatsapp, pada waktu aman: kapan saja. Nomor: +6281299990000"
        )),
        "{after:#?}"
    );
}

#[tokio::test]
async fn without_her_consent_the_counselor_never_sees_her_number() {
    let w = world((10, 0), 8).await;
    w.request_consultation("tidak").await;
    w.escalator.run_once().await.unwrap();
    let code = w.code_in(PALU_K1).await;
    w.text("telegram", PALU_K1, "a1", &format!("TERIMA {code}")).await;
    w.text("whatsapp", SURVIVOR, "r1", "Halo, saya di sini.").await;
    let seen = w.texts_to("telegram", PALU_K1).await;
    assert!(seen.last().unwrap().ends_with("Halo, saya di sini."), "relay still works: {seen:#?}");
    assert!(seen.iter().all(|t| !t.contains("6281299990000")), "{seen:#?}");
}
