//! The SMS channel end to end: signed Twilio and gateway webhooks into the inbox, replies out
//! through a fake Twilio / fake gateway on 127.0.0.1, retries, rate limits, delivery statuses,
//! carrier opt-out, and GSM-7 / UCS-2 segment arithmetic.

mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use tokio::time::Instant;

use teduh::channel::sms::{self, Encoding, SmsConfig, SmsSender, encoding, segments, split};
use teduh::channel::{Outgoing, OutgoingPayload, SendError, Sender};
use teduh::flow::Reply;
use teduh::store::Store;

const ACCOUNT: &str = "ACtest0123456789";
const TOKEN: &str = "twilio-test-auth-token";
const FROM: &str = "+14155550100";
/// What Twilio calls: a proxy in front of Teduh, with a path prefix.
const PUBLIC: &str = "https://teduh.example.org/sms-proxy";
const SECRET: &str = "gateway-shared-secret-0123456789";

fn lookup(pairs: Vec<(&str, String)>) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    move |k| map.get(k).cloned()
}

// ---------------------------------------------------------------------------------------------
// Signing, written independently of the crate's verification.

fn twilio_sign(url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(TOKEN.as_bytes()).expect("hmac key");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn gateway_sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

// ---------------------------------------------------------------------------------------------
// A fake provider: records every request and answers from a script, then with success.

#[derive(Debug, Clone)]
struct Request {
    at: Instant,
    /// Form fields (Twilio) or JSON fields (gateway), as text.
    fields: HashMap<String, String>,
    authorization: Option<String>,
    signature_ok: bool,
    /// What the fake answered.
    status: u16,
    /// The id it gave the message, when it accepted it.
    id: Option<String>,
}

impl Request {
    fn to(&self) -> &str {
        self.fields.get("To").or_else(|| self.fields.get("to")).map_or("", String::as_str)
    }
    fn text(&self) -> &str {
        self.fields.get("Body").or_else(|| self.fields.get("text")).map_or("", String::as_str)
    }
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A scripted answer: status, Retry-After, Twilio error code.
type Scripted = (u16, Option<u64>, Option<i64>);

#[derive(Default)]
struct FakeState {
    /// Scripted answers per recipient, consumed in order.
    script: HashMap<String, VecDeque<Scripted>>,
    requests: Vec<Request>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<FakeState>>);

impl Fake {
    fn script(&self, to: &str, answers: &[Scripted]) {
        self.0.lock().unwrap().script.entry(to.to_string()).or_default().extend(answers.iter().copied());
    }

    fn requests(&self) -> Vec<Request> {
        self.0.lock().unwrap().requests.clone()
    }

    fn to(&self, contact: &str) -> Vec<Request> {
        self.requests().into_iter().filter(|r| r.to() == contact).collect()
    }

    fn delivered(&self, contact: &str) -> Vec<Request> {
        self.to(contact).into_iter().filter(Request::ok).collect()
    }

    /// Waits until `n` messages to `contact` were accepted; fails the test after 15 s.
    async fn wait_delivered(&self, contact: &str, n: usize) -> Vec<Request> {
        let got =
            common::eventually(15, || async { Some(self.delivered(contact)).filter(|d| d.len() >= n) }).await;
        got.unwrap_or_else(|| panic!("expected {n} messages to {contact}, got {:?}", self.texts(contact)))
    }

    fn texts(&self, contact: &str) -> Vec<String> {
        self.delivered(contact).iter().map(|r| r.text().to_string()).collect()
    }

    fn answer(
        &self,
        fields: HashMap<String, String>,
        authorization: Option<String>,
        signature_ok: bool,
    ) -> Response {
        let mut state = self.0.lock().unwrap();
        let to = fields.get("To").or_else(|| fields.get("to")).cloned().unwrap_or_default();
        let scripted = state.script.get_mut(&to).and_then(VecDeque::pop_front);
        let n = state.requests.len();
        let (status, retry_after, code) = scripted.unwrap_or((0, None, None));
        let twilio = fields.contains_key("Body");
        let id = if status == 0 {
            Some(if twilio { format!("SM{n:032}") } else { fields.get("id").cloned().unwrap_or_default() })
        } else {
            None
        };
        let status = if status == 0 { if twilio { 201 } else { 200 } } else { status };
        state.requests.push(Request {
            at: Instant::now(),
            fields,
            authorization,
            signature_ok,
            status,
            id: id.clone(),
        });
        let mut headers = HeaderMap::new();
        if let Some(secs) = retry_after {
            headers.insert("retry-after", secs.to_string().parse().unwrap());
        }
        let body = match (id, code) {
            (Some(id), _) => serde_json::json!({ "sid": id, "status": "queued" }),
            (None, Some(code)) => {
                serde_json::json!({ "code": code, "message": "The 'To' number is not valid.", "status": status })
            }
            (None, None) => serde_json::json!({ "message": "error", "status": status }),
        };
        (StatusCode::from_u16(status).unwrap(), headers, axum::Json(body)).into_response()
    }

    fn twilio_router(&self) -> Router {
        async fn messages(
            State(fake): State<Fake>,
            headers: HeaderMap,
            axum::extract::Path(account): axum::extract::Path<String>,
            axum::Form(form): axum::Form<HashMap<String, String>>,
        ) -> Response {
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
            fake.answer(form, auth, account == ACCOUNT)
        }
        Router::new()
            .route("/2010-04-01/Accounts/{account}/Messages.json", post(messages))
            .with_state(self.clone())
    }

    fn gateway_router(&self) -> Router {
        async fn send(State(fake): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
            let sig = headers.get("x-teduh-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
            let ok = sig == gateway_sign(SECRET, &body);
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let fields = json
                .as_object()
                .map(|o| {
                    o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
                })
                .unwrap_or_default();
            fake.answer(fields, None, ok)
        }
        Router::new().route("/send", post(send)).with_state(self.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// Teduh with the SMS channel in front of a fake provider.

struct Harness {
    pipeline: common::Pipeline,
    fake: Fake,
    /// Where Teduh's webhooks are served.
    base: String,
    http: reqwest::Client,
    sender: Arc<SmsSender>,
}

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.expect("store");
    (store, dir)
}

async fn twilio(extra: &[(&'static str, &str)]) -> Harness {
    let fake = Fake::default();
    let api = common::serve(fake.twilio_router()).await;
    let mut env = vec![
        ("TWILIO_ACCOUNT_SID", ACCOUNT.to_string()),
        ("TWILIO_AUTH_TOKEN", TOKEN.to_string()),
        ("TWILIO_FROM", FROM.to_string()),
        ("SMS_PUBLIC_URL", format!("{PUBLIC}/")),
        ("TWILIO_API_URL", api),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let config = SmsConfig::from_lookup(&lookup(env)).expect("valid config").expect("sms configured");
    start(config, fake).await
}

async fn gateway(extra: &[(&'static str, &str)]) -> Harness {
    let fake = Fake::default();
    let url = format!("{}/send", common::serve(fake.gateway_router()).await);
    let mut env = vec![("SMS_GATEWAY_URL", url), ("SMS_GATEWAY_SECRET", SECRET.to_string())];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let config = SmsConfig::from_lookup(&lookup(env)).expect("valid config").expect("sms configured");
    start(config, fake).await
}

async fn start(config: SmsConfig, fake: Fake) -> Harness {
    let config = Arc::new(config);
    let (store, dir) = store().await;
    let sender = Arc::new(SmsSender::new(config.clone(), store.clone()).expect("http client"));
    let pipeline = common::Pipeline::start_on(store, vec![sender.clone()], dir).await;
    let base = common::serve(sms::routes(pipeline.ingress.clone(), config.clone())).await;
    Harness { pipeline, fake, base, http: reqwest::Client::new(), sender }
}

/// What Twilio posts when `from` texts `body`, signed.
async fn twilio_sms(
    http: &reqwest::Client,
    base: &str,
    from: &str,
    sid: &str,
    body: &str,
) -> reqwest::Response {
    let path = "/webhook/sms/twilio";
    let params = [
        ("AccountSid", ACCOUNT),
        ("ApiVersion", "2010-04-01"),
        ("Body", body),
        ("From", from),
        ("MessageSid", sid),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsStatus", "received"),
        ("To", FROM),
    ];
    let sig = twilio_sign(&format!("{PUBLIC}{path}"), &params);
    http.post(format!("{base}{path}"))
        .header("X-Twilio-Signature", sig)
        .form(&params)
        .send()
        .await
        .expect("webhook answers")
}

impl Harness {
    /// POSTs a form to a Twilio webhook with the given signature header.
    async fn post_form(
        &self,
        path: &str,
        params: &[(&str, &str)],
        signature: Option<String>,
    ) -> reqwest::Response {
        let mut request = self.http.post(format!("{}{path}", self.base)).form(params);
        if let Some(sig) = signature {
            request = request.header("X-Twilio-Signature", sig);
        }
        request.send().await.expect("webhook answers")
    }

    /// POSTs a correctly signed form to a Twilio webhook.
    async fn signed_form(&self, path: &str, params: &[(&str, &str)]) -> reqwest::Response {
        let sig = twilio_sign(&format!("{PUBLIC}{path}"), params);
        self.post_form(path, params, Some(sig)).await
    }

    /// She texts `body` (Twilio message `sid`).
    async fn twilio_sms(&self, from: &str, sid: &str, body: &str) -> reqwest::Response {
        let response = twilio_sms(&self.http, &self.base, from, sid, body).await;
        assert_eq!(response.status(), StatusCode::OK);
        response
    }

    /// POSTs JSON to a gateway webhook with the given signature header.
    async fn post_json(&self, path: &str, body: &str, signature: Option<String>) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(sig) = signature {
            request = request.header("X-Teduh-Signature", sig);
        }
        request.send().await.expect("webhook answers")
    }

    async fn signed_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        let body = body.to_string();
        self.post_json(path, &body, Some(gateway_sign(SECRET, body.as_bytes()))).await
    }

    /// She texts `text` through the gateway (message `id`).
    async fn gateway_sms(&self, from: &str, id: &str, text: &str) {
        let body = serde_json::json!({ "id": id, "from": from, "text": text });
        let response = self.signed_json("/webhook/sms/gateway", &body).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    async fn outbox(&self, contact: &str) -> Vec<teduh::store::OutboxRow> {
        self.pipeline.store.outbox_for("sms", contact).await.expect("outbox")
    }

    /// Waits until every outbox row of `contact` has left the queue, and returns them.
    async fn settled(&self, contact: &str, rows: usize) -> Vec<teduh::store::OutboxRow> {
        common::eventually(15, || async {
            let rows_now = self.outbox(contact).await;
            (rows_now.len() >= rows && rows_now.iter().all(|r| r.status != "queued" && r.status != "sending"))
                .then_some(rows_now)
        })
        .await
        .unwrap_or_else(|| panic!("outbox of {contact} did not settle with {rows} rows"))
    }

    /// Asserts nothing at all was stored for `contact`.
    async fn assert_nothing_stored(&self, contact: &str) {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let store = &self.pipeline.store;
        assert_eq!(store.channel_contact("sms", contact).await.unwrap(), (None, false), "contact row stored");
        assert!(store.conversation("sms", contact).await.unwrap().is_none(), "a conversation was started");
        assert!(store.pending_inbound(100).await.unwrap().is_empty(), "an inbound message is pending");
        assert!(self.outbox(contact).await.is_empty(), "a reply was queued");
        assert!(self.fake.to(contact).is_empty(), "a message was sent");
    }

    /// Asserts no further message reaches `contact` for a while.
    async fn assert_quiet(&self, contact: &str, sent: usize) {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(self.fake.delivered(contact).len(), sent, "{:?}", self.fake.texts(contact));
    }

    async fn at_node(&self, contact: &str) -> Option<String> {
        let conversation = self.pipeline.store.conversation("sms", contact).await.unwrap()?;
        conversation.state.at.map(|at| at.to_string())
    }
}

fn reply(text: &str, choices: &[&str]) -> OutgoingPayload {
    OutgoingPayload::Reply(Reply {
        text: text.to_string(),
        choices: choices.iter().map(|c| c.to_string()).collect(),
        expect: None,
    })
}

fn outgoing(id: i64, contact: &str, payload: OutgoingPayload) -> Outgoing {
    Outgoing {
        id,
        channel: "sms".into(),
        contact: contact.into(),
        payload,
        last_inbound_at: None,
        opted_out: None,
        now_ms: 0,
        attempts: 0,
    }
}

// ---------------------------------------------------------------------------------------------
// 1. A conversation from first message to a main-menu choice.

#[tokio::test]
async fn twilio_conversation_reaches_a_menu_choice_with_numbered_menus() {
    let h = twilio(&[]).await;
    let her = "+6281200000001";
    let response = h.twilio_sms(her, "SMin0001", "halo").await;
    assert_eq!(response.headers()["content-type"], "text/xml");
    assert_eq!(response.text().await.unwrap(), "<Response></Response>");

    let first = h.fake.wait_delivered(her, 2).await;
    let menu = first.iter().map(Request::text).find(|t| t.contains("Balas dengan nomor")).expect("menu sent");
    assert!(menu.contains("\n1. Informasi\n2. Bicara dengan konselor\n3. Lapor darurat"), "{menu}");
    assert!(menu.ends_with("\n6. Keluar dengan aman"), "{menu}");
    assert!(first[0].text().starts_with("Halo, ini layanan Teduh"), "welcome comes first");
    for request in &first {
        assert_eq!(request.fields["From"], FROM);
        assert_eq!(request.fields["To"], her);
        assert_eq!(request.fields["StatusCallback"], format!("{PUBLIC}/webhook/sms/twilio/status"));
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}"));
        assert_eq!(request.authorization.as_deref(), Some(format!("Basic {basic}").as_str()));
        assert!(request.signature_ok, "sent to the configured account");
        assert!(segments(request.text()) <= 2);
    }
    assert_eq!(h.at_node(her).await.as_deref(), Some("helpline:menu"));

    // She types the number of a choice.
    h.twilio_sms(her, "SMin0002", "1").await;
    let all = h.fake.wait_delivered(her, 4).await;
    let topics = all[2..].iter().map(Request::text).find(|t| t.contains("Pilih topik")).expect("topics sent");
    assert!(topics.contains("\n1. Kekerasan seksual\n2. Jenis kekerasan"), "{topics}");
    assert!(topics.ends_with("\n9. Selesai"), "{topics}");
    assert_eq!(h.at_node(her).await.as_deref(), Some("information:topics"));

    // Every reply is recorded as sent, with Twilio's sid.
    let rows = h.settled(her, 4).await;
    let sids: Vec<String> = all.iter().filter_map(|r| r.id.clone()).collect();
    for row in &rows {
        assert_eq!(row.status, "sent");
        assert!(sids.contains(row.provider_message_id.as_ref().unwrap()), "{row:?}");
    }
    h.pipeline.stop().await;
}

#[tokio::test]
async fn gateway_conversation_reaches_a_menu_choice_with_numbered_menus() {
    let h = gateway(&[]).await;
    let her = "+6281200000002";
    h.gateway_sms(her, "gw-in-1", "halo").await;
    let first = h.fake.wait_delivered(her, 2).await;
    assert!(first.iter().all(|r| r.signature_ok), "outgoing gateway requests are signed");
    let menu = first.iter().map(Request::text).find(|t| t.contains("Balas dengan nomor")).expect("menu sent");
    assert!(menu.contains("\n1. Informasi\n2. Bicara dengan konselor"), "{menu}");

    h.gateway_sms(her, "gw-in-2", "1").await;
    let all = h.fake.wait_delivered(her, 4).await;
    assert!(all[2..].iter().any(|r| r.text().contains("\n1. Kekerasan seksual")));
    assert_eq!(h.at_node(her).await.as_deref(), Some("information:topics"));

    // The gateway gets "<outbox id>-<part>" ids, which are also the provider ids.
    let rows = h.settled(her, 4).await;
    for row in &rows {
        assert_eq!(row.status, "sent");
        assert_eq!(row.provider_message_id.as_deref(), Some(format!("{}-0", row.id).as_str()));
    }
    let ids: Vec<&str> = all.iter().map(|r| r.fields["id"].as_str()).collect();
    assert!(rows.iter().all(|row| ids.contains(&format!("{}-0", row.id).as_str())), "{ids:?}");
    h.pipeline.stop().await;
}

#[tokio::test]
async fn twilio_media_is_kept_as_a_reference_with_its_caption() {
    let h = twilio(&[]).await;
    let her = "+6281200000003";
    let url = "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1";
    let params = [
        ("Body", "tolong"),
        ("From", her),
        ("MessageSid", "MMmedia01"),
        ("NumMedia", "1"),
        ("MediaUrl0", url),
        ("MediaContentType0", "image/jpeg"),
    ];
    assert_eq!(h.signed_form("/webhook/sms/twilio", &params).await.status(), StatusCode::OK);
    let conversation = common::eventually(10, || async {
        h.pipeline.store.conversation("sms", her).await.unwrap().filter(|c| c.state.at.is_some())
    })
    .await
    .expect("conversation started");
    let attachments = common::eventually(5, || async {
        Some(h.pipeline.store.attachments_of(&conversation.id).await.unwrap()).filter(|a| !a.is_empty())
    })
    .await
    .expect("attachment recorded");
    // The caption is read too: "tolong" is an emergency word.
    let at =
        common::eventually(10, || async { h.at_node(her).await.filter(|at| at.starts_with("emergency:")) })
            .await;
    assert!(at.is_some(), "caption not handled: {:?}", h.at_node(her).await);
    assert_eq!(attachments, vec![("photo".to_string(), url.to_string())]);
    h.pipeline.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Signatures and malformed bodies.

#[tokio::test]
async fn twilio_webhooks_refuse_bad_signatures_and_malformed_forms() {
    let h = twilio(&[]).await;
    let her = "+6281200000010";
    let path = "/webhook/sms/twilio";
    let params = [("Body", "halo"), ("From", her), ("MessageSid", "SMbad0001"), ("NumMedia", "0")];
    let good = twilio_sign(&format!("{PUBLIC}{path}"), &params);

    // Missing, garbage, wrong key, wrong URL (the local address, not the public one), tampered.
    assert_eq!(h.post_form(path, &params, None).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        h.post_form(path, &params, Some("bm90IGEgc2lnbmF0dXJl".into())).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(h.post_form(path, &params, Some("%%%".into())).await.status(), StatusCode::FORBIDDEN);
    let local = twilio_sign(&format!("{}{path}", h.base), &params);
    assert_eq!(h.post_form(path, &params, Some(local)).await.status(), StatusCode::FORBIDDEN);
    let tampered = [("Body", "darurat"), ("From", her), ("MessageSid", "SMbad0001"), ("NumMedia", "0")];
    assert_eq!(h.post_form(path, &tampered, Some(good.clone())).await.status(), StatusCode::FORBIDDEN);
    let extra = [("Body", "halo"), ("From", her), ("MessageSid", "SMbad0001"), ("NumMedia", "0"), ("X", "1")];
    assert_eq!(h.post_form(path, &extra, Some(good.clone())).await.status(), StatusCode::FORBIDDEN);
    // A query string is part of what is signed.
    let response = h
        .http
        .post(format!("{}{path}?x=1", h.base))
        .header("X-Twilio-Signature", good.clone())
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Status callbacks are checked the same way.
    let status = [("MessageSid", "SM1"), ("MessageStatus", "delivered")];
    assert_eq!(
        h.post_form("/webhook/sms/twilio/status", &status, None).await.status(),
        StatusCode::FORBIDDEN
    );

    // Correctly signed but malformed.
    let no_sid = [("Body", "halo"), ("From", her)];
    assert_eq!(h.signed_form(path, &no_sid).await.status(), StatusCode::BAD_REQUEST);
    let no_from = [("Body", "halo"), ("MessageSid", "SMbad0002")];
    assert_eq!(h.signed_form(path, &no_from).await.status(), StatusCode::BAD_REQUEST);
    let bad_count = [("Body", "halo"), ("From", her), ("MessageSid", "SMbad0003"), ("NumMedia", "many")];
    assert_eq!(h.signed_form(path, &bad_count).await.status(), StatusCode::BAD_REQUEST);
    let media_without_url = [("From", her), ("MessageSid", "SMbad0004"), ("NumMedia", "1")];
    assert_eq!(h.signed_form(path, &media_without_url).await.status(), StatusCode::BAD_REQUEST);
    let no_status = [("MessageSid", "SM1")];
    assert_eq!(
        h.signed_form("/webhook/sms/twilio/status", &no_status).await.status(),
        StatusCode::BAD_REQUEST
    );
    // Bytes that are not UTF-8, signed as Twilio would sign them.
    let raw = format!("Body=%FF%FE&From={}&MessageSid=SMbad0005", her.replace('+', "%2B"));
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(TOKEN.as_bytes()).unwrap();
    mac.update(format!("{PUBLIC}{path}Body").as_bytes());
    mac.update(&[0xFF, 0xFE]);
    mac.update(format!("From{her}MessageSidSMbad0005").as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let response = h
        .http
        .post(format!("{}{path}", h.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", sig)
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    h.assert_nothing_stored(her).await;
    // The gateway's routes are not served in the Twilio profile.
    let body = serde_json::json!({ "id": "x", "from": her, "text": "halo" });
    assert_eq!(h.signed_json("/webhook/sms/gateway", &body).await.status(), StatusCode::NOT_FOUND);

    // And the good signature is accepted.
    assert_eq!(h.post_form(path, &params, Some(good)).await.status(), StatusCode::OK);
    h.fake.wait_delivered(her, 2).await;
    h.pipeline.stop().await;
}

#[tokio::test]
async fn gateway_webhooks_refuse_bad_signatures_and_malformed_bodies() {
    let h = gateway(&[]).await;
    let her = "+6281200000011";
    let path = "/webhook/sms/gateway";
    let body = serde_json::json!({ "id": "gw-bad-1", "from": her, "text": "halo" }).to_string();
    let good = gateway_sign(SECRET, body.as_bytes());

    assert_eq!(h.post_json(path, &body, None).await.status(), StatusCode::FORBIDDEN);
    let other_key = gateway_sign("another-secret-of-enough-length", body.as_bytes());
    assert_eq!(h.post_json(path, &body, Some(other_key)).await.status(), StatusCode::FORBIDDEN);
    let bare_hex = good.trim_start_matches("sha256=").to_string();
    assert_eq!(h.post_json(path, &body, Some(bare_hex)).await.status(), StatusCode::FORBIDDEN);
    let tampered = body.replace("halo", "darurat");
    assert_eq!(h.post_json(path, &tampered, Some(good.clone())).await.status(), StatusCode::FORBIDDEN);
    let status = serde_json::json!({ "id": "1-0", "status": "delivered" }).to_string();
    assert_eq!(
        h.post_json("/webhook/sms/gateway/status", &status, None).await.status(),
        StatusCode::FORBIDDEN
    );

    for malformed in [
        "not json".to_string(),
        serde_json::json!({ "id": "gw-bad-2", "text": "halo" }).to_string(),
        serde_json::json!({ "id": "gw-bad-3", "from": her }).to_string(),
        serde_json::json!({ "id": "", "from": her, "text": "halo" }).to_string(),
        serde_json::json!({ "id": "gw-bad-4", "from": "", "text": "halo" }).to_string(),
        serde_json::json!({ "id": 5, "from": her, "text": "halo" }).to_string(),
    ] {
        let sig = gateway_sign(SECRET, malformed.as_bytes());
        assert_eq!(
            h.post_json(path, &malformed, Some(sig)).await.status(),
            StatusCode::BAD_REQUEST,
            "{malformed}"
        );
    }
    let sig = gateway_sign(SECRET, b"{\"id\":\"1-0\"}");
    let response = h.post_json("/webhook/sms/gateway/status", "{\"id\":\"1-0\"}", Some(sig)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    h.assert_nothing_stored(her).await;
    assert_eq!(
        h.post_form("/webhook/sms/twilio", &[("From", her)], None).await.status(),
        StatusCode::NOT_FOUND
    );

    assert_eq!(h.post_json(path, &body, Some(good)).await.status(), StatusCode::OK);
    h.fake.wait_delivered(her, 2).await;
    h.pipeline.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Duplicate deliveries.

#[tokio::test]
async fn the_same_message_sid_twice_is_one_step_and_one_reply() {
    let h = twilio(&[]).await;
    let her = "+6281200000020";
    h.twilio_sms(her, "SMdup0001", "halo").await;
    h.twilio_sms(her, "SMdup0001", "halo").await;
    h.fake.wait_delivered(her, 2).await;
    h.assert_quiet(her, 2).await;
    assert_eq!(h.outbox(her).await.len(), 2, "welcome and menu, once");

    // Twilio retrying a menu answer, even at the same moment.
    let (a, b) = tokio::join!(h.twilio_sms(her, "SMdup0002", "1"), h.twilio_sms(her, "SMdup0002", "1"));
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    h.fake.wait_delivered(her, 4).await;
    h.assert_quiet(her, 4).await;
    assert_eq!(h.outbox(her).await.len(), 4);
    // A second step would have picked topic 1 from the topics menu.
    assert_eq!(h.at_node(her).await.as_deref(), Some("information:topics"));
    h.pipeline.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Retries.

#[tokio::test]
async fn a_server_error_is_retried_and_delivered_exactly_once() {
    let h = twilio(&[]).await;
    let her = "+6281200000030";
    h.fake.script(her, &[(500, None, None)]);
    h.twilio_sms(her, "SMretry01", "halo").await;
    let delivered = h.fake.wait_delivered(her, 2).await;
    h.assert_quiet(her, 2).await;
    let all = h.fake.to(her);
    assert_eq!(all.len(), 3, "one failure, then each message once");
    assert_eq!(all[0].status, 500);
    assert_ne!(delivered[0].text(), delivered[1].text(), "each message delivered exactly once");
    assert!(delivered.iter().any(|r| r.text() == all[0].text()), "the failed one went out later");
    let rows = h.settled(her, 2).await;
    assert!(rows.iter().all(|r| r.status == "sent"), "{rows:?}");
    assert_eq!(rows.iter().map(|r| r.attempts).sum::<i64>(), 3);

    // The gateway too.
    let g = gateway(&[]).await;
    g.fake.script(her, &[(503, None, None)]);
    g.gateway_sms(her, "gw-retry-1", "halo").await;
    g.fake.wait_delivered(her, 2).await;
    g.assert_quiet(her, 2).await;
    assert_eq!(g.fake.to(her).len(), 3);
    h.pipeline.stop().await;
    g.pipeline.stop().await;
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after() {
    let h = twilio(&[]).await;
    let her = "+6281200000031";
    h.fake.script(her, &[(429, Some(3), Some(20429))]);
    h.twilio_sms(her, "SMrate001", "halo").await;
    h.fake.wait_delivered(her, 2).await;
    let all = h.fake.to(her);
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].status, 429);
    let retried =
        all[1..].iter().find(|r| r.text() == all[0].text()).expect("the limited message was retried");
    let waited = retried.at - all[0].at;
    // Retry-After (3 s) rather than the dispatcher's own backoff (1.5-2.5 s).
    assert!(waited >= Duration::from_millis(2_900) && waited < Duration::from_secs(6), "{waited:?}");
    h.pipeline.stop().await;
}

#[tokio::test]
async fn an_invalid_number_fails_for_good() {
    let h = twilio(&[]).await;
    let her = "+6200";
    h.fake.script(her, &[(400, None, Some(21211)), (400, None, Some(21211))]);
    h.twilio_sms(her, "SMinv0001", "halo").await;
    let rows = h.settled(her, 2).await;
    for row in &rows {
        assert_eq!(row.status, "failed");
        assert_eq!(row.attempts, 1, "not retried");
        let error = row.error.as_deref().unwrap_or_default();
        assert!(error.contains("21211") && !error.contains(her), "{error}");
    }
    assert_eq!(h.fake.to(her).len(), 2);
    h.pipeline.stop().await;
}

#[tokio::test]
async fn long_replies_go_out_in_parts_and_resume_after_a_failed_part() {
    let h = twilio(&[]).await;
    let her = "+6281200000032";
    let text = "Kalimat panjang tentang layanan perlindungan perempuan di Indonesia. ".repeat(8);
    assert!(segments(&text) > 2);
    let message = outgoing(9001, her, reply(&text, &["Ya", "Tidak"]));
    h.fake.script(her, &[(0, None, None), (502, None, None)]);

    let error = h.sender.send(&message).await.expect_err("second part failed");
    assert!(matches!(&error, SendError::Retry { reason, .. } if reason.contains("part 2 of")), "{error:?}");
    let receipt = h.sender.send(&message).await.expect("resumed");
    let sent = h.fake.delivered(her);
    let expected = split(&format!("{}\n1. Ya\n2. Tidak", text.trim_end()), 2);
    assert_eq!(
        sent.iter().map(|r| r.text().to_string()).collect::<Vec<_>>(),
        expected,
        "each part once, in order"
    );
    assert!(expected.len() >= 2 && expected.iter().all(|p| segments(p) <= 2));
    assert_eq!(receipt.provider_ids, sent.iter().filter_map(|r| r.id.clone()).collect::<Vec<_>>());
    assert!(sent.last().unwrap().text().ends_with("1. Ya\n2. Tidak"));

    // Clearing a chat is not possible on SMS: nothing is sent, and that is fine.
    let clear = outgoing(
        9002,
        her,
        OutgoingPayload::ClearChat { message_ids: vec!["SM1".into()], pending: Vec::new() },
    );
    assert_eq!(h.sender.send(&clear).await, Ok(Default::default()));
    assert_eq!(h.fake.to(her).len(), sent.len() + 1);
    assert_eq!(h.sender.channel(), "sms");
    assert_eq!(h.sender.limits().per_chat_interval, Duration::from_secs(1));
    assert_eq!(h.sender.limits().per_second, 10.0);
    h.pipeline.stop().await;
}

#[tokio::test]
async fn unreachable_providers_and_timeouts_are_retried() {
    let (store, _dir) = store().await;
    // Nothing listens on this port once the listener is dropped.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let env = vec![("SMS_GATEWAY_URL", format!("{dead}/send")), ("SMS_GATEWAY_SECRET", SECRET.to_string())];
    let config = Arc::new(SmsConfig::from_lookup(&lookup(env)).unwrap().unwrap());
    let sender = SmsSender::new(config, store).unwrap();
    let result = sender.send(&outgoing(1, "+6281200000033", reply("halo", &[]))).await;
    assert!(matches!(result, Err(SendError::Retry { after: None, .. })), "{result:?}");
}

// ---------------------------------------------------------------------------------------------
// 5. Rate limit.

#[tokio::test]
async fn a_burst_of_conversations_stays_within_sms_rate() {
    let h = twilio(&[("SMS_RATE", "5")]).await;
    assert_eq!(h.sender.limits().per_second, 5.0);
    let people: Vec<String> = (0..8).map(|i| format!("+62812000001{i:02}")).collect();
    let mut burst = tokio::task::JoinSet::new();
    for (i, person) in people.iter().enumerate() {
        let (http, base, person) = (h.http.clone(), h.base.clone(), person.clone());
        burst.spawn(async move {
            twilio_sms(&http, &base, &person, &format!("SMburst{i}"), "halo").await.status()
        });
    }
    while let Some(status) = burst.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    let all = common::eventually(20, || async { Some(h.fake.requests()).filter(|r| r.len() >= 16) })
        .await
        .expect("16 messages sent");
    let times: Vec<Instant> = all.iter().map(|r| r.at).collect();
    // No six sends within one second (a little slack for the loopback).
    for w in times.windows(6) {
        let span = w[5] - w[0];
        assert!(span >= Duration::from_millis(900), "6 sends within {span:?}");
    }
    let total = times[15] - times[0];
    assert!(total >= Duration::from_millis(2_900), "16 sends at 5/s took only {total:?}");
    h.pipeline.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 6. Delivery statuses.

#[tokio::test]
async fn twilio_status_callbacks_update_the_outbox() {
    let h = twilio(&[]).await;
    let her = "+6281200000040";
    h.twilio_sms(her, "SMstat001", "halo").await;
    let rows = h.settled(her, 2).await;
    let (first, second) = (&rows[0], &rows[1]);
    let sid = |row: &teduh::store::OutboxRow| row.provider_message_id.clone().expect("provider id");
    let status_path = "/webhook/sms/twilio/status";
    let callback = |sid: String, status: &'static str, code: Option<&'static str>| {
        let mut params =
            vec![("MessageSid", sid), ("MessageStatus", status.to_string()), ("AccountSid", ACCOUNT.into())];
        if let Some(code) = code {
            params.push(("ErrorCode", code.to_string()));
        }
        params
    };
    let harness = h;
    let h = &harness;
    let post = |params: Vec<(&'static str, String)>| async move {
        let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        h.signed_form(status_path, &borrowed).await.status()
    };
    let status_of = |id: i64| async move {
        h.outbox(her).await.into_iter().find(|r| r.id == id).map(|r| (r.status, r.error)).unwrap()
    };

    assert_eq!(post(callback(sid(first), "queued", None)).await, StatusCode::OK);
    assert_eq!(status_of(first.id).await.0, "sent");
    assert_eq!(post(callback(sid(first), "delivered", None)).await, StatusCode::OK);
    assert_eq!(status_of(first.id).await.0, "delivered");
    // A late "sent" never moves it back.
    assert_eq!(post(callback(sid(first), "sent", None)).await, StatusCode::OK);
    assert_eq!(status_of(first.id).await.0, "delivered");

    assert_eq!(post(callback(sid(second), "undelivered", Some("30003"))).await, StatusCode::OK);
    let (status, error) = status_of(second.id).await;
    assert_eq!(status, "failed");
    assert!(error.unwrap_or_default().contains("30003"));

    // Unknown messages are acknowledged so Twilio stops calling.
    assert_eq!(post(callback("SMunknown".into(), "delivered", None)).await, StatusCode::OK);
    harness.pipeline.stop().await;
}

#[tokio::test]
async fn gateway_status_callbacks_update_the_outbox() {
    let h = gateway(&[]).await;
    let her = "+6281200000041";
    h.gateway_sms(her, "gw-stat-1", "halo").await;
    let rows = h.settled(her, 2).await;
    let path = "/webhook/sms/gateway/status";
    let delivered = serde_json::json!({ "id": format!("{}-0", rows[0].id), "status": "delivered" });
    assert_eq!(h.signed_json(path, &delivered).await.status(), StatusCode::OK);
    let failed =
        serde_json::json!({ "id": format!("{}-0", rows[1].id), "status": "undelivered", "error": "E42" });
    assert_eq!(h.signed_json(path, &failed).await.status(), StatusCode::OK);
    let now = h.outbox(her).await;
    assert_eq!(now[0].status, "delivered");
    assert_eq!(now[1].status, "failed");
    assert!(now[1].error.as_deref().unwrap_or_default().contains("E42"));
    h.pipeline.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 7. Carrier opt-out.

#[tokio::test]
async fn stop_opts_out_and_mulai_opts_back_in() {
    let h = twilio(&[]).await;
    let her = "+6281200000050";
    h.twilio_sms(her, "SMopt0001", "halo").await;
    h.fake.wait_delivered(her, 2).await;
    let at = h.at_node(her).await;

    h.twilio_sms(her, "SMopt0002", "STOP").await;
    let opted = common::eventually(10, || async {
        h.pipeline.store.channel_contact("sms", her).await.unwrap().1.then_some(())
    })
    .await;
    assert!(opted.is_some(), "opt-out recorded");
    h.assert_quiet(her, 2).await;
    assert_eq!(h.outbox(her).await.len(), 2, "no reply to STOP");
    assert_eq!(h.at_node(her).await, at, "no step for STOP");

    // Anything sent to her now is refused, not attempted.
    h.twilio_sms(her, "SMopt0003", "menu").await;
    let rows = h.settled(her, 3).await;
    assert!(rows[2..].iter().all(|r| r.status == "refused"), "{rows:?}");
    assert!(rows[2].error.as_deref().unwrap_or_default().contains("opted out"));
    assert_eq!(h.fake.to(her).len(), 2, "nothing reached the provider");

    // MULAI opts her back in, and she gets an answer again.
    h.twilio_sms(her, "SMopt0004", "MULAI").await;
    h.fake.wait_delivered(her, 3).await;
    assert!(!h.pipeline.store.channel_contact("sms", her).await.unwrap().1);
    assert!(h.fake.texts(her)[2..].iter().any(|t| t.contains("1. Informasi")), "the menu again");
    h.pipeline.stop().await;
}

#[tokio::test]
async fn berhenti_opts_out_and_start_opts_back_in_on_the_gateway() {
    let h = gateway(&[]).await;
    let her = "+6281200000051";
    h.gateway_sms(her, "gw-opt-1", "BERHENTI").await;
    let opted = common::eventually(10, || async {
        h.pipeline.store.channel_contact("sms", her).await.unwrap().1.then_some(())
    })
    .await;
    assert!(opted.is_some(), "opt-out recorded");
    assert!(h.pipeline.store.conversation("sms", her).await.unwrap().is_none(), "no step");
    h.assert_quiet(her, 0).await;

    // A direct send to her is refused.
    let refused = h.sender.send(&outgoing(77, her, reply("Halo", &[]))).await;
    assert!(matches!(refused, Err(SendError::Refused(_))), "{refused:?}");

    h.gateway_sms(her, "gw-opt-2", "start").await;
    h.fake.wait_delivered(her, 1).await;
    assert!(!h.pipeline.store.channel_contact("sms", her).await.unwrap().1);
    h.pipeline.stop().await;
}

#[tokio::test]
async fn a_carrier_unsubscribe_is_refused_and_remembered() {
    let h = twilio(&[]).await;
    let her = "+6281200000052";
    h.fake.script(her, &[(400, None, Some(21610))]);
    let result = h.sender.send(&outgoing(5, her, reply("Halo", &[]))).await;
    assert!(matches!(&result, Err(SendError::Refused(r)) if r.contains("21610")), "{result:?}");
    assert!(h.pipeline.store.channel_contact("sms", her).await.unwrap().1, "recorded as opted out");
    let again = h.sender.send(&outgoing(6, her, reply("Halo", &[]))).await;
    assert!(matches!(again, Err(SendError::Refused(_))));
    assert_eq!(h.fake.to(her).len(), 1, "the second send never reached Twilio");
    h.pipeline.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Configuration.

#[test]
fn configuration_picks_a_profile_and_names_what_is_wrong() {
    let env =
        |pairs: &[(&'static str, &str)]| lookup(pairs.iter().map(|(k, v)| (*k, v.to_string())).collect());
    assert!(SmsConfig::from_lookup(&env(&[])).unwrap().is_none());

    let twilio = [
        ("TWILIO_ACCOUNT_SID", ACCOUNT),
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("TWILIO_FROM", FROM),
        ("SMS_PUBLIC_URL", "https://teduh.example.org/"),
    ];
    let config = SmsConfig::from_lookup(&env(&twilio)).unwrap().unwrap();
    assert_eq!(config.rate, 10.0);
    assert_eq!(config.provider_name(), "twilio");
    match &config.provider {
        sms::SmsProvider::Twilio(t) => {
            assert_eq!(t.api_url, "https://api.twilio.com");
            assert_eq!(t.public_url, "https://teduh.example.org");
        }
        sms::SmsProvider::Gateway(_) => panic!("twilio expected"),
    }
    assert!(!format!("{config:?}").contains(TOKEN), "the token stays out of Debug");

    for missing in ["TWILIO_AUTH_TOKEN", "TWILIO_FROM", "SMS_PUBLIC_URL"] {
        let pairs: Vec<_> = twilio.iter().copied().filter(|(k, _)| *k != missing).collect();
        let err = SmsConfig::from_lookup(&env(&pairs)).unwrap_err().to_string();
        assert!(err.contains(missing), "{err}");
    }
    let mut bad_rate = twilio.to_vec();
    bad_rate.push(("SMS_RATE", "fast"));
    assert!(SmsConfig::from_lookup(&env(&bad_rate)).unwrap_err().to_string().contains("SMS_RATE"));
    let mut bad_url = twilio.to_vec();
    bad_url[3] = ("SMS_PUBLIC_URL", "teduh.example.org");
    assert!(SmsConfig::from_lookup(&env(&bad_url)).unwrap_err().to_string().contains("SMS_PUBLIC_URL"));
    let mut bad_sid = twilio.to_vec();
    bad_sid[0] = ("TWILIO_ACCOUNT_SID", "nope");
    assert!(SmsConfig::from_lookup(&env(&bad_sid)).unwrap_err().to_string().contains("TWILIO_ACCOUNT_SID"));

    let gateway = [
        ("SMS_GATEWAY_URL", "https://gw.example.org/send"),
        ("SMS_GATEWAY_SECRET", SECRET),
        ("SMS_RATE", "2.5"),
    ];
    let config = SmsConfig::from_lookup(&env(&gateway)).unwrap().unwrap();
    assert_eq!((config.provider_name(), config.rate), ("gateway", 2.5));
    assert!(!format!("{config:?}").contains(SECRET));
    let err = SmsConfig::from_lookup(&env(&gateway[..1])).unwrap_err().to_string();
    assert!(err.contains("SMS_GATEWAY_SECRET"), "{err}");
    let short = [("SMS_GATEWAY_URL", "https://gw.example.org/send"), ("SMS_GATEWAY_SECRET", "short")];
    assert!(SmsConfig::from_lookup(&env(&short)).unwrap_err().to_string().contains("SMS_GATEWAY_SECRET"));

    let both: Vec<_> = twilio.iter().chain(gateway.iter()).copied().collect();
    let err = SmsConfig::from_lookup(&env(&both)).unwrap_err().to_string();
    assert!(err.contains("TWILIO_ACCOUNT_SID") && err.contains("SMS_GATEWAY_URL"), "{err}");
    let orphan = SmsConfig::from_lookup(&env(&[("TWILIO_AUTH_TOKEN", TOKEN)])).unwrap_err().to_string();
    assert!(orphan.contains("TWILIO_AUTH_TOKEN") && orphan.contains("TWILIO_ACCOUNT_SID"), "{orphan}");
}

// ---------------------------------------------------------------------------------------------
// 8. GSM-7 and UCS-2.

#[test]
fn plain_indonesian_is_gsm7() {
    let text = "Halo, ini layanan Teduh untuk perempuan. Ketik \"darurat\" bila Anda dalam bahaya! (24 jam)";
    assert_eq!(encoding(text), Encoding::Gsm7);
    assert_eq!(segments(text), 1);
    // The shipped flows' GSM-7 alphabet, character by character.
    let basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    assert_eq!(basic.chars().count(), 127);
    assert!(basic.chars().all(|c| sms::gsm7_septets(c) == Some(1)), "basic table");
    assert!("^{}\\[~]|€\u{0C}".chars().all(|c| sms::gsm7_septets(c) == Some(2)), "extension table");
    assert_eq!(sms::gsm7_septets('`'), None);
    // é and É are in the GSM-7 basic table: "Kafé" does not need UCS-2.
    assert_eq!(encoding("Kafé Teduh, RÉSUMÉ"), Encoding::Gsm7);
}

#[test]
fn extension_characters_stay_gsm7_but_count_double() {
    let text = "Biaya €5 [gratis] {info} ~ ^ | \\";
    assert_eq!(encoding(text), Encoding::Gsm7);
    assert_eq!(segments(&"€".repeat(80)), 1);
    assert_eq!(segments(&"€".repeat(81)), 2);
    assert_eq!(segments(&format!("{}[", "a".repeat(158))), 1);
    assert_eq!(segments(&format!("{}[", "a".repeat(159))), 2);
    // An escape pair is never cut between two parts: 152 + [€] + 152 would fit 306 septets, but
    // the € cannot straddle the first part, so it takes three.
    assert_eq!(segments(&format!("{}€{}", "a".repeat(152), "a".repeat(152))), 3);
    assert_eq!(segments(&format!("{}€{}", "a".repeat(151), "a".repeat(153))), 2);
}

#[test]
fn curly_quotes_accents_outside_gsm7_and_emoji_force_ucs2() {
    for text in [
        "Ketik “darurat” bila Anda dalam bahaya",
        "Ketik ‘darurat’",
        "Terima kasih 🙏",
        "Crème brûlée",
        "Perempuan—aman",
        "café `code`",
    ] {
        assert_eq!(encoding(text), Encoding::Ucs2, "{text}");
    }
    assert_eq!(segments("Terima kasih 🙏"), 1);
    // The emoji counts two UTF-16 units.
    assert_eq!(segments(&format!("{}🙏", "á".repeat(68))), 1);
    assert_eq!(segments(&format!("{}🙏", "á".repeat(69))), 2);
}

#[test]
fn segment_boundaries() {
    for (n, expected) in [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)] {
        assert_eq!(segments(&"a".repeat(n)), expected, "GSM-7 {n}");
    }
    for (n, expected) in [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)] {
        assert_eq!(segments(&"á".repeat(n)), expected, "UCS-2 {n}");
    }
    // One curly quote turns a 160-character Indonesian text into three UCS-2 segments.
    let text = format!("“{}", "a".repeat(159));
    assert_eq!(segments(&text), 3);
    // A surrogate pair is never cut between parts either.
    assert_eq!(segments(&format!("{}🙏{}", "á".repeat(66), "á".repeat(66))), 3);
    assert_eq!(segments(&format!("{}🙏{}", "á".repeat(65), "á".repeat(67))), 2);
    assert_eq!(segments(""), 1);
}

#[test]
fn splitting_cuts_at_word_boundaries() {
    let words: Vec<String> = (0..120).map(|i| format!("kata{i}")).collect();
    let text = words.join(" ");
    let parts = split(&text, 2);
    assert!(parts.len() >= 2, "{parts:?}");
    for p in &parts {
        assert!(segments(p) <= 2, "{p}");
        assert_eq!(p.trim(), p);
    }
    let rejoined: Vec<&str> = parts.iter().flat_map(|p| p.split_whitespace()).collect();
    assert_eq!(rejoined, words.iter().map(String::as_str).collect::<Vec<_>>(), "no word cut or lost");
    // Greedy: each part but the last is full enough that the next word would not fit.
    for pair in parts.windows(2) {
        let next_word = pair[1].split_whitespace().next().unwrap();
        assert!(segments(&format!("{} {next_word}", pair[0])) > 2);
    }

    // Fits: unchanged (trimmed). Blank: nothing to send.
    assert_eq!(split("  Halo kak  ", 2), vec!["Halo kak".to_string()]);
    assert!(split(" \n ", 2).is_empty());
    assert_eq!(split(&"a".repeat(306), 2).len(), 1);
    assert_eq!(split(&"a ".repeat(154), 1).len(), 2);

    // A single word longer than a message is cut where it must.
    let long = "x".repeat(400);
    let parts = split(&format!("awal {long} akhir"), 2);
    assert!(parts.iter().all(|p| segments(p) <= 2), "{parts:?}");
    assert_eq!(parts.concat().replace(' ', ""), format!("awal{long}akhir"));
    assert_eq!(parts[0], "awal");
    assert_eq!(parts[1], "x".repeat(306));
    assert_eq!(parts[2], format!("{} akhir", "x".repeat(94)));

    // UCS-2 text splits on its own limits.
    let ucs = "Terima kasih “teman” ".repeat(10);
    let parts = split(&ucs, 1);
    assert!(parts.len() >= 3 && parts.iter().all(|p| segments(p) == 1), "{parts:?}");

    // Menu lines stay whole when a line break is close enough.
    let menu = format!(
        "{}\n1. Informasi\n2. Bicara dengan konselor\n3. Lapor darurat",
        "Teks pembuka panjang. ".repeat(13).trim_end()
    );
    let parts = split(&menu, 2);
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert!(parts[0].ends_with("panjang.\n1. Informasi"), "{parts:?}");
    assert_eq!(parts[1], "2. Bicara dengan konselor\n3. Lapor darurat");
}
