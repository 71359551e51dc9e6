//! Logs never carry what could expose a survivor: full conversations on WhatsApp, SMS and
//! Telegram, with escalation, relay and closing, run with every crate logging at TRACE, and the
//! captured output is searched for message texts, phone numbers and chat ids.
//!
//! One test in its own binary: it installs the process-wide subscriber.

mod common;

use std::sync::{Arc, Mutex};

use common::e2e::*;
use tracing_subscriber::fmt::MakeWriter;

/// Everything logged, in memory.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// What she and the counselors write: distinctive, so any echo in a log is found.
const HER_WORDS: &str = "Suamiku mengunci pintu dapur";
const COUNSELOR_WORDS: &str = "Apakah jendela belakang terbuka";
const SMS_WORDS: &str = "Tetangga melihat semuanya kemarin";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_hold_no_message_text_phone_number_or_chat_id() {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(capture.clone())
        .init();

    bounded(async {
        let mut w = world((10, 0)).await;
        w.whatsapp_emergency().await;
        w.until("the primary's notice", |w| !w.telegram_to(PALU_K1).is_empty()).await;
        w.telegram_button(PALU_K1, 0).await;
        w.until("she is told", |w| w.whatsapp_to_survivor().iter().any(|t| t.contains("telah menerima")))
            .await;
        w.whatsapp_text("r1", HER_WORDS).await;
        w.until("her words relayed", |w| w.telegram_to(PALU_K1).iter().any(|b| text(b).contains(HER_WORDS)))
            .await;
        w.telegram_text(PALU_K1, COUNSELOR_WORDS).await;
        w.until("his words relayed", |w| {
            w.whatsapp_to_survivor().iter().any(|t| t.contains(COUNSELOR_WORDS))
        })
        .await;
        w.telegram_text(PALU_K1, "CATAT korban aman di rumah kerabat").await;
        w.telegram_text(PALU_K1, "TUTUP").await;
        w.until("the survey", |w| w.whatsapp_to_survivor().iter().any(|t| t.starts_with("Seberapa puas")))
            .await;
        w.whatsapp_text("s1", "5").await;

        // A second person by SMS, through information and a free-text answer.
        for (i, line) in ["halo", "1", SMS_WORDS, "keluar"].iter().enumerate() {
            let before = w.sms_to(SMS_SURVIVOR).len();
            w.sms(&format!("SM{i:032}"), line).await;
            w.until("an SMS answer", |w| w.sms_to(SMS_SURVIVOR).len() > before).await;
        }
        w.stop().await;
    })
    .await;

    let logged = String::from_utf8_lossy(&capture.0.lock().unwrap()).to_string();
    // The capture is real: TRACE lines from Teduh and from the crates under it are there.
    assert!(logged.contains("TRACE"), "nothing was logged at TRACE");
    assert!(
        logged.contains("case accepted") && logged.contains("step committed"),
        "Teduh's own events are logged"
    );
    let secrets = [
        ("her WhatsApp number", WA_SURVIVOR.to_string()),
        ("her SMS number", SMS_SURVIVOR.trim_start_matches('+').to_string()),
        ("the counselor's chat id", PALU_K1.to_string()),
        ("the province counselor's number", SULTENG_K1_SMS.trim_start_matches('+').to_string()),
        ("her relayed words", HER_WORDS.to_string()),
        ("the counselor's words", COUNSELOR_WORDS.to_string()),
        ("her SMS words", SMS_WORDS.to_string()),
        ("the counselor's note", "korban aman di rumah kerabat".to_string()),
        ("a flow text", "Apakah Anda aman saat ini".to_string()),
    ];
    let leaks: Vec<String> = secrets
        .iter()
        .filter(|(_, value)| logged.contains(value.as_str()))
        .map(|(what, value)| {
            let line = logged.lines().find(|l| l.contains(value.as_str())).unwrap_or_default();
            format!("{what}: {}", &line[..line.len().min(400)])
        })
        .collect();
    assert!(leaks.is_empty(), "{} bytes logged; leaks:\n{}", logged.len(), leaks.join("\n"));
}
