//! Reports through the API after a real case: time to accept per provider and level, cases per
//! month by kind and region, satisfaction from her survey answer; JSON and CSV; supervisors
//! get their own provider's figures, counselors none.

mod common;

use reqwest::StatusCode;
use serde_json::Value;
use teduh::access::{Role, users};
use teduh::store::NewUser;

use common::e2e::*;

async fn add(w: &World, name: &str, role: Role, provider: Option<&str>, counselor: Option<&str>) -> String {
    let user = NewUser { name, role, provider_id: provider, counselor_id: counselor };
    users::add_user(&w.store, &w.directory, &user, 1).await.unwrap().token
}

async fn get(w: &World, token: &str, path: &str) -> (StatusCode, String) {
    let response = w.http.get(format!("{}{path}", w.base)).bearer_auth(token).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handled_case_shows_in_every_report() {
    bounded(async {
        let w = world((10, 0)).await;
        let dewi = add(&w, "dewi", Role::Counselor, Some("uptd-ppa-palu"), Some("uptd-ppa-palu-k1")).await;
        let sri = add(&w, "sri", Role::Supervisor, Some("uptd-ppa-palu"), None).await;
        let admin = add(&w, "ops", Role::Admin, None, None).await;
        w.whatsapp_emergency().await;
        w.until("the Palu primary's notice", |w| !w.telegram_to(PALU_K1).is_empty()).await;
        let code = w.store.cases_between(0, i64::MAX).await.unwrap()[0].case.code.clone();
        w.minutes(1);
        let post = |path: String| w.http.post(format!("{}{path}", w.base)).bearer_auth(&dewi).send();
        assert_eq!(post(format!("/api/v1/cases/{code}/accept")).await.unwrap().status(), StatusCode::OK);
        assert_eq!(post(format!("/api/v1/cases/{code}/close")).await.unwrap().status(), StatusCode::OK);
        w.until("the survey question", |w| {
            w.whatsapp_to_survivor().last().is_some_and(|t| t.starts_with("Seberapa puas"))
        })
        .await;
        w.whatsapp_text("s1", "4").await;
        let asked = w.whatsapp_to_survivor().len();
        w.until("the comment question", |w| w.whatsapp_to_survivor().len() > asked).await;
        w.whatsapp_text("s2", "tidak").await;
        let ok = common::eventually(10, || async {
            (!w.store.surveys(None).await.unwrap().is_empty()).then_some(())
        })
        .await;
        assert!(ok.is_some(), "her rating was stored");

        let period = "from=2026-11-01&to=2026-11-30&tz=WITA";
        let (status, body) = get(&w, &sri, &format!("/api/v1/reports/response-times?{period}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let rows = json(&body)["rows"].as_array().unwrap().clone();
        assert_eq!(rows.len(), 1, "{body}");
        assert_eq!((rows[0]["provider"].as_str(), rows[0]["accepted"].as_u64()), (Some("uptd-ppa-palu"), Some(1)));
        let p50 = rows[0]["p50_ms"].as_i64().unwrap();
        assert!((60_000..120_000).contains(&p50), "accepted about a minute after the report: {p50}");
        assert_eq!(rows[0]["reached_level"][0], 1);

        let (_, body) = get(&w, &sri, &format!("/api/v1/reports/cases?{period}")).await;
        let rows = json(&body)["rows"].as_array().unwrap().clone();
        assert_eq!(rows.len(), 1, "{body}");
        assert_eq!((rows[0]["month"].as_str(), rows[0]["kind"].as_str()), (Some("2026-11"), Some("fisik")));
        assert_eq!(rows[0]["cases"], 1);

        let (_, body) = get(&w, &sri, &format!("/api/v1/reports/satisfaction?{period}")).await;
        let rows = json(&body)["rows"].as_array().unwrap().clone();
        assert_eq!(rows.len(), 1, "{body}");
        assert_eq!(rows[0]["scores"], serde_json::json!([0, 0, 0, 1, 0]));
        assert_eq!(rows[0]["mean"], 4.0);

        let (status, csv) = get(&w, &admin, &format!("/api/v1/reports/satisfaction?{period}&format=csv")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(csv, "provider,responses,score_1,score_2,score_3,score_4,score_5,mean\nuptd-ppa-palu,1,0,0,0,1,0,4.00\n");
        let (_, csv) = get(&w, &admin, &format!("/api/v1/reports/cases?{period}&format=csv")).await;
        assert!(csv.starts_with("month,kind,region_code,cases\n2026-11,fisik,"), "{csv}");

        // Other months are empty; a counselor and another provider's figures are refused.
        let (_, body) = get(&w, &admin, "/api/v1/reports/cases?from=2026-10-01&to=2026-10-31").await;
        assert!(json(&body)["rows"].as_array().unwrap().is_empty());
        assert_eq!(get(&w, &dewi, &format!("/api/v1/reports/cases?{period}")).await.0, StatusCode::FORBIDDEN);
        let other = format!("/api/v1/reports/cases?{period}&provider=uptd-ppa-sulteng");
        assert_eq!(get(&w, &sri, &other).await.0, StatusCode::FORBIDDEN);
        assert_eq!(get(&w, &sri, &format!("/api/v1/reports/cases?{period}&format=xml")).await.0, StatusCode::BAD_REQUEST);
        assert_eq!(get(&w, &sri, "/api/v1/reports/cases?from=2026-13-01&to=2026-13-02").await.0, StatusCode::BAD_REQUEST);
    })
    .await;
}
