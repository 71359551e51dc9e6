//! What counselors write to Teduh: answers to notices (`TERIMA 4821`, `LEWAT 4821`, or the
//! Accept / Pass buttons), commands on the case they hold (note, transfer, structured fields,
//! close) and, for anything else, words relayed to the survivor.

use super::action::{CaseAction, Done, Outgoing, plain};
use super::run::Escalator;
use crate::channel::InboundEvent;
use crate::directory::Provider;
use crate::directory::provider::Counselor;
use crate::store::StoreError;
use crate::text::fold;

/// What handling a counselor's message asks of the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CounselorOutcome {
    /// Done; nothing more.
    Handled,
    /// She closed the case: the survivor at this address gets the satisfaction survey.
    Closed {
        /// Survivor's channel.
        channel: String,
        /// Survivor's address.
        contact: String,
    },
}

/// A counselor's answer to a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Take the case (`TERIMA 4821`, or the Accept button: the newest notice).
    Accept(Option<String>),
    /// Let it go to the next counselor (`LEWAT 4821`, or the Pass button).
    Pass(Option<String>),
}

/// A command on the case a counselor holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `TUTUP`: close it; the survivor is asked about the service.
    Close,
    /// `CATAT text`: a note on the timeline (never shown to the survivor).
    Note(String),
    /// `ALIH target`: hand it to a colleague or refer it to another provider (id or name).
    Transfer(String),
    /// `DATA field value`: set a structured field (kind, age group, relationship, place).
    Field(String, String),
    /// `BANTUAN`: the list of commands.
    Help,
}

/// Reads a counselor's message as an answer to a notice, if it is one.
pub fn parse_answer(event: &InboundEvent) -> Option<Answer> {
    match event {
        InboundEvent::Choice { index: 0 } => Some(Answer::Accept(None)),
        InboundEvent::Choice { index: 1 } => Some(Answer::Pass(None)),
        InboundEvent::Text { text } => {
            let folded = fold(text);
            let mut words = folded.split(' ');
            let verb = words.next()?;
            let code = words.next().map(str::to_string);
            if words.next().is_some() {
                return None;
            }
            match verb {
                "terima" | "ambil" | "accept" | "take" => Some(Answer::Accept(code)),
                "lewat" | "lewati" | "tolak" | "pass" => Some(Answer::Pass(code)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Reads a counselor's message as a command, if it is one. Arguments keep her spelling.
pub fn parse_command(text: &str) -> Option<Command> {
    let trimmed = text.trim();
    let (verb, rest) = trimmed.split_once(char::is_whitespace).unwrap_or((trimmed, ""));
    let rest = rest.trim();
    match (fold(verb).as_str(), rest.is_empty()) {
        ("tutup" | "close", true) => Some(Command::Close),
        ("bantuan" | "help", true) => Some(Command::Help),
        ("catat" | "note", false) => Some(Command::Note(rest.to_string())),
        ("alih" | "alihkan" | "rujuk" | "transfer", false) => Some(Command::Transfer(rest.to_string())),
        ("data", _) => {
            let (field, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            Some(Command::Field(field.to_string(), value.trim().to_string()))
        }
        _ => None,
    }
}

impl Escalator {
    /// An audit row for a counselor's change made from her phone (as the API's are).
    async fn audit(&self, counselor: &Counselor, action: &str, code: &str) -> Result<(), StoreError> {
        let entry = crate::access::AuditEntry {
            at: self.clock.now_ms(),
            actor: format!("counselor:{}", counselor.id),
            role: "counselor".into(),
            action: action.into(),
            subject: Some(code.to_string()),
            outcome: "ok".into(),
            detail: None,
        };
        self.store.audit(&entry).await
    }

    /// Handles a counselor's message: queues the answers (to her, and to the survivor where it
    /// concerns her) and says whether the runtime must do more.
    pub async fn counselor_message(
        &self,
        counselor: &Counselor,
        provider: &Provider,
        channel: &str,
        contact: &str,
        event: &InboundEvent,
    ) -> Result<CounselorOutcome, StoreError> {
        let now = self.clock.now_ms();
        let back = |text: String| plain(channel, contact, text);
        let echo = |text: String| Some(plain(channel, contact, text));
        if let Some(answer) = parse_answer(event) {
            self.answer(counselor, provider, &answer, &back).await?;
            return Ok(CounselorOutcome::Handled);
        }
        let InboundEvent::Text { text } = event else {
            return Ok(CounselorOutcome::Handled);
        };
        let command = parse_command(text);
        if command == Some(Command::Help) {
            self.store.queue_messages(&[back(self.render("id", "counselor-help", &[]))], now).await?;
            return Ok(CounselorOutcome::Handled);
        }
        let Some((case_id, _)) = self.store.case_held_by(&counselor.id).await? else {
            self.store.queue_messages(&[back(self.render("id", "counselor-idle", &[]))], now).await?;
            return Ok(CounselorOutcome::Handled);
        };
        let Some((case, _)) = self.store.case_by_id(&case_id).await? else {
            return Ok(CounselorOutcome::Handled);
        };
        let (action, audited) = match command {
            Some(Command::Close) => (CaseAction::Close, Some("case.close")),
            Some(Command::Note(note)) => (CaseAction::Note(note), Some("case.note")),
            Some(Command::Transfer(target)) => (CaseAction::Transfer(target), Some("case.transfer")),
            Some(Command::Field(name, value)) => (CaseAction::Field(name, value), Some("case.field")),
            Some(Command::Help) | None => (CaseAction::Reply(text.clone()), None),
        };
        if let Some(action) = audited {
            self.audit(counselor, action, &case.code).await?;
        }
        Ok(match self.act(&case, counselor, provider, action, &echo).await? {
            Done::Closed { survivor: Some((channel, contact)) } => {
                CounselorOutcome::Closed { channel, contact }
            }
            _ => CounselorOutcome::Handled,
        })
    }

    /// Accept or pass, on the notice her code (or the newest notice) names.
    async fn answer(
        &self,
        counselor: &Counselor,
        provider: &Provider,
        answer: &Answer,
        back: &(dyn Fn(String) -> Outgoing + Sync),
    ) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let echo = |text: String| Some(back(text));
        let (code, accept) = match answer {
            Answer::Accept(code) => (code, true),
            Answer::Pass(code) => (code, false),
        };
        let notification = match code {
            Some(code) => self.store.notification_by_code(&counselor.id, code).await?,
            None => self.store.latest_notification(&counselor.id).await?,
        };
        let unknown = || back(self.render("id", "counselor-unknown-code", &[]));
        let Some(n) = notification else {
            return self.store.queue_messages(&[unknown()], now).await;
        };
        let Some((case, created)) = self.store.case_by_id(&n.case_id).await? else {
            return self.store.queue_messages(&[unknown()], now).await;
        };
        if !accept {
            self.audit(counselor, "case.pass", &case.code).await?;
            self.pass_case(&case, created, counselor, n.step_seq, &echo).await?;
            return Ok(());
        }
        if self.accept_case(&case, created, counselor, provider, n.step_seq, &echo).await? == Done::Accepted {
            self.audit(counselor, "case.accept", &case.code).await?;
        }
        Ok(())
    }
}
