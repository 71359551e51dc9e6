//! The escalation worker: starts a case's chain, notifies on-call counselors on their own
//! channel, wakes the chain when a wait runs out (durably: the wake-up is a row), and takes
//! counselors' replies (`TERIMA 4821`, `LEWAT 4821`, or the Accept / Pass buttons).

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::Rng;

use super::policy::{self, Chain, ChainAction, ChainEvent, Level, Policies, Target};
use super::roster::{Role, on_call};
use super::target::choose;
use crate::channel::{InboundEvent, OutgoingPayload};
use crate::clock::Clock;
use crate::directory::provider::Counselor;
use crate::directory::{Directory, Place, Provider, ProviderKind, Service};
use crate::flow::{Reply, Value};
use crate::i18n::I18n;
use crate::store::{Acceptance, CaseRow, DueEscalation, EscalationWrite, Notification, Store, StoreError};
use crate::text::fold;

/// Escalations advanced per round.
const BATCH: i64 = 50;

/// Runs escalation chains.
#[derive(Clone)]
pub struct Escalator {
    store: Store,
    clock: Arc<dyn Clock>,
    policies: Arc<Policies>,
    directory: Arc<Directory>,
    i18n: Arc<I18n>,
}

impl std::fmt::Debug for Escalator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Escalator").finish_non_exhaustive()
    }
}

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

/// A counselor's reply to a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply2 {
    /// Take the case (`TERIMA 4821`, or the Accept button: the newest notification).
    Accept(Option<String>),
    /// Let it go to the next counselor (`LEWAT 4821`, or the Pass button).
    Pass(Option<String>),
}

/// Reads a counselor's message as a reply to a notification, if it is one.
pub fn parse_reply(event: &InboundEvent) -> Option<Reply2> {
    match event {
        InboundEvent::Choice { index: 0 } => Some(Reply2::Accept(None)),
        InboundEvent::Choice { index: 1 } => Some(Reply2::Pass(None)),
        InboundEvent::Text { text } => {
            let folded = fold(text);
            let mut words = folded.split(' ');
            let verb = words.next()?;
            let code = words.next().map(str::to_string);
            if words.next().is_some() {
                return None;
            }
            match verb {
                "terima" | "ambil" | "accept" | "take" => Some(Reply2::Accept(code)),
                "lewat" | "lewati" | "tolak" | "pass" => Some(Reply2::Pass(code)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Digits of a phone number in international form: `+62 812-0000-0101` and `0812 0000 0101`
/// are both `6281200000101`.
fn phone_digits(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix('0') {
        Some(rest) => format!("62{rest}"),
        None => digits,
    }
}

/// Where a counselor is notified: Telegram first, then WhatsApp, then SMS.
fn address(counselor: &Counselor) -> Option<(&'static str, String)> {
    let c = &counselor.channels;
    if let Some(chat) = &c.telegram {
        return Some(("telegram", chat.clone()));
    }
    if let Some(n) = &c.whatsapp {
        return Some(("whatsapp", phone_digits(n)));
    }
    c.sms.as_ref().map(|n| ("sms", format!("+{}", phone_digits(n))))
}

fn role_of(target: policy::Role) -> Option<Role> {
    match target {
        policy::Role::Primary => Some(Role::Primary),
        policy::Role::Backup => Some(Role::Backup),
        policy::Role::Supervisor => Some(Role::Supervisor),
        policy::Role::AllOnCall => None,
    }
}

impl Escalator {
    /// An escalator over the given store, policies and reference data.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        policies: Arc<Policies>,
        directory: Arc<Directory>,
        i18n: Arc<I18n>,
    ) -> Self {
        Self { store, clock, policies, directory, i18n }
    }

    /// The counselor (and her provider) a channel address belongs to, if any.
    pub fn counselor_at(&self, channel: &str, contact: &str) -> Option<(&Counselor, &Provider)> {
        let wanted = if channel == "telegram" { contact.to_string() } else { phone_digits(contact) };
        self.directory.providers.iter().find_map(|p| {
            p.counselors
                .iter()
                .find(|c| {
                    address(c)
                        .is_some_and(|(ch, addr)| ch == channel && addr.trim_start_matches('+') == wanted)
                })
                .map(|c| (c, p))
        })
    }

    fn render(&self, lang: &str, id: &str, args: &[(&str, Value)]) -> String {
        let vars: BTreeMap<String, Value> = args.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        self.i18n.render(lang, id, &vars)
    }

    fn text(_lang: &str) -> impl Fn(&str) -> Value {
        |s: &str| Value::Text(s.to_string())
    }

    /// Advances every escalation that is due. Returns how many were advanced.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let due = self.store.due_escalations(self.clock.now_ms(), BATCH).await?;
        let count = due.len();
        for escalation in due {
            self.advance(escalation).await?;
        }
        Ok(count)
    }

    async fn advance(&self, due: DueEscalation) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let Some((case, created)) = self.store.case_by_id(&due.case_id).await? else { return Ok(()) };
        let Some(policy) = self.policies.get(&due.policy) else {
            let write = EscalationWrite {
                status: "failed".into(),
                events: vec![("escalation_failed".into(), Some(format!("unknown policy `{}`", due.policy)))],
                ..EscalationWrite::default()
            };
            tracing::error!(case = %case.code, policy = %due.policy, "escalation policy missing");
            return self.store.save_escalation(&case.id, &write, now).await;
        };
        let mut write = EscalationWrite::default();
        let (chain, actions) = match due.chain.as_deref().map(serde_json::from_str::<Chain>) {
            None => {
                // The case's provider keeps it if someone is on call there; else the nearest
                // that has someone, and the timeline says why.
                let shifts = self.store.roster().await?;
                let place = case.region_code.as_deref().map_or(Place::Region("-"), Place::Region);
                let current = case.provider_id.as_deref().and_then(|id| self.directory.provider(id));
                let staffed = current.is_some_and(|p| !on_call(&shifts, p, now).is_empty());
                if !staffed
                    && let Some(t) = choose(&self.directory, &shifts, place, Some(Service::Pengaduan), now)
                {
                    write.events.push((
                        "routed".into(),
                        Some(format!("provider={};reason={}", t.provider.id, t.reason)),
                    ));
                    write.provider = Some(t.provider.id.clone());
                }
                write.case_status = Some("escalating".into());
                policy::start(policy, now)
            }
            Some(Ok(chain)) => {
                let seq = due.wake_seq.unwrap_or_default() as u64;
                policy::on_event(&chain, policy, ChainEvent::Timeout { step_seq: seq }, now)
            }
            Some(Err(e)) => {
                tracing::error!(case = %case.code, error = %e, "stored escalation chain unreadable");
                write.status = "failed".into();
                write.events.push(("escalation_failed".into(), Some("stored chain unreadable".into())));
                return self.store.save_escalation(&case.id, &write, now).await;
            }
        };
        let local = write.provider.clone().or(case.provider_id.clone());
        self.apply(&case, created, local.as_deref(), &chain, &actions, &mut write).await?;
        self.store.save_escalation(&case.id, &write, now).await
    }

    /// Turns chain actions into notifications, messages, timeline events and the next wake-up.
    async fn apply(
        &self,
        case: &CaseRow,
        created: i64,
        local: Option<&str>,
        chain: &Chain,
        actions: &[ChainAction],
        write: &mut EscalationWrite,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        write.chain = serde_json::to_string(chain).ok();
        if write.status.is_empty() {
            write.status = "running".into();
        }
        let shifts = self.store.roster().await?;
        let local = local.and_then(|id| self.directory.provider(id));
        let province_code = case
            .region_code
            .as_deref()
            .or(local.map(|p| p.region.as_str()))
            .map(|r| r.split('.').next().unwrap_or(r).to_string());
        let at_level = |level: Level| -> Option<&Provider> {
            match level {
                Level::Local => local,
                Level::Province => self.directory.providers.iter().find(|p| {
                    p.kind == ProviderKind::UptdPpaProvince
                        && Some(p.region.as_str()) == province_code.as_deref()
                }),
                Level::National => self.directory.providers.iter().find(|p| p.kind == ProviderKind::National),
            }
        };
        for action in actions {
            match action {
                ChainAction::Notify { step_seq, provider, target } => {
                    let Some(p) = at_level(*provider) else {
                        write
                            .events
                            .push(("notified".into(), Some(format!("level={step_seq};provider=-;role=-"))));
                        continue;
                    };
                    let on = on_call(&shifts, p, now);
                    let chosen: Vec<&str> = match target {
                        Target::Role(role) => match role_of(*role) {
                            Some(r) => on.iter().filter(|o| o.role() == r).map(|o| o.counselor()).collect(),
                            None => on.iter().map(|o| o.counselor()).collect(),
                        },
                        Target::ProviderLevel(_) => on.iter().take(1).map(|o| o.counselor()).collect(),
                    };
                    let role = match target {
                        Target::Role(r) => r.as_str(),
                        Target::ProviderLevel(_) => "primary",
                    };
                    if chosen.is_empty() {
                        write.events.push((
                            "notified".into(),
                            Some(format!("level={step_seq};provider={};role={role};counselor=-", p.id)),
                        ));
                    }
                    for counselor_id in chosen {
                        let Some(counselor) = p.counselors.iter().find(|c| c.id == counselor_id) else {
                            continue;
                        };
                        let Some((channel, addr)) = address(counselor) else { continue };
                        let code = format!("{:04}", rand::rng().random_range(1000..10000));
                        let reply = self.notice(case, created, &code, now);
                        write.messages.push((channel.to_string(), addr, OutgoingPayload::Reply(reply)));
                        write.notifications.push(Notification {
                            case_id: case.id.clone(),
                            counselor_id: counselor.id.clone(),
                            step_seq: *step_seq as i64,
                            code,
                        });
                        write.events.push((
                            "notified".into(),
                            Some(format!(
                                "level={step_seq};provider={};role={role};counselor={}",
                                p.id, counselor.id
                            )),
                        ));
                    }
                }
                ChainAction::SetTimer { step_seq, at_ms } => write.wake = Some((*at_ms, *step_seq as i64)),
                ChainAction::AwaitOfficeHours { step_seq, provider } => {
                    let at = at_level(*provider).map_or(now, |p| policy::next_open_ms(&p.hours, now));
                    write.wake = Some((at, *step_seq as i64));
                }
                ChainAction::Exhausted => {
                    write.status = "exhausted".into();
                    write.wake = None;
                    write.events.push(("escalation_exhausted".into(), None));
                    tracing::warn!(case = %case.code, "escalation exhausted: nobody accepted");
                }
                ChainAction::Stop { .. } => {
                    write.status = "accepted".into();
                    write.wake = None;
                }
            }
        }
        Ok(())
    }

    /// The notice a counselor gets: case code, priority, kind, region, minutes since the
    /// report, and her reply code; never the survivor's number.
    fn notice(&self, case: &CaseRow, created: i64, code: &str, now: i64) -> Reply {
        let t = Self::text("id");
        let region = case
            .region_code
            .as_deref()
            .and_then(|c| self.directory.regions.get(c))
            .map_or_else(|| "-".to_string(), |r| r.name.clone());
        let minutes = ((now - created).max(0) / 60_000) as f64;
        let args = [
            ("case", t(&case.code)),
            ("priority", t(&case.priority)),
            ("kind", t(case.category.as_deref().unwrap_or("-"))),
            ("region", t(&region)),
            ("minutes", Value::Number(minutes)),
            ("code", t(code)),
        ];
        Reply {
            text: self.render("id", "counselor-notice", &args),
            choices: vec![
                self.render("id", "counselor-accept", &[]),
                self.render("id", "counselor-pass", &[]),
            ],
            expect: None,
        }
    }

    /// Handles a counselor's message. Returns the messages to send back (to her and, when she
    /// took the case, to the survivor), already queued. `None` when it was not a reply.
    pub async fn counselor_message(
        &self,
        counselor: &Counselor,
        provider: &Provider,
        channel: &str,
        contact: &str,
        event: &InboundEvent,
    ) -> Result<CounselorOutcome, StoreError> {
        let now = self.clock.now_ms();
        let Some(reply) = parse_reply(event) else {
            return self.counselor_other(counselor, channel, contact, event).await;
        };
        let (code, accept) = match &reply {
            Reply2::Accept(code) => (code.clone(), true),
            Reply2::Pass(code) => (code.clone(), false),
        };
        let notification = match &code {
            Some(code) => self.store.notification_by_code(&counselor.id, code).await?,
            None => self.store.latest_notification(&counselor.id).await?,
        };
        let back = |text: String| {
            (
                channel.to_string(),
                contact.to_string(),
                OutgoingPayload::Reply(Reply { text, choices: Vec::new(), expect: None }),
            )
        };
        let Some(n) = notification else {
            let mut write = EscalationWrite::default();
            write.messages.push(back(self.render("id", "counselor-unknown-code", &[])));
            return self.queue_only(&write, now).await.map(|()| CounselorOutcome::Handled);
        };
        let Some((case, created)) = self.store.case_by_id(&n.case_id).await? else {
            return Ok(CounselorOutcome::Handled);
        };
        let Some(due) = self.store.escalation_of(&case.id).await? else {
            return Ok(CounselorOutcome::Handled);
        };
        let policy = self.policies.get(&due.policy);
        let chain: Option<Chain> = due.chain.as_deref().and_then(|c| serde_json::from_str(c).ok());
        let t = Self::text("id");
        let mut write = EscalationWrite::default();
        if accept {
            let detail = format!("provider={};counselor={};level={}", provider.id, counselor.id, n.step_seq);
            match self.store.accept_case(&case.id, &counselor.id, &detail, now).await? {
                Acceptance::Won => {
                    if let (Some(policy), Some(chain)) = (policy, &chain) {
                        let (chain, actions) = policy::on_event(
                            chain,
                            policy,
                            ChainEvent::Accepted { counselor: counselor.id.clone() },
                            now,
                        );
                        self.apply(&case, created, case.provider_id.as_deref(), &chain, &actions, &mut write)
                            .await?;
                    }
                    write.status = "accepted".into();
                    write.wake = None;
                    write.messages.push(back(self.render(
                        "id",
                        "counselor-accepted",
                        &[("case", t(&case.code))],
                    )));
                    if let Some((s_channel, s_contact, lang)) = self.store.case_survivor(&case.id).await? {
                        let text = self.render(
                            &lang,
                            "survivor-accepted",
                            &[("name", t(&counselor.name)), ("provider", t(&provider.name))],
                        );
                        write.messages.push((
                            s_channel,
                            s_contact,
                            OutgoingPayload::Reply(Reply { text, choices: Vec::new(), expect: None }),
                        ));
                    }
                    tracing::info!(case = %case.code, counselor = %counselor.id, "case accepted");
                    self.store.save_escalation(&case.id, &write, now).await?;
                }
                Acceptance::TakenBy(other) => {
                    let name = self
                        .directory
                        .providers
                        .iter()
                        .flat_map(|p| p.counselors.iter())
                        .find(|c| c.id == other)
                        .map_or(other.clone(), |c| c.name.clone());
                    write.messages.push(back(self.render(
                        "id",
                        "counselor-taken",
                        &[("case", t(&case.code)), ("name", t(&name))],
                    )));
                    self.queue_only(&write, now).await?;
                }
                Acceptance::Unavailable => {
                    write.messages.push(back(self.render("id", "counselor-unknown-code", &[])));
                    self.queue_only(&write, now).await?;
                }
            }
        } else {
            write
                .events
                .push(("passed".into(), Some(format!("counselor={};level={}", counselor.id, n.step_seq))));
            write.messages.push(back(self.render("id", "counselor-passed", &[("case", t(&case.code))])));
            match (policy, &chain) {
                (Some(policy), Some(chain)) if chain.is_running() => {
                    let event =
                        ChainEvent::Pass { counselor: counselor.id.clone(), step_seq: n.step_seq as u64 };
                    let (next, actions) = policy::on_event(chain, policy, event, now);
                    // A pass that changes nothing keeps the current wake-up.
                    if actions.is_empty() {
                        write.chain = serde_json::to_string(&next).ok();
                        write.status = "running".into();
                        self.keep_wake(&case.id, &mut write).await?;
                    } else {
                        self.apply(&case, created, case.provider_id.as_deref(), &next, &actions, &mut write)
                            .await?;
                    }
                    self.store.save_escalation(&case.id, &write, now).await?;
                }
                _ => self.queue_only(&write, now).await?,
            }
        }
        Ok(CounselorOutcome::Handled)
    }

    /// A counselor's message that is not an answer to a notice: a command (`CATAT ...` adds a
    /// note, `TUTUP` closes her case) or words for the survivor, relayed through Teduh so
    /// neither sees the other's number.
    async fn counselor_other(
        &self,
        counselor: &Counselor,
        channel: &str,
        contact: &str,
        event: &InboundEvent,
    ) -> Result<CounselorOutcome, StoreError> {
        let now = self.clock.now_ms();
        let t = Self::text("id");
        let back = |text: String| {
            (
                channel.to_string(),
                contact.to_string(),
                OutgoingPayload::Reply(Reply { text, choices: Vec::new(), expect: None }),
            )
        };
        let Some((case_id, code)) = self.store.case_held_by(&counselor.id).await? else {
            self.store.queue_messages(&[back(self.render("id", "counselor-unknown-code", &[]))], now).await?;
            return Ok(CounselorOutcome::Handled);
        };
        let InboundEvent::Text { text } = event else {
            return Ok(CounselorOutcome::Handled);
        };
        let trimmed = text.trim();
        let folded = fold(trimmed);
        let mut write = EscalationWrite { status: "accepted".into(), ..EscalationWrite::default() };
        if folded == "tutup" || folded == "close" {
            write.events.push(("closed".into(), Some(format!("counselor={}", counselor.id))));
            write.case_status = Some("closed".into());
            write.messages.push(back(self.render("id", "counselor-closed", &[("case", t(&code))])));
            self.save_keeping_chain(&case_id, &mut write, now).await?;
            tracing::info!(case = %code, "case closed by its counselor");
            return Ok(match self.store.case_survivor(&case_id).await? {
                Some((channel, contact, _)) => CounselorOutcome::Closed { channel, contact },
                None => CounselorOutcome::Handled,
            });
        }
        if let Some(note) = folded
            .strip_prefix("catat ")
            .or_else(|| folded.strip_prefix("note "))
            .map(|_| trimmed.split_once(char::is_whitespace).map_or("", |(_, rest)| rest.trim()).to_string())
        {
            write.events.push(("note".into(), Some(note)));
            write.messages.push(back(self.render("id", "counselor-noted", &[("case", t(&code))])));
            self.save_keeping_chain(&case_id, &mut write, now).await?;
            return Ok(CounselorOutcome::Handled);
        }
        // Words for her: relayed under the counselor's name, never her number.
        if let Some((s_channel, s_contact, lang)) = self.store.case_survivor(&case_id).await? {
            let relayed = self.render(
                &lang,
                "relay-from-counselor",
                &[("name", t(&counselor.name)), ("text", t(trimmed))],
            );
            write.messages.push((
                s_channel,
                s_contact,
                OutgoingPayload::Reply(Reply { text: relayed, choices: Vec::new(), expect: None }),
            ));
            write.events.push(("relayed".into(), Some("from=counselor".into())));
            write.case_status = Some("in_progress".into());
        } else {
            write.messages.push(back(self.render("id", "counselor-survivor-gone", &[("case", t(&code))])));
        }
        self.save_keeping_chain(&case_id, &mut write, now).await?;
        Ok(CounselorOutcome::Handled)
    }

    /// Saves a write that must not disturb the chain itself (notes, relays, closing).
    async fn save_keeping_chain(
        &self,
        case_id: &str,
        write: &mut EscalationWrite,
        now: i64,
    ) -> Result<(), StoreError> {
        let current = self.store.escalation_of(case_id).await?;
        write.chain = current.and_then(|c| c.chain);
        self.store.save_escalation(case_id, write, now).await
    }

    /// Relays the survivor's words to the counselor holding her case, if one does. Returns
    /// whether it did.
    pub async fn relay_from_survivor(&self, conversation_id: &str, text: &str) -> Result<bool, StoreError> {
        let Some((case_id, code, counselor_id)) = self.store.case_in_relay(conversation_id).await? else {
            return Ok(false);
        };
        let counselor =
            self.directory.providers.iter().flat_map(|p| p.counselors.iter()).find(|c| c.id == counselor_id);
        let Some((channel, addr)) = counselor.and_then(address) else { return Ok(false) };
        let t = Self::text("id");
        let relayed =
            self.render("id", "relay-from-survivor", &[("case", t(&code)), ("text", t(text.trim()))]);
        let mut write = EscalationWrite { status: "accepted".into(), ..EscalationWrite::default() };
        write.messages.push((
            channel.to_string(),
            addr,
            OutgoingPayload::Reply(Reply { text: relayed, choices: Vec::new(), expect: None }),
        ));
        write.events.push(("relayed".into(), Some("from=survivor".into())));
        self.save_keeping_chain(&case_id, &mut write, self.clock.now_ms()).await?;
        Ok(true)
    }

    /// Keeps the stored wake-up of an escalation when a step changes nothing about it.
    async fn keep_wake(&self, case_id: &str, write: &mut EscalationWrite) -> Result<(), StoreError> {
        if let Some((at, seq)) = self.store.escalation_wake(case_id).await? {
            write.wake = Some((at, seq));
        }
        Ok(())
    }

    async fn queue_only(&self, write: &EscalationWrite, now: i64) -> Result<(), StoreError> {
        self.store.queue_messages(&write.messages, now).await
    }

    /// Runs until `shutdown`: advances due escalations every second.
    pub async fn run(
        self,
        outbox: Arc<tokio::sync::Notify>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            match self.run_once().await {
                Ok(n) if n > 0 => outbox.notify_one(),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "escalation round failed"),
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
            }
        }
    }
}
