//! Abuse limits: oversized webhook bodies are refused before they are read whole, over-long
//! texts are cut to the channels' own limit, and a sender flooding the service gets one polite
//! notice, then silence, while every message stays stored and a counter counts them.

mod common;

use std::sync::Arc;

use teduh::channel::{Inbound, InboundEvent};
use teduh::clock::ManualClock;
use teduh::limits::MAX_TEXT_CHARS;
use teduh::runtime::Runtime;
use teduh::store::Store;

const SENDER: &str = "6281277770000";

async fn runtime(flood_per_minute: u32) -> (Runtime, Store, Arc<ManualClock>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    let clock = Arc::new(ManualClock::new(1_795_400_000_000));
    let runtime = Runtime::new(common::shipped_engine(), store.clone(), clock.clone())
        .with_flood_limit(flood_per_minute);
    (runtime, store, clock, dir)
}

fn text(id: &str, text: &str) -> Inbound {
    Inbound {
        channel: "whatsapp".into(),
        provider_id: Some(id.into()),
        contact: SENDER.into(),
        event: InboundEvent::Text { text: text.into() },
        lang_hint: None,
    }
}

async fn replies(store: &Store) -> Vec<String> {
    common::queued_texts(store, "whatsapp", SENDER).await
}

#[tokio::test]
async fn a_text_longer_than_the_channels_allow_is_cut_not_refused() {
    let (runtime, store, _clock, _dir) = runtime(30).await;
    let long = "a".repeat(MAX_TEXT_CHARS * 2);
    runtime.accept(&text("w1", &long)).await.unwrap();
    let pending = store.pending_inbound(10).await.unwrap();
    let InboundEvent::Text { text } = &pending[0].inbound.event else { panic!("a text") };
    assert_eq!(text.chars().count(), MAX_TEXT_CHARS);
    assert_eq!(runtime.metrics().texts_truncated.get(), 1);
    runtime.process_pending(10).await.unwrap();
    assert!(!replies(&store).await.is_empty(), "she is still answered");
}

#[tokio::test]
async fn a_flooding_sender_gets_one_notice_then_silence_until_the_minute_passes() {
    let (runtime, store, clock, _dir) = runtime(3).await;
    let mut answered = Vec::new();
    for i in 0..6 {
        runtime.accept(&text(&format!("w{i}"), "halo")).await.unwrap();
        runtime.process_pending(10).await.unwrap();
        answered.push(replies(&store).await.len());
    }
    // Three messages stepped (each answered), the fourth gets the notice, then nothing.
    assert!(answered[0] > 0 && answered[1] > answered[0] && answered[2] > answered[1], "{answered:?}");
    assert_eq!(answered[3], answered[2] + 1, "one notice: {answered:?}");
    assert_eq!((answered[4], answered[5]), (answered[3], answered[3]), "then silence: {answered:?}");
    let all = replies(&store).await;
    assert!(all[answered[2]].starts_with("Anda mengirim banyak pesan dalam waktu singkat."), "{all:#?}");
    assert_eq!(runtime.metrics().flood_limited.get(), 3);
    assert!(store.pending_inbound(10).await.unwrap().is_empty(), "limited messages are kept, marked handled");

    // A minute later she is heard again.
    clock.advance_ms(61_000);
    runtime.accept(&text("w9", "menu")).await.unwrap();
    runtime.process_pending(10).await.unwrap();
    assert!(replies(&store).await.len() > answered[5]);
}

#[tokio::test]
async fn oversized_webhook_bodies_are_refused_on_every_channel() {
    common::e2e::bounded(async {
        let w = common::e2e::world((10, 0)).await;
        let big = vec![b'x'; teduh::limits::MAX_WEBHOOK_BODY + 1];
        for path in ["/webhook/whatsapp", "/webhook/telegram", "/webhook/sms/twilio"] {
            let status = w
                .http
                .post(format!("{}{path}", w.base))
                .header("content-type", "application/json")
                .header("X-Telegram-Bot-Api-Secret-Token", common::e2e::TG_SECRET)
                .body(big.clone())
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, 413, "{path}");
        }
        assert!(w.store.pending_inbound(10).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flood_limit_is_counted_in_the_servers_metrics() {
    common::e2e::bounded(async {
        let w = common::e2e::world((10, 0)).await;
        let limit = teduh::limits::DEFAULT_FLOOD_PER_MINUTE as usize;
        for i in 0..limit + 4 {
            w.whatsapp_text(&format!("f{i}"), "halo").await;
        }
        let metrics = || async {
            w.http.get(format!("{}/metrics", w.base)).send().await.unwrap().text().await.unwrap()
        };
        let expected = "teduh_flood_limited_total 4\n";
        for _ in 0..200 {
            if metrics().await.contains(expected) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let text = metrics().await;
        assert!(text.contains(expected), "{text}");
        assert!(
            text.contains(&format!("teduh_messages_in_total{{channel=\"whatsapp\"}} {}\n", limit + 4)),
            "{text}"
        );
        assert!(!text.contains(common::e2e::WA_SURVIVOR), "metrics carry no address");
    })
    .await;
}
