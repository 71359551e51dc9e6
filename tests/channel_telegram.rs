//! The Telegram channel end to end: webhook and long polling into the shipped flows, and the
//! sender against a fake Bot API server on 127.0.0.1 that speaks the real JSON (`{"ok":true,
//! "result":...}` with Message objects, `{"ok":false,"error_code":...}` errors).

mod common;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::time::Instant;

use common::{Pipeline, eventually};
use teduh::channel::telegram::{self, TelegramConfig, TelegramSender};
use teduh::channel::{Outgoing, OutgoingPayload, SendError, Sender};
use teduh::flow::{Effect, Reply};
use teduh::store::StepWrite;

const TOKEN: &str = "123456:TEST-token_abc";
const SECRET: &str = "test-secret-0123456789";
const WELCOME: &str = "Halo, ini layanan Teduh untuk perempuan.";
const MENU: &str = "Apa yang Anda perlukan? Balas dengan nomor.";
const WHERE: &str = "Kirim lokasi Anda, atau tulis nama kabupaten/kota Anda.";
const MEDIA_RECEIVED: &str = "Terima kasih, file Anda sudah kami terima";

/// Runs a test body with an upper bound on its duration.
async fn bounded<F: std::future::Future<Output = ()>>(secs: u64, body: F) {
    tokio::time::timeout(Duration::from_secs(secs), body).await.expect("test exceeded its time bound");
}

// ---------------------------------------------------------------------------------------------
// The fake Bot API
// ---------------------------------------------------------------------------------------------

/// One request the fake received.
#[derive(Debug, Clone)]
struct Call {
    method: String,
    body: Value,
    at: Instant,
    /// The message id it answered with (successful `sendMessage` only).
    message_id: Option<i64>,
}

impl Call {
    fn text(&self) -> &str {
        self.body["text"].as_str().unwrap_or_default()
    }

    fn chat(&self) -> Option<i64> {
        self.body["chat_id"].as_i64()
    }

    /// The inline keyboard's buttons, in order: (text, callback_data).
    fn buttons(&self) -> Vec<(String, String)> {
        self.body["reply_markup"]["inline_keyboard"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .flat_map(|row| row.as_array().cloned().unwrap_or_default())
                    .map(|b| {
                        (
                            b["text"].as_str().unwrap_or_default().to_string(),
                            b["callback_data"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What the fake answers a chat's next `sendMessage` with.
#[derive(Debug, Clone)]
enum Script {
    /// The Bot API error body, with its HTTP status.
    Fail(u16, Value),
    /// Waits this long, then answers normally.
    Delay(Duration),
}

#[derive(Default)]
struct FakeState {
    calls: Vec<Call>,
    next_message_id: i64,
    scripts: HashMap<i64, VecDeque<Script>>,
    /// Answers for the next `getUpdates` calls, before any updates: status and raw body.
    poll_failures: VecDeque<(u16, String)>,
    /// Updates not yet confirmed by an offset.
    updates: Vec<Value>,
    undeletable: HashSet<i64>,
}

#[derive(Clone)]
struct Fake {
    state: Arc<Mutex<FakeState>>,
    url: String,
}

fn api_error(status: u16, description: &str) -> Value {
    json!({ "ok": false, "error_code": status, "description": description })
}

impl Fake {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState { next_message_id: 100, ..FakeState::default() }));
        let router = axum::Router::new().route("/{bot}/{method}", post(fake_api)).with_state(state.clone());
        let url = common::serve(router).await;
        Fake { state, url }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().expect("fake state lock")
    }

    fn script(&self, chat: i64, script: Script) {
        self.lock().scripts.entry(chat).or_default().push_back(script);
    }

    fn calls(&self, method: &str) -> Vec<Call> {
        self.lock().calls.iter().filter(|c| c.method == method).cloned().collect()
    }

    /// Every `sendMessage` request to `chat`, failed ones included.
    fn send_attempts(&self, chat: i64) -> Vec<Call> {
        self.calls("sendMessage").into_iter().filter(|c| c.chat() == Some(chat)).collect()
    }

    /// The messages delivered to `chat`, in order.
    fn sent(&self, chat: i64) -> Vec<Call> {
        self.send_attempts(chat).into_iter().filter(|c| c.message_id.is_some()).collect()
    }

    /// Waits until `chat` has received at least `n` messages; returns them all.
    async fn wait_sent(&self, chat: i64, n: usize) -> Vec<Call> {
        let got = eventually(15, || async {
            let sent = self.sent(chat);
            (sent.len() >= n).then_some(sent)
        })
        .await;
        got.unwrap_or_else(|| {
            let texts: Vec<String> = self.sent(chat).iter().map(|c| c.text().to_string()).collect();
            panic!("chat {chat}: expected {n} messages, got {texts:#?}")
        })
    }

    fn push_update(&self, update: Value) {
        self.lock().updates.push(update);
    }
}

async fn fake_api(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path((bot, method)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    if bot != format!("bot{TOKEN}") {
        return (StatusCode::UNAUTHORIZED, Json(api_error(401, "Unauthorized"))).into_response();
    }
    let at = Instant::now();
    match method.as_str() {
        "sendMessage" => {
            let chat = body["chat_id"].as_i64().unwrap_or_default();
            let script = state.lock().expect("lock").scripts.get_mut(&chat).and_then(VecDeque::pop_front);
            match script {
                Some(Script::Fail(status, error)) => {
                    state.lock().expect("lock").calls.push(Call { method, body, at, message_id: None });
                    let status = StatusCode::from_u16(status).expect("valid status");
                    return (status, Json(error)).into_response();
                }
                Some(Script::Delay(wait)) => tokio::time::sleep(wait).await,
                None => {}
            }
            let mut s = state.lock().expect("lock");
            s.next_message_id += 1;
            let message_id = s.next_message_id;
            let mut message = json!({
                "message_id": message_id,
                "date": 1_700_000_000,
                "chat": { "id": chat, "type": "private", "first_name": "Test" },
                "from": { "id": 123456, "is_bot": true, "first_name": "Teduh", "username": "teduh_bot" },
                "text": body["text"],
            });
            if !body["reply_markup"].is_null() {
                message["reply_markup"] = body["reply_markup"].clone();
            }
            s.calls.push(Call { method, body, at, message_id: Some(message_id) });
            Json(json!({ "ok": true, "result": message })).into_response()
        }
        "deleteMessage" => {
            let id = body["message_id"].as_i64().unwrap_or_default();
            let mut s = state.lock().expect("lock");
            let refused = s.undeletable.contains(&id);
            s.calls.push(Call { method, body, at, message_id: None });
            if refused {
                (StatusCode::BAD_REQUEST, Json(api_error(400, "Bad Request: message can't be deleted")))
                    .into_response()
            } else {
                Json(json!({ "ok": true, "result": true })).into_response()
            }
        }
        "getUpdates" => {
            let offset = body["offset"].as_i64();
            let failure = {
                let mut s = state.lock().expect("lock");
                s.calls.push(Call { method, body: body.clone(), at, message_id: None });
                // Asking for an offset confirms everything before it.
                if let Some(offset) = offset {
                    s.updates.retain(|u| u["update_id"].as_i64().unwrap_or_default() >= offset);
                }
                s.poll_failures.pop_front()
            };
            if let Some((status, raw)) = failure {
                let status = StatusCode::from_u16(status).expect("valid status");
                return (status, [("content-type", "application/json")], raw).into_response();
            }
            // A short long poll: answer as soon as updates are there, or empty after a while.
            let deadline = Instant::now() + Duration::from_millis(300);
            loop {
                let ready: Vec<Value> = state.lock().expect("lock").updates.clone();
                if !ready.is_empty() || Instant::now() >= deadline {
                    return Json(json!({ "ok": true, "result": ready })).into_response();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        "answerCallbackQuery" | "setWebhook" | "deleteWebhook" => {
            state.lock().expect("lock").calls.push(Call { method, body, at, message_id: None });
            Json(json!({ "ok": true, "result": true })).into_response()
        }
        _ => (StatusCode::NOT_FOUND, Json(api_error(404, "Not Found: method not found"))).into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Updates as Telegram sends them
// ---------------------------------------------------------------------------------------------

fn user(chat: i64) -> Value {
    json!({ "id": chat, "is_bot": false, "first_name": "Sari", "language_code": "id" })
}

fn message_update(update_id: i64, chat: i64, message_id: i64, content: Value) -> Value {
    let mut message = json!({
        "message_id": message_id,
        "date": 1_700_000_000,
        "chat": { "id": chat, "type": "private", "first_name": "Sari" },
        "from": user(chat),
    });
    for (k, v) in content.as_object().expect("object") {
        message[k] = v.clone();
    }
    json!({ "update_id": update_id, "message": message })
}

fn text_update(update_id: i64, chat: i64, message_id: i64, text: &str) -> Value {
    message_update(update_id, chat, message_id, json!({ "text": text }))
}

fn button_update(update_id: i64, chat: i64, query_id: &str, pressed_on: i64, index: usize) -> Value {
    json!({ "update_id": update_id, "callback_query": {
        "id": query_id,
        "from": user(chat),
        "chat_instance": "42",
        "message": {
            "message_id": pressed_on,
            "date": 1_700_000_000,
            "chat": { "id": chat, "type": "private", "first_name": "Sari" },
            "from": { "id": 123456, "is_bot": true, "first_name": "Teduh" },
            "text": MENU,
        },
        "data": format!("c:{index}"),
    }})
}

fn photo_update(update_id: i64, chat: i64, message_id: i64) -> Value {
    message_update(
        update_id,
        chat,
        message_id,
        json!({ "photo": [
            { "file_id": "AgAD-small", "file_unique_id": "s1", "width": 90, "height": 67, "file_size": 1200 },
            { "file_id": "AgAD-large", "file_unique_id": "l1", "width": 1280, "height": 960, "file_size": 98000 },
        ]}),
    )
}

// ---------------------------------------------------------------------------------------------
// Set-up
// ---------------------------------------------------------------------------------------------

fn config_for(fake: &Fake) -> TelegramConfig {
    let env: HashMap<&str, String> = [
        ("TELEGRAM_BOT_TOKEN", TOKEN.to_string()),
        ("TELEGRAM_API_URL", fake.url.clone()),
        ("TELEGRAM_WEBHOOK_URL", "https://teduh.example/webhook/telegram".to_string()),
        ("TELEGRAM_WEBHOOK_SECRET", SECRET.to_string()),
    ]
    .into_iter()
    .collect();
    TelegramConfig::from_lookup(&|k| env.get(k).cloned()).expect("valid config").expect("token set")
}

/// A fake Bot API, the pipeline with a Telegram sender, and the webhook served.
struct Harness {
    fake: Fake,
    pipeline: Pipeline,
    webhook: String,
    http: reqwest::Client,
}

impl Harness {
    async fn start() -> Self {
        let fake = Fake::start().await;
        let config = Arc::new(config_for(&fake));
        let sender = TelegramSender::new(config.clone()).expect("sender");
        let pipeline = Pipeline::start(vec![Arc::new(sender)]).await;
        let base = common::serve(telegram::routes(pipeline.ingress.clone(), config)).await;
        Harness {
            fake,
            pipeline,
            webhook: format!("{base}{}", telegram::WEBHOOK_PATH),
            http: reqwest::Client::new(),
        }
    }

    async fn post_raw(&self, secret: Option<&str>, body: &str) -> u16 {
        let mut request =
            self.http.post(&self.webhook).header("content-type", "application/json").body(body.to_string());
        if let Some(secret) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        request.send().await.expect("webhook reachable").status().as_u16()
    }

    async fn deliver(&self, update: &Value) {
        assert_eq!(self.post_raw(Some(SECRET), &update.to_string()).await, 200, "webhook refused {update}");
    }
}

fn assert_menu(call: &Call) {
    assert_eq!(call.text(), MENU);
    let buttons = call.buttons();
    assert_eq!(buttons.len(), 6, "{buttons:?}");
    let data: Vec<&str> = buttons.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(data, ["c:0", "c:1", "c:2", "c:3", "c:4", "c:5"]);
    assert_eq!(buttons[3].0, "4. Layanan terdekat");
    // One button per row.
    let rows = call.body["reply_markup"]["inline_keyboard"].as_array().expect("rows").clone();
    assert!(rows.iter().all(|r| r.as_array().is_some_and(|r| r.len() == 1)));
}

// ---------------------------------------------------------------------------------------------
// 1. A conversation by webhook
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn webhook_conversation_from_first_message_to_a_menu_choice() {
    bounded(60, async {
        let h = Harness::start().await;
        let chat = 1001;
        h.deliver(&text_update(1, chat, 1, "halo")).await;
        let sent = h.fake.wait_sent(chat, 2).await;
        assert!(sent[0].text().starts_with(WELCOME), "{}", sent[0].text());
        assert!(sent[0].body["reply_markup"].is_null(), "the welcome has no buttons");
        assert!(sent[0].body.get("parse_mode").is_none(), "texts are sent plain");
        assert_menu(&sent[1]);

        // She presses "Layanan terdekat" (index 3) on the menu.
        let menu_id = sent[1].message_id.expect("menu delivered");
        h.deliver(&button_update(2, chat, "cbq-1001", menu_id, 3)).await;
        let sent = h.fake.wait_sent(chat, 3).await;
        assert_eq!(sent[2].text(), WHERE);
        let answered = eventually(5, || async {
            h.fake
                .calls("answerCallbackQuery")
                .iter()
                .any(|c| c.body["callback_query_id"] == "cbq-1001")
                .then_some(())
        })
        .await;
        assert!(answered.is_some(), "the button press is acknowledged");

        // A typed answer works as well.
        h.deliver(&text_update(3, chat, 2, "Palu")).await;
        let sent = h.fake.wait_sent(chat, 5).await;
        assert!(sent[3].text().starts_with("Layanan terdekat:"), "{}", sent[3].text());
        assert!(sent[3].text().contains("UPTD PPA Kota Palu"), "{}", sent[3].text());
        assert_eq!(sent[4].text(), "Ada lagi yang bisa kami bantu?");
        assert_eq!(sent[4].buttons().len(), 2);

        // The outbox knows every message as sent, under the id Telegram gave it.
        // The fake sees a send before the dispatcher records it, so wait for the records.
        let rows = eventually(5, || async {
            let rows = h.pipeline.store.outbox_for("telegram", &chat.to_string()).await.ok()?;
            (rows.len() == 5 && rows.iter().all(|r| r.status != "sending")).then_some(rows)
        })
        .await
        .expect("five settled outbox rows");
        for (row, call) in rows.iter().zip(&sent) {
            assert_eq!(row.status, "sent");
            assert_eq!(row.provider_message_id, call.message_id.map(|id| id.to_string()));
        }
        h.pipeline.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 2. Long polling
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn long_polling_runs_the_same_conversation_through_outages() {
    bounded(60, async {
        let fake = Fake::start().await;
        let mut config = config_for(&fake);
        config.webhook = None;
        config.poll_timeout = Duration::from_secs(1);
        let config = Arc::new(config);
        let pipeline =
            Pipeline::start(vec![Arc::new(TelegramSender::new(config.clone()).expect("sender"))]).await;
        {
            let mut s = fake.lock();
            // A proxy error page, then Telegram refusing because a webhook is still set.
            s.poll_failures.push_back((502, "<html>Bad Gateway</html>".to_string()));
            let conflict = api_error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            );
            s.poll_failures.push_back((409, conflict.to_string()));
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let poller = tokio::spawn(telegram::poll(pipeline.ingress.clone(), config, async move {
            let _ = stopped.await;
        }));

        let chat = 2002;
        fake.push_update(text_update(500, chat, 1, "halo"));
        let sent = fake.wait_sent(chat, 2).await;
        assert!(sent[0].text().starts_with(WELCOME));
        assert_menu(&sent[1]);
        assert_eq!(fake.calls("deleteWebhook").len(), 1, "the stale webhook is removed");

        fake.push_update(button_update(501, chat, "cbq-2002", sent[1].message_id.expect("id"), 3));
        let sent = fake.wait_sent(chat, 3).await;
        assert_eq!(sent[2].text(), WHERE);

        // She shares her location in Palu.
        let location = json!({ "location": { "latitude": -0.895, "longitude": 119.859 } });
        fake.push_update(message_update(502, chat, 2, location));
        let sent = fake.wait_sent(chat, 5).await;
        assert!(sent[3].text().contains("UPTD PPA Kota Palu"), "{}", sent[3].text());

        // Everything handled is confirmed: later polls ask for the next update id.
        let confirmed = eventually(5, || async {
            fake.calls("getUpdates").iter().any(|c| c.body["offset"] == 503).then_some(())
        })
        .await;
        assert!(confirmed.is_some(), "offset advanced past the last update");
        let first = &fake.calls("getUpdates")[0].body;
        assert_eq!(first["timeout"], 1);
        assert_eq!(first["allowed_updates"], json!(["message", "callback_query"]));
        let answered = eventually(5, || async {
            fake.calls("answerCallbackQuery").iter().any(|c| c.body["callback_query_id"] == "cbq-2002").then_some(())
        })
        .await;
        assert!(answered.is_some(), "the button press is acknowledged");

        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(3), poller)
            .await
            .expect("poller stops on shutdown")
            .expect("poller did not panic");
        pipeline.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 3. Refused requests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn webhook_refuses_bad_secrets_and_bodies_and_stores_nothing() {
    bounded(30, async {
        let h = Harness::start().await;
        let chat = 3003;
        let update = text_update(1, chat, 1, "halo").to_string();
        assert_eq!(h.post_raw(None, &update).await, 401, "no secret");
        assert_eq!(h.post_raw(Some("wrong"), &update).await, 401, "wrong secret");
        let same_length: String = SECRET.chars().rev().collect();
        assert_eq!(h.post_raw(Some(&same_length), &update).await, 401, "wrong secret of the right length");
        assert_eq!(h.post_raw(Some(SECRET), "{\"update_id\": 1, \"message\": ").await, 400, "truncated");
        assert_eq!(h.post_raw(Some(SECRET), "[]").await, 400, "not an update");
        assert_eq!(h.post_raw(Some(SECRET), "{\"message\": {}}").await, 400, "no update id");

        tokio::time::sleep(Duration::from_millis(500)).await;
        let store = &h.pipeline.store;
        assert!(store.pending_inbound(100).await.expect("inbox").is_empty());
        assert!(store.conversation("telegram", &chat.to_string()).await.expect("conversation").is_none());
        assert!(store.outbox_for("telegram", &chat.to_string()).await.expect("outbox").is_empty());
        assert!(h.fake.calls("sendMessage").is_empty());

        // The right secret gets in.
        h.deliver(&text_update(1, chat, 1, "halo")).await;
        h.fake.wait_sent(chat, 2).await;
        h.pipeline.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_answers_503_when_the_database_is_down_and_refuses_all_without_a_secret() {
    bounded(30, async {
        let h = Harness::start().await;
        // Without a webhook configured there is no secret to match: everything is refused.
        let mut polling = config_for(&h.fake);
        polling.webhook = None;
        let closed = common::serve(telegram::routes(h.pipeline.ingress.clone(), Arc::new(polling))).await;
        let status = h
            .http
            .post(format!("{closed}{}", telegram::WEBHOOK_PATH))
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .body(text_update(1, 3004, 1, "halo").to_string())
            .send()
            .await
            .expect("reachable")
            .status();
        assert_eq!(status.as_u16(), 401);

        h.pipeline.store.close().await;
        let status = h.post_raw(Some(SECRET), &text_update(2, 3004, 2, "halo").to_string()).await;
        assert_eq!(status, 503, "Telegram must deliver it again later");
        h.pipeline.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 4. Duplicate deliveries
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn an_update_delivered_twice_is_one_step_and_one_reply() {
    bounded(30, async {
        let h = Harness::start().await;
        let chat = 4004;
        let first = text_update(1, chat, 1, "halo");
        // Delivered twice at the same moment, and once more afterwards.
        tokio::join!(h.deliver(&first), h.deliver(&first));
        h.deliver(&first).await;
        let sent = h.fake.wait_sent(chat, 2).await;
        let menu_id = sent[1].message_id.expect("id");

        let press = button_update(2, chat, "cbq-4004", menu_id, 3);
        h.deliver(&press).await;
        h.deliver(&press).await;
        // A double tap: a second press (another query id, even another button) on the same menu
        // must not answer the question that comes next.
        h.deliver(&button_update(3, chat, "cbq-4004-again", menu_id, 0)).await;
        h.fake.wait_sent(chat, 3).await;
        // Long enough for a second reply to have gone out (one per second per chat).
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let texts: Vec<String> = h.fake.sent(chat).iter().map(|c| c.text().to_string()).collect();
        assert_eq!(texts.len(), 3, "{texts:#?}");
        assert_eq!(texts.iter().filter(|t| t.starts_with(WELCOME)).count(), 1);
        assert_eq!(texts.iter().filter(|t| *t == WHERE).count(), 1);
        let state = h.pipeline.store.conversation("telegram", &chat.to_string()).await.expect("read");
        let at = state.and_then(|c| c.state.at).map(|at| at.to_string());
        assert_eq!(at.as_deref(), Some("nearest:where"), "still waiting for her place");
        let answered = eventually(5, || async {
            let ids: Vec<Value> = h
                .fake
                .calls("answerCallbackQuery")
                .iter()
                .map(|c| c.body["callback_query_id"].clone())
                .collect();
            (ids.contains(&json!("cbq-4004")) && ids.contains(&json!("cbq-4004-again"))).then_some(())
        })
        .await;
        assert!(answered.is_some(), "every press is acknowledged, even an ignored one");
        let processed = eventually(5, || async {
            h.pipeline.store.pending_inbound(100).await.ok()?.is_empty().then_some(())
        })
        .await;
        assert!(processed.is_some(), "the second press is processed (and ignored)");
        h.pipeline.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 5. Retries
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_and_rate_limits_are_retried_until_delivered_once() {
    bounded(60, async {
        let h = Harness::start().await;
        let chat = 5005;
        h.fake.script(chat, Script::Fail(500, api_error(500, "Internal Server Error")));
        h.deliver(&text_update(1, chat, 1, "halo")).await;
        let sent = h.fake.wait_sent(chat, 2).await;
        let attempts = h.fake.send_attempts(chat);
        assert_eq!(attempts.len(), 3, "one failed attempt, then two deliveries");
        let welcome_attempts = attempts.iter().filter(|c| c.text().starts_with(WELCOME)).count();
        assert_eq!(welcome_attempts, 2, "the welcome was tried twice");
        assert_eq!(sent.iter().filter(|c| c.text().starts_with(WELCOME)).count(), 1, "delivered once");
        assert_eq!(sent.iter().filter(|c| c.text() == MENU).count(), 1);
        let menu_id = sent.iter().find(|c| c.text() == MENU).and_then(|c| c.message_id).expect("menu");

        // Now Telegram's flood control: wait 2 s.
        let mut flood = api_error(429, "Too Many Requests: retry after 2");
        flood["parameters"] = json!({ "retry_after": 2 });
        h.fake.script(chat, Script::Fail(429, flood));
        h.deliver(&button_update(2, chat, "cbq-5005", menu_id, 3)).await;
        let sent = h.fake.wait_sent(chat, 3).await;
        assert_eq!(sent[2].text(), WHERE);
        let tries: Vec<Call> = h.fake.send_attempts(chat).into_iter().filter(|c| c.text() == WHERE).collect();
        assert_eq!(tries.len(), 2);
        assert!(tries[0].message_id.is_none() && tries[1].message_id.is_some());
        let waited = tries[1].at.duration_since(tries[0].at);
        assert!(waited >= Duration::from_millis(1_950), "waited only {waited:?}");
        assert!(waited < Duration::from_secs(10), "waited {waited:?}");

        // The fake has the request before Teduh has its answer and records the row as sent.
        let rows = eventually(5, || async {
            let rows = h.pipeline.store.outbox_for("telegram", &chat.to_string()).await.ok()?;
            rows.iter().all(|r| r.status == "sent").then_some(rows)
        })
        .await
        .expect("every row recorded as sent");
        assert_eq!(rows.iter().map(|r| r.attempts).collect::<Vec<_>>(), [2, 1, 2]);
        h.pipeline.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn blocked_bots_and_missing_chats_fail_for_good_without_retries() {
    bounded(30, async {
        let h = Harness::start().await;
        let chat = 5006;
        h.fake.script(chat, Script::Fail(403, api_error(403, "Forbidden: bot was blocked by the user")));
        h.fake.script(chat, Script::Fail(400, api_error(400, "Bad Request: chat not found")));
        h.deliver(&text_update(1, chat, 1, "halo")).await;
        let rows = eventually(10, || async {
            let rows = h.pipeline.store.outbox_for("telegram", &chat.to_string()).await.ok()?;
            (rows.len() == 2 && rows.iter().all(|r| r.status == "failed")).then_some(rows)
        })
        .await
        .expect("both sends failed");
        assert!(rows[0].error.as_deref().is_some_and(|e| e.contains("blocked")), "{rows:#?}");
        assert!(rows[1].error.as_deref().is_some_and(|e| e.contains("chat not found")), "{rows:#?}");
        assert!(rows.iter().all(|r| r.attempts == 1));
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(h.fake.send_attempts(chat).len(), 2, "never retried");
        h.pipeline.stop().await;
    })
    .await;
}

fn outgoing(id: i64, chat: i64, payload: OutgoingPayload) -> Outgoing {
    Outgoing {
        id,
        channel: "telegram".to_string(),
        contact: chat.to_string(),
        payload,
        last_inbound_at: None,
        opted_out: None,
        now_ms: 0,
        attempts: 0,
    }
}

fn reply(text: &str, choices: &[&str]) -> OutgoingPayload {
    OutgoingPayload::Reply(Reply {
        text: text.to_string(),
        choices: choices.iter().map(|c| c.to_string()).collect(),
        expect: None,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn sender_reports_what_the_dispatcher_must_do() {
    bounded(30, async {
        let fake = Fake::start().await;
        let mut config = config_for(&fake);
        config.request_timeout = Duration::from_millis(300);
        let sender = TelegramSender::new(Arc::new(config)).expect("sender");
        assert_eq!(sender.channel(), "telegram");
        assert_eq!(sender.limits().per_second, 30.0);
        assert_eq!(sender.limits().per_chat_interval, Duration::from_secs(1));

        let chat = 5007;
        let mut flood = api_error(429, "Too Many Requests: retry after 3");
        flood["parameters"] = json!({ "retry_after": 3 });
        fake.script(chat, Script::Fail(429, flood));
        fake.script(chat, Script::Fail(502, api_error(502, "Bad Gateway")));
        fake.script(chat, Script::Delay(Duration::from_secs(2)));
        fake.script(chat, Script::Fail(403, api_error(403, "Forbidden: user is deactivated")));
        let message = outgoing(1, chat, reply("Halo", &[]));
        match sender.send(&message).await {
            Err(SendError::Retry { after, .. }) => assert_eq!(after, Some(Duration::from_secs(3))),
            other => panic!("429: {other:?}"),
        }
        assert!(matches!(sender.send(&message).await, Err(SendError::Retry { after: None, .. })), "502");
        assert!(matches!(sender.send(&message).await, Err(SendError::Retry { .. })), "timeout");
        assert!(matches!(sender.send(&message).await, Err(SendError::Permanent(_))), "403");
        let receipt = sender.send(&message).await.expect("delivered");
        assert_eq!(receipt.provider_ids.len(), 1);

        // A wrong token is refused by the API, not retried forever.
        let mut bad = config_for(&fake);
        bad.token = "999:wrong".to_string();
        let sender = TelegramSender::new(Arc::new(bad)).expect("sender");
        assert!(matches!(
            sender.send(&outgoing(2, chat, reply("Halo", &[]))).await,
            Err(SendError::Permanent(_))
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn long_texts_are_split_between_words_and_a_retry_resumes() {
    bounded(30, async {
        let fake = Fake::start().await;
        let sender = TelegramSender::new(Arc::new(config_for(&fake))).expect("sender");
        let chat = 5008;
        let words: Vec<String> = (0..1_000).map(|i| format!("kalimat{i}")).collect();
        let text = words.join(" ");
        assert!(text.chars().count() > 4_096 * 2 && text.chars().count() <= 4_096 * 3 - 10);
        // The second part fails once: the retry sends only what is missing.
        fake.script(chat, Script::Delay(Duration::ZERO));
        fake.script(chat, Script::Fail(500, api_error(500, "Internal Server Error")));
        let message = outgoing(7, chat, reply(&text, &["Ya", "Tidak"]));
        assert!(matches!(sender.send(&message).await, Err(SendError::Retry { .. })));
        let receipt = sender.send(&message).await.expect("delivered on retry");

        let sent = fake.sent(chat);
        assert_eq!(sent.len(), 3, "three parts, each sent once");
        assert_eq!(
            receipt.provider_ids,
            sent.iter().map(|c| c.message_id.expect("id").to_string()).collect::<Vec<_>>()
        );
        for part in &sent {
            assert!(part.text().encode_utf16().count() <= 4_096);
        }
        let rejoined: Vec<&str> = sent.iter().flat_map(|c| c.text().split(' ')).collect();
        assert_eq!(rejoined, words.iter().map(String::as_str).collect::<Vec<_>>(), "no word cut or lost");
        assert!(sent[0].buttons().is_empty() && sent[1].buttons().is_empty());
        assert_eq!(sent[2].buttons().len(), 2, "the buttons hang on the last part");
        for pair in sent.windows(2) {
            assert!(
                pair[1].at.duration_since(pair[0].at) >= Duration::from_secs(1),
                "one per second per chat"
            );
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 6. Rate limits
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_conversations_keeps_telegrams_rate_limits() {
    bounded(90, async {
        let h = Arc::new(Harness::start().await);
        let chats: Vec<i64> = (0..60).map(|i| 600_000 + i).collect();
        let mut posts = tokio::task::JoinSet::new();
        for (i, chat) in chats.iter().copied().enumerate() {
            let h = h.clone();
            posts.spawn(async move { h.deliver(&text_update(i as i64 + 1, chat, 1, "halo")).await });
        }
        while let Some(done) = posts.join_next().await {
            done.expect("posted");
        }
        let all = eventually(60, || async {
            let calls = h.fake.calls("sendMessage");
            (calls.len() >= 120).then_some(calls)
        })
        .await
        .expect("120 messages sent");
        assert_eq!(all.len(), 120);
        let times: Vec<Instant> = all.iter().map(|c| c.at).collect();
        let busiest = times
            .iter()
            .map(|start| {
                times.iter().filter(|t| **t >= *start && **t < *start + Duration::from_secs(1)).count()
            })
            .max()
            .unwrap_or(0);
        assert!(busiest <= 30, "{busiest} messages within one second");
        let span = times.iter().max().expect("some").duration_since(*times.iter().min().expect("some"));
        assert!(span >= Duration::from_millis(2_900), "120 messages at 30/s take 3 s or more, took {span:?}");
        for chat in &chats {
            let sent = h.fake.sent(*chat);
            assert_eq!(sent.len(), 2, "chat {chat}");
            let gap = sent[1].at.duration_since(sent[0].at);
            assert!(gap >= Duration::from_secs(1), "chat {chat}: two messages {gap:?} apart");
        }
        if let Ok(h) = Arc::try_unwrap(h) {
            h.pipeline.stop().await;
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 7. Quick exit
// ---------------------------------------------------------------------------------------------

/// Starts a conversation and moves it on once: three bot messages in the chat.
async fn three_messages_in(h: &Harness, chat: i64) -> Vec<Call> {
    h.deliver(&text_update(1, chat, 1, "halo")).await;
    let sent = h.fake.wait_sent(chat, 2).await;
    h.deliver(&button_update(2, chat, &format!("cbq-{chat}"), sent[1].message_id.expect("id"), 3)).await;
    h.fake.wait_sent(chat, 3).await
}

async fn deletions(h: &Harness, chat: i64, n: usize) -> Vec<i64> {
    eventually(10, || async {
        let ids: Vec<i64> = h
            .fake
            .calls("deleteMessage")
            .iter()
            .filter(|c| c.chat() == Some(chat))
            .filter_map(|c| c.body["message_id"].as_i64())
            .collect();
        (ids.len() >= n).then_some(ids)
    })
    .await
    .unwrap_or_else(|| panic!("chat {chat}: expected {n} deleteMessage calls"))
}

/// A `ClearChat` queued directly (what the `clear_chat` action queues), with a message Telegram
/// refuses to delete: that one is skipped and the clear still counts as done.
#[tokio::test(flavor = "multi_thread")]
async fn clear_chat_deletes_the_bots_earlier_messages() {
    bounded(30, async {
        let h = Harness::start().await;
        let chat = 7007;
        let sent = three_messages_in(&h, chat).await;
        let ids: Vec<i64> = sent.iter().map(|c| c.message_id.expect("id")).collect();
        // Telegram refuses to delete one of them (too old, say): it is skipped.
        h.fake.lock().undeletable.insert(ids[0]);

        let store = &h.pipeline.store;
        let conversation =
            store.conversation("telegram", &chat.to_string()).await.expect("read").expect("conversation");
        let write = StepWrite { outbox: true, ..StepWrite::default() };
        let now = h.pipeline.runtime.now_ms();
        store
            .commit_with(&conversation, &conversation.state, &[Effect::ClearChat], now, &write)
            .await
            .expect("clear chat queued");

        let deleted = deletions(&h, chat, 3).await;
        assert_eq!(deleted, ids.iter().rev().copied().collect::<Vec<_>>(), "newest first");
        let rows = eventually(5, || async {
            let rows = store.outbox_for("telegram", &chat.to_string()).await.ok()?;
            let clear = rows.into_iter().find(|r| matches!(r.payload, OutgoingPayload::ClearChat { .. }))?;
            (clear.status == "sent").then_some(clear)
        })
        .await;
        assert!(rows.is_some(), "a refused delete is not a failure");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(h.fake.calls("deleteMessage").len(), 3, "each message deleted once");
        h.pipeline.stop().await;
    })
    .await;
}

/// Typing the quick-exit word: the shipped flow's `quick_exit` runs `clear_chat`.
#[tokio::test(flavor = "multi_thread")]
async fn quick_exit_keyword_deletes_the_bots_earlier_messages() {
    bounded(30, async {
        let h = Harness::start().await;
        let chat = 7008;
        let sent = three_messages_in(&h, chat).await;
        let ids: Vec<i64> = sent.iter().map(|c| c.message_id.expect("id")).collect();
        h.deliver(&text_update(3, chat, 2, "keluar")).await;
        let deleted = deletions(&h, chat, 3).await;
        assert_eq!(deleted, ids.iter().rev().copied().collect::<Vec<_>>());
        // The neutral goodbye stays: it was not yet sent when the chat was cleared.
        let sent = h.fake.wait_sent(chat, 4).await;
        assert_eq!(sent[3].text(), "Terima kasih.");
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert!(
            !h.fake.calls("deleteMessage").iter().any(|c| c.body["message_id"] == json!(sent[3].message_id))
        );
        h.pipeline.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 8. Media
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_photo_is_acknowledged_kept_by_reference_and_the_question_asked_again() {
    bounded(30, async {
        let h = Harness::start().await;
        let chat = 8008;
        h.deliver(&text_update(1, chat, 1, "halo")).await;
        h.fake.wait_sent(chat, 2).await;
        h.deliver(&photo_update(2, chat, 2)).await;
        let sent = h.fake.wait_sent(chat, 4).await;
        assert!(sent[2].text().starts_with(MEDIA_RECEIVED), "{}", sent[2].text());
        assert_menu(&sent[3]);
        let conversation = h
            .pipeline
            .store
            .conversation("telegram", &chat.to_string())
            .await
            .expect("read")
            .expect("conversation");
        let attachments = h.pipeline.store.attachments_of(&conversation.id).await.expect("attachments");
        assert_eq!(attachments, [("photo".to_string(), "AgAD-large".to_string())]);
        h.pipeline.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Configuration and webhook registration
// ---------------------------------------------------------------------------------------------

fn load(pairs: &[(&str, &str)]) -> Result<Option<TelegramConfig>, String> {
    let env: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    TelegramConfig::from_lookup(&|k| env.get(k).cloned()).map_err(|e| e.to_string())
}

#[test]
fn configuration_from_the_environment() {
    assert_eq!(load(&[]), Ok(None), "no token, no channel");
    assert_eq!(load(&[("TELEGRAM_BOT_TOKEN", "")]), Ok(None));
    let polling = load(&[("TELEGRAM_BOT_TOKEN", TOKEN)]).expect("valid").expect("on");
    assert_eq!(polling.api_url, "https://api.telegram.org");
    assert!(!polling.is_webhook());

    let hook = load(&[
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("TELEGRAM_WEBHOOK_URL", "https://teduh.example/webhook/telegram"),
        ("TELEGRAM_WEBHOOK_SECRET", SECRET),
    ])
    .expect("valid")
    .expect("on");
    assert!(hook.is_webhook());
    assert_eq!(hook.webhook.as_ref().map(|w| w.url.as_str()), Some("https://teduh.example/webhook/telegram"));

    let err = load(&[
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("TELEGRAM_WEBHOOK_URL", "https://teduh.example/webhook/telegram"),
    ])
    .expect_err("a webhook needs a secret");
    assert!(err.contains("TELEGRAM_WEBHOOK_SECRET"), "{err}");
    let err = load(&[
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("TELEGRAM_WEBHOOK_URL", "https://teduh.example/webhook/telegram"),
        ("TELEGRAM_WEBHOOK_SECRET", "short"),
    ])
    .expect_err("a guessable secret");
    assert!(err.contains("TELEGRAM_WEBHOOK_SECRET"), "{err}");
    for bad in ["http://teduh.example/webhook/telegram", "not a url", "teduh.example/webhook"] {
        let err = load(&[
            ("TELEGRAM_BOT_TOKEN", TOKEN),
            ("TELEGRAM_WEBHOOK_URL", bad),
            ("TELEGRAM_WEBHOOK_SECRET", SECRET),
        ])
        .expect_err(bad);
        assert!(err.contains("TELEGRAM_WEBHOOK_URL"), "{err}");
    }
    for bad in ["ftp://api.example", "api.telegram.org", "https://"] {
        let err = load(&[("TELEGRAM_BOT_TOKEN", TOKEN), ("TELEGRAM_API_URL", bad)]).expect_err(bad);
        assert!(err.contains("TELEGRAM_API_URL"), "{err}");
    }
    let err = load(&[("TELEGRAM_BOT_TOKEN", "not/a token")]).expect_err("bad token");
    assert!(err.contains("TELEGRAM_BOT_TOKEN") && !err.contains("not/a token"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn register_webhook_sends_the_url_the_secret_and_the_update_kinds() {
    bounded(30, async {
        let fake = Fake::start().await;
        let config = config_for(&fake);
        telegram::register_webhook(&config).await.expect("registered");
        let calls = fake.calls("setWebhook");
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].body["url"], "https://teduh.example/webhook/telegram");
        assert_eq!(calls[0].body["secret_token"], SECRET);
        assert_eq!(calls[0].body["allowed_updates"], json!(["message", "callback_query"]));

        let mut polling = config.clone();
        polling.webhook = None;
        assert!(matches!(
            telegram::register_webhook(&polling).await,
            Err(telegram::TelegramError::NoWebhook)
        ));
        let mut wrong = config;
        wrong.token = "999:wrong".to_string();
        let err = telegram::register_webhook(&wrong).await.expect_err("refused");
        assert!(!err.to_string().contains("999:wrong"), "errors never carry the token: {err}");
    })
    .await;
}
