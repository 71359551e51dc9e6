//! The pure step function: `(flows, state, event) -> (state, effects)`. No IO, no clock, no
//! randomness: everything it needs comes in as arguments and everything it wants done goes out
//! as effects, so a conversation can be replayed, tested and reasoned about exactly.

use std::collections::BTreeMap;
use std::sync::Arc;

use thiserror::Error;

use super::compiled::{Action, FlowSet, Node, Route, TriggerAction};
use super::input::{self, Accepted, Answer, Input, interpret};
use super::model::InputKind;
use super::state::{Effect, Event, NodeRef, Reply, State, Value};
use crate::directory::provider::Hours;
use crate::directory::region::RegencyKind;
use crate::directory::{Directory, Found, LiveDirectory, Place, ProviderKind, Service};
use crate::i18n::I18n;
use crate::text::fold;

/// Messages the engine itself sends; every locale must define them.
pub const BUILTIN_MESSAGES: &[&str] = &[
    "answer-yes",
    "answer-no",
    "invalid-choice",
    "invalid-yes-no",
    "invalid-number",
    "invalid-number-range",
    "invalid-number-min",
    "invalid-number-max",
    "invalid-text-short",
    "invalid-text-long",
    "invalid-text-pattern",
    "invalid-location",
    "invalid-region",
    "invalid-place",
    "region-which",
    "error-internal",
    "media-received",
    "counselor-notice",
    "counselor-accept",
    "counselor-pass",
    "counselor-accepted",
    "counselor-taken",
    "counselor-passed",
    "counselor-unknown-code",
    "survivor-accepted",
    "counselor-closed",
    "counselor-noted",
    "counselor-survivor-gone",
    "relay-from-counselor",
    "relay-from-survivor",
    "counselor-help",
    "counselor-idle",
    "counselor-field-set",
    "counselor-field-invalid",
    "counselor-transfer-self",
    "counselor-transfer-unknown",
    "counselor-transferred",
    "counselor-transferred-to-you",
    "counselor-referred",
    "survivor-transferred",
    "survivor-referred",
    "counselor-anonymous-short",
    "survivor-accepted-anonymous",
    "survivor-transferred-anonymous",
    "counselor-contact",
    "counselor-contact-no-number",
    "flood-notice",
    "counselor-survivor-withdrew",
    "provider-entry-name",
    "provider-entry-address",
    "provider-entry-services",
    "provider-entry-hours",
    "provider-entry-phone",
    "provider-entry-whatsapp",
    "provider-entry-distance",
    "hours-always",
    "day-mon",
    "day-tue",
    "day-wed",
    "day-thu",
    "day-fri",
    "day-sat",
    "day-sun",
    "provider-kind-uptd_ppa_province",
    "provider-kind-uptd_ppa_regency",
    "provider-kind-lplpp",
    "provider-kind-national",
    "service-pengaduan",
    "service-penjangkauan",
    "service-pengelolaan_kasus",
    "service-penampungan",
    "service-mediasi",
    "service-pendampingan",
    "service-informasi",
    "service-konsultasi",
    "service-pelatihan",
    "service-jejaring",
];

/// Nodes entered in one step without waiting for input before the step is declared a loop.
pub const MAX_HOPS: usize = 64;
/// Deepest nesting of sub-flow calls.
pub const MAX_DEPTH: usize = 8;
/// Most providers listed by `find_providers`.
pub const MAX_PROVIDERS: usize = 4;

/// Why a step could not complete; the conversation then keeps its previous state.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EngineError {
    /// The flow moved through too many nodes without waiting for input.
    #[error("flow loop: {hops} nodes entered without waiting for input, last `{at}`")]
    Loop {
        /// Last node entered.
        at: NodeRef,
        /// Nodes entered.
        hops: usize,
    },
    /// Sub-flows called each other too deeply.
    #[error("sub-flows nested deeper than {MAX_DEPTH} at `{0}`")]
    TooDeep(NodeRef),
    /// A node or flow referenced at run time does not exist.
    #[error("no node `{0}`")]
    UnknownNode(NodeRef),
    /// No branch arm matched (a checked flow always has a default arm).
    #[error("no branch arm matched at `{0}`")]
    NoRoute(NodeRef),
}

/// The outcome of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The conversation's new state.
    pub state: State,
    /// What the runtime must do, in order.
    pub effects: Vec<Effect>,
}

/// A flow set with its translations and entry flow, ready to step conversations.
#[derive(Debug, Clone)]
pub struct Engine {
    flows: Arc<FlowSet>,
    i18n: Arc<I18n>,
    directory: LiveDirectory,
    entry: NodeRef,
}

enum Hop {
    /// Enter a node: say, act, then wait or move on.
    Enter(NodeRef),
    /// Follow a node's route (after its answer, or after its sub-flow returned).
    Route(NodeRef),
}

impl Engine {
    /// Builds an engine whose new conversations start at flow `entry`.
    pub fn new(
        flows: Arc<FlowSet>,
        i18n: Arc<I18n>,
        directory: Arc<Directory>,
        entry: &str,
    ) -> Result<Self, EngineError> {
        let entry = flows.start_of(entry).ok_or_else(|| EngineError::UnknownNode(NodeRef::new(entry, "")))?;
        Ok(Self { flows, i18n, directory: LiveDirectory::new(directory), entry })
    }

    /// The same flows with another directory (after a provider import).
    pub fn with_directory(&self, directory: Arc<Directory>) -> Self {
        Self { directory: LiveDirectory::new(directory), ..self.clone() }
    }

    /// The regions and providers this engine consults now.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.get()
    }

    /// The directory now, shared.
    pub fn shared_directory(&self) -> Arc<Directory> {
        self.directory.get()
    }

    /// The directory in use, which the server replaces when the stored providers change.
    pub fn live_directory(&self) -> LiveDirectory {
        self.directory.clone()
    }

    /// The translations, shared (for the escalation worker).
    pub fn shared_i18n(&self) -> Arc<I18n> {
        self.i18n.clone()
    }

    /// The flows this engine runs.
    pub fn flows(&self) -> &FlowSet {
        &self.flows
    }

    /// The translations this engine renders with.
    pub fn i18n(&self) -> &I18n {
        &self.i18n
    }

    /// Moves a conversation by one event.
    pub fn step(&self, state: &State, event: &Event) -> Result<Step, EngineError> {
        // One directory for the whole step, even if the providers are replaced meanwhile.
        let mut run =
            Run { engine: self, directory: self.directory.get(), state: state.clone(), effects: Vec::new() };
        run.handle(event)?;
        Ok(Step { state: run.state, effects: run.effects })
    }
}

struct Run<'a> {
    engine: &'a Engine,
    directory: Arc<Directory>,
    state: State,
    effects: Vec<Effect>,
}

impl Run<'_> {
    fn node(&self, at: &NodeRef) -> Result<&Node, EngineError> {
        self.engine.flows.node(at).ok_or_else(|| EngineError::UnknownNode(at.clone()))
    }

    /// The node the conversation waits at, if it still exists in the (possibly redeployed) flows.
    fn waiting(&self) -> Option<NodeRef> {
        let at = self.state.at.as_ref()?;
        let node = self.engine.flows.node(at)?;
        node.ask.is_some().then(|| at.clone())
    }

    fn handle(&mut self, event: &Event) -> Result<(), EngineError> {
        let waiting = self.waiting();
        match event {
            Event::Begin(flow) => {
                let start = self
                    .engine
                    .flows
                    .start_of(flow)
                    .ok_or_else(|| EngineError::UnknownNode(NodeRef::new(flow.clone(), "")))?;
                self.reset();
                self.go(Hop::Enter(start))
            }
            Event::Start | Event::Repeat => match waiting {
                Some(at) => self.prompt(&at),
                None => self.start(),
            },
            Event::Text(text) => {
                let folded = fold(text);
                let trigger = self
                    .engine
                    .flows
                    .triggers
                    .iter()
                    .find(|t| t.keywords.contains(&folded))
                    .map(|t| t.action.clone());
                match (trigger, waiting) {
                    (Some(TriggerAction::Goto(target)), Some(_)) => {
                        self.leave_node();
                        self.state.stack.clear();
                        self.go(Hop::Enter(target))
                    }
                    (Some(TriggerAction::Goto(target)), None) => {
                        // A new conversation: nothing of an ended one carries over.
                        self.reset();
                        self.go(Hop::Enter(target))
                    }
                    (Some(TriggerAction::Lang(lang)), Some(at)) => {
                        self.state.lang = lang;
                        self.prompt(&at)
                    }
                    (Some(TriggerAction::Lang(lang)), None) => {
                        self.state.lang = lang;
                        self.start()
                    }
                    (None, Some(at)) => self.answer(&at, Input::Text(text)),
                    (None, None) => self.start(),
                }
            }
            Event::Media => match waiting {
                Some(at) => {
                    let text = self.render("media-received");
                    self.effects.push(Effect::Send(Reply { text, choices: Vec::new(), expect: None }));
                    self.prompt(&at)
                }
                None => self.start(),
            },
            Event::Choice(i) => match waiting {
                Some(at) => self.answer(&at, Input::Choice(*i)),
                None => self.start(),
            },
            Event::Location { lat, lon } => match waiting {
                Some(at) => self.answer(&at, Input::Location(*lat, *lon)),
                None => self.start(),
            },
            Event::Timeout { seq } => {
                let Some(at) = waiting else { return Ok(()) };
                if self.state.timer != Some(*seq) {
                    // A timer of a question already answered: nothing to do.
                    return Ok(());
                }
                let target =
                    self.node(&at)?.ask.as_ref().and_then(|a| a.timeout.as_ref()).map(|(_, t)| t.clone());
                self.state.timer = None;
                self.state.retries = 0;
                self.state.candidates.clear();
                // She has gone quiet: whatever the timeout leads to ends or restarts the whole
                // conversation, not just the sub-flow it happened in.
                self.state.stack.clear();
                match target {
                    Some(target) => self.go(Hop::Enter(target)),
                    None => Ok(()),
                }
            }
        }
    }

    /// Forgets an ended (or unreadable) conversation, keeping only its language.
    fn reset(&mut self) {
        let lang = std::mem::take(&mut self.state.lang);
        let timer_seq = self.state.timer_seq;
        if self.state.timer.is_some() {
            self.effects.push(Effect::CancelTimer);
        }
        self.state = State::new(lang);
        self.state.timer_seq = timer_seq;
    }

    fn start(&mut self) -> Result<(), EngineError> {
        self.reset();
        self.go(Hop::Enter(self.engine.entry.clone()))
    }

    fn leave_node(&mut self) {
        if self.state.timer.take().is_some() {
            self.effects.push(Effect::CancelTimer);
        }
        self.state.retries = 0;
        self.state.candidates.clear();
    }

    fn render(&self, id: &str) -> String {
        self.engine.i18n.render(&self.state.lang, id, &self.state.vars)
    }

    /// The labels a question offers, in the conversation's language.
    fn labels(&self, node: &Node) -> Vec<String> {
        match node.ask.as_ref().map(|a| a.kind) {
            Some(InputKind::Choice) => {
                node.ask.iter().flat_map(|a| a.choices.iter()).map(|c| self.render(&c.label)).collect()
            }
            Some(InputKind::YesNo) => vec![self.render("answer-yes"), self.render("answer-no")],
            _ => Vec::new(),
        }
    }

    fn say(&mut self, node: &Node) {
        if let Some(id) = &node.say {
            let reply = Reply {
                text: self.render(id),
                choices: self.labels(node),
                expect: node.ask.as_ref().map(|a| a.kind),
            };
            self.effects.push(Effect::Send(reply));
        }
    }

    fn prompt(&mut self, at: &NodeRef) -> Result<(), EngineError> {
        let engine = self.engine;
        let node = engine.flows.node(at).ok_or_else(|| EngineError::UnknownNode(at.clone()))?;
        self.say(node);
        Ok(())
    }

    /// Every rendering of `id` a person might type: her language first, then the others.
    fn forms(&self, id: &str) -> Vec<String> {
        let i18n = &self.engine.i18n;
        let mut forms = vec![self.render(id)];
        for lang in i18n.languages().filter(|l| *l != self.state.lang) {
            forms.push(i18n.render(lang, id, &self.state.vars));
        }
        forms
    }

    fn answer(&mut self, at: &NodeRef, input: Input<'_>) -> Result<(), EngineError> {
        let engine = self.engine;
        let node = engine.flows.node(at).ok_or_else(|| EngineError::UnknownNode(at.clone()))?;
        let Some(ask) = &node.ask else {
            return self.start();
        };
        let labels: Vec<Vec<String>> = match ask.kind {
            InputKind::Choice => ask.choices.iter().map(|c| self.forms(&c.label)).collect(),
            _ => Vec::new(),
        };
        let (yes, no) = match ask.kind {
            InputKind::YesNo => (self.forms("answer-yes"), self.forms("answer-no")),
            _ => (Vec::new(), Vec::new()),
        };
        let picked = self.pick_candidate(input);
        if picked.is_none() {
            self.state.candidates.clear();
        }
        let answer = match picked {
            Some(value) => Answer::Accepted(Accepted { value, choice: None }),
            None => interpret(ask, input, &labels, (&yes, &no), &self.directory.regions),
        };
        match answer {
            Answer::Accepted(accepted) => {
                if let Some(var) = &ask.save_as {
                    self.state.vars.insert(var.clone(), accepted.value);
                }
                self.leave_node();
                let goto = accepted.choice.and_then(|i| ask.choices[i].goto.clone());
                match goto {
                    Some(target) => {
                        let hop = self.jump(at, target);
                        self.go(hop)
                    }
                    None => self.go(Hop::Route(at.clone())),
                }
            }
            Answer::Ambiguous(codes) => {
                let choices = codes.iter().filter_map(|c| self.candidate_label(c)).collect();
                self.state.candidates = codes;
                let text = self.render("region-which");
                self.effects.push(Effect::Send(Reply { text, choices, expect: Some(ask.kind) }));
                Ok(())
            }
            Answer::Invalid(invalid) => {
                self.state.retries += 1;
                if self.state.retries > ask.retries
                    && let Some(fallback) = &ask.fallback
                {
                    self.leave_node();
                    let hop = self.jump(at, fallback.clone());
                    return self.go(hop);
                }
                let mut vars = self.state.vars.clone();
                vars.extend(invalid.args.into_iter().map(|(k, v)| (k.to_string(), v)));
                let id = ask.on_invalid.as_deref().unwrap_or(invalid.message);
                let text = engine.i18n.render(&self.state.lang, id, &vars);
                self.effects.push(Effect::Send(Reply { text, choices: Vec::new(), expect: None }));
                self.say(node);
                Ok(())
            }
        }
    }

    /// How a region is offered when a name was ambiguous: "Kota Banjar, Jawa Barat".
    fn candidate_label(&self, code: &str) -> Option<String> {
        let regions = &self.directory.regions;
        let region = regions.get(code)?;
        Some(match region.kind {
            Some(_) => match regions.get(region.province_code()) {
                Some(province) => format!("{}, {}", region.name, province.name),
                None => region.name.clone(),
            },
            None => region.name.clone(),
        })
    }

    /// Her pick among the regions offered after an ambiguous answer, if that is what she sent.
    fn pick_candidate(&self, input: Input<'_>) -> Option<Value> {
        let candidates = &self.state.candidates;
        if candidates.is_empty() {
            return None;
        }
        let index = match input {
            Input::Choice(i) => Some(i),
            Input::Text(t) => {
                let folded = fold(t);
                let regions = &self.directory.regions;
                // "kota" or "kabupaten" picks the one candidate of that kind.
                let kind = match folded.as_str() {
                    "kota" | "kotamadya" => Some(RegencyKind::Kota),
                    "kabupaten" | "kab" => Some(RegencyKind::Kabupaten),
                    _ => None,
                };
                let of_kind: Vec<usize> = match kind {
                    Some(k) => candidates
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| regions.get(c).is_some_and(|r| r.kind == Some(k)))
                        .map(|(i, _)| i)
                        .collect(),
                    None => Vec::new(),
                };
                match folded.parse::<usize>() {
                    Ok(n) => n.checked_sub(1),
                    Err(_) if of_kind.len() == 1 => Some(of_kind[0]),
                    Err(_) => candidates.iter().position(|c| {
                        self.candidate_label(c).is_some_and(|l| fold(&l) == folded)
                            || self.directory.regions.get(c).is_some_and(|r| fold(&r.name) == folded)
                    }),
                }
            }
            Input::Location(..) => None,
        }?;
        let region = self.directory.regions.get(candidates.get(index)?)?;
        Some(input::region_value(region))
    }

    /// A `goto` into another flow transfers control there for good: the sub-flows being run
    /// are left, so that flow's `end` ends the conversation. (`call` is how to come back.)
    fn jump(&mut self, from: &NodeRef, to: NodeRef) -> Hop {
        if from.flow != to.flow {
            self.state.stack.clear();
        }
        Hop::Enter(to)
    }

    fn act(&mut self, action: &Action) {
        match action {
            Action::Set(var, value) => {
                self.state.vars.insert(var.clone(), value.clone());
            }
            Action::SetLang(lang) => self.state.lang = lang.clone(),
            Action::OpenCase { priority, category, region, provider, fields } => {
                let vars = &self.state.vars;
                let category = category.as_ref().map(|c| substitute(c, vars));
                let region = region.as_ref().and_then(|v| match vars.get(v)? {
                    Value::Region { code, .. } | Value::Text(code) => Some(code.clone()),
                    _ => None,
                });
                let provider = provider.as_ref().and_then(|v| match vars.get(v)? {
                    Value::Text(id) => Some(id.clone()),
                    _ => None,
                });
                let fields = fields.iter().filter_map(|f| Some((f.clone(), vars.get(f)?.clone()))).collect();
                self.effects.push(Effect::OpenCase {
                    priority: *priority,
                    category,
                    region,
                    provider,
                    fields,
                });
            }
            Action::FindProviders { near, service, save_as } => self.find_providers(near, *service, save_as),
            Action::RecordSurvey { rating, comment, provider } => {
                let vars = &self.state.vars;
                let rating = match vars.get(rating) {
                    Some(Value::Number(n)) => Some(*n),
                    Some(Value::Text(t)) => t.parse().ok(),
                    _ => None,
                };
                let text = |name: &Option<String>| match name.as_ref().and_then(|n| vars.get(n)) {
                    Some(Value::Text(t)) => Some(t.clone()),
                    _ => None,
                };
                let (comment, provider) = (text(comment), text(provider));
                self.effects.push(Effect::RecordSurvey { rating, comment, provider });
            }
            Action::Escalate(policy) => self.effects.push(Effect::Escalate { policy: policy.clone() }),
            Action::Handoff(service) => self.effects.push(Effect::Handoff { service: service.clone() }),
            Action::ClearChat => self.effects.push(Effect::ClearChat),
            Action::Forget => {
                self.state.vars.clear();
                self.effects.push(Effect::Forget);
            }
        }
    }

    /// Lists the providers near the place in variable `near` as text in `save_as`, with
    /// `_count`, `_first` (provider id) and `_region` (region code) beside it.
    fn find_providers(&mut self, near: &str, service: Option<Service>, save_as: &str) {
        let directory = self.directory.clone();
        let directory = &*directory;
        let place = match self.state.vars.get(near) {
            Some(Value::Location { lat, lon }) => Place::Pin(*lat, *lon),
            Some(Value::Region { code, .. }) => Place::Region(code.as_str()),
            // Without a place only the national line can be offered.
            _ => Place::Region("-"),
        };
        let found = directory.nearest(place, service, MAX_PROVIDERS);
        let region = match place {
            Place::Region(code) if code != "-" => Some(code.to_string()),
            _ => found.iter().map(|f| f.provider.region.clone()).find(|r| !r.is_empty()),
        };
        let entries: Vec<String> =
            found.iter().enumerate().map(|(i, f)| self.provider_entry(i + 1, f)).collect();
        let first =
            found.iter().find(|f| f.provider.kind != ProviderKind::National).map(|f| f.provider.id.clone());
        let vars = &mut self.state.vars;
        vars.insert(save_as.to_string(), Value::Text(entries.join("\n\n")));
        vars.insert(format!("{save_as}_count"), Value::Number(found.len() as f64));
        match first {
            Some(id) => vars.insert(format!("{save_as}_first"), Value::Text(id)),
            None => vars.remove(&format!("{save_as}_first")),
        };
        match region {
            Some(code) => vars.insert(format!("{save_as}_region"), Value::Text(code)),
            None => vars.remove(&format!("{save_as}_region")),
        };
    }

    fn provider_entry(&self, index: usize, found: &Found<'_>) -> String {
        let p = found.provider;
        let i18n = &self.engine.i18n;
        let lang = &self.state.lang;
        let line = |id: &str, args: &[(&str, Value)]| {
            let vars: BTreeMap<String, Value> =
                args.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
            i18n.render(lang, id, &vars)
        };
        let text = |s: &str| Value::Text(s.to_string());
        let kind = line(&format!("provider-kind-{}", p.kind.as_str()), &[]);
        let mut lines = vec![line(
            "provider-entry-name",
            &[("index", Value::Number(index as f64)), ("name", text(&p.name)), ("kind", text(&kind))],
        )];
        if let Some(km) = found.distance_km {
            lines.push(line("provider-entry-distance", &[("km", Value::Number(km.round().max(1.0)))]));
        }
        if let Some(address) = &p.address {
            lines.push(line("provider-entry-address", &[("address", text(address))]));
        }
        let services: Vec<String> =
            p.services.iter().map(|s| line(&format!("service-{}", s.as_str()), &[])).collect();
        lines.push(line("provider-entry-services", &[("services", text(&services.join(", ")))]));
        lines.push(line("provider-entry-hours", &[("hours", text(&self.hours(&p.hours)))]));
        if let Some(phone) = &p.contacts.phone {
            lines.push(line("provider-entry-phone", &[("phone", text(phone))]));
        }
        if let Some(wa) = &p.contacts.whatsapp {
            lines.push(line("provider-entry-whatsapp", &[("whatsapp", text(wa))]));
        }
        lines.join("\n")
    }

    fn hours(&self, hours: &Hours) -> String {
        if hours.always {
            return self.render("hours-always");
        }
        const DAYS: [&str; 7] = ["day-mon", "day-tue", "day-wed", "day-thu", "day-fri", "day-sat", "day-sun"];
        let day = |d: u8| self.render(DAYS.get(usize::from(d)).copied().unwrap_or("day-mon"));
        let time = |m: u16| format!("{:02}.{:02}", m / 60, m % 60);
        let slots: Vec<String> = hours
            .slots
            .iter()
            .map(|s| {
                let days = if s.from_day == s.to_day {
                    day(s.from_day)
                } else {
                    format!("{}-{}", day(s.from_day), day(s.to_day))
                };
                format!("{days} {}-{}", time(s.open), time(s.close))
            })
            .collect();
        format!("{} {}", slots.join(", "), hours.tz.as_str())
    }

    fn go(&mut self, first: Hop) -> Result<(), EngineError> {
        let engine = self.engine;
        let mut hop = first;
        let mut hops = 0;
        loop {
            hops += 1;
            let at = match &hop {
                Hop::Enter(at) | Hop::Route(at) => at.clone(),
            };
            if hops > MAX_HOPS {
                return Err(EngineError::Loop { at, hops: hops - 1 });
            }
            let node = engine.flows.node(&at).ok_or_else(|| EngineError::UnknownNode(at.clone()))?;
            if let Hop::Enter(_) = hop {
                self.state.at = Some(at.clone());
                self.say(node);
                for action in &node.actions {
                    self.act(action);
                }
                if let Some(ask) = &node.ask {
                    if let Some((after, _)) = &ask.timeout {
                        self.state.timer_seq += 1;
                        self.state.timer = Some(self.state.timer_seq);
                        self.effects.push(Effect::SetTimer { seq: self.state.timer_seq, after_secs: *after });
                    }
                    return Ok(());
                }
                if let Some(flow) = &node.call {
                    if self.state.stack.len() >= MAX_DEPTH {
                        return Err(EngineError::TooDeep(at));
                    }
                    let start = engine
                        .flows
                        .start_of(flow)
                        .ok_or_else(|| EngineError::UnknownNode(NodeRef::new(flow.clone(), "")))?;
                    self.state.stack.push(at);
                    hop = Hop::Enter(start);
                    continue;
                }
            }
            hop = match &node.route {
                Route::Goto(target) => self.jump(&at, target.clone()),
                Route::Branch(arms) => {
                    let vars = &self.state.vars;
                    let target = arms
                        .iter()
                        .find(|(cond, _)| cond.as_ref().is_none_or(|c| c.eval(vars)))
                        .map(|(_, t)| t.clone())
                        .ok_or_else(|| EngineError::NoRoute(at.clone()))?;
                    self.jump(&at, target)
                }
                Route::End | Route::None => match self.state.stack.pop() {
                    Some(caller) => Hop::Route(caller),
                    None => {
                        self.state.at = None;
                        self.effects.push(Effect::Ended);
                        return Ok(());
                    }
                },
            };
        }
    }
}

/// Replaces `{var}` placeholders with variable values; unknown names are left as written.
fn substitute(template: &str, vars: &BTreeMap<String, Value>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match vars.get(name) {
                    Some(v) => out.push_str(&v.to_string()),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}
