//! `teduh serve` with channels configured: the real binary wires webhooks, the inbox worker,
//! the dispatcher and the senders together. A fake SMS gateway and a fake Graph API on
//! 127.0.0.1 stand in for the providers.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET: &str = "a-long-shared-gateway-secret";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn start(envs: &[(&str, String)]) -> (Server, String) {
    let (server, base, _) = start_with(&["serve"], envs);
    (server, base)
}

/// Starts the binary with `args`; returns it, its base URL, and every line it logs.
fn start_with(args: &[&str], envs: &[(&str, String)]) -> (Server, String, Arc<Mutex<Vec<String>>>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_teduh"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TEDUH_BIND", "127.0.0.1:0")
        .env("TEDUH_DATA_DIR", dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("TEDUH_CONFIG")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start teduh serve");
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    let logged: Arc<Mutex<Vec<String>>> = Arc::default();
    let keep = logged.clone();
    std::thread::spawn(move || {
        // Keep draining after the address is known, so the server never writes into a closed pipe.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            keep.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut log = Vec::new();
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no address reported; log:\n{}", log.join("\n")));
        log.push(line.clone());
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::mem::forget(dir);
    (server, format!("http://{addr}"), logged)
}

/// A fake SMS gateway recording what it is asked to send; its base URL and the bodies.
async fn fake_gateway() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let sink = received.clone();
    let gateway = common::serve(Router::new().route(
        "/send",
        post(move |Json(body): Json<serde_json::Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                "ok"
            }
        }),
    ))
    .await;
    (gateway, received)
}

#[tokio::test]
async fn an_sms_through_the_gateway_is_answered_by_the_running_server() {
    let (gateway, received) = fake_gateway().await;
    let (_server, base) =
        start(&[("SMS_GATEWAY_URL", format!("{gateway}/send")), ("SMS_GATEWAY_SECRET", SECRET.to_string())]);
    let client = reqwest::Client::new();
    let body = br#"{"id":"gw-1","from":"+6281200000009","text":"halo"}"#.to_vec();
    let unsigned =
        client.post(format!("{base}/webhook/sms/gateway")).body(body.clone()).send().await.unwrap();
    assert_eq!(unsigned.status(), 403);
    let signed = client
        .post(format!("{base}/webhook/sms/gateway"))
        .header("X-Teduh-Signature", signature(&body))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);
    let texts = common::eventually(20, || async {
        let got = received.lock().unwrap().clone();
        (got.len() >= 2).then_some(got)
    })
    .await
    .expect("the welcome and the menu reach the gateway");
    assert_eq!(texts[0]["to"], "+6281200000009");
    assert!(texts[0]["text"].as_str().unwrap().starts_with("Halo, ini layanan Teduh"));
    assert!(
        texts[1]["text"].as_str().unwrap().contains("1. Informasi"),
        "menus are numbered on SMS: {}",
        texts[1]
    );
}

#[tokio::test]
async fn whatsapp_verification_is_served_when_configured() {
    let (_server, base) = start(&[
        ("WHATSAPP_ACCESS_TOKEN", "token".to_string()),
        ("WHATSAPP_PHONE_NUMBER_ID", "1234567890".to_string()),
        ("WHATSAPP_APP_SECRET", "app-secret".to_string()),
        ("WHATSAPP_VERIFY_TOKEN", "verify-me".to_string()),
        ("WHATSAPP_API_URL", "http://127.0.0.1:9/v21.0".to_string()),
    ]);
    let url =
        format!("{base}/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=4242");
    let ok = reqwest::get(&url).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "4242");
    let wrong = reqwest::get(url.replace("verify-me", "nope")).await.unwrap();
    assert_eq!(wrong.status(), 403);
}

#[test]
fn an_incomplete_channel_configuration_stops_start_up_naming_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_teduh"))
        .arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("WHATSAPP_ACCESS_TOKEN", "token")
        .env_remove("WHATSAPP_PHONE_NUMBER_ID")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("WHATSAPP_PHONE_NUMBER_ID"), "{err}");
}

#[tokio::test]
async fn the_server_survives_a_closed_log_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_teduh"))
        .arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TEDUH_BIND", "127.0.0.1:0")
        .env("TEDUH_DATA_DIR", dir.path())
        .env("WHATSAPP_ACCESS_TOKEN", "token")
        .env("WHATSAPP_PHONE_NUMBER_ID", "1234567890")
        .env("WHATSAPP_APP_SECRET", "app-secret")
        .env("WHATSAPP_VERIFY_TOKEN", "verify-me")
        .env_remove("DATABASE_URL")
        .env_remove("TEDUH_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("log line").expect("readable");
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    drop(lines);
    let server = Server(child);
    // A refused verification logs a warning into the closed pipe; the server must carry on.
    let refused = reqwest::get(format!(
        "http://{addr}/webhook/whatsapp?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1"
    ))
    .await
    .unwrap();
    assert_eq!(refused.status(), 403);
    let health = reqwest::get(format!("http://{addr}/healthz")).await.expect("server still up");
    assert_eq!(health.status(), 200);
    drop(server);
}

#[tokio::test]
async fn insecure_dev_accepts_unsigned_webhooks_and_warns_on_each() {
    let (gateway, received) = fake_gateway().await;
    let envs = [("SMS_GATEWAY_URL", format!("{gateway}/send")), ("SMS_GATEWAY_SECRET", SECRET.to_string())];
    let (_server, base, logged) = start_with(&["serve", "--insecure-dev"], &envs);
    let unsigned = reqwest::Client::new()
        .post(format!("{base}/webhook/sms/gateway"))
        .header("content-type", "application/json")
        .body(r#"{"id":"dev-1","from":"+6281200000010","text":"halo"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 200, "unsigned requests pass in --insecure-dev");
    common::eventually(20, || async { (!received.lock().unwrap().is_empty()).then_some(()) })
        .await
        .expect("and are answered");
    // The child's log reaches us through a pipe and a reader thread: wait for the line.
    let warned = common::eventually(5, || async {
        logged
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("accepted WITHOUT checking X-Teduh-Signature"))
            .then_some(())
    })
    .await;
    let log = logged.lock().unwrap().join("\n");
    assert!(log.contains("webhooks are NOT authenticated"), "a warning at start:\n{log}");
    assert!(warned.is_some(), "and on the request:\n{log}");
}
