//! What the shipped flows record: cases with region, provider and answers; satisfaction
//! answers. On SQLite always, on PostgreSQL when it answers.

mod common;

use std::sync::Arc;

use teduh::clock::ManualClock;
use teduh::directory::{Directory, Regions, provider};
use teduh::flow::Event;
use teduh::runtime::Runtime;
use teduh::store::Store;

fn runtime(store: Store, flow: &str) -> Runtime {
    let regions = Regions::embedded().unwrap();
    let providers =
        provider::read_directory(&common::crate_path("providers/example.yaml"), &regions).unwrap();
    let engine = common::engine_from(&common::crate_path("flows"), &common::crate_path("locales"), flow)
        .with_directory(Arc::new(Directory { regions, providers }));
    Runtime::new(engine, store, Arc::new(ManualClock::new(42_000)))
}

async fn say(rt: &Runtime, who: &str, lines: &[&str]) -> String {
    let mut id = String::new();
    rt.handle("test", who, &Event::Start, None).await.unwrap();
    for line in lines {
        let event = teduh::channel::console::parse_line(line);
        id = rt.handle("test", who, &event, None).await.unwrap().conversation_id;
    }
    id
}

async fn check_records(store: Store) {
    let rt = runtime(store.clone(), "helpline");

    // A consultation request for Kota Palu goes to the city's UPTD PPA, with her answers.
    let conv = say(&rt, "konsul", &["2", "ya", "1", "kota palu", "1", "3", "ya"]).await;
    let cases = store.cases_of(&conv).await.unwrap();
    assert_eq!(cases.len(), 1);
    let case = &cases[0];
    assert_eq!((case.priority.as_str(), case.category.as_deref()), ("normal", Some("kdrt")));
    assert_eq!(case.region_code.as_deref(), Some("72.71"));
    assert_eq!(case.provider_id.as_deref(), Some("uptd-ppa-palu"));
    let fields: serde_json::Value = serde_json::from_str(case.fields.as_deref().unwrap()).unwrap();
    assert_eq!(fields["topic"]["value"], "kdrt");
    assert_eq!(fields["contact_via"]["value"], "chat");
    assert_eq!(fields["contact_time"]["value"], "sore");
    assert_eq!(fields["consent_share"]["value"], true);
    let events: Vec<String> =
        store.case_events(&case.id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(events, vec!["opened", "handoff_requested"]);

    // An emergency from a pin near Kupang reaches the nearest provider taking complaints.
    let conv = say(&rt, "darurat", &["darurat", "tidak", "/location -10.17 123.6", "1", "tidak", "ya"]).await;
    let case = &store.cases_of(&conv).await.unwrap()[0];
    assert_eq!(case.priority, "urgent");
    assert_eq!(case.provider_id.as_deref(), Some("uptd-ppa-kupang"));
    assert_eq!(case.region_code.as_deref(), Some("53.71"));
    let fields: serde_json::Value = serde_json::from_str(case.fields.as_deref().unwrap()).unwrap();
    assert_eq!(fields["kind"]["value"], "fisik");
    assert_eq!(fields["safe_now"]["value"], false);
    assert_eq!(fields["victim_child"]["value"], false);
    assert_eq!(fields["perpetrator_present"]["value"], true);
    let events: Vec<String> =
        store.case_events(&case.id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(events, vec!["opened", "escalation_requested"]);

    // Skipping every emergency question still opens and escalates a case, without a region.
    let conv = say(&rt, "diam", &["sos", "?", "?", "?", "?", "?", "?", "?", "?", "?", "?"]).await;
    let case = &store.cases_of(&conv).await.unwrap()[0];
    assert_eq!(case.priority, "urgent");
    assert_eq!(case.region_code, None);

    // The satisfaction survey stores the rating and comment.
    let survey = runtime(store.clone(), "survey");
    say(&survey, "puas", &["4", "ya", "Konselornya sabar."]).await;
    say(&survey, "cukup", &["3", "tidak"]).await;
    let mut rows = store.surveys(None).await.unwrap();
    // Both were answered at the same (manual) instant: order them by rating.
    rows.sort_by_key(|r| std::cmp::Reverse(r.rating));
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].rating, rows[0].comment.as_deref()), (Some(4), Some("Konselornya sabar.")));
    assert_eq!((rows[1].rating, rows[1].comment.as_deref()), (Some(3), None));
    assert!(rows.iter().all(|r| r.created_at == 42_000));
}

#[tokio::test]
async fn records_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    check_records(Store::open_sqlite(&dir.path().join("t.db")).await.unwrap()).await;
}

#[tokio::test]
async fn records_on_postgres() {
    let Some(pg) = common::pg_store("records").await else { return };
    check_records(pg.store.clone()).await;
    pg.cleanup().await;
}
