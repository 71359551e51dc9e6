//! The impure shell around the engine: load a conversation, step it, commit the result.

use std::sync::Arc;

use thiserror::Error;

use crate::channel::{Inbound, InboundEvent, OutgoingPayload};
use crate::clock::Clock;
use crate::coord::{Coordination, Local, Topic, Wakers};
use crate::flow::{Effect, Engine, EngineError, Event, Reply, State};
use crate::limits::{self, Flood};
use crate::metrics::Metrics;
use crate::store::{
    Accepted, Committed, Conversation, OpenedCase, PendingInbound, SenderContext, StepRef, StepWrite, Store,
    StoreError, StoredConversation,
};

/// Why an event could not be handled.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// Storage failed; nothing of the step was written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What handling one event produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Conversation id after the step.
    pub conversation_id: String,
    /// Messages for the person, in order.
    pub replies: Vec<Reply>,
    /// Every effect of the step (including the sends), for channels and notes.
    pub effects: Vec<Effect>,
    /// Cases the step opened, with the effect that opened each.
    pub opened_cases: Vec<OpenedCase>,
}

/// Steps conversations and stores the results.
#[derive(Debug, Clone)]
pub struct Runtime {
    engine: Engine,
    store: Store,
    clock: Arc<dyn Clock>,
    escalator: Option<Arc<crate::escalation::run::Escalator>>,
    /// Messages per minute one sender may send before the flood limit answers (0: off).
    flood_per_minute: u32,
    metrics: Arc<Metrics>,
    coord: Arc<dyn Coordination>,
    wakers: Wakers,
    /// Stores webhooks' messages together; started with the first (it needs a runtime).
    accepts: Arc<std::sync::OnceLock<AcceptGroup>>,
    /// Commits steps of different conversations together; started with the first.
    steps: Arc<std::sync::OnceLock<Vec<StepGroup>>>,
}

/// A step's writes, owned, waiting in the step group.
#[derive(Debug)]
struct PendingStep {
    conversation: Conversation,
    state: State,
    effects: Vec<Effect>,
    now_ms: i64,
    inbound_id: Option<i64>,
    outbox: bool,
    attachment: Option<(String, String)>,
}

impl PendingStep {
    fn as_step(&self) -> StepRef<'_> {
        StepRef {
            conversation: &self.conversation,
            state: &self.state,
            effects: &self.effects,
            now_ms: self.now_ms,
            write: StepWrite {
                inbound_id: self.inbound_id,
                outbox: self.outbox,
                attachment: self.attachment.as_ref().map(|(k, r)| (k.as_str(), r.as_str())),
            },
        }
    }
}

/// Steps committed in one transaction at most.
const STEP_GROUP: usize = 128;

/// Step groups committing side by side on PostgreSQL.
const PG_STEP_GROUPS: usize = 4;

type StepGroup = crate::store::group::Group<Arc<PendingStep>, Result<Committed, StoreError>>;

/// Inbound messages stored in one transaction at most.
const ACCEPT_GROUP: usize = 128;

type AcceptGroup = crate::store::group::Group<Inbound, Accepted>;

/// Most inbound messages in steps at once (and per round of `process_pending`).
const INBOX_BATCH: i64 = 200;

/// How long an instance holds a claimed inbound message; a crashed instance's messages are
/// taken over after this.
pub const INBOX_LEASE_MS: i64 = 10_000;

/// How many times a step is retried when another writer changed the conversation first.
const CONFLICT_RETRIES: usize = 5;

impl Runtime {
    /// Builds a runtime.
    pub fn new(engine: Engine, store: Store, clock: Arc<dyn Clock>) -> Self {
        let wakers = Wakers::default();
        Self {
            engine,
            store,
            clock,
            escalator: None,
            flood_per_minute: limits::DEFAULT_FLOOD_PER_MINUTE,
            metrics: Arc::default(),
            coord: Arc::new(Local::new(wakers.clone())),
            wakers,
            accepts: Arc::default(),
            steps: Arc::default(),
        }
    }

    /// The same runtime, sharing work with other instances through `coord` and waking this
    /// instance's workers through `wakers`.
    pub fn with_coordination(mut self, coord: Arc<dyn Coordination>, wakers: Wakers) -> Self {
        self.coord = coord;
        self.wakers = wakers;
        self
    }

    /// This instance's workers' wake-up handles.
    pub fn wakers(&self) -> &Wakers {
        &self.wakers
    }

    /// The coordinator in use.
    pub fn coordination(&self) -> &Arc<dyn Coordination> {
        &self.coord
    }

    /// Wakes this instance's worker for `topic` at once, and every other instance's through
    /// the coordinator (in the background: a slow Redis never delays a webhook's answer).
    pub fn signal(&self, topic: Topic) {
        self.wakers.wake(topic);
        if self.coord.kind() != "local" {
            let coord = self.coord.clone();
            tokio::spawn(async move {
                if let Err(e) = coord.notify(topic).await {
                    tracing::debug!(error = %e, topic = topic.as_str(), "wake-up not shared; others will poll");
                }
            });
        }
    }

    /// The same runtime with another per-sender flood limit (0 turns it off).
    pub fn with_flood_limit(mut self, per_minute: u32) -> Self {
        self.flood_per_minute = per_minute;
        self
    }

    /// What this runtime counted since start-up.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Her case is closed: she is asked how it went (the `survey` flow, on her channel).
    pub async fn begin_survey(&self, channel: &str, contact: &str) -> Result<(), RuntimeError> {
        let write = StepWrite { outbox: true, ..StepWrite::default() };
        self.handle_with(channel, contact, &Event::Begin("survey".into()), None, &write).await?;
        Ok(())
    }

    /// The escalation worker counselors' messages go to, when there is one.
    pub fn escalator(&self) -> Option<&Arc<crate::escalation::run::Escalator>> {
        self.escalator.as_ref()
    }

    /// The same runtime, handing counselors' messages to `escalator`.
    pub fn with_escalator(mut self, escalator: Arc<crate::escalation::run::Escalator>) -> Self {
        self.escalator = Some(escalator);
        self
    }

    /// The store in use.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The engine in use.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether the person has a conversation waiting for an answer.
    pub async fn is_active(&self, channel: &str, contact: &str) -> Result<bool, RuntimeError> {
        Ok(self.store.conversation(channel, contact).await?.is_some_and(|c| c.state.is_active()))
    }

    /// Handles one event of a person on a channel. `lang_hint` sets the language of a new
    /// conversation (e.g. from the channel's profile); an existing one keeps its own.
    pub async fn handle(
        &self,
        channel: &str,
        contact: &str,
        event: &Event,
        lang_hint: Option<&str>,
    ) -> Result<Outcome, RuntimeError> {
        self.handle_with(channel, contact, event, lang_hint, &StepWrite::default()).await
    }

    /// `handle`, writing what `write` asks for in the same transaction as the step.
    pub async fn handle_with(
        &self,
        channel: &str,
        contact: &str,
        event: &Event,
        lang_hint: Option<&str>,
        write: &StepWrite<'_>,
    ) -> Result<Outcome, RuntimeError> {
        self.handle_known(channel, contact, event, lang_hint, write, None).await
    }

    /// `handle_with`, starting from `known` (the conversation as just read, `Some(None)` when
    /// there is none) instead of reading it again; a retry after a conflict reads afresh.
    async fn handle_known(
        &self,
        channel: &str,
        contact: &str,
        event: &Event,
        lang_hint: Option<&str>,
        write: &StepWrite<'_>,
        mut known: Option<Option<Conversation>>,
    ) -> Result<Outcome, RuntimeError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_handle(channel, contact, event, lang_hint, write, known.take()).await {
                Err(RuntimeError::Store(StoreError::Conflict(_))) if attempt < CONFLICT_RETRIES => {
                    continue;
                }
                other => return other,
            }
        }
    }

    async fn try_handle(
        &self,
        channel: &str,
        contact: &str,
        event: &Event,
        lang_hint: Option<&str>,
        write: &StepWrite<'_>,
        known: Option<Option<Conversation>>,
    ) -> Result<Outcome, RuntimeError> {
        let i18n = self.engine.i18n();
        let new_lang = lang_hint.filter(|l| i18n.has_lang(l)).unwrap_or(i18n.default_lang()).to_string();
        let read = match known {
            Some(known) => Ok(known),
            None => self.store.conversation(channel, contact).await,
        };
        let conversation = match read {
            Ok(Some(c)) => c,
            Ok(None) => Conversation::new(channel, contact, State::new(new_lang)),
            Err(StoreError::CorruptState { id, .. }) => {
                // An unreadable state must not lock her out: start over, keeping the row.
                tracing::warn!(conversation = %id, "unreadable conversation state, starting over");
                let mut c = Conversation::new(channel, contact, State::new(new_lang));
                c.version = self.store.conversation_version(channel, contact).await?;
                c.id = id;
                c
            }
            Err(e) => return Err(e.into()),
        };
        let (state, effects) = match self.engine.step(&conversation.state, event) {
            Ok(step) => (step.state, step.effects),
            Err(error) => {
                // The conversation stays where it was; she is told something went wrong and
                // how to get help, rather than hearing nothing.
                log_engine_error(&conversation.id, &error);
                let text = i18n.render(&conversation.state.lang, "error-internal", &conversation.state.vars);
                let reply = Reply { text, choices: Vec::new(), expect: None };
                (conversation.state.clone(), vec![Effect::Send(reply)])
            }
        };
        let committed = self.commit_step(conversation, state, effects.clone(), write).await?;
        tracing::debug!(
            conversation = %committed.conversation_id,
            channel,
            effects = effects.len(),
            "step committed"
        );
        // Counselors holding her cases learn that she withdrew, so they stop waiting for her.
        if let Some(escalator) = &self.escalator {
            for (case_id, code, holder) in &committed.withdrawn {
                if let Some(counselor) = holder {
                    escalator.tell_withdrawn(case_id, code, counselor).await?;
                }
            }
        }
        // A case to escalate is the one thing that must not wait for the next polling round.
        if let Some(escalator) = &self.escalator
            && effects.iter().any(|e| matches!(e, Effect::Escalate { .. } | Effect::Handoff { .. }))
        {
            escalator.wake();
        }
        let replies = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(r) => Some(r.clone()),
                _ => None,
            })
            .collect();
        Ok(Outcome {
            conversation_id: committed.conversation_id,
            replies,
            effects,
            opened_cases: committed.opened_cases,
        })
    }

    /// Fires flow timers due now (all, or only one person's); returns the outcomes with the
    /// channel and contact they belong to, so callers can deliver the replies.
    pub async fn fire_due_timers(
        &self,
        limit: i64,
        only: Option<(&str, &str)>,
    ) -> Result<Vec<(String, String, Outcome)>, RuntimeError> {
        let due = self.store.due_timers(self.clock.now_ms(), limit, only).await?;
        let mut out = Vec::with_capacity(due.len());
        for timer in due {
            let event = Event::Timeout { seq: timer.seq as u64 };
            // Channel conversations get their timeout replies through the outbox; the console
            // prints them itself.
            let write = StepWrite {
                outbox: timer.channel != crate::channel::console::CHANNEL,
                ..StepWrite::default()
            };
            let outcome = self.handle_with(&timer.channel, &timer.contact_key, &event, None, &write).await?;
            // Removed only after the step committed, so a crash in between fires it again
            // (the engine ignores a timeout it has already acted on).
            self.store.delete_timer(&timer.conversation_id, timer.seq).await?;
            out.push((timer.channel, timer.contact_key, outcome));
        }
        Ok(out)
    }
}

impl Runtime {
    /// The clock in use.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Where the flood limit's window starts now.
    fn flood_since(&self) -> i64 {
        self.clock.now_ms() - limits::FLOOD_WINDOW_MS
    }

    /// A sender's context read on its own, for a message that came without one.
    async fn sender_context(&self, message: &PendingInbound) -> Result<SenderContext, RuntimeError> {
        let inbound = &message.inbound;
        let (channel, contact) = (inbound.channel.as_str(), inbound.contact.as_str());
        let conversation = match self.store.conversation(channel, contact).await {
            Ok(Some(c)) => StoredConversation::Found(Box::new(c)),
            Ok(None) => StoredConversation::Absent,
            Err(StoreError::CorruptState { .. }) => StoredConversation::Unreadable,
            Err(e) => return Err(e.into()),
        };
        let in_relay = match &conversation {
            StoredConversation::Found(c) => self.store.case_in_relay(&c.id).await?.is_some(),
            _ => false,
        };
        Ok(SenderContext {
            recent: self.store.sender_recent_count(channel, contact, self.flood_since(), message.id).await?,
            counselor_spoke_last: self.store.counselor_spoke_last(channel, contact).await?,
            in_relay,
            conversation,
        })
    }

    /// Commits a step with whatever other conversations' steps are ready (one transaction).
    async fn commit_step(
        &self,
        conversation: Conversation,
        state: State,
        effects: Vec<Effect>,
        write: &StepWrite<'_>,
    ) -> Result<Committed, StoreError> {
        let step = PendingStep {
            conversation,
            state,
            effects,
            now_ms: self.clock.now_ms(),
            inbound_id: write.inbound_id,
            outbox: write.outbox,
            attachment: write.attachment.map(|(k, r)| (k.to_string(), r.to_string())),
        };
        // PostgreSQL commits several groups side by side (a group's statements are round
        // trips on one connection); SQLite has one writer. A conversation always goes to the
        // same group, so two groups never wait on each other's rows.
        let groups = self.steps.get_or_init(|| {
            let count = if self.store.backend() == "postgres" { PG_STEP_GROUPS } else { 1 };
            (0..count).map(|_| self.step_group()).collect()
        });
        let shard = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            (&step.conversation.channel, &step.conversation.contact_key).hash(&mut hasher);
            hasher.finish() as usize % groups.len().max(1)
        };
        match groups.get(shard) {
            Some(group) => group.write(Arc::new(step)).await?,
            None => Err(StoreError::Grouped("no step group".into())),
        }
    }

    fn step_group(&self) -> StepGroup {
        let store = self.store.clone();
        crate::store::group::Group::start(
            STEP_GROUP,
            Arc::new(move |batch: Vec<Arc<PendingStep>>| {
                let store = store.clone();
                Box::pin(async move {
                    let steps: Vec<StepRef<'_>> = batch.iter().map(|s| s.as_step()).collect();
                    store.commit_steps(&steps).await
                })
            }),
        )
    }

    fn accept_group(&self) -> AcceptGroup {
        let (store, clock) = (self.store.clone(), self.clock.clone());
        crate::store::group::Group::start(
            ACCEPT_GROUP,
            Arc::new(move |batch: Vec<Inbound>| {
                let (store, now) = (store.clone(), clock.now_ms());
                Box::pin(async move { store.accept_inbound_many(&batch, now).await })
            }),
        )
    }

    /// Stores an inbound message durably (dropping a duplicate delivery). Webhooks call this
    /// before answering 2xx; the step runs later in the inbox worker (`run_inbox`).
    pub async fn accept(&self, inbound: &Inbound) -> Result<Accepted, RuntimeError> {
        let mut clamped;
        let mut inbound = inbound;
        if let InboundEvent::Text { text } = &inbound.event
            && text.chars().count() > limits::MAX_TEXT_CHARS
        {
            clamped = inbound.clone();
            if let InboundEvent::Text { text } = &mut clamped.event {
                limits::clamp_text(text);
            }
            self.metrics.texts_truncated.inc();
            tracing::warn!(channel = %inbound.channel, max = limits::MAX_TEXT_CHARS, "inbound text cut to the length limit");
            inbound = &clamped;
        }
        // A redelivery another instance stored is recognised without a database write; the
        // database's unique delivery id stays the authority (Redis may be away or forgetful).
        let delivery = inbound.provider_id.as_deref().map(|id| self.store.delivery_key(&inbound.channel, id));
        if let Some(key) = &delivery
            && self.coord.seen(key).await.unwrap_or(false)
        {
            return Ok(Accepted::Duplicate);
        }
        let accepted = self.accepts.get_or_init(|| self.accept_group()).write(inbound.clone()).await?;
        if let Accepted::New(id) = accepted {
            self.metrics.count_in(&inbound.channel);
            tracing::debug!(inbound = id, channel = %inbound.channel, "inbound stored");
        }
        if let Some(key) = &delivery
            && let Err(e) = self.coord.remember(key).await
        {
            tracing::debug!(error = %e, "delivery key not shared");
        }
        Ok(accepted)
    }

    /// Steps stored, unprocessed inbound messages (up to `limit`): each conversation's in order
    /// and on one instance at a time, different conversations side by side. Returns how many
    /// were processed.
    pub async fn process_pending(&self, limit: i64) -> Result<usize, RuntimeError> {
        let mut processed = 0;
        while (processed as i64) < limit {
            // One message per conversation per round: the claim takes each conversation's
            // oldest, so a round's messages are all from different conversations.
            let claimed = self
                .store
                .claim_inbound(
                    self.clock.now_ms(),
                    limit - processed as i64,
                    INBOX_LEASE_MS,
                    self.flood_since(),
                )
                .await?;
            if claimed.is_empty() {
                break;
            }
            let mut tasks = tokio::task::JoinSet::new();
            for message in claimed {
                let runtime = self.clone();
                tasks.spawn(async move { runtime.step_claimed(&message).await });
            }
            let mut round = 0;
            while let Some(result) = tasks.join_next().await {
                round += result.unwrap_or(0);
            }
            if round == 0 {
                break;
            }
            processed += round;
        }
        Ok(processed)
    }

    /// Steps one claimed message; 1 when it is done (by this instance or, after a lease ran
    /// out, another), 0 when it failed and was given back to be tried again.
    async fn step_claimed(&self, message: &PendingInbound) -> usize {
        let started = std::time::Instant::now();
        match self.process_one(message).await {
            Ok(()) | Err(RuntimeError::Store(StoreError::AlreadyProcessed(_))) => {
                self.metrics.step_seconds.observe(started.elapsed().as_secs_f64());
                1
            }
            Err(error) => {
                // Given back at once so the next claim tries again; the conversation's later
                // messages wait behind it.
                tracing::warn!(inbound = message.id, error = %error, "inbound step failed; will retry");
                if let Err(e) = self.store.release_inbound(message.id).await {
                    tracing::warn!(inbound = message.id, error = %e, "claim not released; its lease will run out");
                }
                0
            }
        }
    }

    /// Runs the inbox worker until `shutdown` resolves: claims what webhooks stored while
    /// earlier steps are still running (a conversation's next message is never claimed before
    /// its previous one is done), wakes the outbox dispatcher as each step commits, and fires
    /// flow timers when the inbox is empty. On shutdown, steps in flight finish.
    pub async fn run_inbox(
        self,
        wake: std::sync::Arc<tokio::sync::Notify>,
        outbox: std::sync::Arc<tokio::sync::Notify>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut in_flight: tokio::task::JoinSet<usize> = tokio::task::JoinSet::new();
        let mut failed = false;
        loop {
            while let Some(done) = in_flight.try_join_next() {
                failed |= !matches!(done, Ok(1));
            }
            let room = INBOX_BATCH - in_flight.len() as i64;
            // After a failed step, a pause before claiming again: a fault that fails every
            // step must not turn into a hot loop of claims and releases.
            let claimed = if room > 0 && !std::mem::take(&mut failed) {
                match self
                    .store
                    .claim_inbound(self.clock.now_ms(), room, INBOX_LEASE_MS, self.flood_since())
                    .await
                {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        tracing::warn!(error = %e, "inbox claim failed");
                        Vec::new()
                    }
                }
            } else {
                Vec::new()
            };
            if !claimed.is_empty() {
                for message in claimed {
                    let (runtime, outbox) = (self.clone(), outbox.clone());
                    in_flight.spawn(async move {
                        let done = runtime.step_claimed(&message).await;
                        // Its replies go out now, not when a batch of steps has finished.
                        outbox.notify_one();
                        done
                    });
                }
                continue;
            }
            // Flow timeouts come due here too.
            if in_flight.is_empty() {
                match self.fire_due_timers(INBOX_BATCH, None).await {
                    Ok(fired) if !fired.is_empty() => {
                        outbox.notify_one();
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "firing timers failed"),
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = wake.notified() => {}
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    failed |= !matches!(done, Ok(1));
                    if failed {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                }
                () = tokio::time::sleep(crate::coord::idle_poll(&*self.coord, std::time::Duration::from_millis(500))) => {}
            }
        }
        while in_flight.join_next().await.is_some() {}
    }

    async fn process_one(&self, message: &PendingInbound) -> Result<(), RuntimeError> {
        let inbound = &message.inbound;
        if let InboundEvent::Text { text } = &inbound.event
            && let Some(opt) = crate::channel::opt_out(&inbound.channel, text)
        {
            // Carrier opt-out words are honoured before any flow sees them.
            let at = opt.then(|| self.clock.now_ms());
            self.store.set_opted_out(&inbound.channel, &inbound.contact, at).await?;
            if opt {
                self.store.mark_inbound_processed(message.id, self.clock.now_ms()).await?;
                tracing::info!(inbound = message.id, channel = %inbound.channel, "contact opted out");
                return Ok(());
            }
        }
        // Counselors answer notifications here; their messages never reach the flows.
        if let Some(escalator) = &self.escalator
            && let Some((counselor, provider)) = escalator.counselor_at(&inbound.channel, &inbound.contact)
        {
            let outcome = escalator
                .counselor_message(&counselor, &provider, &inbound.channel, &inbound.contact, &inbound.event)
                .await?;
            self.store.mark_inbound_processed(message.id, self.clock.now_ms()).await?;
            if let crate::escalation::counselor::CounselorOutcome::Closed { channel, contact } = outcome {
                self.begin_survey(&channel, &contact).await?;
            }
            return Ok(());
        }
        // What the claim read about her; a message that was not claimed reads it here.
        let context = match &message.context {
            Some(context) => context.clone(),
            None => self.sender_context(message).await?,
        };
        // One sender flooding the service gets one polite notice, then silence until the window
        // passes; the messages stay stored.
        let count = if self.flood_per_minute == 0 { 0 } else { context.recent };
        match limits::flood(count, self.flood_per_minute) {
            Flood::Pass => {}
            verdict => {
                if verdict == Flood::Notice {
                    let lang = match &context.conversation {
                        StoredConversation::Found(c) => c.state.lang.clone(),
                        _ => inbound.lang_hint.clone().unwrap_or_else(|| "id".into()),
                    };
                    let text = self.engine.i18n().render(&lang, "flood-notice", &Default::default());
                    let reply = Reply { text, choices: Vec::new(), expect: None };
                    let notice =
                        (inbound.channel.clone(), inbound.contact.clone(), OutgoingPayload::Reply(reply));
                    self.store.queue_messages(&[notice], self.clock.now_ms()).await?;
                    tracing::warn!(channel = %inbound.channel, limit = self.flood_per_minute, "sender over the flood limit");
                }
                self.metrics.flood_limited.inc();
                self.store.mark_inbound_limited(message.id, self.clock.now_ms()).await?;
                return Ok(());
            }
        }
        // While a counselor holds her case, her words answer whoever spoke last: the counselor,
        // unless she is in a flow that asked her something since. Keywords (emergency, menu,
        // exit, forget) always reach the flows.
        if let Some(escalator) = &self.escalator
            && context.in_relay
            && let InboundEvent::Text { text } = &inbound.event
            && !self.engine.flows().triggers.iter().any(|t| t.keywords.contains(&crate::text::fold(text)))
            && let StoredConversation::Found(conversation) = &context.conversation
            && (!conversation.state.is_active() || context.counselor_spoke_last)
            && escalator.relay_from_survivor(&conversation.id, text).await?
        {
            self.store.mark_inbound_processed(message.id, self.clock.now_ms()).await?;
            return Ok(());
        }
        // The step starts from what the claim read; an unreadable state is the step's to handle.
        let known = match context.conversation {
            StoredConversation::Absent => Some(None),
            StoredConversation::Found(conversation) => Some(Some(*conversation)),
            StoredConversation::Unreadable => None,
        };
        let attachment = match &inbound.event {
            InboundEvent::Media { kind, reference } => Some((kind.as_str(), reference.as_str())),
            _ => None,
        };
        let write = StepWrite { inbound_id: Some(message.id), outbox: true, attachment };
        let event = inbound.event.to_event();
        self.handle_known(
            &inbound.channel,
            &inbound.contact,
            &event,
            inbound.lang_hint.as_deref(),
            &write,
            known,
        )
        .await?;
        Ok(())
    }
}

fn log_engine_error(conversation: &str, error: &EngineError) {
    tracing::error!(conversation, error = %error, "flow step failed");
}
