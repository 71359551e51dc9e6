//! What counselors write to Teduh: answers to notices (`TERIMA 4821`, `LEWAT 4821`, or the
//! Accept / Pass buttons), commands on the case they hold (note, transfer, structured fields,
//! close) and, for anything else, words relayed to the survivor.

use super::address::{address, counselor_by_id};
use super::policy::{self, Chain, ChainEvent};
use super::run::Escalator;
use crate::case::fields::{AGE_GROUPS, Field, SIMFONI_KINDS};
use crate::channel::{InboundEvent, OutgoingPayload};
use crate::directory::Provider;
use crate::directory::provider::Counselor;
use crate::flow::Reply;
use crate::store::{Acceptance, CaseRow, EscalationWrite, StoreError, Transfer, TransferTo};
use crate::text::fold;

/// How many times a write that lost a race with a concurrent step is recomputed and retried.
const RETRIES: usize = 5;

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

/// Where a transfer goes, as found in the directory.
enum Destination<'d> {
    Counselor(&'d Counselor, &'d Provider),
    Provider(&'d Provider),
}

/// A message to one address.
type Outgoing = (String, String, OutgoingPayload);

fn plain(channel: &str, contact: &str, text: String) -> Outgoing {
    (
        channel.to_string(),
        contact.to_string(),
        OutgoingPayload::Reply(Reply { text, choices: Vec::new(), expect: None }),
    )
}

impl Escalator {
    /// What the survivor is told when `counselor` of `provider` takes her case (`message`
    /// names the counselor; the provider may allow only its own name, `message-anonymous`).
    fn tell_survivor(&self, lang: &str, message: &str, counselor: &Counselor, provider: &Provider) -> String {
        if provider.show_counselor_names {
            self.render(lang, message, &[("name", &counselor.name), ("provider", &provider.name)])
        } else {
            self.render(lang, &format!("{message}-anonymous"), &[("provider", &provider.name)])
        }
    }

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
        let mut write = EscalationWrite { keep_chain: true, ..EscalationWrite::default() };
        let code = case.code.as_str();
        let action = match &command {
            Some(Command::Close) => "case.close",
            Some(Command::Note(_)) => "case.note",
            Some(Command::Transfer(_)) => "case.transfer",
            Some(Command::Field(..)) => "case.field",
            Some(Command::Help) | None => "case.relay",
        };
        if action != "case.relay" {
            self.audit(counselor, action, code).await?;
        }
        match command {
            Some(Command::Close) => {
                write.events.push(("closed".into(), Some(format!("counselor={}", counselor.id))));
                write.case_status = Some("closed".into());
                write.messages.push(back(self.render("id", "counselor-closed", &[("case", code)])));
                self.store.save_escalation(&case.id, &write, now).await?;
                tracing::info!(case = %code, "case closed by its counselor");
                return Ok(match self.store.case_survivor(&case.id).await? {
                    Some((channel, contact, _)) => CounselorOutcome::Closed { channel, contact },
                    None => CounselorOutcome::Handled,
                });
            }
            Some(Command::Note(note)) => {
                write.events.push(("note".into(), Some(note)));
                write.messages.push(back(self.render("id", "counselor-noted", &[("case", code)])));
            }
            Some(Command::Transfer(target)) => {
                return self.transfer(&case, counselor, provider, &target, &back).await;
            }
            Some(Command::Field(name, value)) => {
                let parsed = Field::parse(&name).and_then(|f| f.normalise(&value).map(|v| (f, v)));
                let reply = match parsed {
                    Some((field, value)) => {
                        self.store.set_case_field(&case.id, field.key(), &value, &counselor.id, now).await?;
                        self.render(
                            "id",
                            "counselor-field-set",
                            &[("case", code), ("field", &name), ("value", &value)],
                        )
                    }
                    None => self.render(
                        "id",
                        "counselor-field-invalid",
                        &[("kinds", &SIMFONI_KINDS.join(", ")), ("ages", &AGE_GROUPS.join(", "))],
                    ),
                };
                self.store.queue_messages(&[back(reply)], now).await?;
                return Ok(CounselorOutcome::Handled);
            }
            Some(Command::Help) | None => {
                // Words for her: relayed under the counselor's name, never her number.
                match self.store.case_survivor(&case.id).await? {
                    Some((s_channel, s_contact, lang)) => {
                        let name = if provider.show_counselor_names {
                            counselor.name.clone()
                        } else {
                            self.render(&lang, "counselor-anonymous-short", &[])
                        };
                        let relayed = self.render(
                            &lang,
                            "relay-from-counselor",
                            &[("name", &name), ("text", text.trim())],
                        );
                        write.messages.push(plain(&s_channel, &s_contact, relayed));
                        write.events.push(("relayed".into(), Some("from=counselor".into())));
                        write.case_status = Some("in_progress".into());
                    }
                    None => write.messages.push(back(self.render(
                        "id",
                        "counselor-survivor-gone",
                        &[("case", code)],
                    ))),
                }
            }
        }
        self.store.save_escalation(&case.id, &write, now).await?;
        Ok(CounselorOutcome::Handled)
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
            return self.pass(&case, created, counselor, n.step_seq, back).await;
        }
        let detail = format!("provider={};counselor={};level={}", provider.id, counselor.id, n.step_seq);
        match self.store.accept_case(&case.id, &counselor.id, &detail, now).await? {
            Acceptance::Won => {
                self.audit(counselor, "case.accept", &case.code).await?;
                self.metrics.accept_seconds.observe((now - created).max(0) as f64 / 1000.0);
                let mut told = vec![back(self.render("id", "counselor-accepted", &[("case", &case.code)]))];
                if let Some((s_channel, s_contact, lang)) = self.store.case_survivor(&case.id).await? {
                    if let Some(contact) = self.consented_contact(&case, &s_channel, &s_contact) {
                        told.push(back(contact));
                    }
                    let text = self.tell_survivor(&lang, "survivor-accepted", counselor, provider);
                    told.push(plain(&s_channel, &s_contact, text));
                }
                self.stop_chain(&case, created, &counselor.id, told).await?;
                tracing::info!(case = %case.code, counselor = %counselor.id, "case accepted");
                Ok(())
            }
            Acceptance::TakenBy(other) => {
                let name = counselor_by_id(&self.directory, &other).map_or(other.as_str(), |(c, _)| &c.name);
                let text = self.render("id", "counselor-taken", &[("case", &case.code), ("name", name)]);
                self.store.queue_messages(&[back(text)], now).await
            }
            Acceptance::Unavailable => self.store.queue_messages(&[unknown()], now).await,
        }
    }

    /// How she asked to be contacted, with her number, for the counselor who took her case:
    /// only when she consented to share her details and asked for more than this conversation.
    fn consented_contact(&self, case: &CaseRow, channel: &str, contact: &str) -> Option<String> {
        let fields: serde_json::Value = serde_json::from_str(case.fields.as_deref()?).ok()?;
        let answer = |name: &str| fields.get(name).and_then(|f| f.get("value")).cloned();
        if answer("consent_share") != Some(serde_json::Value::Bool(true)) {
            return None;
        }
        let via = answer("contact_via").and_then(|v| v.as_str().map(str::to_string))?;
        if via == "chat" {
            return None;
        }
        let time = answer("contact_time").and_then(|v| v.as_str().map(|t| t.replace('_', " ")));
        let number = match channel {
            "sms" => contact.to_string(),
            "whatsapp" => format!("+{contact}"),
            // A Telegram chat id is not a phone number: she can only be reached here.
            _ => self.render("id", "counselor-contact-no-number", &[]),
        };
        let args = [
            ("case", case.code.as_str()),
            ("via", via.as_str()),
            ("time", time.as_deref().unwrap_or("-")),
            ("number", number.as_str()),
        ];
        Some(self.render("id", "counselor-contact", &args))
    }

    /// Ends the chain of an accepted case and sends `told`, retrying over concurrent steps.
    async fn stop_chain(
        &self,
        case: &CaseRow,
        created: i64,
        counselor: &str,
        told: Vec<Outgoing>,
    ) -> Result<(), StoreError> {
        for _ in 0..RETRIES {
            let now = self.clock.now_ms();
            let Some(due) = self.store.escalation_of(&case.id).await? else {
                return self.store.queue_messages(&told, now).await;
            };
            let mut write = EscalationWrite { version: due.version, ..EscalationWrite::default() };
            let chain: Option<Chain> = due.chain.as_deref().and_then(|c| serde_json::from_str(c).ok());
            if let (Some(policy), Some(chain)) = (self.policies.get(&due.policy), &chain) {
                let event = ChainEvent::Accepted { counselor: counselor.to_string() };
                let step = policy::on_event(chain, policy, event, now);
                self.apply(case, created, case.provider_id.as_deref(), policy, step, &mut write).await?;
            } else {
                write.chain = due.chain;
            }
            write.status = "accepted".into();
            write.wake = None;
            write.messages.extend(told.iter().cloned());
            if self.store.save_escalation(&case.id, &write, now).await? {
                return Ok(());
            }
        }
        tracing::warn!(case = %case.code, "could not stop the escalation chain after repeated conflicts");
        self.store.queue_messages(&told, self.clock.now_ms()).await
    }

    /// A pass moves the chain on at once; a pass that changes nothing keeps the wake-up.
    async fn pass(
        &self,
        case: &CaseRow,
        created: i64,
        counselor: &Counselor,
        step_seq: i64,
        back: &(dyn Fn(String) -> Outgoing + Sync),
    ) -> Result<(), StoreError> {
        let passed = back(self.render("id", "counselor-passed", &[("case", &case.code)]));
        for _ in 0..RETRIES {
            let now = self.clock.now_ms();
            let due = self.store.escalation_of(&case.id).await?;
            let chain: Option<Chain> =
                due.as_ref().and_then(|d| d.chain.as_deref()).and_then(|c| serde_json::from_str(c).ok());
            let (Some(due), Some(chain)) = (due, chain.filter(Chain::is_running)) else {
                return self.store.queue_messages(&[passed], now).await;
            };
            let Some(policy) = self.policies.get(&due.policy) else {
                return self.store.queue_messages(&[passed], now).await;
            };
            let mut write = EscalationWrite { version: due.version, ..EscalationWrite::default() };
            write
                .events
                .push(("passed".into(), Some(format!("counselor={};level={step_seq}", counselor.id))));
            write.messages.push(passed.clone());
            let event = ChainEvent::Pass { counselor: counselor.id.clone(), step_seq: step_seq as u64 };
            let (next, actions) = policy::on_event(&chain, policy, event, now);
            if actions.is_empty() {
                write.chain = serde_json::to_string(&next).ok();
                write.status = "running".into();
                write.wake = due.due_at.zip(due.wake_seq);
            } else {
                self.apply(case, created, case.provider_id.as_deref(), policy, (next, actions), &mut write)
                    .await?;
            }
            if self.store.save_escalation(&case.id, &write, now).await? {
                for notification in &write.notifications {
                    self.metrics.count_notice(notification.step_seq);
                }
                return Ok(());
            }
        }
        tracing::warn!(case = %case.code, "pass not applied after repeated conflicts");
        Ok(())
    }

    /// Finds a transfer target by counselor or provider id, or by name (her own provider's
    /// counselors first).
    fn destination<'d>(&'d self, own: &Provider, wanted: &str) -> Option<Destination<'d>> {
        let wanted = fold(wanted);
        let providers = &self.directory.providers;
        let own_first =
            providers.iter().filter(|p| p.id == own.id).chain(providers.iter().filter(|p| p.id != own.id));
        for p in own_first {
            if let Some(c) = p.counselors.iter().find(|c| fold(&c.id) == wanted || fold(&c.name) == wanted) {
                return Some(Destination::Counselor(c, p));
            }
        }
        providers.iter().find(|p| fold(&p.id) == wanted || fold(&p.name) == wanted).map(Destination::Provider)
    }

    /// `ALIH target`: to a colleague, who holds the case at once, or to another provider,
    /// where it is `referred` and escalates from the first step. Everyone is told.
    async fn transfer(
        &self,
        case: &CaseRow,
        counselor: &Counselor,
        provider: &Provider,
        target: &str,
        back: &(dyn Fn(String) -> Outgoing + Sync),
    ) -> Result<CounselorOutcome, StoreError> {
        let now = self.clock.now_ms();
        let code = case.code.as_str();
        let survivor = self.store.case_survivor(&case.id).await?;
        let mut messages = Vec::new();
        let (to, detail) = match self.destination(provider, target) {
            Some(Destination::Counselor(c, _)) if c.id == counselor.id => {
                let text = self.render("id", "counselor-transfer-self", &[("case", code)]);
                self.store.queue_messages(&[back(text)], now).await?;
                return Ok(CounselorOutcome::Handled);
            }
            Some(Destination::Counselor(to, to_provider)) => {
                let Some((channel, addr)) = address(to, &self.channels) else {
                    let text = self.render("id", "counselor-transfer-unknown", &[("target", target)]);
                    self.store.queue_messages(&[back(text)], now).await?;
                    return Ok(CounselorOutcome::Handled);
                };
                let names =
                    [("case", code), ("name", to.name.as_str()), ("provider", to_provider.name.as_str())];
                messages.push(back(self.render("id", "counselor-transferred", &names)));
                let kind = case.category.as_deref().unwrap_or("-");
                let handed = [
                    ("case", code),
                    ("priority", case.priority.as_str()),
                    ("kind", kind),
                    ("from", &counselor.name),
                ];
                messages.push(plain(
                    channel,
                    &addr,
                    self.render("id", "counselor-transferred-to-you", &handed),
                ));
                if let Some((s_channel, s_contact, lang)) = &survivor {
                    let text = self.tell_survivor(lang, "survivor-transferred", to, to_provider);
                    messages.push(plain(s_channel, s_contact, text));
                }
                let detail =
                    format!("from={};to_counselor={};to_provider={}", counselor.id, to.id, to_provider.id);
                (TransferTo::Counselor { id: &to.id, provider: &to_provider.id }, detail)
            }
            Some(Destination::Provider(to)) => {
                let names = [("case", code), ("provider", to.name.as_str())];
                messages.push(back(self.render("id", "counselor-referred", &names)));
                if let Some((s_channel, s_contact, lang)) = &survivor {
                    messages.push(plain(
                        s_channel,
                        s_contact,
                        self.render(lang, "survivor-referred", &names[1..]),
                    ));
                }
                (TransferTo::Provider(&to.id), format!("from={};to_provider={}", counselor.id, to.id))
            }
            None => {
                let text = self.render("id", "counselor-transfer-unknown", &[("target", target)]);
                self.store.queue_messages(&[back(text)], now).await?;
                return Ok(CounselorOutcome::Handled);
            }
        };
        let policy = if case.priority == "urgent" { "urgent" } else { "normal" };
        let transfer = Transfer { case_id: &case.id, from: &counselor.id, to, policy, detail: &detail };
        if self.store.transfer_case(&transfer, &messages, now).await? {
            tracing::info!(case = %code, "case transferred");
            self.wake();
        } else {
            let text = self.render("id", "counselor-unknown-code", &[]);
            self.store.queue_messages(&[back(text)], now).await?;
        }
        Ok(CounselorOutcome::Handled)
    }

    /// Tells the counselor holding a case that the survivor asked to be forgotten: her
    /// contact is gone, nothing more can reach her.
    pub async fn tell_withdrawn(
        &self,
        case_id: &str,
        code: &str,
        counselor_id: &str,
    ) -> Result<(), StoreError> {
        let Some((channel, addr)) =
            counselor_by_id(&self.directory, counselor_id).and_then(|(c, _)| address(c, &self.channels))
        else {
            return Ok(());
        };
        let text = self.render("id", "counselor-survivor-withdrew", &[("case", code)]);
        let mut write = EscalationWrite { keep_chain: true, ..EscalationWrite::default() };
        write.messages.push(plain(channel, &addr, text));
        self.store.save_escalation(case_id, &write, self.clock.now_ms()).await?;
        Ok(())
    }

    /// Relays the survivor's words to the counselor holding her case, if one does. Returns
    /// whether it did.
    pub async fn relay_from_survivor(&self, conversation_id: &str, text: &str) -> Result<bool, StoreError> {
        let Some((case_id, code, counselor_id)) = self.store.case_in_relay(conversation_id).await? else {
            return Ok(false);
        };
        let Some((channel, addr)) =
            counselor_by_id(&self.directory, &counselor_id).and_then(|(c, _)| address(c, &self.channels))
        else {
            return Ok(false);
        };
        let relayed = self.render("id", "relay-from-survivor", &[("case", &code), ("text", text.trim())]);
        let mut write = EscalationWrite { keep_chain: true, ..EscalationWrite::default() };
        write.messages.push(plain(channel, &addr, relayed));
        write.events.push(("relayed".into(), Some("from=survivor".into())));
        self.store.save_escalation(&case_id, &write, self.clock.now_ms()).await?;
        Ok(true)
    }
}
