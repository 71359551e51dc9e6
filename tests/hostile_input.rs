//! Hostile input, as properties: whatever arrives, correctly signed, at a webhook is answered
//! without a server error and the service keeps working; the SMS segmenter, the flow loader and
//! the region matcher never panic on any text. These are the fast, always-run versions of the
//! fuzzing properties (bounded case counts).

mod common;

use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use common::e2e::*;

/// Form encoding of a value: every byte but letters and digits as `%XX`.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// The shipped translations, for checking fuzzed flows.
static I18N: std::sync::LazyLock<teduh::i18n::I18n> = std::sync::LazyLock::new(|| {
    teduh::i18n::I18n::load(&common::crate_path("locales"), "id").expect("shipped locales load")
});

/// JSON values of every shape, nested, with hostile strings.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "update_id",
                    "message",
                    "callback_query",
                    "chat",
                    "id",
                    "text",
                    "data",
                    "from",
                    "location",
                    "entry",
                    "changes",
                    "value",
                    "messages",
                    "statuses",
                    "type",
                    "interactive",
                    "button_reply",
                    "list_reply",
                    "metadata",
                    "phone_number_id",
                    "timestamp",
                    "object",
                    "field",
                    "contacts",
                    "wa_id",
                    "latitude",
                    "longitude",
                ])
                .prop_map(str::to_string),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Bodies: arbitrary bytes, or JSON shaped like a provider's (with random parts).
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        json_value().prop_map(|v| {
            json!({ "object": "whatsapp_business_account", "entry": [{ "changes": [{ "field": "messages",
                "value": { "metadata": { "phone_number_id": WA_PHONE_ID }, "messages": [v] } }] }] })
            .to_string()
            .into_bytes()
        }),
        json_value().prop_map(|v| json!({ "update_id": 7, "message": v }).to_string().into_bytes()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_garbage_at_every_webhook_never_makes_a_server_error() {
    let w = world((10, 0)).await;
    let mut runner = TestRunner::new(Config { cases: 48, failure_persistence: None, ..Config::default() });
    let mut bodies = Vec::new();
    for _ in 0..48 {
        bodies.push(body().new_tree(&mut runner).unwrap().current());
    }
    let forms: Vec<Vec<(String, String)>> = (0..24)
        .map(|_| {
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "From",
                        "Body",
                        "MessageSid",
                        "To",
                        "Latitude",
                        "NumMedia",
                        "X",
                    ]),
                    ".{0,30}",
                ),
                0..6,
            )
            .new_tree(&mut runner)
            .unwrap()
            .current()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
        })
        .collect();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    for body in &bodies {
        let wa = http
            .post(format!("{}/webhook/whatsapp", w.base))
            .header("content-type", "application/json")
            .header("X-Hub-Signature-256", format!("sha256={}", hmac_sha256_hex(WA_SECRET, body)))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(
            !wa.status().is_server_error(),
            "whatsapp answered {} to {:?}",
            wa.status(),
            String::from_utf8_lossy(body)
        );
        let tg = http
            .post(format!("{}/webhook/telegram", w.base))
            .header("content-type", "application/json")
            .header("X-Telegram-Bot-Api-Secret-Token", TG_SECRET)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(
            !tg.status().is_server_error(),
            "telegram answered {} to {:?}",
            tg.status(),
            String::from_utf8_lossy(body)
        );
    }
    for form in &forms {
        let sms = http
            .post(format!("{}/webhook/sms/twilio", w.base))
            .header("X-Twilio-Signature", twilio_signature(form))
            .form(form)
            .send()
            .await
            .unwrap();
        assert!(!sms.status().is_server_error(), "twilio answered {} to {form:?}", sms.status());
    }
    // Still serving: a real emergency goes through after all that.
    w.whatsapp_emergency().await;
    w.until("the counselor's notice", |w| !w.telegram_to(PALU_K1).is_empty()).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_sms_splitter_keeps_every_word_within_its_segments(text in "\\PC{0,600}", max in 1usize..4) {
        let parts = teduh::channel::sms::split(&text, max);
        let joined: String = parts.concat();
        let squeeze = |s: &str| s.split_whitespace().collect::<String>();
        prop_assert_eq!(squeeze(&joined), squeeze(&text));
        prop_assert!(parts.iter().all(|p| teduh::channel::sms::segments(p) <= max || p.chars().count() <= 1));
    }

    #[test]
    fn the_flow_loader_reports_instead_of_panicking(text in "\\PC{0,400}") {
        let path = std::path::Path::new("fuzz.yaml");
        let lines = text.lines().count().max(1) as u64;
        match teduh::flow::load::parse(path, &text) {
            Err(problem) => prop_assert!(problem.line <= lines + 1),
            Ok(doc) => {
                let sources = [teduh::flow::load::Source { path: path.to_path_buf(), doc }];
                let (_, problems) = teduh::flow::check::compile(&sources, &I18N, teduh::flow::engine::BUILTIN_MESSAGES);
                prop_assert!(problems.iter().all(|p| p.line <= lines + 1));
            }
        }
    }

    #[test]
    fn the_telegram_parser_keeps_only_messages_with_a_sender(body in body()) {
        if let Ok(handled) = teduh::channel::telegram::parse_update(&body)
            && let Some(inbound) = handled.inbound
        {
            prop_assert!(!inbound.contact.is_empty());
            prop_assert!(inbound.provider_id.is_some_and(|id| !id.is_empty()));
        }
    }

    #[test]
    fn the_whatsapp_parser_keeps_only_well_formed_messages(body in body()) {
        if let Ok(batch) = teduh::channel::whatsapp::parse_notification(&body, WA_PHONE_ID) {
            for message in &batch.messages {
                prop_assert!(!message.contact.trim().is_empty());
                if let teduh::channel::InboundEvent::Location { lat, lon } = message.event {
                    prop_assert!((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon));
                }
            }
            prop_assert!(batch.statuses.iter().all(|s| matches!(s.status.as_str(), "sent" | "delivered" | "read" | "failed")));
        }
    }

    #[test]
    fn the_sms_parsers_accept_only_plausible_senders(
        raw in prop::collection::vec(any::<u8>(), 0..200),
        form in prop::collection::vec((prop::sample::select(vec!["From", "Body", "MessageSid", "NumMedia", "MediaUrl0", "X"]), "\\PC{0,30}"), 0..6),
        json in json_value(),
    ) {
        let plausible = |c: &str| !c.is_empty() && c.chars().count() <= 64 && !c.chars().any(char::is_control);
        let encoded: Vec<String> = form.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
        for body in [raw, encoded.join("&").into_bytes()] {
            let Ok(messages) = teduh::channel::sms::parse_twilio_inbound(&body) else { continue };
            prop_assert!(matches!(messages.len(), 1 | 2));
            prop_assert!(messages.iter().all(|m| plausible(&m.contact)));
        }
        if let Ok(message) = teduh::channel::sms::parse_gateway_inbound(json.to_string().as_bytes()) {
            prop_assert!(plausible(&message.contact));
        }
    }

    #[test]
    fn the_region_matcher_answers_any_text(text in "\\PC{0,80}") {
        let regions = teduh::directory::Regions::embedded().unwrap();
        let _ = regions.find(&text);
    }
}
