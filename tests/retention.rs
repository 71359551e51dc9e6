//! Retention: messages and idle conversations go after N days, closed cases lose their free text
//! after M days and keep their structured fields; messages not yet sent are never purged. On
//! SQLite and on PostgreSQL.

mod common;

use std::sync::Arc;

use teduh::channel::{Inbound, InboundEvent};
use teduh::clock::{Clock, ManualClock};
use teduh::flow::Event;
use teduh::retention::Retention;
use teduh::runtime::Runtime;
use teduh::store::{StepWrite, Store};

const DAY: i64 = 24 * 60 * 60 * 1000;
const OLD: &str = "6281200001111";
const RECENT: &str = "6281200002222";
const RETENTION: Retention = Retention { message_days: 90, case_text_days: 365 };

async fn say(runtime: &Runtime, contact: &str, id: &str, text: &str) {
    let inbound = Inbound {
        channel: "whatsapp".into(),
        provider_id: Some(id.into()),
        contact: contact.into(),
        event: InboundEvent::Text { text: text.into() },
        lang_hint: None,
    };
    runtime.accept(&inbound).await.unwrap();
    runtime.process_pending(10).await.unwrap();
}

async fn scenario(store: Store) {
    let clock = Arc::new(ManualClock::new(1_790_000_000_000));
    let runtime = Runtime::new(common::shipped_engine(), store.clone(), clock.clone());

    // Day 0: she reports an emergency (a case), everything sent but the last message.
    for (i, line) in ["darurat", "ya", "kota palu", "1", "tidak", "tidak"].iter().enumerate() {
        say(&runtime, OLD, &format!("o{i}"), line).await;
    }
    let rows = store.outbox_for("whatsapp", OLD).await.unwrap();
    for row in &rows[..rows.len() - 1] {
        store.outbox_sent(row.id, &[], clock.now_ms()).await.unwrap();
    }
    // The case is handled and closed at once, with a note and free-text fields.
    let case = store.cases_between(0, i64::MAX).await.unwrap().remove(0).case;
    store.set_case_field(&case.id, "relationship", "mantan suami", "k1", clock.now_ms()).await.unwrap();
    store.set_case_field(&case.id, "age_group", "25-44", "k1", clock.now_ms()).await.unwrap();
    store.add_case_event(&case.id, clock.now_ms(), "note", Some("tinggal di rumah ibunya")).await.unwrap();
    store.add_case_event(&case.id, clock.now_ms(), "closed", Some("counselor=k1")).await.unwrap();
    store.set_case_status(&case.id, "closed").await.unwrap();
    // And she answers the survey with a comment.
    let write = StepWrite { outbox: true, ..StepWrite::default() };
    runtime.handle_with("whatsapp", OLD, &Event::Begin("survey".into()), None, &write).await.unwrap();
    for (i, line) in ["4", "ya", "Konselornya sabar sekali"].iter().enumerate() {
        say(&runtime, OLD, &format!("s{i}"), line).await;
    }

    // Day 60: someone else writes.
    clock.advance_ms(60 * DAY);
    say(&runtime, RECENT, "r0", "halo").await;

    // Day 91: her messages and conversation are gone, not the recent ones, not the unsent one.
    clock.advance_ms(31 * DAY);
    let purged = RETENTION.purge(&store, clock.as_ref()).await.unwrap();
    assert!(purged.inbound >= 9 && purged.conversations == 1 && purged.case_texts == 0, "{purged:?}");
    assert!(store.conversation("whatsapp", OLD).await.unwrap().is_none());
    assert!(store.conversation("whatsapp", RECENT).await.unwrap().is_some());
    assert_eq!(store.sender_recent_count("whatsapp", OLD, 0, i64::MAX).await.unwrap(), 0);
    assert_eq!(store.sender_recent_count("whatsapp", RECENT, 0, i64::MAX).await.unwrap(), 1);
    let left: Vec<String> =
        store.outbox_for("whatsapp", OLD).await.unwrap().into_iter().map(|r| r.status).collect();
    assert!(!left.is_empty() && left.iter().all(|s| s == "queued"), "only unsent messages stay: {left:?}");
    let case_now = store.case_by_code(&case.code).await.unwrap().unwrap();
    assert!(case_now.conversation_id.is_none(), "the case no longer leads to her");
    assert!(case_now.fields.as_deref().unwrap().contains("mantan suami"), "free text stays until M days");

    // Day 366: the closed case keeps its structured fields and loses its free text.
    clock.advance_ms(275 * DAY);
    let purged = RETENTION.purge(&store, clock.as_ref()).await.unwrap();
    assert_eq!((purged.case_texts, purged.survey_comments), (1, 1), "{purged:?}");
    let case_now = store.case_by_code(&case.code).await.unwrap().unwrap();
    let fields = case_now.fields.unwrap();
    assert!(
        !fields.contains("mantan suami") && fields.contains("25-44") && fields.contains("victim_child"),
        "{fields}"
    );
    let events = store.case_events(&case.id).await.unwrap();
    let note = events.iter().find(|e| e.kind == "note").unwrap();
    assert_eq!(note.detail, None);
    assert!(events.iter().any(|e| e.kind == "closed"), "the timeline itself stays");
    let surveys = store.surveys(None).await.unwrap();
    assert_eq!((surveys[0].rating, surveys[0].comment.as_deref()), (Some(4), None));
    // A second purge finds nothing more to do.
    assert_eq!(RETENTION.purge(&store, clock.as_ref()).await.unwrap().case_texts, 0);
}

#[tokio::test]
async fn retention_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    scenario(Store::open_sqlite(&dir.path().join("t.db")).await.unwrap()).await;
}

#[tokio::test]
async fn retention_on_postgres() {
    let Some(pg) = common::pg_store("retention").await else { return };
    scenario(pg.store.clone()).await;
    pg.cleanup().await;
}
