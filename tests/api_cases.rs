//! Working a case through the HTTP API, on the real server with fake channels: accept (one
//! winner), pass, the relay conversation both ways (her words kept sealed, shown only to her
//! provider's counselors and supervisors), structured fields, transfer and close (which brings
//! her the survey), each with its role checks and audit rows.

mod common;

use reqwest::StatusCode;
use serde_json::{Value, json};
use teduh::access::{Role, users};
use teduh::store::{AuditQuery, NewUser};

use common::e2e::*;

async fn add(w: &World, name: &str, role: Role, provider: Option<&str>, counselor: Option<&str>) -> String {
    let user = NewUser { name, role, provider_id: provider, counselor_id: counselor };
    users::add_user(&w.store, &w.directory, &user, 1).await.unwrap().token
}

async fn call(w: &World, token: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let url = format!("{}{path}", w.base);
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = w.http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn actions_of(w: &World, actor: &str) -> Vec<(String, String)> {
    let rows = w.store.audit_log(&AuditQuery { limit: 1000, ..AuditQuery::default() }).await.unwrap();
    rows.into_iter().rev().filter(|e| e.actor == actor).map(|e| (e.action, e.outcome)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_is_accepted_answered_completed_and_closed_through_the_api() {
    bounded(async {
        let w = world((10, 0)).await;
        let dewi = add(&w, "dewi", Role::Counselor, Some("uptd-ppa-palu"), Some("uptd-ppa-palu-k1")).await;
        let tika = add(&w, "tika", Role::Counselor, Some("uptd-ppa-palu"), Some("uptd-ppa-palu-k2")).await;
        let sri = add(&w, "sri", Role::Supervisor, Some("uptd-ppa-palu"), None).await;
        let rina =
            add(&w, "rina", Role::Counselor, Some("uptd-ppa-sulteng"), Some("uptd-ppa-sulteng-k1")).await;
        let admin = add(&w, "ops", Role::Admin, None, None).await;
        w.whatsapp_emergency().await;
        w.until("the Palu primary's notice", |w| !w.telegram_to(PALU_K1).is_empty()).await;
        let code = w.store.cases_between(0, i64::MAX).await.unwrap()[0].case.code.clone();
        let case = |tail: &str| format!("/api/v1/cases/{code}{tail}");

        // Another provider's counselor and an admin off the roster cannot take it.
        assert_eq!(call(&w, &rina, "POST", &case("/accept"), None).await.0, StatusCode::FORBIDDEN);
        assert_eq!(call(&w, &admin, "POST", &case("/accept"), None).await.0, StatusCode::FORBIDDEN);
        // The backup was not asked yet: she cannot pass what she was never offered.
        let (status, body) = call(&w, &tika, "POST", &case("/pass"), None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        // Nobody but the holder writes to her, and nobody holds it yet.
        let hello = json!({ "text": "Halo" });
        assert_eq!(call(&w, &dewi, "POST", &case("/messages"), Some(hello)).await.0, StatusCode::FORBIDDEN);

        // The primary accepts from the console; a second accept loses and names her.
        let (status, body) = call(&w, &dewi, "POST", &case("/accept"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!((body["outcome"].as_str(), body["status"].as_str()), (Some("accepted"), Some("accepted")));
        let (status, body) = call(&w, &tika, "POST", &case("/accept"), None).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(body["error"]["message"].as_str().unwrap().contains("Konselor Contoh 2A"), "{body}");
        w.until("the survivor hears who has her case", |w| {
            w.whatsapp_to_survivor().iter().any(|t| t.starts_with("Konselor Contoh 2A dari"))
        })
        .await;
        // The chain stopped: two minutes later the backup is still not disturbed.
        w.minutes(3);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert!(w.telegram_to(PALU_K2).is_empty(), "{:?}", w.telegram_to(PALU_K2));

        // She writes to the survivor; the words arrive on WhatsApp under her name.
        let (status, body) =
            call(&w, &dewi, "POST", &case("/messages"), Some(json!({ "text": "Saya Dewi. Anda aman?" })))
                .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["status"], "in_progress");
        w.until("the counselor's words at her", |w| {
            w.whatsapp_to_survivor().iter().any(|t| t == "Konselor Contoh 2A: Saya Dewi. Anda aman?")
        })
        .await;
        let empty = json!({ "text": "   " });
        assert_eq!(call(&w, &dewi, "POST", &case("/messages"), Some(empty)).await.0, StatusCode::BAD_REQUEST);
        // Her answer joins the transcript.
        w.whatsapp_text("r1", "Ya, saya di rumah tetangga.").await;
        let transcript = async |token: &str| {
            let mut last = (StatusCode::OK, Value::Null);
            for _ in 0..50 {
                last = call(&w, token, "GET", &case("/messages"), None).await;
                if last.0 != StatusCode::OK || last.1["messages"].as_array().is_some_and(|m| m.len() >= 2) {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            last
        };
        let (status, body) = transcript(&dewi).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let messages = body["messages"].as_array().unwrap();
        let said: Vec<(&str, &str)> =
            messages.iter().map(|m| (m["sender"].as_str().unwrap(), m["text"].as_str().unwrap())).collect();
        assert_eq!(
            said,
            [("counselor", "Saya Dewi. Anda aman?"), ("survivor", "Ya, saya di rumah tetangga.")]
        );
        let first = messages[0]["id"].as_i64().unwrap();
        let (_, newer) = call(&w, &dewi, "GET", &case(&format!("/messages?after={first}")), None).await;
        assert_eq!(newer["messages"].as_array().unwrap().len(), 1);
        // Her supervisor reads it too; the admin and another provider's counselor do not.
        assert_eq!(transcript(&sri).await.0, StatusCode::OK);
        assert_eq!(transcript(&admin).await.0, StatusCode::FORBIDDEN);
        assert_eq!(transcript(&rina).await.0, StatusCode::FORBIDDEN);
        // Sealed at rest: her words are not in the database file as text.
        let needle = b"rumah tetangga";
        let mut read = 0;
        for file in ["t.db", "t.db-wal"] {
            let bytes = std::fs::read(w.config.data_dir.join(file)).unwrap_or_default();
            read += bytes.len();
            assert!(!bytes.windows(needle.len()).any(|win| win == needle), "her words are sealed in {file}");
        }
        assert!(read > 0, "the database files were read");

        // Structured fields: checked whole before any is written.
        let bad = json!({ "fields": { "kind": "fisik", "age_group": "200" } });
        let (status, body) = call(&w, &dewi, "PATCH", &case("/fields"), Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["error"]["message"].as_str().unwrap().contains("age_group"), "{body}");
        let good = json!({ "fields": { "kind": "psikis", "age_group": "25-44", "relationship": "suami" } });
        let (status, body) = call(&w, &dewi, "PATCH", &case("/fields"), Some(good)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, one) = call(&w, &dewi, "GET", &case(""), None).await;
        assert_eq!(one["case"]["fields"]["violence_kind"]["value"], "psikis", "{one}");
        assert_eq!(one["case"]["fields"]["age_group"]["value"], "25-44", "{one}");
        let bad_kind = json!({ "fields": { "kind": "fisik" } });
        assert_eq!(call(&w, &rina, "PATCH", &case("/fields"), Some(bad_kind)).await.0, StatusCode::FORBIDDEN);

        // Transfers: an unknown target is explained; a colleague who is not the holder may not.
        let nobody = json!({ "to": "nobody at all" });
        let (status, body) = call(&w, &dewi, "POST", &case("/transfer"), Some(nobody)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let to_me = json!({ "to": "uptd-ppa-palu-k2" });
        assert_eq!(call(&w, &tika, "POST", &case("/transfer"), Some(to_me)).await.0, StatusCode::FORBIDDEN);

        // The counselor closes it: she is asked about the service; nothing more can be sent.
        assert_eq!(call(&w, &tika, "POST", &case("/close"), None).await.0, StatusCode::FORBIDDEN);
        let (status, body) = call(&w, &dewi, "POST", &case("/close"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "closed");
        w.until("the survey question", |w| {
            w.whatsapp_to_survivor()
                .last()
                .is_some_and(|t| t.starts_with("Seberapa puas Anda dengan layanan kami?"))
        })
        .await;
        let late = json!({ "text": "Satu lagi" });
        assert_eq!(call(&w, &dewi, "POST", &case("/messages"), Some(late)).await.0, StatusCode::CONFLICT);
        assert_eq!(call(&w, &dewi, "POST", &case("/close"), None).await.0, StatusCode::CONFLICT);

        // On the record, with who; refusals too.
        let dewi_did = actions_of(&w, "dewi").await;
        for action in
            ["case.accept", "case.reply", "case.transcript", "case.field", "case.transfer", "case.close"]
        {
            assert!(dewi_did.contains(&(action.into(), "ok".into())), "{action}: {dewi_did:?}");
        }
        assert!(actions_of(&w, "rina").await.contains(&("case.accept".into(), "denied".into())));
        assert!(actions_of(&w, "ops").await.contains(&("case.transcript".into(), "denied".into())));
        let kinds: Vec<String> = w.case_events().await.into_iter().map(|(k, _)| k).collect();
        for kind in ["accepted", "relayed", "closed"] {
            assert!(kinds.iter().any(|k| k == kind), "{kind}: {kinds:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notified_counselor_passes_and_a_supervisor_refers_the_case_to_the_province() {
    bounded(async {
        let w = world((10, 0)).await;
        let dewi = add(&w, "dewi", Role::Counselor, Some("uptd-ppa-palu"), Some("uptd-ppa-palu-k1")).await;
        let sri = add(&w, "sri", Role::Supervisor, Some("uptd-ppa-palu"), None).await;
        w.whatsapp_emergency().await;
        w.until("the Palu primary's notice", |w| !w.telegram_to(PALU_K1).is_empty()).await;
        let code = w.store.cases_between(0, i64::MAX).await.unwrap()[0].case.code.clone();

        // A pass from the console moves the chain on at once: the backup is asked now.
        let (status, body) = call(&w, &dewi, "POST", &format!("/api/v1/cases/{code}/pass"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        w.until("the backup's notice", |w| !w.telegram_to(PALU_K2).is_empty()).await;

        // Her supervisor, who is on no roster, refers it to the province.
        let to = json!({ "to": "uptd-ppa-sulteng" });
        let (status, body) =
            call(&w, &sri, "POST", &format!("/api/v1/cases/{code}/transfer"), Some(to)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["outcome"], "referred");
        let (now, _) = w
            .store
            .case_by_id(&w.store.case_by_code(&code).await.unwrap().unwrap().id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(now.provider_id.as_deref(), Some("uptd-ppa-sulteng"));
        // Now it is the province's: Palu's supervisor no longer sees it.
        let (status, _) = call(&w, &sri, "GET", &format!("/api/v1/cases/{code}"), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        w.until("the province's primary is told by SMS", |w| !w.sms_to(SULTENG_K1_SMS).is_empty()).await;
    })
    .await;
}

/// Reads server-sent events from `response` until one named `cases` arrives (at most 10 s).
async fn next_cases_event(response: &mut reqwest::Response, buffer: &mut String) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.lines().any(|l| l == "event: cases") {
                let data = block.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
                return serde_json::from_str(data).unwrap();
            }
            continue;
        }
        let chunk =
            tokio::time::timeout_at(deadline, response.chunk()).await.expect("an event in time").unwrap();
        buffer.push_str(&String::from_utf8_lossy(&chunk.expect("the stream stays open")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_stream_tells_the_console_when_a_case_arrives() {
    bounded(async {
        let w = world((10, 0)).await;
        let dewi = add(&w, "dewi", Role::Counselor, Some("uptd-ppa-palu"), Some("uptd-ppa-palu-k1")).await;
        let unauthenticated = w.http.get(format!("{}/api/v1/events", w.base)).send().await.unwrap();
        assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);

        let mut events =
            w.http.get(format!("{}/api/v1/events", w.base)).bearer_auth(&dewi).send().await.unwrap();
        assert_eq!(events.status(), StatusCode::OK);
        assert!(events.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        let mut buffer = String::new();
        let first = next_cases_event(&mut events, &mut buffer).await;
        assert_eq!(first["cases"], 0, "{first}");

        w.whatsapp_emergency().await;
        let arrived = next_cases_event(&mut events, &mut buffer).await;
        assert!(arrived["cases"].as_i64().unwrap() >= 1, "{arrived}");
        w.until("the Palu primary's notice", |w| !w.telegram_to(PALU_K1).is_empty()).await;

        // The open queue shows it with how far escalation climbed.
        let (status, body) = call(&w, &dewi, "GET", "/api/v1/cases?status=open", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let cases = body["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 1, "{body}");
        assert_eq!((cases[0]["priority"].as_str(), cases[0]["level"].as_i64()), (Some("urgent"), Some(1)));
        let (_, closed) = call(&w, &dewi, "GET", "/api/v1/cases?status=closed", None).await;
        assert!(closed["cases"].as_array().unwrap().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holder_sees_how_she_consented_to_be_called_back_and_nobody_else_does() {
    bounded(async {
        let w = world((10, 0)).await;
        let dewi = add(&w, "dewi", Role::Counselor, Some("uptd-ppa-palu"), Some("uptd-ppa-palu-k1")).await;
        let sri = add(&w, "sri", Role::Supervisor, Some("uptd-ppa-palu"), None).await;
        // A consultation on WhatsApp from Kota Palu, to be called back on WhatsApp, with consent.
        for (i, line) in ["halo", "2", "ya", "1", "kota palu", "4", "5", "ya"].iter().enumerate() {
            let before = w.whatsapp_to_survivor().len();
            w.whatsapp_text(&format!("c{i}"), line).await;
            w.until("her next question", |w| w.whatsapp_to_survivor().len() > before).await;
        }
        let code = w.store.cases_between(0, i64::MAX).await.unwrap()[0].case.code.clone();
        let case = format!("/api/v1/cases/{code}");
        let (_, before) = call(&w, &dewi, "GET", &case, None).await;
        assert!(before.get("contact").is_none(), "not before she holds it: {before}");
        let (status, body) = call(&w, &dewi, "POST", &format!("{case}/accept"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, held) = call(&w, &dewi, "GET", &case, None).await;
        assert_eq!(held["contact"]["via"], "whatsapp", "{held}");
        assert_eq!(held["contact"]["number"], format!("+{WA_SURVIVOR}"));
        let (_, other) = call(&w, &sri, "GET", &case, None).await;
        assert!(other.get("contact").is_none(), "her supervisor does not get the number: {other}");
        assert!(!other.to_string().contains(WA_SURVIVOR));
    })
    .await;
}
