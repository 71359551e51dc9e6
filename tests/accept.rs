//! Two (or eight) counselors accepting one case at the same moment: exactly one owns it.

mod common;

use teduh::flow::model::Priority;
use teduh::flow::{Effect, State};
use teduh::store::{Acceptance, Conversation, Store};

async fn race(store: Store) {
    let conv = Conversation::new("test", "survivor", State::new("id"));
    let open = Effect::OpenCase {
        priority: Priority::Urgent,
        category: Some("fisik".into()),
        region: Some("72.71".into()),
        provider: Some("uptd-ppa-palu".into()),
        fields: Default::default(),
    };
    let committed = store.commit(&conv, &conv.state, &[open], 1_000).await.unwrap();
    let case = store.case_by_code(&committed.opened_cases[0].code).await.unwrap().unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let case_id = case.id.clone();
        tasks.push(tokio::spawn(async move {
            let who = format!("counselor-{i}");
            let outcome =
                store.accept_case(&case_id, &who, &format!("counselor={who}"), 2_000 + i).await.unwrap();
            (who, outcome)
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let winners: Vec<&String> =
        outcomes.iter().filter(|(_, o)| *o == Acceptance::Won).map(|(w, _)| w).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = winners[0].clone();
    for (who, outcome) in &outcomes {
        if *who != winner {
            assert_eq!(*outcome, Acceptance::TakenBy(winner.clone()), "{who} is told who took it");
        }
    }
    let events = store.case_events(&case.id).await.unwrap();
    let accepted: Vec<_> = events.iter().filter(|e| e.kind == "accepted").collect();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].detail.as_deref(), Some(format!("counselor={winner}").as_str()));
    let after = store.case_by_code(&case.code).await.unwrap().unwrap();
    assert_eq!(after.status, "accepted");
    // A later accept loses too, and a missing case is unavailable.
    assert_eq!(store.accept_case(&case.id, "late", "", 9_000).await.unwrap(), Acceptance::TakenBy(winner));
    assert_eq!(store.accept_case("no-such-case", "x", "", 9_000).await.unwrap(), Acceptance::Unavailable);
}

#[tokio::test]
async fn exactly_one_accept_wins_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    race(Store::open_sqlite(&dir.path().join("t.db")).await.unwrap()).await;
}

#[tokio::test]
async fn exactly_one_accept_wins_on_postgres() {
    let Some(pg) = common::pg_store("accept").await else { return };
    race(pg.store.clone()).await;
    pg.cleanup().await;
}
