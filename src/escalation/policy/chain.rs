//! The escalation chain of one case: a pure state machine over a [`Policy`].
//!
//! Nothing here does IO or reads a clock. The caller passes the time in, carries the actions out
//! and stores the returned [`Chain`] with them, so a restart resumes at the same step.

use serde::{Deserialize, Serialize};

use super::{Level, MAX_REPEAT, Policy, Step, Target};

/// Where an escalation chain is and what it waits for. Plain data: store it (e.g. as JSON) with
/// the case and hand it back to [`on_event`] with the next event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    /// Name of the policy it walks.
    policy: String,
    /// [`Policy::fingerprint`] of that policy when the chain started.
    fingerprint: String,
    /// Index in the policy's steps of the step being waited on (a `wait`, or a notification
    /// waiting for office hours); the number of steps once the chain has ended.
    step: usize,
    /// How many times the current repeat section has been repeated so far.
    round: u8,
    /// Sequence number of the latest step entered; timers and notifications carry it.
    step_seq: u64,
    /// The provider the chain is at.
    level: Level,
    /// Running, exhausted or accepted.
    status: ChainStatus,
    /// Notifications sent so far.
    notified: u32,
    /// Sequence numbers (first, last) of the notifications a counselor may pass on now: those
    /// sent since the wait before the current one.
    notices: Option<(u64, u64)>,
    /// Whether the latest notification opened a batch that no wait has closed yet.
    batch_open: bool,
    /// When the chain started (ms since the epoch).
    started_ms: i64,
    /// When it last changed.
    updated_ms: i64,
}

/// Whether a chain is still running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainStatus {
    /// Waiting for a timer or for office hours; the next step follows the matching
    /// [`ChainEvent::Timeout`].
    Waiting {
        /// What it waits for.
        wake: Wake,
    },
    /// Every step has run and nobody accepted; no more notifications will be sent. Counselors
    /// already notified may still accept.
    Exhausted,
    /// A counselor accepted the case; the chain is over.
    Accepted {
        /// Her counselor id.
        by: String,
    },
}

/// What a waiting chain waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wake {
    /// A timer at this instant (ms since the epoch).
    At {
        /// When.
        at_ms: i64,
    },
    /// The opening of the provider at this level (`office_hours_only` policies).
    OfficeHours {
        /// Whose opening hours.
        provider: Level,
    },
}

/// Something that happened to a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainEvent {
    /// The timer (or office-hours wait) of step `step_seq` is due. Any other `step_seq` is stale
    /// and ignored.
    Timeout {
        /// The `step_seq` of the [`ChainAction::SetTimer`] or [`ChainAction::AwaitOfficeHours`].
        step_seq: u64,
    },
    /// A notified counselor declined. The chain moves on to its next notification at once,
    /// skipping the rest of the current wait. Ignored unless `step_seq` is one of the
    /// notifications sent just before the current wait (a late or repeated pass must not skip
    /// the next counselor's time), and while waiting for office hours.
    Pass {
        /// Her counselor id.
        counselor: String,
        /// The `step_seq` of the [`ChainAction::Notify`] she is answering.
        step_seq: u64,
    },
    /// A counselor accepted the case: the chain stops, whatever step it is at, even after it
    /// was exhausted. Later acceptances are ignored (the first one has the case).
    Accepted {
        /// Her counselor id.
        counselor: String,
    },
}

/// What the caller must do, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainAction {
    /// Notify counselors of the provider at `provider`: those on call in a role, or, when the
    /// chain has just moved there (`Target::ProviderLevel`), its on-call primary. `step_seq`
    /// identifies the notification (for de-duplication and for [`ChainEvent::Pass`]).
    Notify {
        /// Identifies this notification.
        step_seq: u64,
        /// Which provider: the case's own, its province's UPTD PPA, or SAPA 129.
        provider: Level,
        /// Whom there.
        target: Target,
    },
    /// Deliver `ChainEvent::Timeout { step_seq }` at `at_ms` (or as soon as possible after it).
    SetTimer {
        /// Echo this in the timeout.
        step_seq: u64,
        /// When, in ms since the epoch.
        at_ms: i64,
    },
    /// Deliver `ChainEvent::Timeout { step_seq }` when the provider at `provider` is next open:
    /// at once when it is open now. [`super::next_open_ms`] computes the instant.
    AwaitOfficeHours {
        /// Echo this in the timeout.
        step_seq: u64,
        /// Whose opening hours.
        provider: Level,
    },
    /// The chain ran out of steps with nobody accepting: no more notifications will be sent.
    Exhausted,
    /// A counselor accepted: cancel pending timers (late ones would be ignored anyway).
    Stop {
        /// Who accepted.
        counselor: String,
    },
}

impl Chain {
    /// Name of the policy it walks.
    pub fn policy(&self) -> &str {
        &self.policy
    }

    /// Fingerprint of the policy when the chain started.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether `policy` is the one the chain started with, unchanged. A chain continues by step
    /// index even when the policy was edited since; the caller should log such a mismatch.
    pub fn fits(&self, policy: &Policy) -> bool {
        self.policy == policy.name() && self.fingerprint == policy.fingerprint()
    }

    /// Index of the step being waited on (the number of steps once ended).
    pub fn step(&self) -> usize {
        self.step
    }

    /// How many times the current repeat section has been repeated.
    pub fn round(&self) -> u8 {
        self.round
    }

    /// Sequence number of the latest step entered.
    pub fn step_seq(&self) -> u64 {
        self.step_seq
    }

    /// The provider level the chain is at.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Running, exhausted or accepted.
    pub fn status(&self) -> &ChainStatus {
        &self.status
    }

    /// Whether the chain still waits for a timer or office hours.
    pub fn is_running(&self) -> bool {
        matches!(self.status, ChainStatus::Waiting { .. })
    }

    /// Who accepted, once someone has.
    pub fn accepted_by(&self) -> Option<&str> {
        match &self.status {
            ChainStatus::Accepted { by } => Some(by),
            _ => None,
        }
    }

    /// Notifications sent so far.
    pub fn notified(&self) -> u32 {
        self.notified
    }

    /// When the chain started (ms since the epoch).
    pub fn started_ms(&self) -> i64 {
        self.started_ms
    }

    /// When it last changed (ms since the epoch).
    pub fn updated_ms(&self) -> i64 {
        self.updated_ms
    }
}

/// Starts a chain at the policy's first step: the first notifications go out at once (or wait
/// for office hours), up to the first wait.
pub fn start(policy: &Policy, now_ms: i64) -> (Chain, Vec<ChainAction>) {
    let mut chain = Chain {
        policy: policy.name().to_string(),
        fingerprint: policy.fingerprint(),
        step: 0,
        round: 0,
        step_seq: 0,
        level: Level::Local,
        status: ChainStatus::Exhausted,
        notified: 0,
        notices: None,
        batch_open: false,
        started_ms: now_ms,
        updated_ms: now_ms,
    };
    let mut actions = Vec::new();
    run(policy, &mut chain, 0, Mode::Normal, now_ms, &mut actions);
    (chain, actions)
}

/// Applies an event to a stored chain and returns the new chain with what to do. An event that
/// does not apply (a stale timeout, a pass outside its window, anything after acceptance)
/// returns the chain unchanged and no actions.
pub fn on_event(chain: &Chain, policy: &Policy, event: ChainEvent, now_ms: i64) -> (Chain, Vec<ChainAction>) {
    let mut next = chain.clone();
    let mut actions = Vec::new();
    match (event, &chain.status) {
        (ChainEvent::Accepted { .. }, ChainStatus::Accepted { .. }) => {}
        (ChainEvent::Accepted { counselor }, _) => {
            next.status = ChainStatus::Accepted { by: counselor.clone() };
            next.updated_ms = now_ms;
            actions.push(ChainAction::Stop { counselor });
        }
        (ChainEvent::Timeout { step_seq }, ChainStatus::Waiting { wake }) if step_seq == chain.step_seq => {
            next.updated_ms = now_ms;
            match wake {
                // The wait is over: continue after it.
                Wake::At { .. } => {
                    run(policy, &mut next, chain.step.saturating_add(1), Mode::Normal, now_ms, &mut actions)
                }
                // The provider is open: send the notification that waited for it.
                Wake::OfficeHours { .. } => {
                    run(policy, &mut next, chain.step, Mode::OfficeOpen, now_ms, &mut actions)
                }
            }
        }
        (ChainEvent::Pass { step_seq, .. }, ChainStatus::Waiting { wake: Wake::At { .. } })
            if chain.notices.is_some_and(|(first, last)| (first..=last).contains(&step_seq)) =>
        {
            next.updated_ms = now_ms;
            run(policy, &mut next, chain.step.saturating_add(1), Mode::SkipWaits, now_ms, &mut actions);
        }
        _ => {}
    }
    (next, actions)
}

/// What to arm again after a restart, from a stored chain: its pending timer or office-hours
/// wait; nothing once it has ended. Notifications are never repeated: the caller stores them
/// with the chain that produced them.
pub fn resume(chain: &Chain) -> Vec<ChainAction> {
    match chain.status {
        ChainStatus::Waiting { wake: Wake::At { at_ms } } => {
            vec![ChainAction::SetTimer { step_seq: chain.step_seq, at_ms }]
        }
        ChainStatus::Waiting { wake: Wake::OfficeHours { provider } } => {
            vec![ChainAction::AwaitOfficeHours { step_seq: chain.step_seq, provider }]
        }
        ChainStatus::Exhausted | ChainStatus::Accepted { .. } => Vec::new(),
    }
}

/// How [`run`] treats the steps it meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Wait at the next wait.
    Normal,
    /// The provider is open: the notification at the first step goes out without waiting for
    /// office hours again.
    OfficeOpen,
    /// After a pass: skip waits up to the next notification.
    SkipWaits,
}

/// Runs steps from index `from` until the chain has to wait, or ends.
fn run(
    policy: &Policy,
    chain: &mut Chain,
    from: usize,
    mut mode: Mode,
    now_ms: i64,
    out: &mut Vec<ChainAction>,
) {
    let steps = policy.steps();
    let mut i = from;
    // Every pass through the loop moves forward one step or jumps back with `round` growing, so
    // this bounds it even for a chain stored under a different policy.
    let mut budget = (steps.len() + 1) * (usize::from(MAX_REPEAT) + 2) + 1;
    loop {
        if budget == 0 {
            end(chain, steps.len(), out);
            return;
        }
        budget -= 1;
        let Some(step) = steps.get(i).copied() else {
            end(chain, steps.len(), out);
            return;
        };
        match step {
            Step::Notify(role) => {
                let provider = chain.level;
                if await_office_hours(policy, chain, i, &mut mode, provider, out) {
                    return;
                }
                send(chain, provider, Target::Role(role), out);
                i += 1;
            }
            Step::NotifyProvider(level) => {
                if await_office_hours(policy, chain, i, &mut mode, level, out) {
                    return;
                }
                send(chain, level, Target::ProviderLevel(level), out);
                i += 1;
            }
            Step::Wait(duration) => {
                if !notifies_ahead(steps, i, chain.round) {
                    // Nothing will be sent after this wait: say so now rather than later.
                    end(chain, steps.len(), out);
                    return;
                }
                if mode == Mode::SkipWaits {
                    i += 1;
                    continue;
                }
                let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
                let at_ms = now_ms.saturating_add(ms);
                chain.step_seq = chain.step_seq.saturating_add(1);
                chain.step = i;
                chain.batch_open = false;
                chain.status = ChainStatus::Waiting { wake: Wake::At { at_ms } };
                out.push(ChainAction::SetTimer { step_seq: chain.step_seq, at_ms });
                return;
            }
            Step::Repeat { times } => {
                if chain.round < times {
                    chain.round += 1;
                    let start = section_start(steps, i);
                    chain.level = level_at(steps, start);
                    i = start;
                } else {
                    chain.round = 0;
                    i += 1;
                }
            }
        }
    }
}

/// Before the notification at step `i` of an office-hours policy, starts waiting for `provider`
/// to open, unless it has just opened; true when the chain now waits.
fn await_office_hours(
    policy: &Policy,
    chain: &mut Chain,
    i: usize,
    mode: &mut Mode,
    provider: Level,
    out: &mut Vec<ChainAction>,
) -> bool {
    if policy.office_hours_only() && *mode != Mode::OfficeOpen {
        chain.step_seq = chain.step_seq.saturating_add(1);
        chain.step = i;
        chain.status = ChainStatus::Waiting { wake: Wake::OfficeHours { provider } };
        out.push(ChainAction::AwaitOfficeHours { step_seq: chain.step_seq, provider });
        return true;
    }
    // Only the first notification after the opening skips the check; later ones check again.
    *mode = Mode::Normal;
    false
}

/// Sends a notification from the chain's current provider level (or the one it moves to).
fn send(chain: &mut Chain, provider: Level, target: Target, out: &mut Vec<ChainAction>) {
    chain.level = provider;
    chain.step_seq = chain.step_seq.saturating_add(1);
    let seq = chain.step_seq;
    // Notifications sent with no wait between them form one batch; any of them may pass.
    chain.notices = match (chain.batch_open, chain.notices) {
        (true, Some((first, _))) => Some((first, seq)),
        _ => Some((seq, seq)),
    };
    chain.batch_open = true;
    chain.notified = chain.notified.saturating_add(1);
    out.push(ChainAction::Notify { step_seq: seq, provider, target });
}

/// Ends the chain with nobody having accepted.
fn end(chain: &mut Chain, len: usize, out: &mut Vec<ChainAction>) {
    chain.step = len;
    chain.batch_open = false;
    chain.status = ChainStatus::Exhausted;
    out.push(ChainAction::Exhausted);
}

/// Index of the first step a repeat at `repeat` goes back to: just after the previous repeat,
/// or the start.
fn section_start(steps: &[Step], repeat: usize) -> usize {
    steps[..repeat.min(steps.len())]
        .iter()
        .rposition(|s| matches!(s, Step::Repeat { .. }))
        .map_or(0, |p| p + 1)
}

/// The provider level in force at step `index`: set by the last `notify_provider` before it.
fn level_at(steps: &[Step], index: usize) -> Level {
    steps[..index.min(steps.len())]
        .iter()
        .rev()
        .find_map(|s| match s {
            Step::NotifyProvider(level) => Some(*level),
            _ => None,
        })
        .unwrap_or(Level::Local)
}

/// Whether a notification can still follow step `index`, with the current repeat section
/// repeated `round` times so far.
fn notifies_ahead(steps: &[Step], index: usize, round: u8) -> bool {
    let mut first_repeat = true;
    for (j, step) in steps.iter().enumerate().skip(index) {
        match step {
            Step::Notify(_) | Step::NotifyProvider(_) => return true,
            Step::Wait(_) => {}
            Step::Repeat { times } => {
                // Only the current section's repeat can go back; later sections' notifications
                // would have been met by this scan before their repeat.
                if first_repeat
                    && round < *times
                    && steps[section_start(steps, j)..j].iter().any(|s| s.notifies())
                {
                    return true;
                }
                first_repeat = false;
            }
        }
    }
    false
}
