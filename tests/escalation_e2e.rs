//! Escalation end to end through the real wiring (`teduh::server::Server`, as `teduh serve`
//! runs it): signed webhooks in, and fake Telegram Bot API, WhatsApp Cloud API and Twilio
//! servers on 127.0.0.1 receiving what Teduh sends, on a simulated clock.
//!
//! The directory is the shipped example with three changes so every channel carries a part:
//! the province's primary is reached by SMS only, and SAPA 129 gets a fictional on-call
//! counselor on Telegram (the real line has no counselors in Teduh's example).

mod common;

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

const BOT_TOKEN: &str = "123456:E2E-token_abc";
const TG_SECRET: &str = "e2e-telegram-secret-0123456789";
const WA_SECRET: &str = "e2e-whatsapp-app-secret";
const WA_PHONE_ID: &str = "1098765432";
const TWILIO_SID: &str = "ACe2e0123456789";
const TWILIO_TOKEN: &str = "e2e-twilio-auth-token";
const PUBLIC: &str = "https://teduh.example.org";

/// The survivor on WhatsApp, and another on SMS.
const WA_SURVIVOR: &str = "6281299990000";
const SMS_SURVIVOR: &str = "+6281299990001";
/// Telegram chats of the Kota Palu primary and backup, and of SAPA 129's test counselor.
const PALU_K1: i64 = 100000021;
const PALU_K2: i64 = 100000022;
const SAPA_K1: i64 = 100000991;
/// The province's primary, on SMS only here.
const SULTENG_K1_SMS: &str = "+6281200000101";

/// Every request a fake provider received: (path, body as JSON).
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(String, Value)>>>);

impl Recorder {
    fn all(&self) -> Vec<(String, Value)> {
        self.0.lock().unwrap().clone()
    }

    fn push(&self, path: String, body: Value) -> usize {
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

struct World {
    store: Store,
    clock: Arc<ManualClock>,
    telegram: Recorder,
    graph: Recorder,
    twilio: Recorder,
    config: Config,
    directory: Arc<Directory>,
    server: Option<Server>,
    base: String,
    http: reqwest::Client,
    update_id: Mutex<i64>,
    _dir: tempfile::TempDir,
}

fn directory_for_test() -> (Regions, Vec<teduh::directory::Provider>) {
    let regions = Regions::embedded().unwrap();
    let mut providers =
        provider::read_directory(&common::crate_path("providers/example.yaml"), &regions).unwrap();
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
async fn world(local: (i64, i64)) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    let (regions, providers) = directory_for_test();
    let roster = dir.path().join("roster.csv");
    let mut csv = std::fs::read_to_string(common::crate_path("rosters/example.csv")).unwrap();
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
    let tg_url = common::serve(
        Router::new().route("/{bot}/{method}", post(telegram_api)).with_state(telegram.clone()),
    )
    .await;
    let graph_url = common::serve(
        Router::new().route("/v21.0/{phone}/messages", post(graph_messages)).with_state(graph.clone()),
    )
    .await;
    let twilio_url = common::serve(
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

fn hmac_sha256_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

impl World {
    /// Starts (or restarts) Teduh over the same database and clock.
    async fn start(&mut self) {
        let engine =
            common::engine_from(&common::crate_path("flows"), &common::crate_path("locales"), "helpline")
                .with_directory(self.directory.clone());
        let runtime = Runtime::new(engine, self.store.clone(), self.clock.clone());
        let server =
            Server::start(&self.config, runtime, self.clock.clone(), Arc::new(Policies::shipped().unwrap()))
                .expect("server wiring");
        self.base = common::serve(server.router()).await;
        self.server = Some(server);
    }

    /// Stops Teduh as a shutdown would; what is in the database stays.
    async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }

    fn minutes(&self, m: i64) {
        self.clock.advance_ms(m * 60_000);
    }

    async fn whatsapp(&self, id: &str, message: Value) {
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

    async fn whatsapp_text(&self, id: &str, text: &str) {
        self.whatsapp(id, json!({ "type": "text", "text": { "body": text } })).await;
    }

    async fn telegram_update(&self, update: Value) -> reqwest::StatusCode {
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

    async fn telegram_text(&self, chat: i64, text: &str) {
        let from = json!({ "id": chat, "is_bot": false, "first_name": "K" });
        let status = self
            .telegram_update(json!({ "message": { "message_id": 1, "date": self.clock.now_ms() / 1000,
                "chat": { "id": chat, "type": "private" }, "from": from, "text": text } }))
            .await;
        assert_eq!(status, 200);
    }

    async fn telegram_button(&self, chat: i64, index: usize) {
        let from = json!({ "id": chat, "is_bot": false, "first_name": "K" });
        let status = self
            .telegram_update(json!({ "callback_query": { "id": format!("cb{chat}{index}"), "from": from,
                "chat_instance": "e2e", "data": format!("c:{index}"),
                "message": { "message_id": 7, "date": self.clock.now_ms() / 1000,
                    "chat": { "id": chat, "type": "private" }, "text": "notice" } } }))
            .await;
        assert_eq!(status, 200);
    }

    async fn sms(&self, sid: &str, text: &str) {
        let params = [
            ("AccountSid", TWILIO_SID),
            ("Body", text),
            ("From", SMS_SURVIVOR),
            ("MessageSid", sid),
            ("To", "+14155550100"),
        ];
        let mut data = format!("{PUBLIC}/webhook/sms/twilio");
        let mut sorted = params.to_vec();
        sorted.sort();
        for (k, v) in sorted {
            data.push_str(k);
            data.push_str(v);
        }
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(TWILIO_TOKEN.as_bytes()).unwrap();
        mac.update(data.as_bytes());
        let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
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
    fn telegram_to(&self, chat: i64) -> Vec<Value> {
        self.telegram
            .all()
            .into_iter()
            .filter(|(m, b)| m == "sendMessage" && b["chat_id"].as_i64() == Some(chat))
            .map(|(_, b)| b)
            .collect()
    }

    /// Text bodies (or interactive body texts) sent on WhatsApp to the survivor.
    fn whatsapp_to_survivor(&self) -> Vec<String> {
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
    fn sms_to(&self, to: &str) -> Vec<String> {
        self.twilio
            .all()
            .into_iter()
            .filter(|(_, b)| b["To"] == to)
            .map(|(_, b)| b["Body"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Waits (at most 10 s) until `check` holds.
    async fn until(&self, what: &str, check: impl Fn(&Self) -> bool) {
        let ok = common::eventually(10, || async { check(self).then_some(()) }).await;
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
    async fn whatsapp_emergency(&self) {
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

    fn notice_code(&self, chat: i64) -> String {
        let notices = self.telegram_to(chat);
        let last =
            notices.iter().rev().find_map(|b| b["text"].as_str().filter(|t| t.contains("TERIMA"))).unwrap();
        last.split("TERIMA ").nth(1).unwrap()[..4].to_string()
    }

    async fn case_events(&self) -> Vec<(String, String)> {
        let case = &self.store.cases_between(0, i64::MAX).await.unwrap()[0];
        case.events.iter().map(|e| (e.kind.clone(), e.detail.clone().unwrap_or_default())).collect()
    }
}

fn text(body: &Value) -> &str {
    body["text"].as_str().unwrap_or_default()
}

/// Runs a test body with an upper bound on its duration.
async fn bounded<F: std::future::Future<Output = ()>>(body: F) {
    tokio::time::timeout(Duration::from_secs(60), body).await.expect("test exceeded its time bound");
}

#[tokio::test]
async fn whatsapp_emergency_in_palu_reaches_telegram_counselors_relays_and_ends_with_the_survey() {
    bounded(async {
        let mut w = world((10, 0)).await;
        w.whatsapp_emergency().await;
        w.until("the Palu primary's notice", |w| !w.telegram_to(PALU_K1).is_empty()).await;
        let notice = &w.telegram_to(PALU_K1)[0];
        assert!(
            text(notice).starts_with("[Teduh] Kasus K-") && text(notice).contains("urgent, fisik"),
            "{notice}"
        );
        assert!(!notice.to_string().contains(WA_SURVIVOR), "never her number");
        let buttons = &notice["reply_markup"]["inline_keyboard"];
        assert_eq!(
            (buttons[0][0]["text"].as_str(), buttons[1][0]["text"].as_str()),
            (Some("1. Terima"), Some("2. Lewati"))
        );
        assert!(w.telegram_to(PALU_K2).is_empty(), "the backup waits two minutes");

        // No answer in two minutes: the backup.
        w.minutes(2);
        w.until("the backup's notice", |w| !w.telegram_to(PALU_K2).is_empty()).await;
        // The backup accepts with the button; the survivor hears who has her case.
        w.telegram_button(PALU_K2, 0).await;
        w.until("the survivor is told", |w| {
            w.whatsapp_to_survivor().iter().any(|t| t.starts_with("Konselor Contoh 2B dari"))
        })
        .await;
        w.until("the backup is told the case is hers", |w| {
            w.telegram_to(PALU_K2).iter().any(|b| text(b).contains("sekarang Anda tangani"))
        })
        .await;
        assert!(w.telegram.all().iter().any(|(m, _)| m == "answerCallbackQuery"));

        // The primary's late accept loses and says who took it.
        let late = w.notice_code(PALU_K1);
        w.telegram_text(PALU_K1, &format!("TERIMA {late}")).await;
        w.until("the primary is told", |w| {
            w.telegram_to(PALU_K1).iter().any(|b| text(b).contains("sudah diterima oleh Konselor Contoh 2B"))
        })
        .await;

        // Both ways across channels, under the case code and the counselor's name.
        w.whatsapp_text("r1", "Saya takut, dia masih di luar.").await;
        w.until("her words at the counselor", |w| {
            w.telegram_to(PALU_K2).iter().any(|b| text(b).ends_with("] Saya takut, dia masih di luar."))
        })
        .await;
        w.telegram_text(PALU_K2, "Saya di sini. Apakah pintu terkunci?").await;
        w.until("the counselor's words at her", |w| {
            w.whatsapp_to_survivor()
                .iter()
                .any(|t| t == "Konselor Contoh 2B: Saya di sini. Apakah pintu terkunci?")
        })
        .await;

        // Closing brings her the survey.
        w.telegram_text(PALU_K2, "TUTUP").await;
        w.until("the survey question", |w| {
            w.whatsapp_to_survivor()
                .last()
                .is_some_and(|t| t.starts_with("Seberapa puas Anda dengan layanan kami?"))
        })
        .await;
        // Nobody beyond the backup was disturbed, even long after.
        w.minutes(30);
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(w.sms_to(SULTENG_K1_SMS).is_empty());
        assert!(w.telegram_to(SAPA_K1).is_empty());
        assert_eq!(w.telegram_to(PALU_K1).len(), 2, "one notice and one 'taken' reply");
        let kinds: Vec<String> = w.case_events().await.into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            kinds,
            [
                "opened",
                "escalation_requested",
                "notified",
                "notified",
                "accepted",
                "relayed",
                "relayed",
                "closed"
            ]
        );
        w.stop().await;
    })
    .await;
}

#[tokio::test]
async fn silence_reaches_the_province_by_sms_then_sapa_129_across_a_restart() {
    bounded(async {
        let mut w = world((10, 0)).await;
        // She writes by SMS and names her city instead of sharing a pin.
        for (i, line) in ["darurat", "tidak", "Kota Palu", "1", "tidak", "tidak"].iter().enumerate() {
            let before = w.sms_to(SMS_SURVIVOR).len();
            w.sms(&format!("SM{i:032}"), line).await;
            w.until("an answer by SMS", |w| w.sms_to(SMS_SURVIVOR).len() > before).await;
        }
        w.until("the primary", |w| !w.telegram_to(PALU_K1).is_empty()).await;
        w.minutes(2);
        w.until("the backup", |w| !w.telegram_to(PALU_K2).is_empty()).await;
        // The backup passes with the button: the chain moves on at once (nobody is on call as
        // supervisor in Palu by day, so the province's turn comes at the next wait).
        w.telegram_button(PALU_K2, 1).await;
        w.until("the pass is confirmed", |w| {
            w.telegram_to(PALU_K2).iter().any(|b| text(b).contains("diteruskan ke konselor berikutnya"))
        })
        .await;

        // A restart in the middle of the chain.
        w.stop().await;
        w.start().await;
        w.minutes(2);
        w.until("the province's primary by SMS", |w| !w.sms_to(SULTENG_K1_SMS).is_empty()).await;
        let sms_notice = &w.sms_to(SULTENG_K1_SMS)[0];
        assert!(sms_notice.starts_with("[Teduh] Kasus K-") && sms_notice.contains("TERIMA"), "{sms_notice}");
        assert!(!sms_notice.contains(SMS_SURVIVOR));
        w.minutes(3);
        w.until("SAPA 129", |w| !w.telegram_to(SAPA_K1).is_empty()).await;
        tokio::time::sleep(Duration::from_millis(700)).await;

        // Each counselor was reached once: nothing skipped or repeated across the restart.
        assert_eq!(w.telegram_to(PALU_K1).len(), 1);
        assert_eq!(w.sms_to(SULTENG_K1_SMS).len(), 1);
        assert_eq!(w.telegram_to(SAPA_K1).len(), 1);
        let notified: Vec<String> =
            w.case_events().await.into_iter().filter(|(k, _)| k == "notified").map(|(_, d)| d).collect();
        let providers: Vec<&str> =
            notified.iter().map(|d| teduh::case::detail(Some(d), "provider").unwrap_or("-")).collect();
        assert_eq!(
            providers,
            ["uptd-ppa-palu", "uptd-ppa-palu", "uptd-ppa-palu", "uptd-ppa-sulteng", "sapa-129"]
        );

        // SAPA accepts by code; the survivor hears it by SMS.
        let code = w.notice_code(SAPA_K1);
        w.telegram_text(SAPA_K1, &format!("terima {code}")).await;
        w.until("the survivor is told by SMS", |w| {
            w.sms_to(SMS_SURVIVOR).iter().any(|t| t.starts_with("Konselor Uji SAPA dari SAPA 129"))
        })
        .await;
        w.stop().await;
    })
    .await;
}

#[tokio::test]
async fn simultaneous_accepts_have_one_winner_and_the_other_is_told() {
    bounded(async {
        let w = world((10, 0)).await;
        w.whatsapp_emergency().await;
        w.until("the primary", |w| !w.telegram_to(PALU_K1).is_empty()).await;
        w.minutes(2);
        w.until("the backup", |w| !w.telegram_to(PALU_K2).is_empty()).await;
        let (c1, c2) = (w.notice_code(PALU_K1), w.notice_code(PALU_K2));
        let (t1, t2) = (format!("TERIMA {c1}"), format!("TERIMA {c2}"));
        tokio::join!(w.telegram_text(PALU_K1, &t1), w.telegram_text(PALU_K2, &t2));
        let won = |chat| w.telegram_to(chat).iter().any(|b| text(b).contains("sekarang Anda tangani"));
        let lost = |chat| w.telegram_to(chat).iter().any(|b| text(b).contains("sudah diterima oleh"));
        w.until("both hear back", |_| (won(PALU_K1) || lost(PALU_K1)) && (won(PALU_K2) || lost(PALU_K2)))
            .await;
        assert!(won(PALU_K1) != won(PALU_K2), "exactly one owns the case");
        assert!(lost(PALU_K1) != lost(PALU_K2));
        let accepted = w.case_events().await.into_iter().filter(|(k, _)| k == "accepted").count();
        assert_eq!(accepted, 1);
        let told =
            w.whatsapp_to_survivor().iter().filter(|t| t.contains("telah menerima laporan Anda")).count();
        assert_eq!(told, 1, "she is told once");
    })
    .await;
}

#[tokio::test]
async fn nobody_on_call_near_her_goes_to_the_next_provider_and_the_timeline_says_why() {
    bounded(async {
        // 17:00 WITA: Palu's day shift has ended and the night shift has not begun; the
        // province is closed too. SAPA 129 is on call.
        let w = world((17, 0)).await;
        w.whatsapp_emergency().await;
        w.until("SAPA 129 at once", |w| !w.telegram_to(SAPA_K1).is_empty()).await;
        assert!(w.telegram_to(PALU_K1).is_empty() && w.telegram_to(PALU_K2).is_empty());
        let events = w.case_events().await;
        let (_, why) = events.iter().find(|(k, _)| k == "routed").expect("a routing event");
        assert!(
            why.contains("provider=sapa-129") && why.contains("nobody on call at uptd-ppa-palu"),
            "{why}"
        );
    })
    .await;
}
