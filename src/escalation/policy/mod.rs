//! Escalation policies: how a case climbs from its provider's primary counselor to the province's
//! UPTD PPA and on to SAPA 129, and the pure state machine that walks a policy.
//!
//! A policy file (`escalation/policies.yaml`, format in `docs/escalation.md`) names policies, each
//! a list of steps: notify a role of the current provider, wait, move to the province's UPTD PPA or
//! to the national line, repeat. [`parse_policies`] checks a whole file and reports every problem
//! with its line.
//!
//! [`start`] and [`on_event`] walk a policy for one case. They do no IO and read no clock: time
//! comes in as `now_ms`, and what should happen comes out as [`ChainAction`]s (notify someone,
//! set a timer, the chain is exhausted, stop). The [`Chain`] they return is plain data, meant to be
//! stored (serde) together with the actions it produced; after a restart the stored chain picks up
//! at the same step, and [`resume`] says which timer to arm again.
//!
//! Roles are this module's own [`Role`] (`primary`, `backup`, `supervisor`, `all_on_call`); the
//! first three have the same names as the roster's roles, and `all_on_call` means every counselor
//! the roster has on call for the provider.

mod chain;
mod hours;
mod parse;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use chain::{Chain, ChainAction, ChainEvent, ChainStatus, Wake, on_event, resume, start};
pub use hours::next_open_ms;
pub use parse::{PolicyError, PolicyErrorKind, load_policies, parse_policies};

/// The shipped defaults, `escalation/policies.yaml`.
pub const SHIPPED: &str = include_str!("../../../escalation/policies.yaml");

/// Policies every policy file must define: `urgent` for danger now, `normal` for office-hours
/// consultation.
pub const REQUIRED: [&str; 2] = ["urgent", "normal"];

/// The largest `repeat: { times: N }`.
pub const MAX_REPEAT: u8 = 5;

/// The longest `wait`: a longer one is surely a typo, and would leave a case unattended.
pub const MAX_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Whom a `notify` step reaches at the chain's current provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The counselor(s) on call as primary.
    Primary,
    /// The counselor(s) on call as backup.
    Backup,
    /// The supervisor(s) on call.
    Supervisor,
    /// Everyone on call, whatever their role.
    AllOnCall,
}

impl Role {
    /// Every role with its name in policy files.
    pub const ALL: [(&'static str, Role); 4] = [
        ("primary", Role::Primary),
        ("backup", Role::Backup),
        ("supervisor", Role::Supervisor),
        ("all_on_call", Role::AllOnCall),
    ];

    /// Looks a role up by its name in policy files.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
    }

    /// The name in policy files; the first three match the roster's role names.
    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, r)| *r == self).map_or("", |(n, _)| n)
    }
}

/// Which provider the chain is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The provider the case was opened with (every chain starts here).
    Local,
    /// The UPTD PPA of the case's province.
    Province,
    /// The national line, SAPA 129.
    National,
}

impl Level {
    /// Levels a `notify_provider` step can move to, with their names in policy files.
    pub const TARGETS: [(&'static str, Level); 2] =
        [("province", Level::Province), ("national", Level::National)];

    /// The name in policy files and stored chains.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Local => "local",
            Level::Province => "province",
            Level::National => "national",
        }
    }
}

/// Whom a [`ChainAction::Notify`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Counselors on call in this role at the chain's current provider.
    Role(Role),
    /// The chain has just moved to this provider level: notify its on-call primary.
    ProviderLevel(Level),
}

/// One step of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// `notify: ROLE`: notify the on-call counselors in a role at the current provider.
    Notify(Role),
    /// `notify_provider: province|national`: move to that provider and notify its on-call
    /// primary; later `notify` steps reach that provider's counselors.
    NotifyProvider(Level),
    /// `wait: 2m`: give the counselors notified so far this long to accept.
    Wait(Duration),
    /// `repeat: { times: N }`: run the steps since the previous `repeat` (or since the start)
    /// N more times.
    Repeat {
        /// How many more times, 1 to [`MAX_REPEAT`].
        times: u8,
    },
}

impl Step {
    /// Whether the step sends a notification.
    pub fn notifies(self) -> bool {
        matches!(self, Step::Notify(_) | Step::NotifyProvider(_))
    }

    /// The step as written in a policy file, e.g. `wait: 2m`.
    pub fn describe(self) -> String {
        match self {
            Step::Notify(role) => format!("notify: {}", role.as_str()),
            Step::NotifyProvider(level) => format!("notify_provider: {}", level.as_str()),
            Step::Wait(d) => format!("wait: {}", humantime::format_duration(d)),
            Step::Repeat { times } => format!("repeat: {{ times: {times} }}"),
        }
    }
}

/// A checked policy: at least one notification, no trailing wait, repeats within bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    name: String,
    description: Option<String>,
    office_hours_only: bool,
    steps: Vec<Step>,
}

impl Policy {
    /// Its name in the policy file (`urgent`, `normal`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The author's description, if any.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Whether every notification waits until the provider it goes to is open.
    pub fn office_hours_only(&self) -> bool {
        self.office_hours_only
    }

    /// The steps, in file order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// How many notifications a chain of this policy sends when nobody answers: each step that
    /// notifies, times the runs of its repeat section. No chain sends more.
    pub fn max_notifications(&self) -> u32 {
        let mut total = 0u32;
        let mut section = 0u32;
        for step in &self.steps {
            match step {
                Step::Notify(_) | Step::NotifyProvider(_) => section += 1,
                Step::Wait(_) => {}
                Step::Repeat { times } => {
                    total += section * (1 + u32::from(*times));
                    section = 0;
                }
            }
        }
        total + section
    }

    /// A stable fingerprint of what the chain walks (steps and office-hours rule), stored in
    /// each [`Chain`] so a changed policy file can be noticed (see [`Chain::fits`]).
    pub fn fingerprint(&self) -> String {
        let mut text = format!("office_hours_only={};", self.office_hours_only);
        for step in &self.steps {
            let part = match step {
                Step::Notify(role) => format!("notify:{};", role.as_str()),
                Step::NotifyProvider(level) => format!("notify_provider:{};", level.as_str()),
                Step::Wait(d) => format!("wait:{}ms;", d.as_millis()),
                Step::Repeat { times } => format!("repeat:{times};"),
            };
            text.push_str(&part);
        }
        // FNV-1a, 64 bits: stable across builds and Rust versions, unlike `DefaultHasher`.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in text.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{hash:016x}")
    }
}

/// The policies of a policy file, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policies {
    by_name: BTreeMap<String, Policy>,
}

impl Policies {
    /// A policy by name.
    pub fn get(&self, name: &str) -> Option<&Policy> {
        self.by_name.get(name)
    }

    /// Policy names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// How many policies there are.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether there are none (never true of a parsed file, which has `urgent` and `normal`).
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The shipped defaults ([`SHIPPED`]), checked.
    pub fn shipped() -> Result<Self, Vec<PolicyError>> {
        parse_policies(SHIPPED)
    }
}
