//! The WhatsApp Cloud API channel end to end: signed webhooks into the shipped flows, replies
//! out to a fake Graph API on 127.0.0.1, with retries, rate limits, delivery statuses and the
//! 24-hour customer service window.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use teduh::channel::whatsapp::{WhatsAppConfig, WhatsAppSender, routes};
use teduh::channel::{Inbound, InboundEvent, Outgoing, OutgoingPayload, SendError, Sender};
use teduh::flow::Reply;
use teduh::store::Db;

use tokio::time::Instant;

const PHONE_ID: &str = "109876543210";
const SECRET: &str = "app-secret-for-tests";
const VERIFY: &str = "verify-me-please";
const TOKEN: &str = "test-access-token";
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

// ---------------------------------------------------------------------------------------------
// The fake Graph API.

/// One request the fake received, and what it answered.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    path: String,
    auth: Option<String>,
    body: Value,
    status: u16,
}

/// A scripted answer, used before the default success.
struct Scripted {
    status: u16,
    retry_after: Option<&'static str>,
    body: Value,
}

#[derive(Default)]
struct Graph {
    seen: Mutex<Vec<Seen>>,
    script: Mutex<VecDeque<Scripted>>,
    delay: Mutex<Option<Duration>>,
}

impl Graph {
    fn answer_next(&self, status: u16, retry_after: Option<&'static str>, body: Value) {
        self.script.lock().unwrap().push_back(Scripted { status, retry_after, body });
    }

    fn all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Messages accepted for `to`, in order.
    fn delivered_to(&self, to: &str) -> Vec<Seen> {
        self.all().into_iter().filter(|s| s.status == 200 && s.body["to"] == to).collect()
    }

    /// Waits until at least `count` messages were accepted for `to`.
    async fn wait_for(&self, to: &str, count: usize) -> Vec<Value> {
        common::eventually(10, || async {
            let got = self.delivered_to(to);
            (got.len() >= count).then(|| got.into_iter().map(|s| s.body).collect::<Vec<_>>())
        })
        .await
        .unwrap_or_else(|| {
            let got: Vec<String> = self.delivered_to(to).iter().map(|s| describe(&s.body)).collect();
            panic!("expected {count} messages to {to}, got {got:#?}")
        })
    }
}

async fn graph_messages(
    State(graph): State<Arc<Graph>>,
    Path(phone): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let delay = *graph.delay.lock().unwrap();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let scripted = graph.script.lock().unwrap().pop_front();
    let mut seen = graph.seen.lock().unwrap();
    let (status, retry_after, answer) = match scripted {
        Some(s) => (s.status, s.retry_after, s.body),
        None => {
            let to = body["to"].clone();
            let id = format!("wamid.fake{}", seen.len() + 1);
            (
                200,
                None,
                json!({ "messaging_product": "whatsapp", "contacts": [{ "input": to, "wa_id": to }], "messages": [{ "id": id }] }),
            )
        }
    };
    seen.push(Seen {
        at: Instant::now(),
        path: format!("/v21.0/{phone}/messages"),
        auth: headers.get("authorization").and_then(|h| h.to_str().ok()).map(str::to_string),
        body,
        status,
    });
    let status = StatusCode::from_u16(status).unwrap();
    let mut response = (status, Json(answer)).into_response();
    if let Some(after) = retry_after {
        response.headers_mut().insert("retry-after", after.parse().unwrap());
    }
    response
}

/// Starts a fake Graph API; returns it and its base URL (what `WHATSAPP_API_URL` is set to).
async fn fake_graph() -> (Arc<Graph>, String) {
    let graph = Arc::new(Graph::default());
    let router =
        axum::Router::new().route("/v21.0/{phone}/messages", post(graph_messages)).with_state(graph.clone());
    let base = common::serve(router).await;
    (graph, format!("{base}/v21.0/"))
}

/// A short description of a sent message, for assertion messages.
fn describe(body: &Value) -> String {
    match body["type"].as_str() {
        Some("text") => format!("text: {}", body["text"]["body"].as_str().unwrap_or_default()),
        Some("interactive") => {
            let i = &body["interactive"];
            format!("{}: {} {:?}", i["type"], i["body"]["text"], titles(body))
        }
        Some("template") => format!("template: {}", body["template"]["name"]),
        _ => body.to_string(),
    }
}

/// The choice titles of an interactive message, with their ids checked to be `c:<index>`.
fn titles(body: &Value) -> Vec<String> {
    let i = &body["interactive"];
    let items: Vec<(Value, Value)> = match i["type"].as_str() {
        Some("button") => i["action"]["buttons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["reply"]["id"].clone(), b["reply"]["title"].clone()))
            .collect(),
        Some("list") => i["action"]["sections"][0]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["id"].clone(), r["title"].clone()))
            .collect(),
        _ => return Vec::new(),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(n, (id, title))| {
            assert_eq!(id, format!("c:{n}"), "choice ids are c:<index>");
            title.as_str().unwrap().to_string()
        })
        .collect()
}

fn kind(body: &Value) -> String {
    match body["type"].as_str() {
        Some("interactive") => body["interactive"]["type"].as_str().unwrap().to_string(),
        other => other.unwrap_or_default().to_string(),
    }
}

fn text_of(body: &Value) -> &str {
    match body["type"].as_str() {
        Some("interactive") => body["interactive"]["body"]["text"].as_str().unwrap(),
        _ => body["text"]["body"].as_str().unwrap(),
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration, pipeline and webhooks.

fn config(api: &str, extra: &[(&str, &str)]) -> Arc<WhatsAppConfig> {
    let mut vars = vec![
        ("WHATSAPP_ACCESS_TOKEN", TOKEN.to_string()),
        ("WHATSAPP_PHONE_NUMBER_ID", PHONE_ID.to_string()),
        ("WHATSAPP_APP_SECRET", SECRET.to_string()),
        ("WHATSAPP_VERIFY_TOKEN", VERIFY.to_string()),
        ("WHATSAPP_API_URL", api.to_string()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let lookup = move |k: &str| vars.iter().rev().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    Arc::new(WhatsAppConfig::from_lookup(&lookup).expect("valid config").expect("channel on"))
}

/// The whole channel: fake Graph API, pipeline with the WhatsApp sender, webhook server.
struct Setup {
    graph: Arc<Graph>,
    p: common::Pipeline,
    hook: String,
    http: reqwest::Client,
}

async fn setup(extra: &[(&str, &str)]) -> Setup {
    let (graph, api) = fake_graph().await;
    let config = config(&api, extra);
    let sender = WhatsAppSender::new(config.clone());
    let p = common::Pipeline::start(vec![Arc::new(sender)]).await;
    let base = common::serve(routes(p.ingress.clone(), config)).await;
    Setup { graph, p, hook: format!("{base}/webhook/whatsapp"), http: reqwest::Client::new() }
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

impl Setup {
    /// Posts `body` signed as Meta signs it.
    async fn post(&self, body: &Value) -> StatusCode {
        let raw = body.to_string();
        let signature = sign(SECRET, raw.as_bytes());
        self.post_raw(raw, Some(signature)).await
    }

    async fn post_raw(&self, raw: String, signature: Option<String>) -> StatusCode {
        let mut request = self.http.post(&self.hook).header("content-type", "application/json").body(raw);
        if let Some(s) = signature {
            request = request.header("X-Hub-Signature-256", s);
        }
        let response = tokio::time::timeout(Duration::from_secs(10), request.send())
            .await
            .expect("webhook answers in time")
            .expect("webhook reachable");
        StatusCode::from_u16(response.status().as_u16()).unwrap()
    }

    async fn inbound_count(&self) -> i64 {
        match self.p.store.db() {
            Db::Sqlite(pool) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM inbound").fetch_one(pool).await.unwrap()
            }
            Db::Postgres(_) => unreachable!("tests run on SQLite"),
        }
    }

    /// Waits until `contact` has at least `count` outbox rows, all settled as `status`.
    async fn rows_settled(&self, contact: &str, count: usize, status: &str) -> Vec<teduh::store::OutboxRow> {
        common::eventually(10, || async {
            let rows = self.p.store.outbox_for("whatsapp", contact).await.unwrap();
            (rows.len() >= count && rows.iter().all(|r| r.status == status)).then_some(rows)
        })
        .await
        .unwrap_or_else(|| panic!("{contact}: expected {count} `{status}` rows"))
    }
}

/// A `messages` webhook for our number.
fn webhook(value: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": value }] }]
    })
}

fn messages(from: &str, list: Vec<Value>) -> Value {
    webhook(json!({
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "6281100000000", "phone_number_id": PHONE_ID },
        "contacts": [{ "profile": { "name": "Test" }, "wa_id": from }],
        "messages": list,
    }))
}

fn statuses(list: Vec<Value>) -> Value {
    webhook(json!({
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "6281100000000", "phone_number_id": PHONE_ID },
        "statuses": list,
    }))
}

fn msg(from: &str, id: &str, kind: &str, content: Value) -> Value {
    let mut m = json!({ "from": from, "id": id, "timestamp": "1717000000", "type": kind });
    m[kind] = content;
    m
}

fn text(from: &str, id: &str, body: &str) -> Value {
    msg(from, id, "text", json!({ "body": body }))
}

fn list_reply(from: &str, id: &str, index: usize) -> Value {
    msg(
        from,
        id,
        "interactive",
        json!({ "type": "list_reply", "list_reply": { "id": format!("c:{index}"), "title": "x" } }),
    )
}

fn button_reply(from: &str, id: &str, index: usize) -> Value {
    msg(
        from,
        id,
        "interactive",
        json!({ "type": "button_reply", "button_reply": { "id": format!("c:{index}"), "title": "x" } }),
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn outgoing(contact: &str, payload: OutgoingPayload, last_inbound_at: Option<i64>) -> Outgoing {
    Outgoing {
        id: 1,
        channel: "whatsapp".into(),
        contact: contact.into(),
        payload,
        last_inbound_at,
        opted_out: None,
        now_ms: now_ms(),
        attempts: 0,
    }
}

fn reply(text: &str, choices: &[&str]) -> OutgoingPayload {
    OutgoingPayload::Reply(Reply {
        text: text.into(),
        choices: choices.iter().map(|c| c.to_string()).collect(),
        expect: None,
    })
}

const MENU: [&str; 6] = [
    "Informasi",
    "Bicara dengan konselor",
    "Lapor darurat",
    "Layanan terdekat",
    "Bahasa / Language",
    "Keluar dengan aman",
];

// ---------------------------------------------------------------------------------------------
// 1. A conversation.

#[tokio::test]
async fn a_conversation_from_first_message_to_a_menu_choice() {
    let s = setup(&[]).await;
    let she = "6281234560001";

    assert_eq!(s.post(&messages(she, vec![text(she, "wamid.a1", "halo")])).await, StatusCode::OK);
    let sent = s.graph.wait_for(she, 2).await;
    let first = &s.graph.all()[0];
    assert_eq!(first.path, format!("/v21.0/{PHONE_ID}/messages"));
    assert_eq!(first.auth.as_deref(), Some("Bearer test-access-token"));
    assert_eq!(sent[0]["messaging_product"], "whatsapp");
    assert_eq!(kind(&sent[0]), "text");
    assert!(text_of(&sent[0]).starts_with("Halo, ini layanan Teduh"), "{}", describe(&sent[0]));
    assert_eq!(kind(&sent[1]), "list", "six choices come as a list");
    assert_eq!(text_of(&sent[1]), "Apa yang Anda perlukan? Balas dengan nomor.");
    assert_eq!(titles(&sent[1]), MENU);

    // Index 3 of the list: nearest services, which asks where she is.
    assert_eq!(s.post(&messages(she, vec![list_reply(she, "wamid.a2", 3)])).await, StatusCode::OK);
    let sent = s.graph.wait_for(she, 3).await;
    assert_eq!(kind(&sent[2]), "text");
    assert_eq!(text_of(&sent[2]), "Kirim lokasi Anda, atau tulis nama kabupaten/kota Anda.");

    // A shared location in Palu: the services there, then two buttons.
    let palu = json!({ "latitude": -0.8950, "longitude": 119.8594, "name": "x" });
    assert_eq!(s.post(&messages(she, vec![msg(she, "wamid.a3", "location", palu)])).await, StatusCode::OK);
    let sent = s.graph.wait_for(she, 5).await;
    assert!(text_of(&sent[3]).starts_with("Layanan terdekat:"), "{}", describe(&sent[3]));
    assert!(text_of(&sent[3]).contains("UPTD PPA Kota Palu"), "{}", describe(&sent[3]));
    assert_eq!(kind(&sent[4]), "button", "two short choices come as reply buttons");
    assert_eq!(titles(&sent[4]), ["Menu utama", "Selesai"]);

    // The "Menu utama" button, then "Bicara dengan konselor" from the list.
    assert_eq!(s.post(&messages(she, vec![button_reply(she, "wamid.a4", 0)])).await, StatusCode::OK);
    let sent = s.graph.wait_for(she, 6).await;
    assert_eq!(titles(&sent[5]), MENU);
    assert_eq!(s.post(&messages(she, vec![list_reply(she, "wamid.a5", 1)])).await, StatusCode::OK);
    let sent = s.graph.wait_for(she, 8).await;
    assert!(text_of(&sent[6]).starts_with("Konselor dari layanan"), "{}", describe(&sent[6]));
    assert_eq!(kind(&sent[7]), "button", "a yes/no question comes as reply buttons");
    assert!(text_of(&sent[7]).starts_with("Apakah Anda bisa berbicara dengan aman"));
    assert_eq!(titles(&sent[7]), ["Ya", "Tidak"]);

    // Typed instead of pressed: "ya" answers it too.
    assert_eq!(s.post(&messages(she, vec![text(she, "wamid.a6", "ya")])).await, StatusCode::OK);
    let sent = s.graph.wait_for(she, 9).await;
    assert_eq!(text_of(&sent[8]), "Tentang apa Anda ingin berbicara?");
    assert_eq!(kind(&sent[8]), "list");
    assert_eq!(titles(&sent[8])[0], "Kekerasan di rumah");

    let rows = s.rows_settled(she, 9, "sent").await;
    assert_eq!(rows.len(), 9);
    assert!(rows.iter().all(|r| r.provider_message_id.as_deref().is_some_and(|id| id.starts_with("wamid."))));
    s.p.stop().await;
}

#[tokio::test]
async fn media_is_kept_as_a_reference_and_foreign_numbers_are_ignored() {
    let s = setup(&[]).await;
    let she = "6281234560002";
    s.post(&messages(she, vec![text(she, "wamid.m1", "halo")])).await;
    s.graph.wait_for(she, 2).await;
    let photo = msg(she, "wamid.m2", "image", json!({ "id": "1479537139650973", "mime_type": "image/jpeg" }));
    let voice = msg(she, "wamid.m3", "audio", json!({ "id": "2479537139650974", "voice": true }));
    assert_eq!(s.post(&messages(she, vec![photo, voice])).await, StatusCode::OK);
    let sent = s.graph.wait_for(she, 6).await;
    assert!(
        text_of(&sent[2]).starts_with("Terima kasih, file Anda sudah kami terima"),
        "{}",
        describe(&sent[2])
    );
    let conversation = s.p.store.conversation("whatsapp", she).await.unwrap().unwrap();
    let attachments = s.p.store.attachments_of(&conversation.id).await.unwrap();
    assert_eq!(
        attachments,
        [
            ("photo".to_string(), "1479537139650973".to_string()),
            ("voice".to_string(), "2479537139650974".to_string())
        ]
    );

    // A webhook for another phone number of the same Meta app is not ours to answer.
    let before = s.inbound_count().await;
    let mut other = messages("6281234560003", vec![text("6281234560003", "wamid.m4", "halo")]);
    other["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = json!("999");
    assert_eq!(s.post(&other).await, StatusCode::OK);
    assert_eq!(s.inbound_count().await, before);
    s.p.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. and 3. Verification and signatures.

#[tokio::test]
async fn get_verification_echoes_the_challenge_only_for_the_right_token() {
    let s = setup(&[]).await;
    let get = |query: &'static str| {
        let url = format!("{}?{query}", s.hook);
        let http = s.http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, body) =
        get("hub.mode=subscribe&hub.verify_token=verify-me-please&hub.challenge=1158201444").await;
    assert_eq!((status, body.as_str()), (200, "1158201444"));
    let (status, body) = get("hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444").await;
    assert_eq!(status, 403);
    assert!(!body.contains("1158201444"));
    assert_eq!(get("hub.mode=unsubscribe&hub.verify_token=verify-me-please&hub.challenge=1").await.0, 403);
    assert_eq!(get("hub.verify_token=verify-me-please&hub.challenge=1").await.0, 403);
    s.p.stop().await;
}

#[tokio::test]
async fn bad_signatures_and_malformed_bodies_store_nothing() {
    let s = setup(&[]).await;
    let she = "6281234560010";
    let body = messages(she, vec![text(she, "wamid.s1", "halo")]).to_string();

    assert_eq!(s.post_raw(body.clone(), None).await, StatusCode::UNAUTHORIZED);
    let wrong_secret = sign("not-the-secret", body.as_bytes());
    assert_eq!(s.post_raw(body.clone(), Some(wrong_secret)).await, StatusCode::UNAUTHORIZED);
    let tampered = body.replace("halo", "hal0");
    assert_eq!(s.post_raw(tampered, Some(sign(SECRET, body.as_bytes()))).await, StatusCode::UNAUTHORIZED);
    assert_eq!(s.post_raw(body.clone(), Some("sha256=zz".into())).await, StatusCode::UNAUTHORIZED);
    let bare_hex = sign(SECRET, body.as_bytes()).trim_start_matches("sha256=").to_string();
    assert_eq!(s.post_raw(body.clone(), Some(bare_hex)).await, StatusCode::UNAUTHORIZED);

    let malformed = "{\"entry\": [ {".to_string();
    assert_eq!(
        s.post_raw(malformed.clone(), Some(sign(SECRET, malformed.as_bytes()))).await,
        StatusCode::BAD_REQUEST
    );
    let wrong_shape = "{\"entry\": \"nope\"}".to_string();
    assert_eq!(
        s.post_raw(wrong_shape.clone(), Some(sign(SECRET, wrong_shape.as_bytes()))).await,
        StatusCode::BAD_REQUEST
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.inbound_count().await, 0, "nothing stored");
    assert!(s.p.store.conversation("whatsapp", she).await.unwrap().is_none());
    assert!(s.graph.all().is_empty(), "nothing sent");
    s.p.stop().await;
}

#[tokio::test]
async fn a_database_outage_answers_503_so_meta_delivers_again() {
    let s = setup(&[]).await;
    let she = "6281234560011";
    s.p.store.close().await;
    assert_eq!(
        s.post(&messages(she, vec![text(she, "wamid.d1", "halo")])).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        s.post(&statuses(vec![json!({ "id": "wamid.x", "status": "read" })])).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    s.p.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Duplicates.

#[tokio::test]
async fn the_same_webhook_twice_is_one_step_and_one_reply() {
    let s = setup(&[]).await;
    let she = "6281234560020";
    let body = messages(she, vec![text(she, "wamid.dup1", "halo")]);
    assert_eq!(s.post(&body).await, StatusCode::OK);
    assert_eq!(s.post(&body).await, StatusCode::OK, "a redelivery is acknowledged");
    s.graph.wait_for(she, 2).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(s.inbound_count().await, 1);
    let sent = s.graph.delivered_to(she);
    assert_eq!(
        sent.len(),
        2,
        "welcome and menu once: {:#?}",
        sent.iter().map(|x| describe(&x.body)).collect::<Vec<_>>()
    );
    assert_eq!(s.p.store.outbox_for("whatsapp", she).await.unwrap().len(), 2);
    s.p.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 5. Retries and API errors.

#[tokio::test]
async fn a_server_error_is_retried_and_delivered_exactly_once() {
    let s = setup(&[]).await;
    let she = "6281234560030";
    s.graph.answer_next(500, None, json!({ "error": { "message": "Internal", "code": 131000 } }));
    s.post(&messages(she, vec![text(she, "wamid.r1", "halo")])).await;
    let rows = s.rows_settled(she, 2, "sent").await;
    let welcome: Vec<Seen> = s
        .graph
        .all()
        .into_iter()
        .filter(|x| x.body["type"] == "text" && text_of(&x.body).starts_with("Halo, ini layanan"))
        .collect();
    assert_eq!(
        welcome.iter().map(|x| x.status).collect::<Vec<_>>(),
        [500, 200],
        "failed once, then delivered"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.graph.delivered_to(she).len(), 2, "each message delivered exactly once");
    assert_eq!(rows[0].attempts, 2);
    assert!(rows[0].provider_message_id.as_deref().is_some_and(|id| id.starts_with("wamid.fake")));
    s.p.stop().await;
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after() {
    let s = setup(&[]).await;
    let she = "6281234560031";
    // 3 s is longer than the dispatcher's own first backoff (at most 2.5 s): the header counts.
    s.graph.answer_next(429, Some("3"), json!({ "error": { "message": "Rate limit hit", "code": 130429 } }));
    s.post(&messages(she, vec![text(she, "wamid.r2", "halo")])).await;
    let rows = s.rows_settled(she, 2, "sent").await;
    let all = s.graph.all();
    let refused = all.iter().find(|x| x.status == 429).expect("a 429 answered");
    let retried =
        all.iter().find(|x| x.status == 200 && x.body == refused.body).expect("the same message sent again");
    let waited = retried.at - refused.at;
    assert!(waited >= Duration::from_millis(2_900) && waited < Duration::from_secs(6), "{waited:?}");
    assert_eq!(rows[0].attempts, 2);
    s.p.stop().await;
}

#[tokio::test]
async fn api_errors_are_classified_by_the_sender() {
    let (graph, api) = fake_graph().await;
    let sender = WhatsAppSender::new(config(&api, &[]));
    let message = outgoing("6281234560032", reply("Halo", &[]), Some(now_ms()));

    graph.answer_next(
        400,
        None,
        json!({ "error": { "message": "(#131030) Recipient phone number not in allowed list", "type": "OAuthException",
                "code": 131030, "error_data": { "messaging_product": "whatsapp", "details": "Recipient phone number not in allowed list" } } }),
    );
    match sender.send(&message).await {
        Err(SendError::Permanent(reason)) => {
            assert!(reason.contains("131030") && reason.contains("not in allowed list"), "{reason}")
        }
        other => panic!("expected a permanent failure, got {other:?}"),
    }
    graph.answer_next(429, Some("7"), json!({}));
    assert!(matches!(
        sender.send(&message).await,
        Err(SendError::Retry { after: Some(d), .. }) if d == Duration::from_secs(7)
    ));
    graph.answer_next(503, None, json!({}));
    assert!(matches!(sender.send(&message).await, Err(SendError::Retry { after: None, .. })));
    graph.answer_next(400, None, json!({ "error": { "message": "Rate limit hit", "code": 130429 } }));
    assert!(matches!(sender.send(&message).await, Err(SendError::Retry { .. })), "throttling codes retry");

    *graph.delay.lock().unwrap() = Some(Duration::from_secs(3));
    let impatient = WhatsAppSender::new(config(&api, &[])).with_timeout(Duration::from_millis(300));
    match impatient.send(&message).await {
        Err(SendError::Retry { reason, .. }) => assert!(reason.contains("timed out"), "{reason}"),
        other => panic!("expected a retry after a timeout, got {other:?}"),
    }
    *graph.delay.lock().unwrap() = None;

    let receipt = sender.send(&message).await.unwrap();
    assert_eq!(receipt.provider_ids.len(), 1);
    assert!(receipt.provider_ids[0].starts_with("wamid.fake"));
}

#[tokio::test]
async fn long_texts_split_and_long_choices_become_a_numbered_list() {
    let (graph, api) = fake_graph().await;
    let sender = WhatsAppSender::new(config(&api, &[]));
    let she = "6281234560033";
    let recent = Some(now_ms() - 60_000);

    let long = "Teduh mendengarkan Anda. ".repeat(250); // 6250 characters
    let receipt = sender.send(&outgoing(she, reply(&long, &[]), recent)).await.unwrap();
    let sent = graph.wait_for(she, 2).await;
    assert_eq!(receipt.provider_ids.len(), 2, "one id per message sent");
    assert!(sent.iter().all(|m| kind(m) == "text" && text_of(m).chars().count() <= 4096));
    // Rejoined with one space they give the text back: every break was between two words.
    assert_eq!(format!("{} {}", text_of(&sent[0]), text_of(&sent[1])), long.trim());

    let eleven: Vec<String> = (1..=11).map(|i| format!("Pilihan {i}")).collect();
    let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
    sender.send(&outgoing(she, reply("Pilih:", &eleven), recent)).await.unwrap();
    let too_long = ["Ya", "Tidak, terima kasih banyak"];
    sender.send(&outgoing(she, reply("Lanjut?", &too_long), recent)).await.unwrap();
    let sent = graph.wait_for(she, 4).await;
    assert_eq!(kind(&sent[2]), "text");
    assert!(text_of(&sent[2]).starts_with("Pilih:\n\n1. Pilihan 1\n2. Pilihan 2\n"));
    assert!(text_of(&sent[2]).ends_with("\n11. Pilihan 11"));
    assert_eq!(text_of(&sent[3]), "Lanjut?\n\n1. Ya\n2. Tidak, terima kasih banyak");

    // WhatsApp cannot delete what a business sent: clearing the chat sends nothing.
    let cleared = sender
        .send(&outgoing(
            she,
            OutgoingPayload::ClearChat { message_ids: vec!["wamid.fake1".into()], pending: Vec::new() },
            recent,
        ))
        .await
        .unwrap();
    assert!(cleared.provider_ids.is_empty());
    assert_eq!(graph.all().len(), 4);
}

// ---------------------------------------------------------------------------------------------
// 6. Rate limit.

#[tokio::test]
async fn the_configured_rate_holds_for_a_burst_of_conversations() {
    let s = setup(&[("WHATSAPP_RATE", "5")]).await;
    let people: Vec<String> = (0..10).map(|i| format!("62812345601{i:02}")).collect();
    let burst: Vec<Value> =
        people.iter().enumerate().map(|(i, p)| text(p, &format!("wamid.b{i}"), "halo")).collect();
    // One webhook can carry several people's messages.
    let mut body = messages(&people[0], burst);
    body["entry"][0]["changes"][0]["value"]["contacts"] = json!([]);
    assert_eq!(s.post(&body).await, StatusCode::OK);
    let done = common::eventually(15, || async { (s.graph.all().len() >= 20).then_some(()) }).await;
    assert!(done.is_some(), "20 messages sent, got {}", s.graph.all().len());
    for p in &people {
        assert_eq!(s.graph.delivered_to(p).len(), 2);
    }
    let times: Vec<Instant> = s.graph.all().iter().map(|x| x.at).collect();
    let first = times[0];
    let span = times[times.len() - 1] - first;
    // 5 at once, then 5 per second: the 20th no sooner than 3 s after the first.
    assert!(span >= Duration::from_millis(2_700), "20 sends took only {span:?}");
    for &start in &times {
        let in_window = times.iter().filter(|&&t| t >= start && t - start < Duration::from_secs(1)).count();
        assert!(in_window <= 10, "{in_window} sends within one second");
    }
    let second =
        times.iter().filter(|&&t| t - first >= Duration::from_secs(1) && t - first < Duration::from_secs(2));
    assert!(second.count() <= 7, "steady rate well above 5/s");
    s.p.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 7. Delivery statuses.

#[tokio::test]
async fn delivery_statuses_move_outbox_rows_forward() {
    let s = setup(&[]).await;
    let she = "6281234560040";
    s.post(&messages(she, vec![text(she, "wamid.st1", "halo")])).await;
    let rows = s.rows_settled(she, 2, "sent").await;
    let welcome = rows[0].provider_message_id.clone().unwrap();
    let menu = rows[1].provider_message_id.clone().unwrap();
    let status = |id: &str, state: &str| json!({ "id": id, "status": state, "timestamp": "1717000100", "recipient_id": she });
    let state_of = |i: usize| {
        let store = s.p.store.clone();
        async move { store.outbox_for("whatsapp", she).await.unwrap()[i].clone() }
    };

    assert_eq!(
        s.post(&statuses(vec![status(&welcome, "sent"), status(&welcome, "delivered")])).await,
        StatusCode::OK
    );
    assert_eq!(state_of(0).await.status, "delivered");
    assert_eq!(s.post(&statuses(vec![status(&welcome, "read")])).await, StatusCode::OK);
    assert_eq!(state_of(0).await.status, "read");
    assert_eq!(s.post(&statuses(vec![status(&welcome, "delivered")])).await, StatusCode::OK);
    assert_eq!(state_of(0).await.status, "read", "a late status does not move a row back");

    let mut failed = status(&menu, "failed");
    failed["errors"] = json!([{ "code": 131026, "title": "Message undeliverable",
        "error_data": { "details": "Message Undeliverable." } }]);
    assert_eq!(s.post(&statuses(vec![failed])).await, StatusCode::OK);
    let row = state_of(1).await;
    assert_eq!(row.status, "failed");
    let error = row.error.unwrap();
    assert!(error.contains("131026") && error.contains("Message undeliverable"), "{error}");

    assert_eq!(
        s.post(&statuses(vec![status("wamid.unknown", "read")])).await,
        StatusCode::OK,
        "unknown ids are fine"
    );
    s.p.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 8. The 24-hour window.

#[tokio::test]
async fn outside_the_window_the_sender_uses_the_template_or_refuses() {
    let (graph, api) = fake_graph().await;
    let she = "6281234560050";
    let old = Some(now_ms() - DAY_MS - 3_600_000);
    let with_template = WhatsAppSender::new(config(
        &api,
        &[("WHATSAPP_TEMPLATE", "teduh_follow_up"), ("WHATSAPP_TEMPLATE_LANG", "en_US")],
    ));
    // Written more than 24 hours ago, or never: the template instead of the message.
    let never = "6281234560053";
    for (to, last) in [(she, old), (never, None)] {
        let receipt =
            with_template.send(&outgoing(to, reply("Ada lagi?", &["Ya", "Tidak"]), last)).await.unwrap();
        assert_eq!(receipt.provider_ids.len(), 1);
        let sent = graph.wait_for(to, 1).await;
        assert_eq!(sent[0]["type"], "template", "{}", sent[0]);
        assert_eq!(
            sent[0]["template"],
            json!({ "name": "teduh_follow_up", "language": { "code": "en_US" } })
        );
    }
    // A second reply right after shares that template instead of buzzing her phone again.
    match with_template.send(&outgoing(she, reply("Apa yang Anda perlukan?", &[]), old)).await {
        Err(SendError::Refused(reason)) => assert!(reason.contains("moments ago"), "{reason}"),
        other => panic!("expected the second template to be held back, got {other:?}"),
    }
    assert_eq!(graph.delivered_to(she).len(), 1);
    // Within the window the message itself goes out.
    with_template
        .send(&outgoing(she, reply("Ada lagi?", &["Ya", "Tidak"]), Some(now_ms() - 3_600_000)))
        .await
        .unwrap();
    assert_eq!(kind(&graph.wait_for(she, 2).await[1]), "button");

    let without = WhatsAppSender::new(config(&api, &[]));
    let before = graph.all().len();
    match without.send(&outgoing(she, reply("Ada lagi?", &[]), old)).await {
        Err(SendError::Refused(reason)) => {
            assert!(reason.contains("24-hour") && reason.contains("WHATSAPP_TEMPLATE"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(graph.all().len(), before, "nothing sent for the refusal");
}

/// Stores a message as if it had arrived 25 hours ago; the worker steps it and the replies
/// meet the closed window at the dispatcher.
async fn wrote_a_day_ago(s: &Setup, she: &str) {
    let inbound = Inbound {
        channel: "whatsapp".into(),
        provider_id: Some(format!("wamid.old-{she}")),
        contact: she.into(),
        event: InboundEvent::Text { text: "halo".into() },
        lang_hint: None,
    };
    s.p.store.accept_inbound(&inbound, now_ms() - DAY_MS - 3_600_000).await.unwrap();
}

#[tokio::test]
async fn the_dispatcher_records_a_refusal_outside_the_window() {
    let s = setup(&[]).await;
    let she = "6281234560051";
    wrote_a_day_ago(&s, she).await;
    let rows = s.rows_settled(she, 2, "refused").await;
    for row in &rows {
        let error = row.error.as_deref().unwrap_or_default();
        assert!(error.contains("24-hour customer service window"), "{error}");
        assert_eq!(row.provider_message_id, None);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(s.graph.all().is_empty(), "nothing reaches WhatsApp");

    // Once she writes again, the window is open and replies go out as usual.
    s.post(&messages(she, vec![text(she, "wamid.w1", "menu")])).await;
    let sent = s.graph.wait_for(she, 1).await;
    assert_eq!(kind(&sent[0]), "list");
    s.p.stop().await;
}

#[tokio::test]
async fn the_dispatcher_sends_the_template_outside_the_window_when_configured() {
    let s = setup(&[("WHATSAPP_TEMPLATE", "teduh_follow_up")]).await;
    let she = "6281234560052";
    wrote_a_day_ago(&s, she).await;
    // The step queued the welcome and the menu: one template goes out for both.
    let rows = common::eventually(10, || async {
        let rows = s.p.store.outbox_for("whatsapp", she).await.unwrap();
        let statuses: Vec<String> = rows.iter().map(|r| r.status.clone()).collect();
        (statuses == ["sent", "refused"]).then_some(rows)
    })
    .await
    .expect("the first row sent as the template, the second held back");
    assert!(rows[0].provider_message_id.as_deref().is_some_and(|id| id.starts_with("wamid.fake")));
    assert!(rows[1].error.as_deref().is_some_and(|e| e.contains("template sent to her moments ago")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = s.graph.delivered_to(she);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["template"], json!({ "name": "teduh_follow_up", "language": { "code": "id" } }));
    s.p.stop().await;
}
