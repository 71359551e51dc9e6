//! Providers and rosters through the API: who is on call now and this week, and a supervisor
//! replacing her provider's roster with the CLI's checks (all problems listed, nothing stored
//! on a bad file); counselors read but do not change, other providers' staff do neither.

mod common;

use reqwest::StatusCode;
use serde_json::Value;
use teduh::access::{Role, users};
use teduh::store::NewUser;

use common::e2e::*;

async fn add(w: &World, name: &str, role: Role, provider: Option<&str>) -> String {
    let user = NewUser { name, role, provider_id: provider, counselor_id: None };
    users::add_user(&w.store, &w.directory, &user, 1).await.unwrap().token
}

async fn send(w: &World, token: &str, put: Option<&str>, path: &str) -> (StatusCode, Value) {
    let url = format!("{}{path}", w.base);
    let request = match put {
        Some(body) => w.http.put(url).header("content-type", "text/csv").body(body.to_string()),
        None => w.http.get(url),
    };
    let response = request.bearer_auth(token).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_sees_who_is_on_call_and_replaces_her_roster() {
    bounded(async {
        let w = world((10, 0)).await;
        let sri = add(&w, "sri", Role::Supervisor, Some("uptd-ppa-palu")).await;
        let dewi = add(&w, "dewi", Role::Counselor, Some("uptd-ppa-palu")).await;
        let rina = add(&w, "rina", Role::Supervisor, Some("uptd-ppa-sulteng")).await;

        let (status, body) = send(&w, &dewi, None, "/api/v1/providers").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["providers"][0]["id"], "uptd-ppa-palu", "her own first");
        assert!(!body.to_string().contains("100000021"), "no counselor chat ids or numbers");

        // Monday 10:00 WITA: the Palu primary is on call.
        let (status, roster) = send(&w, &dewi, None, "/api/v1/rosters/uptd-ppa-palu").await;
        assert_eq!(status, StatusCode::OK, "{roster}");
        let on_call: Vec<(&str, &str)> = roster["on_call"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["counselor"].as_str().unwrap(), o["role"].as_str().unwrap()))
            .collect();
        assert!(on_call.contains(&("uptd-ppa-palu-k1", "primary")), "{on_call:?}");
        assert_eq!(roster["week"].as_array().unwrap().len(), 7);
        assert_eq!((roster["week"][0]["date"].as_str(), roster["week"][0]["weekday"].as_str()), (Some("2026-11-23"), Some("mon")));
        let csv = roster["csv"].as_str().unwrap().to_string();
        assert!(csv.starts_with("provider,counselor,role,days,start,end\n"), "{csv}");

        // A counselor reads but does not change; another provider's supervisor does neither.
        assert_eq!(send(&w, &dewi, Some(&csv), "/api/v1/rosters/uptd-ppa-palu").await.0, StatusCode::FORBIDDEN);
        assert_eq!(send(&w, &rina, None, "/api/v1/rosters/uptd-ppa-palu").await.0, StatusCode::FORBIDDEN);
        assert_eq!(send(&w, &sri, None, "/api/v1/rosters/nowhere").await.0, StatusCode::NOT_FOUND);

        // A bad file: every problem named, nothing stored.
        let bad = "provider,counselor,role,days,start,end\n\
                   uptd-ppa-palu,uptd-ppa-palu-k9,primary,mon-fri,08:00,16:00\n\
                   uptd-ppa-palu,uptd-ppa-palu-k1,boss,mon-fri,08:00,16:00\n";
        let (status, body) = send(&w, &sri, Some(bad), "/api/v1/rosters/uptd-ppa-palu").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("line 2") && message.contains("line 3"), "{message}");
        let other = "provider,counselor,role,days,start,end\nuptd-ppa-sulteng,uptd-ppa-sulteng-k1,primary,mon-fri,08:00,16:00\n";
        assert_eq!(send(&w, &sri, Some(other), "/api/v1/rosters/uptd-ppa-palu").await.0, StatusCode::BAD_REQUEST);
        assert_eq!(send(&w, &sri, None, "/api/v1/rosters/uptd-ppa-palu").await.1["csv"], csv.as_str());

        // A good one: only the backup, all week, around the clock; escalation reads it at once.
        let new = "provider,counselor,role,days,start,end\nuptd-ppa-palu,uptd-ppa-palu-k2,primary,mon-sun,00:00,24:00\n";
        let (status, body) = send(&w, &sri, Some(new), "/api/v1/rosters/uptd-ppa-palu").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["on_call"].as_array().unwrap().len(), 1, "{body}");
        assert_eq!(body["on_call"][0]["counselor"], "uptd-ppa-palu-k2");
        w.whatsapp_emergency().await;
        w.until("the new primary's notice", |w| !w.telegram_to(PALU_K2).is_empty()).await;
        assert!(w.telegram_to(PALU_K1).is_empty(), "the old primary is off the roster");
    })
    .await;
}
