//! Serde types of flow files as written by authors, with source positions kept for `flows check`.
//!
//! These types mirror the YAML closely and accept anything well-formed; meaning (known inputs,
//! known actions, existing targets) is checked by `flow::check`, which can then report every
//! problem at once instead of stopping at the first one.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

/// One flow file: an id, a start node, optional global triggers and the nodes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Teduh flow", description = "One conversation flow of the Teduh helpline.")]
pub struct FlowDoc {
    /// Flow id, unique across the flow set; other flows reach it as `id:node`.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// Node where the flow begins.
    #[schemars(with = "String")]
    pub start: Spanned<String>,
    /// Keyword triggers checked on every message before the current node, in every flow.
    #[serde(default)]
    #[schemars(with = "Vec<Trigger>")]
    pub triggers: Vec<Spanned<Trigger>>,
    /// The nodes of the flow, by id.
    pub nodes: NodeMap,
}

/// Nodes in file order, duplicates kept so the validator can report them.
#[derive(Debug, Default)]
pub struct NodeMap(pub Vec<(Spanned<String>, Node)>);

impl<'de> Deserialize<'de> for NodeMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeMapVisitor;
        impl<'de> Visitor<'de> for NodeMapVisitor {
            type Value = NodeMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of node ids to nodes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeMap, A::Error> {
                let mut nodes = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let node = map.next_value::<Node>()?;
                    nodes.push((key, node));
                }
                Ok(NodeMap(nodes))
            }
        }
        deserializer.deserialize_map(NodeMapVisitor)
    }
}

impl JsonSchema for NodeMap {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NodeMap".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let node = generator.subschema_for::<Node>();
        schemars::json_schema!({
            "type": "object",
            "description": "Nodes by id. Ids may contain letters, digits, '_', '-' and '.'.",
            "additionalProperties": node,
        })
    }
}

/// A keyword trigger: jumps to a node or switches the language.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// Keywords per language code (`id`, `en`); a message that is exactly one of them fires.
    #[schemars(with = "BTreeMap<String, Vec<String>>")]
    pub keywords: BTreeMap<String, Vec<Spanned<String>>>,
    /// Node to jump to: `node` in this flow or `flow:node` in another.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub goto: Option<Spanned<String>>,
    /// Language to switch the conversation to; the current question is asked again in it.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub lang: Option<Spanned<String>>,
}

/// A node. What it does is given by which keys it has: `ask` waits for an answer, `call` runs a
/// sub-flow, `branch` chooses by variables, `goto` moves on, `end` finishes.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Fluent message id sent when the node is entered.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub say: Option<Spanned<String>>,
    /// Actions run after `say`, in order.
    #[serde(default)]
    #[schemars(with = "Vec<Action>")]
    pub actions: Vec<Spanned<Action>>,
    /// Waits for an answer of the given kind.
    #[serde(default)]
    #[schemars(with = "Option<Ask>")]
    pub ask: Option<Spanned<Ask>>,
    /// Runs another flow from its start; when it ends, this node's `goto`/`branch` continue.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub call: Option<Spanned<String>>,
    /// Next node: `node` in this flow or `flow:node` in another.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub goto: Option<Spanned<String>>,
    /// Conditional next nodes; the first whose `when` holds wins, the last must have no `when`.
    #[serde(default)]
    #[schemars(with = "Vec<Branch>")]
    pub branch: Vec<Spanned<Branch>>,
    /// Ends the flow: a sub-flow returns to its caller, the main flow ends the conversation.
    #[serde(default)]
    pub end: bool,
}

/// A question: which input is expected, where the answer is saved, what happens on bad input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ask {
    /// Kind of input expected.
    #[schemars(with = "InputKind")]
    pub expect: Spanned<String>,
    /// Variable that receives the answer.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub save_as: Option<Spanned<String>>,
    /// Options for `expect: choice`.
    #[serde(default)]
    #[schemars(with = "Vec<Choice>")]
    pub choices: Vec<Spanned<Choice>>,
    /// Shortest accepted text, in characters (`text`, default 1).
    #[serde(default)]
    pub min_len: Option<usize>,
    /// Longest accepted text, in characters (`text`, default 1000).
    #[serde(default)]
    pub max_len: Option<usize>,
    /// Regular expression the whole text must match (`text`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub pattern: Option<Spanned<String>>,
    /// Smallest accepted number (`number`).
    #[serde(default)]
    pub min: Option<f64>,
    /// Largest accepted number (`number`).
    #[serde(default)]
    pub max: Option<f64>,
    /// Fluent message id sent before asking again after an invalid answer.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub on_invalid: Option<Spanned<String>>,
    /// How many times to ask again after invalid answers before `fallback` (default 3).
    #[serde(default)]
    pub retries: Option<u32>,
    /// Node to go to when the retries are used up; without it the question is asked again.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub fallback: Option<Spanned<String>>,
    /// Moves on when no answer comes in time.
    #[serde(default)]
    #[schemars(with = "Option<Timeout>")]
    pub timeout: Option<Spanned<Timeout>>,
}

/// One option of a choice question.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// Fluent message id of the option's label.
    #[schemars(with = "String")]
    pub label: Spanned<String>,
    /// Value saved in `save_as` (default: the label id).
    #[serde(default)]
    pub value: Option<String>,
    /// Node to go to when chosen (default: the node's `goto`/`branch`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub goto: Option<Spanned<String>>,
}

/// Where to go when a question gets no answer in time.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeout {
    /// Duration such as `90s`, `30m`, `2h`, `1d`.
    #[schemars(with = "String")]
    pub after: Spanned<String>,
    /// Node to go to.
    #[schemars(with = "String")]
    pub goto: Spanned<String>,
}

/// One arm of a `branch`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    /// Condition on variables, e.g. `in_danger == true and kind != "psikis"`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub when: Option<Spanned<String>>,
    /// Node to go to when the condition holds (or always, without `when`).
    #[schemars(with = "String")]
    pub goto: Spanned<String>,
}

/// An action; `do` names it and the other keys are its parameters.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Which action.
    #[serde(rename = "do")]
    #[schemars(with = "ActionKind")]
    pub kind: Spanned<String>,
    /// Variable name (`set`).
    #[serde(default)]
    pub var: Option<String>,
    /// Value to store (`set`): text, number or true/false.
    #[serde(default)]
    pub value: Option<Literal>,
    /// Case priority (`open_case`).
    #[serde(default)]
    #[schemars(with = "Option<Priority>")]
    pub priority: Option<Spanned<String>>,
    /// Case category (`open_case`), e.g. `fisik`; `{var}` is replaced by a variable's value.
    #[serde(default)]
    pub category: Option<String>,
    /// Escalation policy name (`escalate`).
    #[serde(default)]
    pub policy: Option<String>,
    /// Service asked for (`handoff`), e.g. `konsultasi`.
    #[serde(default)]
    pub service: Option<String>,
    /// Language code (`set_lang`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub lang: Option<Spanned<String>>,
    /// Variable holding a location or region (`find_providers`).
    #[serde(default)]
    pub near: Option<String>,
    /// Variable receiving the result (`find_providers`); `_count`, `_first` and `_region`
    /// variables are set beside it.
    #[serde(default)]
    pub save_as: Option<String>,
    /// Variable holding the region of the case (`open_case`): a region answer or a region code.
    #[serde(default)]
    pub region: Option<String>,
    /// Variable holding the provider id (`open_case`, `record_survey`).
    #[serde(default)]
    pub provider: Option<String>,
    /// Variables copied into the case record (`open_case`).
    #[serde(default)]
    pub fields: Vec<String>,
    /// Variable holding the 1-5 rating (`record_survey`).
    #[serde(default)]
    pub rating: Option<String>,
    /// Variable holding the optional comment (`record_survey`).
    #[serde(default)]
    pub comment: Option<String>,
}

/// A literal value in a flow file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Literal {
    /// true or false.
    Bool(bool),
    /// A number.
    Number(f64),
    /// Text.
    Text(String),
}

/// Input kinds a question can expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// One of the listed `choices`, by number or by label text.
    Choice,
    /// Free text within `min_len`..`max_len`, optionally matching `pattern`.
    Text,
    /// A number within `min`..`max`.
    Number,
    /// Yes or no in Indonesian or English (ya/iya/tidak/nggak/yes/no/1/2).
    YesNo,
    /// A shared location pin.
    Location,
    /// A regency/city or province name, matched forgivingly; asks back when ambiguous.
    Region,
    /// A shared location pin or a regency/city or province name.
    Place,
}

impl InputKind {
    /// Every input kind with its name in flow files.
    pub const ALL: [(&'static str, InputKind); 7] = [
        ("choice", InputKind::Choice),
        ("text", InputKind::Text),
        ("number", InputKind::Number),
        ("yes_no", InputKind::YesNo),
        ("location", InputKind::Location),
        ("region", InputKind::Region),
        ("place", InputKind::Place),
    ];

    /// Looks an input kind up by its name in flow files.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }
}

/// Actions a node can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Stores `value` in variable `var`.
    Set,
    /// Switches the conversation language to `lang`.
    SetLang,
    /// Opens a case with `priority` and `category`.
    OpenCase,
    /// Starts the escalation chain `policy` for the conversation's case.
    Escalate,
    /// Asks for a live counselor for `service`.
    Handoff,
    /// Erases the conversation and what is stored about the person.
    Forget,
    /// Lists the providers nearest to `near` offering `service` into `save_as`.
    FindProviders,
    /// Records a satisfaction answer: `rating` (1-5), optional `comment`, `provider`.
    RecordSurvey,
    /// Removes the service's messages from her chat where the channel allows (Telegram: the
    /// last 48 hours), so a quick exit leaves less behind on her phone.
    ClearChat,
}

impl ActionKind {
    /// Every action with its name in flow files.
    pub const ALL: [(&'static str, ActionKind); 9] = [
        ("set", ActionKind::Set),
        ("set_lang", ActionKind::SetLang),
        ("open_case", ActionKind::OpenCase),
        ("escalate", ActionKind::Escalate),
        ("handoff", ActionKind::Handoff),
        ("forget", ActionKind::Forget),
        ("find_providers", ActionKind::FindProviders),
        ("record_survey", ActionKind::RecordSurvey),
        ("clear_chat", ActionKind::ClearChat),
    ];

    /// Looks an action up by its name in flow files.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }
}

/// Case priorities, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Danger now: escalate at once, day or night.
    Urgent,
    /// Serve within hours.
    High,
    /// Office-hours consultation.
    Normal,
    /// Information follow-up.
    Low,
}

impl Priority {
    /// Parses a priority name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "urgent" => Some(Self::Urgent),
            "high" => Some(Self::High),
            "normal" => Some(Self::Normal),
            "low" => Some(Self::Low),
            _ => None,
        }
    }

    /// The name used in flow files and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Urgent => "urgent",
            Self::High => "high",
            Self::Normal => "normal",
            Self::Low => "low",
        }
    }
}
