//! The channel-independent path: inbox (durable, deduplicated, in order), steps, outbox
//! (lanes, retries, refusals), with a recording sender standing in for a channel.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use teduh::channel::{
    Inbound, InboundEvent, Outgoing, OutgoingPayload, RateLimits, Receipt, SendError, SendFuture, Sender,
};
use teduh::clock::ManualClock;
use teduh::store::Accepted;

/// Records what it is asked to send; answers with scripted results first, then success.
struct Recorder {
    channel: String,
    sent: Mutex<Vec<(String, String)>>,
    script: Mutex<Vec<Result<(), SendError>>>,
    calls: Mutex<usize>,
}

impl Recorder {
    fn new(channel: &str) -> Arc<Self> {
        Arc::new(Self {
            channel: channel.into(),
            sent: Mutex::default(),
            script: Mutex::default(),
            calls: Mutex::default(),
        })
    }

    fn texts_to(&self, contact: &str) -> Vec<String> {
        self.sent.lock().unwrap().iter().filter(|(c, _)| c == contact).map(|(_, t)| t.clone()).collect()
    }
}

impl Sender for Recorder {
    fn channel(&self) -> &str {
        &self.channel
    }

    fn limits(&self) -> RateLimits {
        RateLimits { per_second: 1000.0, per_chat_interval: Duration::ZERO }
    }

    fn send<'a>(&'a self, message: &'a Outgoing) -> SendFuture<'a> {
        Box::pin(async move {
            *self.calls.lock().unwrap() += 1;
            let scripted = {
                let mut script = self.script.lock().unwrap();
                if script.is_empty() { None } else { Some(script.remove(0)) }
            };
            if let Some(Err(e)) = scripted {
                return Err(e);
            }
            let text = match &message.payload {
                OutgoingPayload::Reply(r) => r.text.clone(),
                OutgoingPayload::ClearChat { message_ids, .. } => format!("<clear {}>", message_ids.len()),
            };
            self.sent.lock().unwrap().push((message.contact.clone(), text));
            Ok(Receipt { provider_ids: vec![format!("p{}", message.id)] })
        })
    }
}

fn text(channel: &str, contact: &str, id: &str, body: &str) -> Inbound {
    Inbound {
        channel: channel.into(),
        provider_id: Some(id.into()),
        contact: contact.into(),
        event: InboundEvent::Text { text: body.into() },
        lang_hint: None,
    }
}

async fn until_sent(rec: &Recorder, contact: &str, count: usize) -> Vec<String> {
    common::eventually(10, || async {
        let t = rec.texts_to(contact);
        (t.len() >= count).then_some(t)
    })
    .await
    .unwrap_or_else(|| panic!("expected {count} sends to {contact}, got {:?}", rec.texts_to(contact)))
}

#[tokio::test]
async fn a_duplicate_delivery_steps_once_and_replies_once() {
    let rec = Recorder::new("test");
    let p = common::Pipeline::start(vec![rec.clone()]).await;
    let first = p.ingress.receive(&text("test", "a", "m1", "halo")).await.unwrap();
    let again = p.ingress.receive(&text("test", "a", "m1", "halo")).await.unwrap();
    assert!(matches!(first, Accepted::New(_)));
    assert_eq!(again, Accepted::Duplicate);
    let sent = until_sent(&rec, "a", 2).await;
    assert!(sent[0].starts_with("Halo, ini layanan Teduh"));
    assert!(sent[1].starts_with("Apa yang Anda perlukan?"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rec.texts_to("a").len(), 2, "no second step, no second reply");
    p.stop().await;
}

#[tokio::test]
async fn one_conversations_messages_are_stepped_in_order() {
    let rec = Recorder::new("test");
    let p = common::Pipeline::start(vec![rec.clone()]).await;
    // Accepted together, before the worker sees any: the order must still hold.
    for (i, line) in ["halo", "2", "ya", "1", "kota palu", "1", "5", "ya"].iter().enumerate() {
        p.ingress.receive(&text("test", "b", &format!("b{i}"), line)).await.unwrap();
    }
    let sent = until_sent(&rec, "b", 11).await;
    assert!(
        sent[9].starts_with(
            "Terima kasih. Permintaan konsultasi Anda sudah kami teruskan ke layanan di Kota Palu"
        ),
        "{sent:#?}"
    );
    assert!(sent[10].starts_with("Ada lagi yang bisa kami bantu?"));
    p.stop().await;
}

#[tokio::test]
async fn temporary_failures_are_retried_and_permanent_ones_recorded() {
    let rec = Recorder::new("test");
    rec.script
        .lock()
        .unwrap()
        .push(Err(SendError::Retry { reason: "503".into(), after: Some(Duration::from_millis(50)) }));
    let p = common::Pipeline::start(vec![rec.clone()]).await;
    p.ingress.receive(&text("test", "c", "c1", "halo")).await.unwrap();
    until_sent(&rec, "c", 2).await;
    // The recorder sees a send before the dispatcher records it, so wait for the record.
    let rows = common::eventually(5, || async {
        let rows = p.store.outbox_for("test", "c").await.ok()?;
        (rows.first()?.status != "sending").then_some(rows)
    })
    .await
    .expect("the first row settles");
    assert_eq!(rows[0].status, "sent");
    assert_eq!(rows[0].attempts, 2, "one failure, one success");
    assert_eq!(rows[0].provider_message_id.as_deref(), Some(format!("p{}", rows[0].id).as_str()));

    rec.script.lock().unwrap().push(Err(SendError::Permanent("bot was blocked by the user".into())));
    p.ingress.receive(&text("test", "d", "d1", "halo")).await.unwrap();
    until_sent(&rec, "d", 1).await;
    let rows = common::eventually(10, || async {
        let rows = p.store.outbox_for("test", "d").await.ok()?;
        (rows.len() >= 2 && rows[..2].iter().all(|r| r.status == "sent" || r.status == "failed"))
            .then_some(rows)
    })
    .await
    .expect("both rows settle");
    assert_eq!(rows[0].status, "failed");
    assert_eq!(rows[0].error.as_deref(), Some("bot was blocked by the user"));
    assert_eq!(rows[1].status, "sent", "the next message is still tried");
    p.stop().await;
}

#[tokio::test]
async fn sends_without_a_channel_are_refused_with_a_reason() {
    let rec = Recorder::new("test");
    let p = common::Pipeline::start(vec![rec.clone()]).await;
    p.ingress.receive(&text("nowhere", "e", "e1", "halo")).await.unwrap();
    let rows = common::eventually(10, || async {
        let rows = p.store.outbox_for("nowhere", "e").await.unwrap();
        rows.iter().all(|r| r.status == "refused").then_some(rows).filter(|r| !r.is_empty())
    })
    .await
    .expect("refused rows");
    assert!(rows[0].error.as_deref().unwrap().contains("no sender is configured for channel `nowhere`"));
    p.stop().await;
}

#[tokio::test]
async fn media_is_kept_as_a_reference_and_acknowledged() {
    let rec = Recorder::new("test");
    let p = common::Pipeline::start(vec![rec.clone()]).await;
    p.ingress.receive(&text("test", "f", "f1", "halo")).await.unwrap();
    until_sent(&rec, "f", 2).await;
    let photo = Inbound {
        event: InboundEvent::Media { kind: "photo".into(), reference: "file-123".into() },
        ..text("test", "f", "f2", "")
    };
    p.ingress.receive(&photo).await.unwrap();
    let sent = until_sent(&rec, "f", 4).await;
    assert!(sent[2].starts_with("Terima kasih, file Anda sudah kami terima"), "{sent:#?}");
    assert!(sent[3].starts_with("Apa yang Anda perlukan?"), "the question is asked again");
    let conv = p.store.conversation("test", "f").await.unwrap().unwrap();
    assert_eq!(
        p.store.attachments_of(&conv.id).await.unwrap(),
        vec![("photo".to_string(), "file-123".to_string())]
    );
    p.stop().await;
}

#[tokio::test]
async fn sms_opt_out_words_are_honoured_and_recorded() {
    let rec = Recorder::new("sms");
    let p = common::Pipeline::start(vec![rec.clone()]).await;
    p.ingress.receive(&text("sms", "+6281200000001", "s1", "halo")).await.unwrap();
    until_sent(&rec, "+6281200000001", 2).await;
    p.ingress.receive(&text("sms", "+6281200000001", "s2", "BERHENTI")).await.unwrap();
    let opted = common::eventually(10, || async {
        let (_, out) = p.store.channel_contact("sms", "+6281200000001").await.unwrap();
        out.then_some(())
    })
    .await;
    assert!(opted.is_some(), "the opt-out is recorded");
    // The opt-out and the inbox row's end are two writes: wait for the second as well.
    let done =
        common::eventually(10, || async { p.store.pending_inbound(10).await.ok()?.is_empty().then_some(()) })
            .await;
    assert!(done.is_some(), "STOP is processed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rec.texts_to("+6281200000001").len(), 2, "no step and no reply to STOP");
    p.ingress.receive(&text("sms", "+6281200000001", "s3", "mulai")).await.unwrap();
    common::eventually(10, || async {
        let (_, out) = p.store.channel_contact("sms", "+6281200000001").await.unwrap();
        (!out).then_some(())
    })
    .await
    .expect("opted back in");
    p.stop().await;
}

#[tokio::test]
async fn a_timeout_reply_goes_through_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let store = teduh::store::Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let engine = common::shipped_engine();
    let runtime = teduh::runtime::Runtime::new(engine, store.clone(), clock.clone());
    runtime.accept(&text("test", "g", "g1", "halo")).await.unwrap();
    assert_eq!(runtime.process_pending(10).await.unwrap(), 1);
    clock.advance_ms(31 * 60 * 1000);
    let fired = runtime.fire_due_timers(10, None).await.unwrap();
    assert_eq!(fired.len(), 1);
    let rows = store.outbox_for("test", "g").await.unwrap();
    let last = rows.last().unwrap();
    match &last.payload {
        OutgoingPayload::Reply(r) => {
            assert!(r.text.starts_with("Percakapan ditutup karena tidak ada balasan"))
        }
        other => panic!("expected a reply, got {other:?}"),
    }
    assert_eq!(last.status, "queued");
}

#[tokio::test]
async fn quick_exit_queues_a_clear_of_what_was_sent() {
    let rec = Recorder::new("test");
    let p = common::Pipeline::start(vec![rec.clone()]).await;
    p.ingress.receive(&text("test", "h", "h1", "halo")).await.unwrap();
    until_sent(&rec, "h", 2).await;
    p.ingress.receive(&text("test", "h", "h2", "keluar")).await.unwrap();
    let sent = until_sent(&rec, "h", 4).await;
    assert_eq!(sent[2], "Terima kasih.");
    assert_eq!(sent[3], "<clear 2>", "the two messages sent before are to be removed");
    p.stop().await;
}

#[tokio::test]
async fn a_retried_message_keeps_its_place_in_the_chat() {
    let rec = Recorder::new("test");
    rec.script
        .lock()
        .unwrap()
        .push(Err(SendError::Retry { reason: "502".into(), after: Some(Duration::from_millis(200)) }));
    let p = common::Pipeline::start(vec![rec.clone()]).await;
    p.ingress.receive(&text("test", "k", "k1", "halo")).await.unwrap();
    let sent = until_sent(&rec, "k", 2).await;
    assert!(sent[0].starts_with("Halo, ini layanan Teduh"), "the welcome still comes first: {sent:#?}");
    assert!(sent[1].starts_with("Apa yang Anda perlukan?"));
    // A new reply queued while the chat waits for a retry also waits its turn.
    rec.script
        .lock()
        .unwrap()
        .push(Err(SendError::Retry { reason: "502".into(), after: Some(Duration::from_millis(300)) }));
    p.ingress.receive(&text("test", "k", "k2", "9")).await.unwrap();
    p.ingress.receive(&text("test", "k", "k3", "1")).await.unwrap();
    let sent = until_sent(&rec, "k", 5).await;
    assert!(sent[2].starts_with("Maaf, pilih salah satu nomor"), "{sent:#?}");
    assert!(sent[3].starts_with("Apa yang Anda perlukan?"), "{sent:#?}");
    assert!(sent[4].starts_with("Informasi di sini bersifat umum"), "{sent:#?}");
    p.stop().await;
}
