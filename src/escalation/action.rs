//! What is done to a case once it reached a counselor: accept, pass, close, note, transfer, set a
//! field, write to the survivor. The phone commands (`counselor`) and the HTTP API share these;
//! an [`Echo`] says how the one acting is answered: a message to her phone, or nothing (the API
//! answers with the returned [`Done`]).

use super::address::{address, counselor_by_id};
use super::policy::{self, Chain, ChainEvent};
use super::run::Escalator;
use crate::channel::OutgoingPayload;
use crate::directory::provider::Counselor;
use crate::directory::{Directory, Provider};
use crate::flow::Reply;
use crate::store::{Acceptance, CaseRow, EscalationWrite, RelayLine, StoreError, Transfer, TransferTo};
use crate::text::fold;

/// How many times a write that lost a race with a concurrent step is recomputed and retried.
const RETRIES: usize = 5;

/// A message to one address: channel, address, payload.
pub type Outgoing = (String, String, OutgoingPayload);

/// Turns a text for the one acting into a message to her, or into nothing.
pub type Echo<'a> = dyn Fn(String) -> Option<Outgoing> + Sync + 'a;

/// A plain text message to `contact` on `channel`.
pub fn plain(channel: &str, contact: &str, text: String) -> Outgoing {
    (
        channel.to_string(),
        contact.to_string(),
        OutgoingPayload::Reply(Reply { text, choices: Vec::new(), expect: None }),
    )
}

/// A change to a case held (or supervised) by the one acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseAction {
    /// Close it; the survivor is asked about the service.
    Close,
    /// A note on the timeline (never shown to the survivor).
    Note(String),
    /// Hand it to a colleague or refer it to another provider (id or name).
    Transfer(String),
    /// Set a structured field (kind, age group, relationship, place).
    Field(String, String),
    /// Words for the survivor, relayed under the counselor's name.
    Reply(String),
}

/// What an action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// She now holds the case.
    Accepted,
    /// Someone else took it first (her name).
    TakenBy(String),
    /// Nothing to accept or pass: no such notice, or the case is gone.
    NotOffered,
    /// The chain moved on without her.
    Passed,
    /// Closed; the survivor at this address (if she can still be reached) gets the survey.
    Closed {
        /// Her channel and address.
        survivor: Option<(String, String)>,
    },
    /// The note is on the timeline.
    Noted,
    /// A colleague holds the case now.
    Transferred {
        /// The colleague's name.
        to: String,
        /// Her provider's name.
        provider: String,
    },
    /// Another provider has it now and escalates it from its first step.
    Referred {
        /// That provider's name.
        provider: String,
    },
    /// A transfer to herself changes nothing.
    TransferSelf,
    /// No counselor or provider goes by that name (or has no reachable channel).
    TransferUnknown,
    /// The field is set to this (normalised) value.
    FieldSet {
        /// The stored value.
        value: String,
    },
    /// No such field, or a value it does not take.
    FieldInvalid,
    /// Her words were queued for the survivor.
    Relayed,
    /// The survivor withdrew contact: nothing reaches her any more.
    SurvivorGone,
}

/// How a survivor asked to be contacted beyond the chat, when she consented to share it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SharedContact {
    /// `call`, `sms` or `whatsapp`: how she wants to be reached.
    pub via: String,
    /// When suits her (`pagi`, `siang`, ...), if she said.
    pub time: Option<String>,
    /// Her number in international form; `None` on Telegram (a chat id is not a number).
    pub number: Option<String>,
}

/// Her contact for the counselor holding her case: only when she consented to share her
/// details and asked for more than this conversation.
pub fn shared_contact(case: &CaseRow, channel: &str, contact: &str) -> Option<SharedContact> {
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
        "sms" => Some(contact.to_string()),
        "whatsapp" => Some(format!("+{contact}")),
        _ => None,
    };
    Some(SharedContact { via, time, number })
}

/// Where a transfer goes, as found in the directory.
enum Destination<'d> {
    Counselor(&'d Counselor, &'d Provider),
    Provider(&'d Provider),
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

    /// Queues `messages` unless there are none.
    async fn send_now(&self, messages: &[Outgoing]) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        self.store.queue_messages(messages, self.clock.now_ms()).await
    }

    /// `counselor` of `provider` takes `case`, notified at chain step `level`.
    pub async fn accept_case(
        &self,
        case: &CaseRow,
        created: i64,
        counselor: &Counselor,
        provider: &Provider,
        level: i64,
        echo: &Echo<'_>,
    ) -> Result<Done, StoreError> {
        let now = self.clock.now_ms();
        let detail = format!("provider={};counselor={};level={level}", provider.id, counselor.id);
        match self.store.accept_case(&case.id, &counselor.id, &detail, now).await? {
            Acceptance::Won => {
                self.metrics.accept_seconds.observe((now - created).max(0) as f64 / 1000.0);
                let mut told: Vec<Outgoing> =
                    echo(self.render("id", "counselor-accepted", &[("case", &case.code)]))
                        .into_iter()
                        .collect();
                if let Some((s_channel, s_contact, lang)) = self.store.case_survivor(&case.id).await? {
                    if let Some(contact) = self.consented_contact(case, &s_channel, &s_contact) {
                        told.extend(echo(contact));
                    }
                    let text = self.tell_survivor(&lang, "survivor-accepted", counselor, provider);
                    told.push(plain(&s_channel, &s_contact, text));
                }
                self.stop_chain(case, created, &counselor.id, told).await?;
                tracing::info!(case = %case.code, counselor = %counselor.id, "case accepted");
                Ok(Done::Accepted)
            }
            Acceptance::TakenBy(other) => {
                let name =
                    counselor_by_id(&self.directory(), &other).map_or(other.clone(), |(c, _)| c.name.clone());
                let text = self.render("id", "counselor-taken", &[("case", &case.code), ("name", &name)]);
                self.send_now(&echo(text).into_iter().collect::<Vec<_>>()).await?;
                Ok(Done::TakenBy(name))
            }
            Acceptance::Unavailable => {
                self.send_now(
                    &echo(self.render("id", "counselor-unknown-code", &[])).into_iter().collect::<Vec<_>>(),
                )
                .await?;
                Ok(Done::NotOffered)
            }
        }
    }

    /// How she asked to be contacted, with her number, for the counselor who took her case:
    /// only when she consented to share her details and asked for more than this conversation.
    fn consented_contact(&self, case: &CaseRow, channel: &str, contact: &str) -> Option<String> {
        let shared = shared_contact(case, channel, contact)?;
        let number = match shared.number {
            Some(n) => n,
            // A Telegram chat id is not a phone number: she can only be reached here.
            None => self.render("id", "counselor-contact-no-number", &[]),
        };
        let args = [
            ("case", case.code.as_str()),
            ("via", shared.via.as_str()),
            ("time", shared.time.as_deref().unwrap_or("-")),
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
                return self.send_now(&told).await;
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
        self.send_now(&told).await
    }

    /// A pass moves the chain on at once; a pass that changes nothing keeps the wake-up.
    pub async fn pass_case(
        &self,
        case: &CaseRow,
        created: i64,
        counselor: &Counselor,
        step_seq: i64,
        echo: &Echo<'_>,
    ) -> Result<Done, StoreError> {
        let passed: Vec<Outgoing> =
            echo(self.render("id", "counselor-passed", &[("case", &case.code)])).into_iter().collect();
        for _ in 0..RETRIES {
            let now = self.clock.now_ms();
            let due = self.store.escalation_of(&case.id).await?;
            let chain: Option<Chain> =
                due.as_ref().and_then(|d| d.chain.as_deref()).and_then(|c| serde_json::from_str(c).ok());
            let (Some(due), Some(chain)) = (due, chain.filter(Chain::is_running)) else {
                self.send_now(&passed).await?;
                return Ok(Done::Passed);
            };
            let Some(policy) = self.policies.get(&due.policy) else {
                self.send_now(&passed).await?;
                return Ok(Done::Passed);
            };
            let mut write = EscalationWrite { version: due.version, ..EscalationWrite::default() };
            write
                .events
                .push(("passed".into(), Some(format!("counselor={};level={step_seq}", counselor.id))));
            write.messages.extend(passed.iter().cloned());
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
                return Ok(Done::Passed);
            }
        }
        tracing::warn!(case = %case.code, "pass not applied after repeated conflicts");
        Ok(Done::Passed)
    }

    /// Applies `action` to `case` as `actor`, whose provider is `provider`.
    pub async fn act(
        &self,
        case: &CaseRow,
        actor: &Counselor,
        provider: &Provider,
        action: CaseAction,
        echo: &Echo<'_>,
    ) -> Result<Done, StoreError> {
        let now = self.clock.now_ms();
        let code = case.code.as_str();
        let mut write = EscalationWrite { keep_chain: true, ..EscalationWrite::default() };
        let done = match action {
            CaseAction::Close => {
                write.events.push(("closed".into(), Some(format!("counselor={}", actor.id))));
                write.case_status = Some("closed".into());
                write.messages.extend(echo(self.render("id", "counselor-closed", &[("case", code)])));
                self.store.save_escalation(&case.id, &write, now).await?;
                tracing::info!(case = %code, "case closed");
                let survivor =
                    self.store.case_survivor(&case.id).await?.map(|(ch, contact, _)| (ch, contact));
                return Ok(Done::Closed { survivor });
            }
            CaseAction::Note(note) => {
                write.events.push(("note".into(), Some(note)));
                write.messages.extend(echo(self.render("id", "counselor-noted", &[("case", code)])));
                Done::Noted
            }
            CaseAction::Transfer(target) => return self.transfer(case, actor, provider, &target, echo).await,
            CaseAction::Field(name, value) => {
                let parsed = crate::case::fields::Field::parse(&name)
                    .and_then(|f| f.normalise(&value).map(|v| (f, v)));
                let (reply, done) = match parsed {
                    Some((field, value)) => {
                        self.store.set_case_field(&case.id, field.key(), &value, &actor.id, now).await?;
                        let args = [("case", code), ("field", name.as_str()), ("value", value.as_str())];
                        (self.render("id", "counselor-field-set", &args), Done::FieldSet { value })
                    }
                    None => {
                        let kinds = crate::case::fields::SIMFONI_KINDS.join(", ");
                        let ages = crate::case::fields::AGE_GROUPS.join(", ");
                        let args = [("kinds", kinds.as_str()), ("ages", ages.as_str())];
                        (self.render("id", "counselor-field-invalid", &args), Done::FieldInvalid)
                    }
                };
                self.send_now(&echo(reply).into_iter().collect::<Vec<_>>()).await?;
                return Ok(done);
            }
            CaseAction::Reply(text) => match self.store.case_survivor(&case.id).await? {
                // Words for her: relayed under the counselor's name, never her number.
                Some((s_channel, s_contact, lang)) => {
                    let name = if provider.show_counselor_names {
                        actor.name.clone()
                    } else {
                        self.render(&lang, "counselor-anonymous-short", &[])
                    };
                    let text = text.trim();
                    let relayed =
                        self.render(&lang, "relay-from-counselor", &[("name", &name), ("text", text)]);
                    write.messages.push(plain(&s_channel, &s_contact, relayed));
                    write.events.push(("relayed".into(), Some("from=counselor".into())));
                    write.relay.push(RelayLine {
                        sender: "counselor".into(),
                        author: Some(actor.id.clone()),
                        text: text.to_string(),
                    });
                    write.case_status = Some("in_progress".into());
                    Done::Relayed
                }
                None => {
                    write.messages.extend(echo(self.render(
                        "id",
                        "counselor-survivor-gone",
                        &[("case", code)],
                    )));
                    Done::SurvivorGone
                }
            },
        };
        self.store.save_escalation(&case.id, &write, now).await?;
        Ok(done)
    }

    /// Finds a transfer target by counselor or provider id, or by name (her own provider's
    /// counselors first).
    fn destination<'d>(directory: &'d Directory, own: &Provider, wanted: &str) -> Option<Destination<'d>> {
        let wanted = fold(wanted);
        let providers = &directory.providers;
        let own_first =
            providers.iter().filter(|p| p.id == own.id).chain(providers.iter().filter(|p| p.id != own.id));
        for p in own_first {
            if let Some(c) = p.counselors.iter().find(|c| fold(&c.id) == wanted || fold(&c.name) == wanted) {
                return Some(Destination::Counselor(c, p));
            }
        }
        providers.iter().find(|p| fold(&p.id) == wanted || fold(&p.name) == wanted).map(Destination::Provider)
    }

    /// To a colleague, who holds the case at once, or to another provider, where it is
    /// `referred` and escalates from the first step. Everyone is told.
    async fn transfer(
        &self,
        case: &CaseRow,
        actor: &Counselor,
        provider: &Provider,
        target: &str,
        echo: &Echo<'_>,
    ) -> Result<Done, StoreError> {
        let now = self.clock.now_ms();
        let code = case.code.as_str();
        let survivor = self.store.case_survivor(&case.id).await?;
        let mut messages: Vec<Outgoing> = Vec::new();
        let unknown =
            |this: &Self| echo(this.render("id", "counselor-transfer-unknown", &[("target", target)]));
        let directory = self.directory();
        let (to, detail, done) = match Self::destination(&directory, provider, target) {
            Some(Destination::Counselor(c, _)) if c.id == actor.id => {
                let text = self.render("id", "counselor-transfer-self", &[("case", code)]);
                self.send_now(&echo(text).into_iter().collect::<Vec<_>>()).await?;
                return Ok(Done::TransferSelf);
            }
            Some(Destination::Counselor(to, to_provider)) => {
                let Some((channel, addr)) = address(to, &self.channels) else {
                    self.send_now(&unknown(self).into_iter().collect::<Vec<_>>()).await?;
                    return Ok(Done::TransferUnknown);
                };
                let names =
                    [("case", code), ("name", to.name.as_str()), ("provider", to_provider.name.as_str())];
                messages.extend(echo(self.render("id", "counselor-transferred", &names)));
                let kind = case.category.as_deref().unwrap_or("-");
                let handed = [
                    ("case", code),
                    ("priority", case.priority.as_str()),
                    ("kind", kind),
                    ("from", &actor.name),
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
                    format!("from={};to_counselor={};to_provider={}", actor.id, to.id, to_provider.id);
                let done = Done::Transferred { to: to.name.clone(), provider: to_provider.name.clone() };
                (TransferTo::Counselor { id: &to.id, provider: &to_provider.id }, detail, done)
            }
            Some(Destination::Provider(to)) => {
                let names = [("case", code), ("provider", to.name.as_str())];
                messages.extend(echo(self.render("id", "counselor-referred", &names)));
                if let Some((s_channel, s_contact, lang)) = &survivor {
                    messages.push(plain(
                        s_channel,
                        s_contact,
                        self.render(lang, "survivor-referred", &names[1..]),
                    ));
                }
                let detail = format!("from={};to_provider={}", actor.id, to.id);
                (TransferTo::Provider(&to.id), detail, Done::Referred { provider: to.name.clone() })
            }
            None => {
                self.send_now(&unknown(self).into_iter().collect::<Vec<_>>()).await?;
                return Ok(Done::TransferUnknown);
            }
        };
        let policy = if case.priority == "urgent" { "urgent" } else { "normal" };
        let holder = case.accepted_by.as_deref();
        let transfer = Transfer { case_id: &case.id, holder, to, policy, detail: &detail };
        if self.store.transfer_case(&transfer, &messages, now).await? {
            tracing::info!(case = %code, "case transferred");
            self.wake();
            Ok(done)
        } else {
            self.send_now(
                &echo(self.render("id", "counselor-unknown-code", &[])).into_iter().collect::<Vec<_>>(),
            )
            .await?;
            Ok(Done::NotOffered)
        }
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
            counselor_by_id(&self.directory(), counselor_id).and_then(|(c, _)| address(c, &self.channels))
        else {
            return Ok(());
        };
        let text = self.render("id", "counselor-survivor-withdrew", &[("case", code)]);
        let mut write = EscalationWrite { keep_chain: true, ..EscalationWrite::default() };
        write.messages.push(plain(channel, &addr, text));
        self.store.save_escalation(case_id, &write, self.clock.now_ms()).await?;
        Ok(())
    }

    /// Relays the survivor's words to the counselor holding her case, if one does, and keeps
    /// them in the case's transcript. Returns whether it did.
    pub async fn relay_from_survivor(&self, conversation_id: &str, text: &str) -> Result<bool, StoreError> {
        let Some((case_id, code, counselor_id)) = self.store.case_in_relay(conversation_id).await? else {
            return Ok(false);
        };
        let mut write = EscalationWrite { keep_chain: true, ..EscalationWrite::default() };
        // A counselor working from the console may have no phone channel: the transcript is
        // how her words reach her.
        if let Some((channel, addr)) =
            counselor_by_id(&self.directory(), &counselor_id).and_then(|(c, _)| address(c, &self.channels))
        {
            let relayed = self.render("id", "relay-from-survivor", &[("case", &code), ("text", text.trim())]);
            write.messages.push(plain(channel, &addr, relayed));
        }
        write.events.push(("relayed".into(), Some("from=survivor".into())));
        write.relay.push(RelayLine {
            sender: "survivor".into(),
            author: None,
            text: text.trim().to_string(),
        });
        self.store.save_escalation(&case_id, &write, self.clock.now_ms()).await?;
        Ok(true)
    }
}
