//! Conversation state, the events that move it and the effects a step asks the world to perform.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::model::{InputKind, Priority};

/// A node in the flow set: which flow, which node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeRef {
    /// Flow id.
    pub flow: String,
    /// Node id within the flow.
    pub node: String,
}

impl NodeRef {
    /// Builds a reference from flow and node ids.
    pub fn new(flow: impl Into<String>, node: impl Into<String>) -> Self {
        Self { flow: flow.into(), node: node.into() }
    }
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.flow, self.node)
    }
}

/// A saved variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Value {
    /// Free text or a choice's value.
    Text(String),
    /// A number.
    Number(f64),
    /// A yes/no answer or a flag.
    Bool(bool),
    /// A shared location.
    Location {
        /// Latitude in degrees.
        lat: f64,
        /// Longitude in degrees.
        lon: f64,
    },
    /// A province or regency/city.
    Region {
        /// Official code.
        code: String,
        /// Display name.
        name: String,
    },
}

impl Value {
    /// Whether the value counts as "set" in a bare condition such as `when: consent`.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Text(t) => !t.is_empty(),
            Value::Number(n) => *n != 0.0,
            Value::Bool(b) => *b,
            Value::Location { .. } | Value::Region { .. } => true,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(t) => f.write_str(t),
            Value::Number(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Location { lat, lon } => write!(f, "{lat:.5},{lon:.5}"),
            Value::Region { name, .. } => f.write_str(name),
        }
    }
}

/// Where a conversation stands. Serialised as JSON in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Language code of the conversation.
    pub lang: String,
    /// Node waiting for an answer; `None` before the first message and after the end.
    pub at: Option<NodeRef>,
    /// Calling nodes of the sub-flows being run, innermost last.
    #[serde(default)]
    pub stack: Vec<NodeRef>,
    /// Saved answers and flags.
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    /// Invalid answers given to the current question so far.
    #[serde(default)]
    pub retries: u32,
    /// Sequence number of the timer armed for the current question, if any.
    #[serde(default)]
    pub timer: Option<u64>,
    /// Last timer sequence number handed out; stale timeouts carry older numbers.
    #[serde(default)]
    pub timer_seq: u64,
    /// Region codes offered after an ambiguous region answer, awaiting her pick.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
}

impl State {
    /// A fresh conversation in the given language.
    pub fn new(lang: impl Into<String>) -> Self {
        Self {
            lang: lang.into(),
            at: None,
            stack: Vec::new(),
            vars: BTreeMap::new(),
            retries: 0,
            timer: None,
            timer_seq: 0,
            candidates: Vec::new(),
        }
    }

    /// Whether the conversation is waiting for an answer.
    pub fn is_active(&self) -> bool {
        self.at.is_some()
    }
}

/// Something that happened to a conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Start the given flow afresh, whatever the conversation was doing (e.g. the satisfaction
    /// survey when a counselor closes her case).
    Begin(String),
    /// The person opened the conversation without saying anything yet (console start).
    Start,
    /// Repeat the current question, e.g. when a person comes back to a conversation.
    Repeat,
    /// A typed message.
    Text(String),
    /// A pressed button: the 0-based index of the offered choice.
    Choice(usize),
    /// A shared location.
    Location {
        /// Latitude in degrees.
        lat: f64,
        /// Longitude in degrees.
        lon: f64,
    },
    /// A photo, voice note or file: kept as a reference by the channel, acknowledged here.
    Media,
    /// A timer set by `Effect::SetTimer` fired.
    Timeout {
        /// The timer's sequence number.
        seq: u64,
    },
}

/// A message for the person, already rendered in her language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Message text.
    pub text: String,
    /// Option labels in order; channels show them as buttons or a numbered list.
    #[serde(default)]
    pub choices: Vec<String>,
    /// What kind of answer is awaited after this message, if any.
    #[serde(default)]
    pub expect: Option<InputKind>,
}

/// What a step asks the runtime to do. The engine never does IO itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send a message to the person.
    Send(Reply),
    /// Fire `Event::Timeout { seq }` after `after_secs` unless cancelled.
    SetTimer {
        /// Sequence number the timeout event must carry.
        seq: u64,
        /// Delay in seconds.
        after_secs: u64,
    },
    /// Drop the conversation's pending timer.
    CancelTimer,
    /// Open a case for this conversation.
    OpenCase {
        /// How urgent it is.
        priority: Priority,
        /// Category such as `fisik`, after variable substitution.
        category: Option<String>,
        /// Region code of the case, when known.
        region: Option<String>,
        /// Provider the case is for, when known.
        provider: Option<String>,
        /// Answers copied into the case record.
        fields: BTreeMap<String, Value>,
    },
    /// Record a satisfaction answer.
    RecordSurvey {
        /// Rating from 1 to 5.
        rating: Option<f64>,
        /// Optional comment.
        comment: Option<String>,
        /// Provider rated, when known.
        provider: Option<String>,
    },
    /// Start an escalation chain for the conversation's case.
    Escalate {
        /// Policy name.
        policy: String,
    },
    /// Hand the conversation to a live counselor.
    Handoff {
        /// Service asked for.
        service: String,
    },
    /// Erase what is stored about this conversation.
    Forget,
    /// Remove what the service sent to this chat, where the channel allows it.
    ClearChat,
    /// The conversation reached its end.
    Ended,
}
