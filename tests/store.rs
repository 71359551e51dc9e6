//! Storage behaviour on both backends: SQLite (always) and PostgreSQL (when it answers).

mod common;

use std::sync::Arc;

use teduh::clock::ManualClock;
use teduh::flow::model::Priority;
use teduh::flow::{Effect, Event, State};
use teduh::runtime::Runtime;
use teduh::store::Db;
use teduh::store::{Conversation, Store, StoreError};

const CH: &str = "test";

fn runtime(store: Store, clock: Arc<ManualClock>) -> Runtime {
    Runtime::new(common::fixture_engine(), store, clock)
}

fn text(s: &str) -> Event {
    Event::Text(s.to_string())
}

async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("nested/dir/teduh.db")).await.unwrap();
    (store, dir)
}

/// Runs `check` on SQLite, then on PostgreSQL when available.
macro_rules! on_both {
    ($name:ident, $check:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let (store, dir) = super::sqlite().await;
                let path = dir.path().join("nested/dir/teduh.db");
                let reopen = move || {
                    let path = path.clone();
                    async move { teduh::store::Store::open_sqlite(&path).await.unwrap() }
                };
                super::$check(store, reopen).await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some(pg) = super::common::pg_store(stringify!($name)).await else {
                    return;
                };
                let (schema, keys) = (pg.schema.clone(), pg.keys.clone());
                let reopen = move || {
                    let (schema, keys) = (schema.clone(), keys.clone());
                    async move {
                        let vault = teduh::vault::Keyring::parse(&keys).unwrap();
                        teduh::store::Store::open_postgres_in_schema(&super::common::pg_url(), &schema, vault)
                            .await
                            .unwrap()
                    }
                };
                super::$check(pg.store.clone(), reopen).await;
                pg.cleanup().await;
            }
        }
    };
}

async fn conversation_survives_restart<F, Fut>(store: Store, reopen: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Store>,
{
    let clock = Arc::new(ManualClock::new(1_000));
    let rt = runtime(store.clone(), clock.clone());
    rt.handle(CH, "sari", &Event::Start, None).await.unwrap();
    let mid = rt.handle(CH, "sari", &text("5"), None).await.unwrap();
    assert!(mid.replies[0].text.starts_with("Pilih A atau B."));
    store.close().await;

    let reopened = reopen().await;
    let rt = runtime(reopened.clone(), clock);
    assert!(rt.is_active(CH, "sari").await.unwrap());
    let out = rt.handle(CH, "sari", &text("2"), None).await.unwrap();
    let texts: Vec<&str> = out.replies.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, vec!["Sub selesai.", "Kembali dengan b."]);
    // Another person's conversation is separate.
    let other = rt.handle(CH, "dewi", &text("2"), None).await.unwrap();
    assert_eq!(other.replies[0].text, "Halo.");
    reopened.close().await;
}
on_both!(restart, conversation_survives_restart);

async fn concurrent_writers_conflict<F, Fut>(store: Store, _reopen: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Store>,
{
    let fresh = Conversation::new(CH, "x", State::new("id"));
    let first = store.commit(&fresh, &fresh.state, &[], 1).await.unwrap();
    assert_eq!(first.version, 1);
    // A second creation of the same person's conversation loses.
    let twin = Conversation::new(CH, "x", State::new("en"));
    assert!(matches!(store.commit(&twin, &twin.state, &[], 2).await, Err(StoreError::Conflict(_))));
    let loaded = store.conversation(CH, "x").await.unwrap().unwrap();
    assert_eq!(loaded.version, 1);
    assert_eq!(loaded.state.lang, "id");
    let mut next = loaded.state.clone();
    next.lang = "en".into();
    store.commit(&loaded, &next, &[], 3).await.unwrap();
    // A writer still holding version 1 must not overwrite version 2.
    assert!(matches!(store.commit(&loaded, &loaded.state, &[], 4).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.conversation(CH, "x").await.unwrap().unwrap().state.lang, "en");
}
on_both!(conflict, concurrent_writers_conflict);

async fn timers_fire_when_due_and_are_removed<F, Fut>(store: Store, _reopen: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Store>,
{
    let clock = Arc::new(ManualClock::new(10_000));
    let rt = runtime(store.clone(), clock.clone());
    rt.handle(CH, "a", &Event::Start, None).await.unwrap();
    rt.handle(CH, "a", &text("6"), None).await.unwrap();
    rt.handle(CH, "b", &Event::Start, None).await.unwrap();
    rt.handle(CH, "b", &text("6"), None).await.unwrap();
    rt.handle(CH, "b", &text("sudah dijawab"), None).await.unwrap();
    clock.advance_ms(299_000);
    assert!(rt.fire_due_timers(10, None).await.unwrap().is_empty(), "not due before 5 minutes");
    clock.advance_ms(1_000);
    rt.handle(CH, "c", &Event::Start, None).await.unwrap();
    rt.handle(CH, "c", &text("6"), None).await.unwrap();
    clock.advance_ms(300_000);
    let only_c = rt.fire_due_timers(10, Some((CH, "c"))).await.unwrap();
    assert_eq!(only_c.len(), 1);
    assert_eq!(only_c[0].1, "c");
    let fired = rt.fire_due_timers(10, None).await.unwrap();
    assert_eq!(fired.len(), 1, "the answered question's timer was cancelled");
    assert_eq!(fired[0].1, "a");
    assert_eq!(fired[0].2.replies[0].text, "Waktu habis.");
    assert!(store.due_timers(i64::MAX, 10, None).await.unwrap().is_empty());
    assert!(rt.fire_due_timers(10, None).await.unwrap().is_empty());
}
on_both!(timers, timers_fire_when_due_and_are_removed);

async fn cases_record_escalation_and_forget_unlinks_them<F, Fut>(store: Store, _reopen: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Store>,
{
    let clock = Arc::new(ManualClock::new(5_000));
    let rt = runtime(store.clone(), clock);
    rt.handle(CH, "c", &Event::Start, None).await.unwrap();
    let out = rt.handle(CH, "c", &text("7"), None).await.unwrap();
    assert_eq!(out.opened_cases.len(), 1);
    let cases = store.cases_of(&out.conversation_id).await.unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].priority, "urgent");
    assert_eq!(cases[0].category.as_deref(), Some("case-x"));
    assert_eq!(cases[0].code, out.opened_cases[0].code);
    let kinds: Vec<String> =
        store.case_events(&cases[0].id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec!["opened", "escalation_requested", "handoff_requested"]);

    // She asks to be forgotten: the conversation id disappears, the case stays without her.
    let old_id = out.conversation_id.clone();
    let forgotten = rt.handle(CH, "c", &text("hapus"), None).await.unwrap();
    assert!(forgotten.effects.contains(&Effect::Forget));
    assert_ne!(forgotten.conversation_id, old_id);
    assert!(store.cases_of(&old_id).await.unwrap().is_empty());
    let case = store.case_by_code(&out.opened_cases[0].code).await.unwrap().unwrap();
    assert_eq!(case.conversation_id, None);
    let kinds: Vec<String> = store.case_events(&case.id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.last().map(String::as_str), Some("contact_withdrawn"));
    let now = store.conversation(CH, "c").await.unwrap().unwrap();
    assert_eq!(now.id, forgotten.conversation_id);
    assert!(now.state.vars.is_empty());
}
on_both!(cases, cases_record_escalation_and_forget_unlinks_them);

async fn escalation_without_a_case_opens_one<F, Fut>(store: Store, _reopen: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Store>,
{
    let fresh = Conversation::new(CH, "e", State::new("id"));
    let effects =
        [Effect::Escalate { policy: "urgent".into() }, Effect::Handoff { service: "konsultasi".into() }];
    let committed = store.commit(&fresh, &fresh.state, &effects, 7).await.unwrap();
    assert_eq!(committed.opened_cases.len(), 1, "one case, shared by both effects");
    let cases = store.cases_of(&committed.conversation_id).await.unwrap();
    assert_eq!(cases[0].priority, "urgent");
    let events = store.case_events(&cases[0].id).await.unwrap();
    let kinds: Vec<(&str, Option<&str>)> =
        events.iter().map(|e| (e.kind.as_str(), e.detail.as_deref())).collect();
    assert_eq!(
        kinds,
        vec![
            ("opened", None),
            ("escalation_requested", Some("urgent")),
            ("handoff_requested", Some("konsultasi"))
        ]
    );
    assert!(events.iter().all(|e| e.at == 7));

    // Within one step, effects after an `open_case` belong to that case, not to an older one.
    let other = Conversation::new(CH, "f", State::new("id"));
    let effects = [
        Effect::Escalate { policy: "urgent".into() },
        Effect::OpenCase {
            priority: Priority::Low,
            category: None,
            region: None,
            provider: None,
            fields: Default::default(),
        },
        Effect::Handoff { service: "konsultasi".into() },
    ];
    let committed = store.commit(&other, &other.state, &effects, 8).await.unwrap();
    let opened: Vec<usize> = committed.opened_cases.iter().map(|c| c.effect).collect();
    assert_eq!(opened, vec![0, 1]);
    let low = store.case_by_code(&committed.opened_cases[1].code).await.unwrap().unwrap();
    assert_eq!(low.priority, "low");
    let kinds: Vec<String> = store.case_events(&low.id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec!["opened", "handoff_requested"]);
}
on_both!(implicit_case, escalation_without_a_case_opens_one);

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode_and_migrations_are_idempotent() {
    let (store, dir) = sqlite().await;
    let path = dir.path().join("nested/dir/teduh.db");
    assert!(path.exists());
    let Db::Sqlite(pool) = store.db() else { panic!("expected SQLite") };
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await.unwrap();
    assert_eq!(mode, "wal");
    store.close().await;
    let again = Store::open(&format!("sqlite://{}", path.display())).await.unwrap();
    again.ping().await.unwrap();
    assert_eq!(again.backend(), "sqlite");
}

#[tokio::test]
async fn unreadable_state_starts_over_instead_of_locking_her_out() {
    let (store, _dir) = sqlite().await;
    let rt = runtime(store.clone(), Arc::new(ManualClock::new(0)));
    rt.handle(CH, "z", &Event::Start, None).await.unwrap();
    let Db::Sqlite(pool) = store.db() else { panic!("expected SQLite") };
    sqlx::query("UPDATE conversations SET state = '{not json'").execute(pool).await.unwrap();
    let out = rt.handle(CH, "z", &text("1"), None).await.unwrap();
    assert_eq!(out.replies[0].text, "Halo.");
    assert!(rt.is_active(CH, "z").await.unwrap());
}

#[tokio::test]
async fn unsupported_database_url_is_an_error() {
    assert!(matches!(Store::open("mysql://localhost/x").await, Err(StoreError::UnsupportedUrl)));
}

/// Quick exit while a reply is still on its way: the clear is queued before that reply's send is
/// recorded, yet deletes it too (its provider id is looked up when the clear is claimed).
async fn a_clear_deletes_a_message_still_in_flight_when_it_was_queued<F, Fut>(store: Store, _reopen: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Store>,
{
    use teduh::channel::OutgoingPayload;
    use teduh::store::StepWrite;
    let clock = Arc::new(ManualClock::new(5_000));
    let rt = runtime(store.clone(), clock);
    let write = StepWrite { outbox: true, ..StepWrite::default() };
    rt.handle_with("telegram", "77", &Event::Start, None, &write).await.unwrap();
    // The first reply goes out and is recorded; the second is claimed (on its way) but not yet.
    let first = store.claim_outbox(6_000, 1, 20_000).await.unwrap();
    assert_eq!(first.len(), 1);
    store.outbox_sent(first[0].id, &["501".to_string()], 6_000).await.unwrap();
    let second = store.claim_outbox(6_001, 10, 20_000).await.unwrap();
    assert_eq!(second.len(), 1, "the chat's next message");

    let conversation = store.conversation("telegram", "77").await.unwrap().unwrap();
    store.commit_with(&conversation, &conversation.state, &[Effect::ClearChat], 6_002, &write).await.unwrap();
    // The clear waits behind the message in flight; once that is recorded, the clear has both.
    assert!(store.claim_outbox(6_003, 10, 20_000).await.unwrap().is_empty());
    store.outbox_sent(second[0].id, &["502".to_string()], 6_004).await.unwrap();
    let clear = store.claim_outbox(6_005, 10, 20_000).await.unwrap();
    assert_eq!(clear.len(), 1);
    match &clear[0].payload {
        OutgoingPayload::ClearChat { message_ids, pending } => {
            assert_eq!(message_ids, &["502".to_string(), "501".to_string()], "newest first");
            assert!(pending.is_empty());
        }
        other => panic!("expected the clear, got {other:?}"),
    }
}
on_both!(clear_in_flight, a_clear_deletes_a_message_still_in_flight_when_it_was_queued);
