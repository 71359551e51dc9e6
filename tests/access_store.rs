//! Users, tokens, the audit log and case lists in the database, on SQLite and PostgreSQL.

mod common;

use std::sync::Arc;

use teduh::access::{AuditEntry, Role, token};
use teduh::channel::{Inbound, InboundEvent};
use teduh::clock::ManualClock;
use teduh::runtime::Runtime;
use teduh::store::{AuditQuery, CaseFilter, NewUser, Store};

fn entry(at: i64, actor: &str, action: &str, subject: Option<&str>) -> AuditEntry {
    AuditEntry {
        at,
        actor: actor.into(),
        role: "counselor".into(),
        action: action.into(),
        subject: subject.map(str::to_string),
        outcome: "ok".into(),
        detail: None,
    }
}

async fn report(runtime: &Runtime, who: &str) {
    for (i, line) in ["darurat", "ya", "kota palu", "1", "tidak", "tidak"].iter().enumerate() {
        let inbound = Inbound {
            channel: "whatsapp".into(),
            provider_id: Some(format!("{who}-{i}")),
            contact: who.into(),
            event: InboundEvent::Text { text: (*line).into() },
            lang_hint: None,
        };
        runtime.accept(&inbound).await.unwrap();
        runtime.process_pending(10).await.unwrap();
    }
}

async fn users_audit_and_lists(store: Store) {
    // Users: a name once; the token id finds her until she is revoked; a new token restores her.
    let dewi =
        NewUser { name: "dewi", role: Role::Supervisor, provider_id: Some("p1"), counselor_id: Some("k1") };
    let issued = token::issue().unwrap();
    assert!(store.add_user(&dewi, &issued.id, &issued.hash, 5).await.unwrap());
    assert!(!store.add_user(&dewi, "otherid00000", "h", 6).await.unwrap(), "a name is unique");
    let (found, hash) = store.user_by_token_id(&issued.id).await.unwrap().unwrap();
    assert_eq!(
        (found.name.as_str(), found.role, found.provider_id.as_deref()),
        ("dewi", Role::Supervisor, Some("p1"))
    );
    assert!(token::verify(&issued.token, &hash));
    assert!(store.revoke_user("dewi", 7).await.unwrap());
    assert!(!store.revoke_user("dewi", 8).await.unwrap(), "already revoked");
    assert!(store.user_by_token_id(&issued.id).await.unwrap().is_none());
    assert!(store.replace_token("dewi", "newid0000000", "newhash").await.unwrap());
    assert!(store.user_by_token_id(&issued.id).await.unwrap().is_none(), "the old token is gone");
    assert!(store.user_by_token_id("newid0000000").await.unwrap().is_some());
    assert!(!store.replace_token("nobody", "x", "y").await.unwrap());
    let all = store.users().await.unwrap();
    assert_eq!((all.len(), all[0].revoked_at), (1, None));

    // Audit: newest first, filtered by time, actor and subject, limited.
    for (at, actor, action, subject) in [
        (10, "dewi", "case.read", Some("K-AAAAAA")),
        (20, "sri", "case.read", Some("K-BBBBBB")),
        (30, "dewi", "cases.list", None),
    ] {
        store.audit(&entry(at, actor, action, subject)).await.unwrap();
    }
    let read = |q: AuditQuery| {
        let store = store.clone();
        async move { store.audit_log(&q).await.unwrap().into_iter().map(|e| e.at).collect::<Vec<_>>() }
    };
    assert_eq!(read(AuditQuery { limit: 10, ..AuditQuery::default() }).await, vec![30, 20, 10]);
    assert_eq!(read(AuditQuery { limit: 2, ..AuditQuery::default() }).await, vec![30, 20]);
    assert_eq!(read(AuditQuery { since: Some(20), limit: 10, ..AuditQuery::default() }).await, vec![30, 20]);
    assert_eq!(
        read(AuditQuery { actor: Some("dewi".into()), limit: 10, ..AuditQuery::default() }).await,
        vec![30, 10]
    );
    assert_eq!(
        read(AuditQuery { subject: Some("K-BBBBBB".into()), limit: 10, ..AuditQuery::default() }).await,
        vec![20]
    );

    // Case lists: two reports a minute apart, filtered and newest first.
    let clock = Arc::new(ManualClock::new(1_790_000_000_000));
    let runtime = Runtime::new(common::shipped_engine(), store.clone(), clock.clone());
    report(&runtime, "6281200000001").await;
    clock.advance_ms(60_000);
    report(&runtime, "6281200000002").await;
    let list = |f: CaseFilter| {
        let store = store.clone();
        async move { store.list_cases(&f).await.unwrap() }
    };
    let both = list(CaseFilter { limit: 10, ..CaseFilter::default() }).await;
    assert_eq!(both.len(), 2);
    assert!(both[0].1 > both[1].1, "newest first");
    assert!(both.iter().all(|(c, _)| c.priority == "urgent"));
    let later = list(CaseFilter { from: Some(1_790_000_030_000), limit: 10, ..CaseFilter::default() }).await;
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].0.code, both[0].0.code);
    let earlier = list(CaseFilter { to: Some(1_790_000_030_000), limit: 10, ..CaseFilter::default() }).await;
    assert_eq!(earlier[0].0.code, both[1].0.code);
    assert!(
        list(CaseFilter { status: Some("closed".into()), limit: 10, ..CaseFilter::default() })
            .await
            .is_empty()
    );
    assert!(
        list(CaseFilter { provider: Some("nobody".into()), limit: 10, ..CaseFilter::default() })
            .await
            .is_empty()
    );
    assert_eq!(
        list(CaseFilter { priority: Some("urgent".into()), limit: 1, ..CaseFilter::default() }).await.len(),
        1
    );
}

#[tokio::test]
async fn users_audit_and_case_lists_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    users_audit_and_lists(Store::open_sqlite(&dir.path().join("t.db")).await.unwrap()).await;
}

#[tokio::test]
async fn users_audit_and_case_lists_on_postgres() {
    let Some(pg) = common::pg_store("users_audit_and_case_lists").await else { return };
    users_audit_and_lists(pg.store.clone()).await;
    pg.cleanup().await;
}
