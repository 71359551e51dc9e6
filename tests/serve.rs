//! `teduh serve`: health endpoint, start-up on the embedded default, configuration errors.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use teduh::http::{AppState, router};
use teduh::store::Store;
use tower::ServiceExt;

async fn get_health(store: Store) -> (StatusCode, serde_json::Value) {
    let coord = std::sync::Arc::new(teduh::coord::Local::new(Default::default()));
    let response = router(AppState { store, metrics: Default::default(), coord })
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn healthz_reports_the_database_on_sqlite_and_503_when_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    let (status, body) = get_health(store.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({ "status": "ok", "database": "sqlite" }));
    store.close().await;
    let (status, body) = get_health(store).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
}

#[tokio::test]
async fn healthz_on_postgres() {
    let Some(pg) = common::pg_store("healthz").await else {
        return;
    };
    let (status, body) = get_health(pg.store.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["database"], "postgres");
    pg.cleanup().await;
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to server");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serve_starts_with_no_configuration_and_answers_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state");
    let mut child = Command::new(env!("CARGO_BIN_EXE_teduh"))
        .arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TEDUH_BIND", "127.0.0.1:0")
        .env("TEDUH_DATA_DIR", &data)
        .env_remove("DATABASE_URL")
        .env_remove("TEDUH_CONFIG")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start teduh serve");
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut log = Vec::new();
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("server did not report its address; log so far:\n{}", log.join("\n")));
        log.push(line.clone());
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let all = log.join("\n");
    assert!(all.contains("no channels are enabled"), "{all}");
    assert!(all.contains("backend=\"sqlite\"") || all.contains("backend=sqlite"), "{all}");
    let response = http_get(&addr, "/healthz");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"ok\""), "{response}");
    let missing = http_get(&addr, "/nope");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert!(data.join("teduh.db").exists(), "the embedded database is created on first run");
    drop(server);
}

#[test]
fn bad_configuration_value_names_the_key() {
    let out = Command::new(env!("CARGO_BIN_EXE_teduh"))
        .arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TEDUH_BIND", "not-an-address")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`bind`") && err.contains("TEDUH_BIND"), "{err}");
}
