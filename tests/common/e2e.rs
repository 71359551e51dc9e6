//! The whole of Teduh as `teduh serve` wires it (`teduh::server::Server`), on a simulated clock,
//! with fake Telegram Bot API, WhatsApp Cloud API and Twilio servers on 127.0.0.1 receiving what
//! it sends, and helpers that post signed webhooks as the providers do.
//!
//! The directory is the shipped example with two changes so every channel carries a part: the
//! province's primary is reached by SMS only, and SAPA 129 gets a fictional on-call counselor on
//! Telegram (the real line has no counselors in Teduh's example).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, Path, State};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

use teduh::case::time::parse_date;
use teduh::clock::{Clock, ManualClock};
use teduh::config::Config;
use teduh::directory::provider::{Counselor, CounselorChannels};
use teduh::directory::{Directory, Regions, provider};
use teduh::escalation::policy::Policies;
use teduh::escalation::roster::read_roster;
use teduh::runtime::Runtime;
use teduh::server::Server;
use teduh::store::Store;

pub const BOT_TOKEN: &str = "123456:E2E-token_abc";
pub const TG_SECRET: &str = "e2e-telegram-secret-0123456789";
pub const WA_SECRET: &str = "e2e-whatsapp-app-secret";
pub const WA_PHONE_ID: &str = "1098765432";
pub const TWILIO_SID: &str = "ACe2e0123456789";
pub const TWILIO_TOKEN: &str = "e2e-twilio-auth-token";
pub const PUBLIC: &str = "https://teduh.example.org";

/// The survivor on WhatsApp, and another on SMS.
pub const WA_SURVIVOR: &str = "6281299990000";
pub const SMS_SURVIVOR: &str = "+6281299990001";
/// Telegram chats of the Kota Palu primary and backup, and of SAPA 129's test counselor.
pub const PALU_K1: i64 = 100000021;
pub const PALU_K2: i64 = 100000022;
pub const SAPA_K1: i64 = 100000991;
/// The province's primary, on SMS only here.
pub const SULTENG_K1_SMS: &str = "+6281200000101";

/// Every request a fake provider received: (path, body as JSON).
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<(String, Value)>>>);

impl Recorder {
    pub fn all(&self) -> Vec<(String, Value)> {
        self.0.lock().unwrap().clone()
    }

    pub fn push(&self, path: String, body: Value) -> usize {
        let mut calls = self.0.lock().unwrap();
        calls.push((path, body));
        calls.len()
    }
}

/// The fake Bot API: `sendMessage` answers with a Message, everything else with `true`.
async fn telegram_api(
    State(rec): State<Recorder>,
    Path((_bot, method)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let n = rec.push(method.clone(), body.clone());
    if method == "sendMessage" {
        Json(json!({ "ok": true, "result": {
            "message_id": 1000 + n, "date": 1_700_000_000,
            "chat": { "id": body["chat_id"], "type": "private" }, "text": body["text"] } }))
    } else {
        Json(json!({ "ok": true, "result": true }))
    }
}

/// The fake Graph API's `/{phone-number-id}/messages`.
async fn graph_messages(
    State(rec): State<Recorder>,
    Path(phone): Path<String>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let n = rec.push(phone, body.clone());
    Json(json!({ "messaging_product": "whatsapp",
        "contacts": [{ "input": body["to"], "wa_id": body["to"] }],
        "messages": [{ "id": format!("wamid.e2e{n}") }] }))
}

/// The fake Twilio Messages API (form in, JSON out, 201 Created).
async fn twilio_messages(
    State(rec): State<Recorder>,
    Path(_sid): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> (axum::http::StatusCode, Json<Value>) {
    let body: serde_json::Map<String, Value> = form.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    let n = rec.push("Messages.json".into(), Value::Object(body));
    (axum::http::StatusCode::CREATED, Json(json!({ "sid": format!("SM{n:032}"), "status": "queued" })))
}

pub struct World {
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub telegram: Recorder,
    pub graph: Recorder,
    pub twilio: Recorder,
    pub config: Config,
    pub directory: Arc<Directory>,
    pub server: Option<Server>,
    pub base: String,
    pub http: reqwest::Client,
    pub update_id: Mutex<i64>,
    _dir: tempfile::TempDir,
}

fn directory_for_test() -> (Regions, Vec<teduh::directory::Provider>) {
    let regions = Regions::embedded().unwrap();
    let mut providers =
        provider::read_directory(&super::crate_path("providers/example.yaml"), &regions).unwrap();
    for p in &mut providers {
        if p.id == "uptd-ppa-sulteng" {
            p.counselors[0].channels =
                CounselorChannels { sms: Some(SULTENG_K1_SMS.into()), ..CounselorChannels::default() };
        }
        if p.id == "sapa-129" {
            p.counselors.push(Counselor {
                id: "sapa-129-k1".into(),
                name: "Konselor Uji SAPA".into(),
                channels: CounselorChannels {
                    telegram: Some(SAPA_K1.to_string()),
                    ..CounselorChannels::default()
                },
            });
        }
    }
    (regions, providers)
}

/// A world at `local` (hours, minutes) on Monday 23 November 2026, WITA.
pub async fn world(local: (i64, i64)) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    let (regions, providers) = directory_for_test();
    let roster = dir.path().join("roster.csv");
    let mut csv = std::fs::read_to_string(super::crate_path("rosters/example.csv")).unwrap();
    csv.push_str("sapa-129,sapa-129-k1,primary,mon-sun,00:00,12:00\nsapa-129,sapa-129-k1,primary,mon-sun,12:00,00:00\n");
    std::fs::write(&roster, csv).unwrap();
    let shifts = read_roster(&roster, &providers).unwrap();
    store.replace_providers(&providers).await.unwrap();
    let ids: Vec<String> = providers.iter().map(|p| p.id.clone()).collect();
    store.replace_roster(&ids, &shifts).await.unwrap();
    let directory = Arc::new(Directory { regions, providers });
    let start = parse_date("2026-11-23", 8).unwrap() + (local.0 * 60 + local.1) * 60_000;
    let clock = Arc::new(ManualClock::new(start));

    let (telegram, graph, twilio) = (Recorder::default(), Recorder::default(), Recorder::default());
    let tg_url =
        super::serve(Router::new().route("/{bot}/{method}", post(telegram_api)).with_state(telegram.clone()))
            .await;
    let graph_url = super::serve(
        Router::new().route("/v21.0/{phone}/messages", post(graph_messages)).with_state(graph.clone()),
    )
    .await;
    let twilio_url = super::serve(
        Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(twilio_messages))
            .with_state(twilio.clone()),
    )
    .await;
    let vars = [
        ("TEDUH_DATA_DIR", dir.path().display().to_string()),
        ("TELEGRAM_BOT_TOKEN", BOT_TOKEN.into()),
        ("TELEGRAM_API_URL", tg_url),
        ("TELEGRAM_WEBHOOK_URL", format!("{PUBLIC}/webhook/telegram")),
        ("TELEGRAM_WEBHOOK_SECRET", TG_SECRET.into()),
        ("WHATSAPP_ACCESS_TOKEN", "e2e-graph-token".into()),
        ("WHATSAPP_PHONE_NUMBER_ID", WA_PHONE_ID.into()),
        ("WHATSAPP_APP_SECRET", WA_SECRET.into()),
        ("WHATSAPP_VERIFY_TOKEN", "e2e-verify".into()),
        ("WHATSAPP_API_URL", format!("{graph_url}/v21.0/")),
        ("TWILIO_ACCOUNT_SID", TWILIO_SID.into()),
        ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN.into()),
        ("TWILIO_FROM", "+14155550100".into()),
        ("SMS_PUBLIC_URL", PUBLIC.into()),
        ("TWILIO_API_URL", twilio_url),
    ];
    let config = Config::load(None, |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
        .expect("test configuration is valid");
    let mut w = World {
        store,
        clock,
        telegram,
        graph,
        twilio,
        config,
        directory,
        server: None,
        base: String::new(),
        http: reqwest::Client::new(),
        update_id: Mutex::new(0),
        _dir: dir,
    };
    w.start().await;
    w
}

/// Hex HMAC-SHA256 of `body`, as WhatsApp and the SMS gateway sign.
pub fn hmac_sha256_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Twilio's signature of a form posted to the inbound SMS webhook: HMAC-SHA1 over the public
/// URL and the sorted parameters, base64.
pub fn twilio_signature<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
    sorted.sort();
    let mut data = format!("{PUBLIC}/webhook/sms/twilio");
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(TWILIO_TOKEN.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl World {
    /// Starts (or restarts) Teduh over the same database and clock.
    pub async fn start(&mut self) {
        let engine =
            super::engine_from(&super::crate_path("flows"), &super::crate_path("locales"), "helpline")
                .with_directory(self.directory.clone());
        let runtime = Runtime::new(engine, self.store.clone(), self.clock.clone());
        let server =
            Server::start(&self.config, runtime, self.clock.clone(), Arc::new(Policies::shipped().unwrap()))
                .expect("server wiring");
        self.base = super::serve(server.router()).await;
        self.server = Some(server);
    }

    /// Stops Teduh as a shutdown would; what is in the database stays.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }

    pub fn minutes(&self, m: i64) {
        self.clock.advance_ms(m * 60_000);
    }

    pub async fn whatsapp(&self, id: &str, message: Value) {
        let mut message = message;
        message["from"] = json!(WA_SURVIVOR);
        message["id"] = json!(format!("wamid.in-{id}"));
        message["timestamp"] = json!((self.clock.now_ms() / 1000).to_string());
        let body = json!({ "object": "whatsapp_business_account", "entry": [{ "id": "WABA", "changes": [{
            "field": "messages",
            "value": { "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "6281100000000", "phone_number_id": WA_PHONE_ID },
                "contacts": [{ "profile": { "name": "S" }, "wa_id": WA_SURVIVOR }],
                "messages": [message] } }] }] })
        .to_string();
        let signature = format!("sha256={}", hmac_sha256_hex(WA_SECRET, body.as_bytes()));
        let response = self
            .http
            .post(format!("{}/webhook/whatsapp", self.base))
            .header("content-type", "application/json")
            .header("X-Hub-Signature-256", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    pub async fn whatsapp_text(&self, id: &str, text: &str) {
        self.whatsapp(id, json!({ "type": "text", "text": { "body": text } })).await;
    }

    pub async fn telegram_update(&self, update: Value) -> reqwest::StatusCode {
        let mut update = update;
        let id = {
            let mut n = self.update_id.lock().unwrap();
            *n += 1;
            *n
        };
        update["update_id"] = json!(id);
        // Telegram numbers messages per chat; a repeated number is a redelivery.
        if update["message"].is_object() {
            update["message"]["message_id"] = json!(id);
        }
        self.http
            .post(format!("{}/webhook/telegram", self.base))
            .header("X-Telegram-Bot-Api-Secret-Token", TG_SECRET)
            .json(&update)
            .send()
            .await
            .unwrap()
            .status()
    }

    pub async fn telegram_text(&self, chat: i64, text: &str) {
        let from = json!({ "id": chat, "is_bot": false, "first_name": "K" });
        let status = self
            .telegram_update(json!({ "message": { "message_id": 1, "date": self.clock.now_ms() / 1000,
                "chat": { "id": chat, "type": "private" }, "from": from, "text": text } }))
            .await;
        assert_eq!(status, 200);
    }

    pub async fn telegram_button(&self, chat: i64, index: usize) {
        let from = json!({ "id": chat, "is_bot": false, "first_name": "K" });
        let status = self
            .telegram_update(json!({ "callback_query": { "id": format!("cb{chat}{index}"), "from": from,
                "chat_instance": "e2e", "data": format!("c:{index}"),
                "message": { "message_id": 7, "date": self.clock.now_ms() / 1000,
                    "chat": { "id": chat, "type": "private" }, "text": "notice" } } }))
            .await;
        assert_eq!(status, 200);
    }

    pub async fn sms(&self, sid: &str, text: &str) {
        let params = [
            ("AccountSid", TWILIO_SID),
            ("Body", text),
            ("From", SMS_SURVIVOR),
            ("MessageSid", sid),
            ("To", "+14155550100"),
        ];
        let signature = twilio_signature(&params);
        let response = self
            .http
            .post(format!("{}/webhook/sms/twilio", self.base))
            .header("X-Twilio-Signature", signature)
            .form(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    /// Texts sent to a Telegram chat, in order.
    pub fn telegram_to(&self, chat: i64) -> Vec<Value> {
        self.telegram
            .all()
            .into_iter()
            .filter(|(m, b)| m == "sendMessage" && b["chat_id"].as_i64() == Some(chat))
            .map(|(_, b)| b)
            .collect()
    }

    /// Text bodies (or interactive body texts) sent on WhatsApp to the survivor.
    pub fn whatsapp_to_survivor(&self) -> Vec<String> {
        self.graph
            .all()
            .into_iter()
            .filter(|(_, b)| b["to"] == WA_SURVIVOR)
            .map(|(_, b)| {
                b["text"]["body"]
                    .as_str()
                    .or(b["interactive"]["body"]["text"].as_str())
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    /// SMS bodies sent to `to`.
    pub fn sms_to(&self, to: &str) -> Vec<String> {
        self.twilio
            .all()
            .into_iter()
            .filter(|(_, b)| b["To"] == to)
            .map(|(_, b)| b["Body"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Waits (at most 10 s) until `check` holds.
    pub async fn until(&self, what: &str, check: impl Fn(&Self) -> bool) {
        let ok = super::eventually(10, || async { check(self).then_some(()) }).await;
        if ok.is_none() {
            let outbox = self.store.outbox_for("whatsapp", WA_SURVIVOR).await.unwrap_or_default();
            panic!(
                "timed out waiting for: {what}\ntelegram: {:#?}\nwhatsapp: {:#?}\nsms: {:#?}\nwhatsapp outbox: {outbox:#?}",
                self.telegram.all(),
                self.graph.all(),
                self.twilio.all()
            );
        }
    }

    /// She reports an emergency on WhatsApp with a pin in Palu: not safe, physical violence,
    /// not a child, the perpetrator not near.
    pub async fn whatsapp_emergency(&self) {
        self.whatsapp_text("1", "darurat").await;
        self.until("the safety question", |w| {
            w.whatsapp_to_survivor().iter().any(|t| t.contains("aman saat ini"))
        })
        .await;
        self.whatsapp_text("2", "tidak").await;
        self.until("the numbers and the location question", |w| {
            w.whatsapp_to_survivor().iter().any(|t| t.contains("Kirim lokasi"))
        })
        .await;
        self.whatsapp(
            "3",
            json!({ "type": "location", "location": { "latitude": -0.90, "longitude": 119.86 } }),
        )
        .await;
        for (i, answer) in ["1", "tidak", "tidak"].iter().enumerate() {
            let before = self.whatsapp_to_survivor().len();
            self.whatsapp_text(&format!("{}", 4 + i), answer).await;
            self.until("the next question", |w| w.whatsapp_to_survivor().len() > before).await;
        }
    }

    pub fn notice_code(&self, chat: i64) -> String {
        let notices = self.telegram_to(chat);
        let last =
            notices.iter().rev().find_map(|b| b["text"].as_str().filter(|t| t.contains("TERIMA"))).unwrap();
        last.split("TERIMA ").nth(1).unwrap()[..4].to_string()
    }

    pub async fn case_events(&self) -> Vec<(String, String)> {
        let case = &self.store.cases_between(0, i64::MAX).await.unwrap()[0];
        case.events.iter().map(|e| (e.kind.clone(), e.detail.clone().unwrap_or_default())).collect()
    }
}

pub fn text(body: &Value) -> &str {
    body["text"].as_str().unwrap_or_default()
}

/// Runs a test body with an upper bound on its duration.
pub async fn bounded<F: std::future::Future<Output = ()>>(body: F) {
    tokio::time::timeout(Duration::from_secs(60), body).await.expect("test exceeded its time bound");
}
