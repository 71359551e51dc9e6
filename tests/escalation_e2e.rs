//! Escalation end to end through the real wiring (`teduh::server::Server`, as `teduh serve`
//! runs it): signed webhooks in, and fake Telegram Bot API, WhatsApp Cloud API and Twilio
//! servers on 127.0.0.1 receiving what Teduh sends, on a simulated clock (`common::e2e`).

mod common;

use std::time::Duration;

use common::e2e::*;
use teduh::channel::OutgoingPayload;

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
        w.until("the button press is acknowledged", |w| {
            w.telegram.all().iter().any(|(m, _)| m == "answerCallbackQuery")
        })
        .await;

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
        // Her counselors' changes from their phones are on the audit record, with who.
        let audit =
            w.store.audit_log(&teduh::store::AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
        let actions: Vec<(String, String)> =
            audit.iter().rev().map(|e| (e.actor.clone(), e.action.clone())).collect();
        assert!(
            actions.contains(&("counselor:uptd-ppa-palu-k2".into(), "case.accept".into())),
            "{actions:?}"
        );
        assert!(actions.contains(&("counselor:uptd-ppa-palu-k2".into(), "case.close".into())), "{actions:?}");
        // The operator's view of the same story, at /metrics.
        let metrics = w.http.get(format!("{}/metrics", w.base)).send().await.unwrap().text().await.unwrap();
        for line in [
            "teduh_escalation_notices_total{level=\"1\"} 1",
            "teduh_escalation_notices_total{level=\"3\"} 1",
            "teduh_accept_seconds_count 1",
            "teduh_outbox_depth ",
            "teduh_messages_out_total{channel=\"telegram\"}",
            "teduh_messages_out_total{channel=\"whatsapp\"}",
            "teduh_messages_in_total{channel=\"whatsapp\"}",
        ] {
            assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
        }
        assert!(!metrics.contains(WA_SURVIVOR), "metrics never name anyone");
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
        let told_her = |w: &World| {
            w.whatsapp_to_survivor().iter().filter(|t| t.contains("telah menerima laporan Anda")).count()
        };
        w.until("both hear back and she is told", |w| {
            (won(PALU_K1) || lost(PALU_K1)) && (won(PALU_K2) || lost(PALU_K2)) && told_her(w) >= 1
        })
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

#[tokio::test]
async fn forget_me_erases_her_messages_and_the_counselor_is_told() {
    bounded(async {
        let w = world((10, 0)).await;
        w.whatsapp_emergency().await;
        w.until("the primary", |w| !w.telegram_to(PALU_K1).is_empty()).await;
        w.telegram_button(PALU_K1, 0).await;
        // The accept is processed apart from her conversation: her words are relayed only once
        // the case is held, so she writes after hearing it was taken (as log_privacy does).
        w.until("she is told", |w| w.whatsapp_to_survivor().iter().any(|t| t.contains("telah menerima")))
            .await;
        w.whatsapp_text("r1", "Dia sudah pergi sekarang.").await;
        w.until("her words relayed", |w| {
            w.telegram_to(PALU_K1).iter().any(|b| text(b).ends_with("Dia sudah pergi sekarang."))
        })
        .await;
        w.whatsapp_text("h1", "hapus").await;
        w.until("the confirmation question", |w| {
            w.whatsapp_to_survivor().iter().any(|t| t.starts_with("Hapus seluruh percakapan ini"))
        })
        .await;
        w.whatsapp_text("h2", "ya").await;
        w.until("the counselor is told", |w| {
            w.telegram_to(PALU_K1).iter().any(|b| text(b).contains("meminta datanya dihapus"))
        })
        .await;
        w.until("her goodbye is sent", |w| {
            w.whatsapp_to_survivor().iter().any(|t| t.starts_with("Percakapan sudah dihapus"))
        })
        .await;
        // Nothing she wrote is left, and of what she was sent only the goodbye, on its way out.
        let written = w.store.sender_recent_count("whatsapp", WA_SURVIVOR, 0, i64::MAX).await.unwrap();
        assert_eq!(written, 0);
        let rows = w.store.outbox_for("whatsapp", WA_SURVIVOR).await.unwrap();
        assert_eq!(rows.len(), 2, "the goodbye and the chat clearing: {rows:#?}");
        assert!(matches!(&rows[0].payload, OutgoingPayload::Reply(r) if r.text.starts_with("Percakapan sudah dihapus")));
        assert!(matches!(rows[1].payload, OutgoingPayload::ClearChat { .. }));
        // The case stays, without her: the counselor can no longer write to her.
        w.telegram_text(PALU_K1, "Halo?").await;
        w.until("the counselor hears she is gone", |w| {
            w.telegram_to(PALU_K1).iter().any(|b| text(b).contains("sudah menarik kontaknya"))
        })
        .await;
        let kinds: Vec<String> = w.case_events().await.into_iter().map(|(k, _)| k).collect();
        assert!(kinds.contains(&"contact_withdrawn".to_string()), "{kinds:?}");
    })
    .await;
}
