//! The executable form of a checked flow set: targets resolved, regexes compiled, conditions
//! parsed. The engine only ever sees these types.

use std::collections::HashMap;

use regex::Regex;

use super::condition::Condition;
use super::model::{InputKind, Priority};
use super::state::{NodeRef, Value};

/// All flows, and the global triggers gathered from them.
#[derive(Debug, Default)]
pub struct FlowSet {
    /// Flows by id.
    pub flows: HashMap<String, Flow>,
    /// Keyword triggers, checked on every typed message.
    pub triggers: Vec<Trigger>,
    /// Every `escalate` action, so the policies it names can be checked where they live.
    pub policy_refs: Vec<PolicyRef>,
}

/// Where a flow names an escalation policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRef {
    /// Flow file.
    pub file: std::path::PathBuf,
    /// Line of the action.
    pub line: u64,
    /// Policy name.
    pub policy: String,
}

impl FlowSet {
    /// Looks a node up.
    pub fn node(&self, at: &NodeRef) -> Option<&Node> {
        self.flows.get(&at.flow)?.nodes.get(&at.node)
    }

    /// The start node of a flow.
    pub fn start_of(&self, flow: &str) -> Option<NodeRef> {
        self.flows.get(flow).map(|f| NodeRef::new(flow, f.start.clone()))
    }

    /// Flow ids, sorted.
    pub fn flow_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.flows.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }
}

/// One flow.
#[derive(Debug)]
pub struct Flow {
    /// Start node id.
    pub start: String,
    /// Nodes by id.
    pub nodes: HashMap<String, Node>,
}

/// What a trigger does.
#[derive(Debug, Clone)]
pub enum TriggerAction {
    /// Leave whatever is running and jump to a node.
    Goto(NodeRef),
    /// Switch the conversation language.
    Lang(String),
}

/// A keyword trigger.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// Folded keywords (see `text::fold`) of every language.
    pub keywords: Vec<String>,
    /// What happens when one matches.
    pub action: TriggerAction,
}

/// One node.
#[derive(Debug)]
pub struct Node {
    /// Message id sent on entering.
    pub say: Option<String>,
    /// Actions run on entering.
    pub actions: Vec<Action>,
    /// The question, if the node waits for an answer.
    pub ask: Option<Ask>,
    /// Sub-flow to run before routing on.
    pub call: Option<String>,
    /// Where to go next.
    pub route: Route,
}

/// Where a node leads.
#[derive(Debug)]
pub enum Route {
    /// Only the question's choices lead on (or nothing, for a question every choice of which
    /// has its own `goto`).
    None,
    /// Straight to a node.
    Goto(NodeRef),
    /// First arm whose condition holds; the last arm has none.
    Branch(Vec<(Option<Condition>, NodeRef)>),
    /// The flow ends here.
    End,
}

/// A compiled action.
#[derive(Debug)]
pub enum Action {
    /// Store a variable.
    Set(String, Value),
    /// Switch language.
    SetLang(String),
    /// Open a case.
    OpenCase {
        /// Priority.
        priority: Priority,
        /// Category template with `{var}` placeholders.
        category: Option<String>,
        /// Variable naming the case's region.
        region: Option<String>,
        /// Variable naming the provider.
        provider: Option<String>,
        /// Variables copied into the case.
        fields: Vec<String>,
    },
    /// List providers near a place.
    FindProviders {
        /// Variable holding the place.
        near: String,
        /// Service they must offer.
        service: Option<crate::directory::Service>,
        /// Variable receiving the list.
        save_as: String,
    },
    /// Record a satisfaction answer.
    RecordSurvey {
        /// Variable holding the rating.
        rating: String,
        /// Variable holding the comment.
        comment: Option<String>,
        /// Variable holding the provider id.
        provider: Option<String>,
    },
    /// Start escalation.
    Escalate(String),
    /// Ask for a live counselor.
    Handoff(String),
    /// Erase the conversation.
    Forget,
    /// Remove the service's messages from her chat.
    ClearChat,
}

/// A compiled question.
#[derive(Debug)]
pub struct Ask {
    /// Expected input.
    pub kind: InputKind,
    /// Variable receiving the answer.
    pub save_as: Option<String>,
    /// Options of a choice question.
    pub choices: Vec<Choice>,
    /// Text length bounds in characters.
    pub min_len: usize,
    /// Upper text length bound.
    pub max_len: usize,
    /// Pattern the whole text must match.
    pub pattern: Option<Regex>,
    /// Number bounds.
    pub min: Option<f64>,
    /// Upper number bound.
    pub max: Option<f64>,
    /// Message sent on an invalid answer instead of the default for the input kind.
    pub on_invalid: Option<String>,
    /// Re-asks allowed before the fallback.
    pub retries: u32,
    /// Where to go when retries are used up.
    pub fallback: Option<NodeRef>,
    /// Timeout in seconds and where it leads.
    pub timeout: Option<(u64, NodeRef)>,
}

/// One option of a choice question.
#[derive(Debug)]
pub struct Choice {
    /// Label message id.
    pub label: String,
    /// Value saved when chosen.
    pub value: String,
    /// Node to go to when chosen.
    pub goto: Option<NodeRef>,
}

/// Defaults for question parameters left out of a flow file.
pub mod defaults {
    /// Re-asks after invalid answers before the fallback.
    pub const RETRIES: u32 = 3;
    /// Longest free text accepted, in characters.
    pub const MAX_LEN: usize = 1000;
}
