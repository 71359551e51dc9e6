//! The HTTP API's access control, on the real server: tokens (argon2) made by `teduh users add`,
//! roles that limit what each user sees, and an audit row for every case read, export and change
//! (refusals too), readable by admins only.

mod common;

use reqwest::StatusCode;
use serde_json::{Value, json};
use teduh::access::{Role, users};
use teduh::clock::Clock;
use teduh::store::{AuditQuery, NewUser};

use common::e2e::*;

struct Tokens {
    admin: String,
    palu: String,
    palu_supervisor: String,
    province: String,
}

async fn add(w: &World, name: &str, role: Role, provider: Option<&str>) -> String {
    let user = NewUser { name, role, provider_id: provider, counselor_id: None };
    users::add_user(&w.store, &w.directory, &user, 1).await.unwrap().token
}

async fn tokens(w: &World) -> Tokens {
    Tokens {
        admin: add(w, "admin", Role::Admin, None).await,
        palu: add(w, "dewi.palu", Role::Counselor, Some("uptd-ppa-palu")).await,
        palu_supervisor: add(w, "sri.palu", Role::Supervisor, Some("uptd-ppa-palu")).await,
        province: add(w, "rina.sulteng", Role::Counselor, Some("uptd-ppa-sulteng")).await,
    }
}

async fn get(w: &World, token: Option<&str>, path: &str) -> (StatusCode, String) {
    let mut request = w.http.get(format!("{}{path}", w.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

async fn audit(w: &World) -> Vec<(String, String, Option<String>, String)> {
    let rows = w.store.audit_log(&AuditQuery { limit: 1000, ..AuditQuery::default() }).await.unwrap();
    rows.into_iter().rev().map(|e| (e.actor, e.action, e.subject, e.outcome)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_limit_what_each_user_sees_and_every_case_read_is_audited() {
    bounded(async {
        let w = world((10, 0)).await;
        let t = tokens(&w).await;
        w.whatsapp_emergency().await;
        let code = w.store.cases_between(0, i64::MAX).await.unwrap()[0].case.code.clone();

        // No token, a made-up token, a wrong secret for a real id: 401, nothing shown.
        assert_eq!(get(&w, None, "/api/v1/cases").await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(get(&w, Some("tdh_nope"), "/api/v1/cases").await.0, StatusCode::UNAUTHORIZED);
        let forged = format!("{}{}", &t.palu[..t.palu.len() - 64], "0".repeat(64));
        let (status, body) = get(&w, Some(&forged), "/api/v1/cases").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(json_of(&body)["error"]["code"], "unauthorized");

        // Her provider's counselor sees the case, its fields and timeline, never her number.
        let (status, body) = get(&w, Some(&t.palu), "/api/v1/cases").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let cases = json_of(&body)["cases"].as_array().unwrap().clone();
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0]["code"], code.as_str());
        assert_eq!(cases[0]["provider_id"], "uptd-ppa-palu");
        let (status, body) = get(&w, Some(&t.palu), &format!("/api/v1/cases/{code}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let one = json_of(&body);
        assert_eq!(one["case"]["priority"], "urgent");
        assert!(one["timeline"].as_array().unwrap().iter().any(|e| e["kind"] == "opened"));
        assert!(!body.contains(WA_SURVIVOR), "the API must never show her number");

        // The province's counselor: an empty list, a refusal for the case and for asking for
        // Palu's list; each refusal is audited.
        let (status, body) = get(&w, Some(&t.province), "/api/v1/cases").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json_of(&body)["cases"], json!([]));
        assert_eq!(
            get(&w, Some(&t.province), &format!("/api/v1/cases/{code}")).await.0,
            StatusCode::FORBIDDEN
        );
        let asked = get(&w, Some(&t.province), "/api/v1/cases?provider=uptd-ppa-palu").await.0;
        assert_eq!(asked, StatusCode::FORBIDDEN);

        // The admin sees every provider's cases; an unknown code is a 404.
        // The escalation worker moves the case from `new` to `escalating` after her reply.
        w.until("the counselor is notified", |w| !w.telegram_to(PALU_K1).is_empty()).await;
        let (status, body) = get(&w, Some(&t.admin), "/api/v1/cases?status=escalating&priority=urgent").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json_of(&body)["cases"].as_array().unwrap().len(), 1);
        let (status, body) = get(&w, Some(&t.admin), "/api/v1/cases?status=closed").await;
        assert_eq!((status, json_of(&body)["cases"].clone()), (StatusCode::OK, json!([])));
        assert_eq!(get(&w, Some(&t.admin), "/api/v1/cases/K-NOPE00").await.0, StatusCode::NOT_FOUND);

        // Only admins read the audit log; it shows every read and every refusal, with who.
        assert_eq!(get(&w, Some(&t.palu_supervisor), "/api/v1/audit").await.0, StatusCode::FORBIDDEN);
        let (status, body) = get(&w, Some(&t.admin), &format!("/api/v1/audit?subject={code}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let entries = json_of(&body)["entries"].as_array().unwrap().clone();
        let seen: Vec<(&str, &str, &str)> = entries
            .iter()
            .map(|e| {
                (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap(), e["outcome"].as_str().unwrap())
            })
            .collect();
        assert_eq!(seen, vec![("rina.sulteng", "case.read", "denied"), ("dewi.palu", "case.read", "ok")]);
        let all = audit(&w).await;
        let s = |x: &str| x.to_string();
        assert!(all.contains(&(s("rina.sulteng"), s("cases.list"), Some(s("uptd-ppa-palu")), s("denied"))));
        assert!(all.contains(&(s("sri.palu"), s("audit.read"), None, s("denied"))));
        assert!(all.contains(&(s("admin"), s("audit.read"), None, s("ok"))));
        assert_eq!(all.iter().filter(|r| r.1 == "cases.list" && r.3 == "ok").count(), 4);
        assert!(entries.iter().all(|e| e["at"].as_i64().unwrap() == w.clock.now_ms()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_and_exports_are_changes_and_reads_on_the_record() {
    bounded(async {
        let w = world((10, 0)).await;
        let t = tokens(&w).await;
        w.whatsapp_emergency().await;
        let code = w.store.cases_between(0, i64::MAX).await.unwrap()[0].case.code.clone();
        let note = |token: &str, text: &str| {
            w.http
                .post(format!("{}/api/v1/cases/{code}/notes", w.base))
                .bearer_auth(token.to_string())
                .json(&json!({ "text": text }))
                .send()
        };

        // A note by her provider's counselor lands on the timeline (sealed at rest).
        assert_eq!(
            note(&t.palu, "korban aman di rumah kerabat").await.unwrap().status(),
            StatusCode::CREATED
        );
        let events = w.case_events().await;
        assert!(events.contains(&("note".into(), "korban aman di rumah kerabat".into())));
        // Another provider cannot write on it; an empty or oversized note is refused.
        assert_eq!(note(&t.province, "x").await.unwrap().status(), StatusCode::FORBIDDEN);
        assert_eq!(note(&t.palu, "   ").await.unwrap().status(), StatusCode::BAD_REQUEST);
        assert_eq!(note(&t.palu, &"a".repeat(5000)).await.unwrap().status(), StatusCode::BAD_REQUEST);
        let notes = w.case_events().await.into_iter().filter(|(k, _)| k == "note").count();
        assert_eq!(notes, 1);

        // Exports: the supervisor gets her provider's cases, a counselor may not export, an
        // admin may export any provider's.
        let export = "/api/v1/cases/export.csv?from=2026-11-23&to=2026-11-23&tz=WITA";
        let (status, csv) = get(&w, Some(&t.palu_supervisor), export).await;
        assert_eq!(status, StatusCode::OK, "{csv}");
        assert_eq!(csv.lines().count(), 2, "a header and her one case: {csv}");
        assert!(csv.contains(&code));
        assert!(!csv.contains(WA_SURVIVOR) && !csv.contains("kerabat"), "exports carry no number or text");
        assert_eq!(get(&w, Some(&t.palu), export).await.0, StatusCode::FORBIDDEN);
        let (status, csv) = get(&w, Some(&t.admin), &format!("{export}&provider=uptd-ppa-sulteng")).await;
        assert_eq!((status, csv.lines().count()), (StatusCode::OK, 1));
        let (status, body) =
            get(&w, Some(&t.admin), "/api/v1/cases/export.csv?from=2026-11-30&to=2026-11-23").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

        let all = audit(&w).await;
        let s = |x: &str| x.to_string();
        assert!(all.contains(&(s("dewi.palu"), s("case.note"), Some(code.clone()), s("ok"))));
        assert!(all.contains(&(s("rina.sulteng"), s("case.note"), Some(code.clone()), s("denied"))));
        assert!(all.contains(&(s("sri.palu"), s("cases.export"), Some(s("uptd-ppa-palu")), s("ok"))));
        assert!(all.contains(&(s("dewi.palu"), s("cases.export"), Some(s("uptd-ppa-palu")), s("denied"))));
        assert!(all.contains(&(s("admin"), s("cases.export"), Some(s("uptd-ppa-sulteng")), s("ok"))));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_or_replaced_token_stops_working_at_once() {
    bounded(async {
        let w = world((10, 0)).await;
        let t = tokens(&w).await;
        assert_eq!(get(&w, Some(&t.palu), "/api/v1/me").await.0, StatusCode::OK);
        // Remembered as verified, yet refused the moment she is revoked.
        assert!(w.store.revoke_user("dewi.palu", 2).await.unwrap());
        assert_eq!(get(&w, Some(&t.palu), "/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
        let fresh = users::new_token(&w.store, "dewi.palu").await.unwrap().token;
        assert_eq!(get(&w, Some(&t.palu), "/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
        let (status, body) = get(&w, Some(&fresh), "/api/v1/me").await;
        assert_eq!(status, StatusCode::OK);
        let me = json_of(&body);
        assert_eq!((me["name"].as_str(), me["role"].as_str()), (Some("dewi.palu"), Some("counselor")));
        assert!(!body.contains("argon2"), "the hash is never shown");

        // Creating users checks what is asked.
        let bad = |name: &'static str, role, provider: Option<&'static str>| {
            let store = w.store.clone();
            let directory = w.directory.clone();
            async move {
                let user = NewUser { name, role, provider_id: provider, counselor_id: None };
                users::add_user(&store, &directory, &user, 3).await.unwrap_err().to_string()
            }
        };
        assert!(bad("x", Role::Counselor, None).await.contains("--provider"));
        assert!(bad("x", Role::Supervisor, Some("uptd-ppa-atlantis")).await.contains("no provider"));
        assert!(bad("dewi.palu", Role::Admin, None).await.contains("exists"));
        assert!(bad("no spaces", Role::Admin, None).await.contains("letters"));
        // Stored: a hash, never the token.
        let teduh::store::Db::Sqlite(pool) = w.store.db() else { unreachable!() };
        let hashes: Vec<(String,)> =
            sqlx::query_as("SELECT token_hash FROM users").fetch_all(pool).await.unwrap();
        assert!(hashes.iter().all(|(h,)| h.starts_with("$argon2id$") && !h.contains(&fresh[16..])));
    })
    .await;
}
