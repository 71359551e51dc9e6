//! Console sign-in on the real server: a password or an API token becomes a session token that
//! expires after a shift, stops at sign-out and when the user is revoked; wrong passwords are
//! audited, and a name that keeps failing is refused for a while even with the right one.

mod common;

use reqwest::StatusCode;
use serde_json::{Value, json};
use teduh::access::{Role, token, users};
use teduh::store::{AuditQuery, NewUser};

use common::e2e::*;

async fn add_with_password(w: &World, name: &str, password: &str) -> String {
    let user =
        NewUser { name, role: Role::Counselor, provider_id: Some("uptd-ppa-palu"), counselor_id: None };
    let issued = users::add_user(&w.store, &w.directory, &user, 1).await.unwrap();
    let hash = token::hash_password(password).unwrap();
    assert!(w.store.set_password(name, Some(&hash)).await.unwrap());
    issued.token
}

async fn sign_in(w: &World, body: Value) -> (StatusCode, Value) {
    let response = w.http.post(format!("{}/api/v1/session", w.base)).json(&body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn me(w: &World, session: &str) -> StatusCode {
    w.http.get(format!("{}/api/v1/me", w.base)).bearer_auth(session).send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_or_a_token_gives_a_session_that_ends() {
    bounded(async {
        let w = world((10, 0)).await;
        let api_token = add_with_password(&w, "dewi", "kata sandi panjang").await;

        let (status, body) = sign_in(&w, json!({ "name": "dewi", "password": "salah sekali" })).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized"))
        );
        let (status, _) = sign_in(&w, json!({ "name": "nobody", "password": "kata sandi panjang" })).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = sign_in(&w, json!({ "name": "dewi" })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        let (status, body) = sign_in(&w, json!({ "name": "dewi", "password": "kata sandi panjang" })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let session = body["session"].as_str().unwrap().to_string();
        assert!(session.starts_with("tds_"));
        assert_eq!(body["user"]["name"], "dewi");
        assert_eq!(me(&w, &session).await, StatusCode::OK);
        // A made-up session and a tampered one are refused.
        let tampered =
            format!("{}{}", &session[..session.len() - 1], if session.ends_with('0') { "1" } else { "0" });
        assert_eq!(me(&w, &tampered).await, StatusCode::UNAUTHORIZED);

        // A shift later it has expired.
        w.minutes(8 * 60 - 1);
        assert_eq!(me(&w, &session).await, StatusCode::OK);
        w.minutes(2);
        assert_eq!(me(&w, &session).await, StatusCode::UNAUTHORIZED);

        // An API token signs in too; signing out ends that session at once.
        let (status, body) = sign_in(&w, json!({ "token": api_token })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let session = body["session"].as_str().unwrap().to_string();
        let out =
            w.http.delete(format!("{}/api/v1/session", w.base)).bearer_auth(&session).send().await.unwrap();
        assert_eq!(out.status(), StatusCode::NO_CONTENT);
        assert_eq!(me(&w, &session).await, StatusCode::UNAUTHORIZED);

        // Revoking her stops her sessions too.
        let (_, body) = sign_in(&w, json!({ "name": "dewi", "password": "kata sandi panjang" })).await;
        let session = body["session"].as_str().unwrap().to_string();
        assert!(w.store.revoke_user("dewi", 5).await.unwrap());
        assert_eq!(me(&w, &session).await, StatusCode::UNAUTHORIZED);

        let rows = w.store.audit_log(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.unwrap();
        let logins: Vec<(String, String)> = rows
            .iter()
            .rev()
            .filter(|e| e.action == "session.login")
            .map(|e| (e.actor.clone(), e.outcome.clone()))
            .collect();
        assert_eq!(logins[0], ("dewi".to_string(), "denied".to_string()));
        assert_eq!(logins[1], ("nobody".to_string(), "denied".to_string()));
        assert!(logins.contains(&("dewi".to_string(), "ok".to_string())));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_keeps_failing_is_refused_for_a_while() {
    bounded(async {
        let w = world((10, 0)).await;
        add_with_password(&w, "sri", "kata sandi panjang").await;
        for _ in 0..5 {
            assert_eq!(
                sign_in(&w, json!({ "name": "sri", "password": "tebakan salah" })).await.0,
                StatusCode::UNAUTHORIZED
            );
        }
        let right = json!({ "name": "sri", "password": "kata sandi panjang" });
        assert_eq!(sign_in(&w, right.clone()).await.0, StatusCode::UNAUTHORIZED, "locked");
        w.minutes(16);
        assert_eq!(sign_in(&w, right).await.0, StatusCode::CREATED);
    })
    .await;
}
