//! Several instances on one database share the inbox: every conversation's messages are stepped
//! in order and exactly once, however the instances interleave, and a crashed instance's claim
//! is taken over when its lease runs out (its late commit is then refused).

mod common;

use std::sync::Arc;

use teduh::channel::{Inbound, InboundEvent};
use teduh::clock::{Clock, ManualClock};
use teduh::runtime::{INBOX_LEASE_MS, Runtime};
use teduh::store::{StepWrite, Store, StoreError};

const CONVERSATIONS: usize = 24;
const SCRIPT: &[&str] = &["halo", "1", "2", "menu", "3"];

fn message(who: usize, i: usize) -> Inbound {
    Inbound {
        channel: "whatsapp".into(),
        provider_id: Some(format!("m-{who}-{i}")),
        contact: format!("62812000{who:05}"),
        event: InboundEvent::Text { text: SCRIPT[i].into() },
        lang_hint: None,
    }
}

/// What each conversation was sent, in order.
async fn transcripts(store: &Store) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for who in 0..CONVERSATIONS {
        out.push(common::queued_texts(store, "whatsapp", &format!("62812000{who:05}")).await);
    }
    out
}

/// Every message stored first, then three instances step them side by side.
async fn three_instances(store: Store) -> Vec<Vec<String>> {
    let clock = Arc::new(ManualClock::new(1_790_000_000_000));
    let instances: Vec<Runtime> =
        (0..3).map(|_| Runtime::new(common::shipped_engine(), store.clone(), clock.clone())).collect();
    for i in 0..SCRIPT.len() {
        for who in 0..CONVERSATIONS {
            instances[(who + i) % 3].accept(&message(who, i)).await.unwrap();
        }
    }
    let mut rounds = 0;
    while !store.pending_inbound(1).await.unwrap().is_empty() {
        rounds += 1;
        assert!(rounds < 100, "the inbox does not drain");
        let mut tasks = tokio::task::JoinSet::new();
        for runtime in &instances {
            let runtime = runtime.clone();
            tasks.spawn(async move { runtime.process_pending(7).await.unwrap() });
        }
        while tasks.join_next().await.is_some() {}
    }
    for who in 0..CONVERSATIONS {
        let conversation =
            store.conversation("whatsapp", &format!("62812000{who:05}")).await.unwrap().unwrap();
        assert_eq!(
            conversation.version,
            SCRIPT.len() as i64,
            "one commit per message for conversation {who}"
        );
    }
    transcripts(&store).await
}

/// The same messages, one at a time through one instance.
async fn one_by_one() -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    let runtime =
        Runtime::new(common::shipped_engine(), store.clone(), Arc::new(ManualClock::new(1_790_000_000_000)));
    for who in 0..CONVERSATIONS {
        for i in 0..SCRIPT.len() {
            runtime.accept(&message(who, i)).await.unwrap();
            runtime.process_pending(10).await.unwrap();
        }
    }
    transcripts(&store).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_on_sqlite_step_each_conversation_in_order_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    let expected = one_by_one().await;
    assert!(expected.iter().all(|t| t.len() >= SCRIPT.len()), "every message was answered");
    assert_eq!(three_instances(store).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_on_postgres_step_each_conversation_in_order_once() {
    let Some(pg) = common::pg_store("three_instances_shared_inbox").await else { return };
    let expected = one_by_one().await;
    assert_eq!(three_instances(pg.store.clone()).await, expected);
    pg.cleanup().await;
}

async fn takeover(store: Store) {
    let clock = Arc::new(ManualClock::new(1_790_000_000_000));
    let runtime = Runtime::new(common::shipped_engine(), store.clone(), clock.clone());
    runtime.accept(&message(1, 0)).await.unwrap();
    runtime.accept(&message(1, 1)).await.unwrap();
    // Instance A claims her first message, then hangs.
    let claimed = store.claim_inbound(clock.now_ms(), 10, INBOX_LEASE_MS, 0).await.unwrap();
    assert_eq!(claimed.len(), 1, "only the oldest message of a conversation is claimed");
    // Nobody else may take it, nor her next message, while A's lease runs.
    assert!(store.claim_inbound(clock.now_ms(), 10, INBOX_LEASE_MS, 0).await.unwrap().is_empty());
    assert_eq!(runtime.process_pending(10).await.unwrap(), 0);
    // The lease runs out: instance B takes over and steps both, in order.
    clock.advance_ms(INBOX_LEASE_MS + 1);
    assert_eq!(runtime.process_pending(10).await.unwrap(), 2);
    let version = store.conversation("whatsapp", "6281200000001").await.unwrap().unwrap().version;
    assert_eq!(version, 2);
    // A wakes up and commits its step for the first message: refused, nothing written.
    let conversation = store.conversation("whatsapp", "6281200000001").await.unwrap().unwrap();
    let write = StepWrite { inbound_id: Some(claimed[0].id), outbox: true, attachment: None };
    let late = store.commit_with(&conversation, &conversation.state, &[], clock.now_ms(), &write).await;
    assert!(matches!(late, Err(StoreError::AlreadyProcessed(id)) if id == claimed[0].id), "{late:?}");
    assert_eq!(store.conversation("whatsapp", "6281200000001").await.unwrap().unwrap().version, 2);
}

#[tokio::test]
async fn a_crashed_instances_claim_is_taken_over_and_its_late_commit_refused_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    takeover(Store::open_sqlite(&dir.path().join("t.db")).await.unwrap()).await;
}

#[tokio::test]
async fn a_crashed_instances_claim_is_taken_over_and_its_late_commit_refused_on_postgres() {
    let Some(pg) = common::pg_store("inbox_takeover").await else { return };
    takeover(pg.store.clone()).await;
    pg.cleanup().await;
}
