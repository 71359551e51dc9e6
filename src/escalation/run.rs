//! The escalation worker: starts a case's chain, notifies on-call counselors on their own
//! channel, wakes the chain when a wait runs out (durably: the wake-up is a row), and takes
//! counselors' replies (`TERIMA 4821`, `LEWAT 4821`, or the Accept / Pass buttons).

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::Rng;

use super::address::{self, address};
use super::policy::{self, Chain, ChainAction, ChainEvent, Level, Policies, Policy, Target};
use super::roster::{Role, on_call};
use super::target::choose;
use crate::channel::OutgoingPayload;
use crate::clock::Clock;
use crate::directory::provider::Counselor;
use crate::directory::{Directory, LiveDirectory, Place, Provider, ProviderKind, Service};
use crate::flow::{Reply, Value};
use crate::i18n::I18n;
use crate::store::{CaseRow, DueEscalation, EscalationWrite, Notification, Store, StoreError};

/// Escalations advanced per round.
const BATCH: i64 = 50;

/// Office-hours waits ended at once in one step, at most (a guard against a policy that only
/// ever waits).
const SETTLE_LIMIT: usize = 16;

/// Runs escalation chains.
#[derive(Clone)]
pub struct Escalator {
    pub(super) store: Store,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) policies: Arc<Policies>,
    live: LiveDirectory,
    pub(super) i18n: Arc<I18n>,
    /// Rings when a case is escalated, so its first notice does not wait for the next round.
    wake: Arc<tokio::sync::Notify>,
    pub(super) metrics: Arc<crate::metrics::Metrics>,
    /// How long an idle round waits for a wake-up before looking at due steps again.
    idle_poll: std::time::Duration,
    /// The channels this deployment sends on; counselors are reached on the first of theirs.
    pub(super) channels: Vec<String>,
}

impl std::fmt::Debug for Escalator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Escalator").finish_non_exhaustive()
    }
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
        directory: impl Into<LiveDirectory>,
        i18n: Arc<I18n>,
    ) -> Self {
        Self {
            store,
            clock,
            policies,
            live: directory.into(),
            i18n,
            wake: Arc::new(tokio::sync::Notify::new()),
            metrics: Arc::default(),
            idle_poll: std::time::Duration::from_millis(500),
            channels: ["telegram", "whatsapp", "sms"].map(String::from).to_vec(),
        }
    }

    /// The counselor (and her provider) a channel address belongs to, if any.
    pub fn counselor_at(&self, channel: &str, contact: &str) -> Option<(Counselor, Provider)> {
        let directory = self.live.get();
        address::counselor_at(&directory, channel, contact).map(|(c, p)| (c.clone(), p.clone()))
    }

    /// The providers and regions in use now.
    pub(super) fn directory(&self) -> Arc<Directory> {
        self.live.get()
    }

    pub(super) fn render(&self, lang: &str, id: &str, args: &[(&str, &str)]) -> String {
        let vars: BTreeMap<String, Value> =
            args.iter().map(|(k, v)| (k.to_string(), Value::Text(v.to_string()))).collect();
        self.i18n.render(lang, id, &vars)
    }

    /// The same worker, reaching counselors only on `channels` (the ones the server runs).
    pub fn with_channels(mut self, channels: &[&str]) -> Self {
        self.channels = channels.iter().map(|c| c.to_string()).collect();
        self
    }

    /// The same worker, looking for due steps every `every` when nothing wakes it.
    pub fn with_idle_poll(mut self, every: std::time::Duration) -> Self {
        self.idle_poll = every;
        self
    }

    /// The same worker, counting into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The same worker, woken through `wake` (shared with the instance's coordinator).
    pub fn with_wake(mut self, wake: Arc<tokio::sync::Notify>) -> Self {
        self.wake = wake;
        self
    }

    /// Asks the running worker for a round now (a case was just escalated or referred).
    pub fn wake(&self) {
        self.wake.notify_one();
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
        let mut write = EscalationWrite { version: due.version, unless_accepted: true, ..Default::default() };
        if case.accepted_by.is_some() {
            // Accepted, but the process stopped before the chain did: stop it now.
            write.chain = due.chain.clone();
            write.status = "accepted".into();
            return self.commit(&case, &write, now).await;
        }
        let Some(policy) = self.policies.get(&due.policy) else {
            let write = EscalationWrite {
                version: due.version,
                status: "failed".into(),
                events: vec![("escalation_failed".into(), Some(format!("unknown policy `{}`", due.policy)))],
                ..EscalationWrite::default()
            };
            tracing::error!(case = %case.code, policy = %due.policy, "escalation policy missing");
            return self.commit(&case, &write, now).await;
        };
        let (chain, actions) = match due.chain.as_deref().map(serde_json::from_str::<Chain>) {
            None => {
                // The case's provider keeps it if someone is on call there; else the nearest
                // that has someone, and the timeline says why.
                let shifts = self.store.roster().await?;
                let directory = self.live.get();
                let place = case.region_code.as_deref().map_or(Place::Region("-"), Place::Region);
                let current = case.provider_id.as_deref().and_then(|id| directory.provider(id));
                // An office-hours request waits for its own provider to open rather than going to
                // whoever happens to be on call tonight.
                let keep = current
                    .is_some_and(|p| policy.office_hours_only() || !on_call(&shifts, p, now).is_empty());
                let service =
                    if policy.office_hours_only() { Service::Konsultasi } else { Service::Pengaduan };
                if !keep && let Some(t) = choose(&directory, &shifts, place, Some(service), now) {
                    write.events.push((
                        "routed".into(),
                        Some(format!("provider={};reason={}", t.provider.id, t.reason)),
                    ));
                    write.provider = Some(t.provider.id.clone());
                }
                if case.status == "new" {
                    write.case_status = Some("escalating".into());
                }
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
                return self.commit(&case, &write, now).await;
            }
        };
        let local = write.provider.clone().or(case.provider_id.clone());
        self.apply(&case, created, local.as_deref(), policy, (chain, actions), &mut write).await?;
        self.commit(&case, &write, now).await
    }

    /// Commits a timed step; when another writer moved the chain first, its step stands and
    /// this one is dropped whole (nobody is notified twice).
    async fn commit(&self, case: &CaseRow, write: &EscalationWrite, now: i64) -> Result<(), StoreError> {
        if self.store.save_escalation(&case.id, write, now).await? {
            for notification in &write.notifications {
                self.metrics.count_notice(notification.step_seq);
            }
        } else {
            tracing::debug!(case = %case.code, "escalation step superseded by a concurrent one");
        }
        Ok(())
    }

    /// Turns chain actions into notifications, messages, timeline events and the next wake-up.
    pub(super) async fn apply(
        &self,
        case: &CaseRow,
        created: i64,
        local: Option<&str>,
        policy: &Policy,
        step: (Chain, Vec<ChainAction>),
        write: &mut EscalationWrite,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        if write.status.is_empty() {
            write.status = "running".into();
        }
        let shifts = self.store.roster().await?;
        let directory = self.live.get();
        let local = local.and_then(|id| directory.provider(id));
        let province_code = case
            .region_code
            .as_deref()
            .or(local.map(|p| p.region.as_str()))
            .map(|r| r.split('.').next().unwrap_or(r).to_string());
        let at_level = |level: Level| -> Option<&Provider> {
            match level {
                Level::Local => local,
                Level::Province => directory.providers.iter().find(|p| {
                    p.kind == ProviderKind::UptdPpaProvince
                        && Some(p.region.as_str()) == province_code.as_deref()
                }),
                Level::National => directory.providers.iter().find(|p| p.kind == ProviderKind::National),
            }
        };
        // A wait for office hours at a provider that is open now ends at once, in this step.
        let (mut chain, mut pending) = step;
        let mut actions = Vec::new();
        for _ in 0..SETTLE_LIMIT {
            let open_now = pending.iter().position(|a| {
                matches!(a, ChainAction::AwaitOfficeHours { provider, .. }
                    if at_level(*provider).is_none_or(|p| policy::next_open_ms(&p.hours, now) <= now))
            });
            let Some(i) = open_now else { break };
            let ChainAction::AwaitOfficeHours { step_seq, .. } = pending[i] else { break };
            actions.extend(pending.drain(..i));
            (chain, pending) = policy::on_event(&chain, policy, ChainEvent::Timeout { step_seq }, now);
        }
        actions.extend(pending);
        write.chain = serde_json::to_string(&chain).ok();
        for action in &actions {
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
                        let Some((channel, addr)) = address(counselor, &self.channels) else {
                            tracing::warn!(counselor = %counselor.id, "counselor has no address on a running channel");
                            continue;
                        };
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
        let directory = self.live.get();
        let region = case
            .region_code
            .as_deref()
            .and_then(|c| directory.regions.get(c))
            .map_or_else(|| "-".to_string(), |r| r.name.clone());
        let minutes = ((now - created).max(0) / 60_000).to_string();
        let args = [
            ("case", case.code.as_str()),
            ("priority", case.priority.as_str()),
            ("kind", case.category.as_deref().unwrap_or("-")),
            ("region", region.as_str()),
            ("minutes", minutes.as_str()),
            ("code", code),
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
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.idle_poll) => {}
            }
        }
    }
}
