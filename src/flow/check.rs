//! Turns authored flows into a `FlowSet`, collecting every problem on the way: one pass both
//! validates and compiles, so the checker and the engine can never disagree about what a flow
//! file means.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde_saphyr::Spanned;

use super::compiled::{self, FlowSet, Route, TriggerAction, defaults};
use super::condition::Condition;
use super::load::Source;
use super::model::{self, ActionKind, InputKind, Literal, Priority};
use super::problem::{Problem, ProblemKind};
use super::state::{NodeRef, Value};
use crate::directory::Service;
use crate::i18n::I18n;
use crate::text::fold;

fn line<T>(s: &Spanned<T>) -> u64 {
    s.referenced.line()
}

struct Checker<'a> {
    i18n: &'a I18n,
    problems: Vec<Problem>,
    /// Node ids of every accepted flow, for resolving targets across flows.
    node_ids: HashMap<String, HashSet<String>>,
    /// Where each node is defined, for reporting unreachable ones.
    node_lines: HashMap<NodeRef, (PathBuf, u64)>,
    /// Every Fluent id referenced, with where.
    messages: Vec<(PathBuf, u64, String)>,
    /// Folded trigger keywords already used, with where.
    keywords: HashMap<String, (PathBuf, u64)>,
    /// Flows with a node that failed to compile: their edges are unknown, so reachability
    /// inside them would only produce noise.
    failed_flows: HashSet<String>,
    /// Every `escalate` action's policy, with where.
    policy_refs: Vec<compiled::PolicyRef>,
}

impl Checker<'_> {
    fn report(&mut self, file: &Path, line: u64, kind: ProblemKind, message: impl Into<String>) {
        self.problems.push(Problem { file: file.to_path_buf(), line, kind, message: message.into() });
    }

    fn message(&mut self, file: &Path, id: &Spanned<String>) -> String {
        self.messages.push((file.to_path_buf(), line(id), id.value.clone()));
        id.value.clone()
    }

    /// Resolves `node` (same flow) or `flow:node`.
    fn target(&mut self, file: &Path, flow: &str, raw: &Spanned<String>, what: &str) -> Option<NodeRef> {
        let (target_flow, node) = match raw.value.split_once(':') {
            Some((f, n)) => (f, n),
            None => (flow, raw.value.as_str()),
        };
        let Some(nodes) = self.node_ids.get(target_flow) else {
            self.report(
                file,
                line(raw),
                ProblemKind::UnknownTarget,
                format!("{what} `{}`: there is no flow `{target_flow}`", raw.value),
            );
            return None;
        };
        if !nodes.contains(node) {
            self.report(
                file,
                line(raw),
                ProblemKind::UnknownTarget,
                format!("{what} `{}`: flow `{target_flow}` has no node `{node}`", raw.value),
            );
            return None;
        }
        Some(NodeRef::new(target_flow, node))
    }

    fn lang(&mut self, file: &Path, raw: &Spanned<String>) -> Option<String> {
        if self.i18n.has_lang(&raw.value) {
            Some(raw.value.clone())
        } else {
            let known: Vec<&str> = self.i18n.languages().collect();
            self.report(
                file,
                line(raw),
                ProblemKind::InvalidValue,
                format!("unknown language `{}`; known: {}", raw.value, known.join(", ")),
            );
            None
        }
    }

    fn index(&mut self, sources: &[Source]) -> Vec<usize> {
        let mut accepted = Vec::new();
        let mut flow_lines: HashMap<String, (PathBuf, u64)> = HashMap::new();
        for (i, src) in sources.iter().enumerate() {
            let id = &src.doc.id;
            if let Some((file, first)) = flow_lines.get(&id.value) {
                let message = format!("flow id `{}` is already used at {}:{first}", id.value, file.display());
                self.report(&src.path, line(id), ProblemKind::Duplicate, message);
                continue;
            }
            flow_lines.insert(id.value.clone(), (src.path.clone(), line(id)));
            let mut ids = HashSet::new();
            let mut first_line: HashMap<&str, u64> = HashMap::new();
            for (key, _) in &src.doc.nodes.0 {
                if let Some(first) = first_line.get(key.value.as_str()) {
                    let message = format!("node id `{}` is already used on line {first}", key.value);
                    self.report(&src.path, line(key), ProblemKind::Duplicate, message);
                    continue;
                }
                first_line.insert(&key.value, line(key));
                ids.insert(key.value.clone());
                self.node_lines.insert(NodeRef::new(&id.value, &key.value), (src.path.clone(), line(key)));
            }
            self.node_ids.insert(id.value.clone(), ids);
            accepted.push(i);
        }
        accepted
    }

    fn trigger(
        &mut self,
        file: &Path,
        flow: &str,
        trigger: &Spanned<model::Trigger>,
    ) -> Option<compiled::Trigger> {
        let t = &trigger.value;
        let mut keywords = Vec::new();
        for (lang, words) in &t.keywords {
            if !self.i18n.has_lang(lang) {
                self.report(
                    file,
                    line(trigger),
                    ProblemKind::InvalidValue,
                    format!("unknown language `{lang}` in keywords"),
                );
            }
            for word in words {
                let folded = fold(&word.value);
                if folded.is_empty() {
                    self.report(
                        file,
                        line(word),
                        ProblemKind::InvalidValue,
                        "a keyword needs letters or digits",
                    );
                    continue;
                }
                if let Some((other, at)) = self.keywords.get(&folded) {
                    // The same word in two languages of one trigger is fine; across triggers it
                    // would make the outcome depend on file order.
                    if other != file || !keywords.contains(&folded) {
                        let message = format!(
                            "keyword `{}` is already a trigger at {}:{at}",
                            word.value,
                            other.display()
                        );
                        self.report(file, line(word), ProblemKind::Duplicate, message);
                    }
                    continue;
                }
                self.keywords.insert(folded.clone(), (file.to_path_buf(), line(word)));
                keywords.push(folded);
            }
        }
        // A trigger whose words were all rejected above has been reported already.
        if t.keywords.values().all(Vec::is_empty) {
            self.report(
                file,
                line(trigger),
                ProblemKind::InvalidValue,
                "a trigger needs at least one keyword",
            );
        }
        let action = match (&t.goto, &t.lang) {
            (Some(goto), None) => TriggerAction::Goto(self.target(file, flow, goto, "trigger goto")?),
            (None, Some(lang)) => TriggerAction::Lang(self.lang(file, lang)?),
            _ => {
                self.report(
                    file,
                    line(trigger),
                    ProblemKind::InvalidValue,
                    "a trigger needs exactly one of `goto` or `lang`",
                );
                return None;
            }
        };
        Some(compiled::Trigger { keywords, action })
    }

    fn action(&mut self, file: &Path, action: &Spanned<model::Action>) -> Option<compiled::Action> {
        let a = &action.value;
        let at = line(&a.kind);
        let Some(kind) = ActionKind::from_name(&a.kind.value) else {
            let known: Vec<&str> = ActionKind::ALL.iter().map(|(n, _)| *n).collect();
            self.report(
                file,
                at,
                ProblemKind::UnknownAction,
                format!("unknown action `{}`; known: {}", a.kind.value, known.join(", ")),
            );
            return None;
        };
        let missing = |c: &mut Self, param: &str| {
            c.report(
                file,
                at,
                ProblemKind::UnknownAction,
                format!("action `{}` needs `{param}`", a.kind.value),
            );
        };
        match kind {
            ActionKind::Set => match (&a.var, &a.value) {
                (Some(var), Some(value)) => {
                    let value = match value {
                        Literal::Bool(b) => Value::Bool(*b),
                        Literal::Number(n) => Value::Number(*n),
                        Literal::Text(t) => Value::Text(t.clone()),
                    };
                    Some(compiled::Action::Set(var.clone(), value))
                }
                _ => {
                    missing(self, "var` and `value");
                    None
                }
            },
            ActionKind::SetLang => match &a.lang {
                Some(lang) => self.lang(file, lang).map(compiled::Action::SetLang),
                None => {
                    missing(self, "lang");
                    None
                }
            },
            ActionKind::OpenCase => {
                let Some(priority) = &a.priority else {
                    missing(self, "priority");
                    return None;
                };
                let Some(p) = Priority::from_name(&priority.value) else {
                    self.report(
                        file,
                        line(priority),
                        ProblemKind::InvalidValue,
                        format!("unknown priority `{}`; use urgent, high, normal or low", priority.value),
                    );
                    return None;
                };
                Some(compiled::Action::OpenCase {
                    priority: p,
                    category: a.category.clone(),
                    region: a.region.clone(),
                    provider: a.provider.clone(),
                    fields: a.fields.clone(),
                })
            }
            ActionKind::Escalate => match &a.policy {
                Some(policy) => {
                    let reference =
                        compiled::PolicyRef { file: file.to_path_buf(), line: at, policy: policy.clone() };
                    self.policy_refs.push(reference);
                    Some(compiled::Action::Escalate(policy.clone()))
                }
                None => {
                    missing(self, "policy");
                    None
                }
            },
            ActionKind::Handoff => match &a.service {
                Some(service) => Some(compiled::Action::Handoff(service.clone())),
                None => {
                    missing(self, "service");
                    None
                }
            },
            ActionKind::Forget => Some(compiled::Action::Forget),
            ActionKind::ClearChat => Some(compiled::Action::ClearChat),
            ActionKind::FindProviders => {
                let (Some(near), Some(save_as)) = (&a.near, &a.save_as) else {
                    missing(self, "near` and `save_as");
                    return None;
                };
                let service = match &a.service {
                    Some(name) => match Service::from_name(name) {
                        Some(s) => Some(s),
                        None => {
                            let known: Vec<&str> = Service::ALL.iter().map(|(n, _)| *n).collect();
                            let message = format!("unknown service `{name}`; known: {}", known.join(", "));
                            self.report(file, at, ProblemKind::InvalidValue, message);
                            return None;
                        }
                    },
                    None => None,
                };
                Some(compiled::Action::FindProviders {
                    near: near.clone(),
                    service,
                    save_as: save_as.clone(),
                })
            }
            ActionKind::RecordSurvey => match &a.rating {
                Some(rating) => Some(compiled::Action::RecordSurvey {
                    rating: rating.clone(),
                    comment: a.comment.clone(),
                    provider: a.provider.clone(),
                }),
                None => {
                    missing(self, "rating");
                    None
                }
            },
        }
    }

    fn ask(&mut self, file: &Path, flow: &str, ask: &Spanned<model::Ask>) -> Option<compiled::Ask> {
        let a = &ask.value;
        let Some(kind) = InputKind::from_name(&a.expect.value) else {
            let known: Vec<&str> = InputKind::ALL.iter().map(|(n, _)| *n).collect();
            self.report(
                file,
                line(&a.expect),
                ProblemKind::UnknownInput,
                format!("unknown input `{}`; known: {}", a.expect.value, known.join(", ")),
            );
            return None;
        };
        let mut ok = true;
        if kind == InputKind::Choice && a.choices.is_empty() {
            self.report(file, line(&a.expect), ProblemKind::UnknownInput, "`expect: choice` needs `choices`");
            ok = false;
        }
        if kind != InputKind::Choice && !a.choices.is_empty() {
            self.report(
                file,
                line(&a.choices[0]),
                ProblemKind::UnknownInput,
                format!("`choices` only apply to `expect: choice`, not `{}`", a.expect.value),
            );
            ok = false;
        }
        let text_only = a.min_len.is_some() || a.max_len.is_some() || a.pattern.is_some();
        if kind != InputKind::Text && text_only {
            self.report(
                file,
                line(&a.expect),
                ProblemKind::UnknownInput,
                "`min_len`, `max_len` and `pattern` only apply to `expect: text`",
            );
            ok = false;
        }
        if kind != InputKind::Number && (a.min.is_some() || a.max.is_some()) {
            self.report(
                file,
                line(&a.expect),
                ProblemKind::UnknownInput,
                "`min` and `max` only apply to `expect: number`",
            );
            ok = false;
        }
        let min_len = a.min_len.unwrap_or(1);
        let max_len = a.max_len.unwrap_or(defaults::MAX_LEN);
        if min_len > max_len {
            self.report(
                file,
                line(&a.expect),
                ProblemKind::InvalidValue,
                format!("`min_len` {min_len} is larger than `max_len` {max_len}"),
            );
            ok = false;
        }
        if let (Some(min), Some(max)) = (a.min, a.max)
            && min > max
        {
            self.report(
                file,
                line(&a.expect),
                ProblemKind::InvalidValue,
                format!("`min` {min} is larger than `max` {max}"),
            );
            ok = false;
        }
        let pattern = match &a.pattern {
            // Check the pattern on its own first: wrapped, `a)|(b` would compile and match anything.
            Some(p) => match Regex::new(&p.value).and_then(|_| Regex::new(&format!("^(?:{})$", p.value))) {
                Ok(re) => Some(re),
                Err(e) => {
                    let first = e.to_string().lines().last().unwrap_or_default().trim().to_string();
                    self.report(
                        file,
                        line(p),
                        ProblemKind::InvalidRegex,
                        format!("invalid pattern `{}`: {first}", p.value),
                    );
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let mut choices = Vec::new();
        let mut labels: HashMap<String, u64> = HashMap::new();
        for choice in &a.choices {
            let c = &choice.value;
            if let Some(first) = labels.get(&c.label.value) {
                let message = format!("choice label `{}` is already used on line {first}", c.label.value);
                self.report(file, line(&c.label), ProblemKind::Duplicate, message);
                ok = false;
            }
            labels.insert(c.label.value.clone(), line(&c.label));
            let label = self.message(file, &c.label);
            let goto = match &c.goto {
                Some(g) => match self.target(file, flow, g, "choice goto") {
                    Some(t) => Some(t),
                    None => {
                        ok = false;
                        None
                    }
                },
                None => None,
            };
            let value = c.value.clone().unwrap_or_else(|| label.clone());
            choices.push(compiled::Choice { label, value, goto });
        }
        let on_invalid = a.on_invalid.as_ref().map(|m| self.message(file, m));
        let fallback = match &a.fallback {
            Some(f) => {
                let t = self.target(file, flow, f, "fallback");
                ok &= t.is_some();
                t
            }
            None => None,
        };
        let timeout = match &a.timeout {
            Some(t) => {
                let after = match humantime::parse_duration(&t.value.after.value) {
                    Ok(d) if d >= Duration::from_secs(1) => Some(d.as_secs()),
                    Ok(_) => {
                        self.report(
                            file,
                            line(&t.value.after),
                            ProblemKind::InvalidValue,
                            "a timeout must be at least 1s",
                        );
                        None
                    }
                    Err(e) => {
                        self.report(
                            file,
                            line(&t.value.after),
                            ProblemKind::InvalidValue,
                            format!("invalid duration `{}`: {e}; use e.g. 90s, 30m, 2h", t.value.after.value),
                        );
                        None
                    }
                };
                let goto = self.target(file, flow, &t.value.goto, "timeout goto");
                match (after, goto) {
                    (Some(a), Some(g)) => Some((a, g)),
                    _ => {
                        ok = false;
                        None
                    }
                }
            }
            None => None,
        };
        ok.then(|| compiled::Ask {
            kind,
            save_as: a.save_as.as_ref().map(|s| s.value.clone()),
            choices,
            min_len,
            max_len,
            pattern,
            min: a.min,
            max: a.max,
            on_invalid,
            retries: a.retries.unwrap_or(defaults::RETRIES),
            fallback,
            timeout,
        })
    }

    fn route(&mut self, file: &Path, flow: &str, id: &Spanned<String>, node: &model::Node) -> Option<Route> {
        let ways = [node.goto.is_some(), !node.branch.is_empty(), node.end].iter().filter(|b| **b).count();
        if ways > 1 {
            self.report(
                file,
                line(id),
                ProblemKind::InvalidValue,
                format!("node `{}` may have only one of `goto`, `branch` and `end`", id.value),
            );
            return None;
        }
        if let Some(goto) = &node.goto {
            return self.target(file, flow, goto, "goto").map(Route::Goto);
        }
        if node.end {
            return Some(Route::End);
        }
        if node.branch.is_empty() {
            return Some(Route::None);
        }
        let mut arms = Vec::new();
        let mut ok = true;
        let last = node.branch.len() - 1;
        for (i, arm) in node.branch.iter().enumerate() {
            let cond = match &arm.value.when {
                Some(w) => match Condition::parse(&w.value) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        self.report(file, line(w), ProblemKind::InvalidValue, e.to_string());
                        ok = false;
                        None
                    }
                },
                None if i < last => {
                    self.report(
                        file,
                        line(&arm.value.goto),
                        ProblemKind::InvalidValue,
                        "only the last branch arm may leave out `when`",
                    );
                    ok = false;
                    None
                }
                None => None,
            };
            if i == last && arm.value.when.is_some() {
                self.report(
                    file,
                    line(&arm.value.goto),
                    ProblemKind::DeadEnd,
                    format!(
                        "node `{}`: the last branch arm needs no `when`, so some way always leads on",
                        id.value
                    ),
                );
                ok = false;
            }
            match self.target(file, flow, &arm.value.goto, "branch goto") {
                Some(t) => arms.push((cond, t)),
                None => ok = false,
            }
        }
        ok.then_some(Route::Branch(arms))
    }

    fn node(
        &mut self,
        file: &Path,
        flow: &str,
        id: &Spanned<String>,
        node: &model::Node,
    ) -> Option<compiled::Node> {
        let say = node.say.as_ref().map(|s| self.message(file, s));
        let mut ok = true;
        let mut actions = Vec::new();
        for a in &node.actions {
            match self.action(file, a) {
                Some(a) => actions.push(a),
                None => ok = false,
            }
        }
        let ask = match &node.ask {
            Some(a) => {
                if node.say.is_none() {
                    self.report(
                        file,
                        line(id),
                        ProblemKind::InvalidValue,
                        format!("node `{}` asks a question but has no `say`", id.value),
                    );
                    ok = false;
                }
                if node.call.is_some() {
                    self.report(
                        file,
                        line(id),
                        ProblemKind::InvalidValue,
                        format!("node `{}` may not both `ask` and `call`", id.value),
                    );
                    ok = false;
                }
                let compiled = self.ask(file, flow, a);
                ok &= compiled.is_some();
                compiled
            }
            None => None,
        };
        let call = match &node.call {
            Some(c) if self.node_ids.contains_key(&c.value) => Some(c.value.clone()),
            Some(c) => {
                self.report(
                    file,
                    line(c),
                    ProblemKind::UnknownTarget,
                    format!("call `{}`: there is no flow `{}`", c.value, c.value),
                );
                ok = false;
                None
            }
            None => None,
        };
        let route = self.route(file, flow, id, node);
        if let Some(Route::None) = route {
            let all_choices_lead = node.ask.as_ref().is_some_and(|a| {
                !a.value.choices.is_empty() && a.value.choices.iter().all(|c| c.value.goto.is_some())
            });
            if !all_choices_lead {
                self.report(
                    file,
                    line(id),
                    ProblemKind::DeadEnd,
                    format!("node `{}` has no way forward: add `goto`, `branch` or `end: true`", id.value),
                );
                ok = false;
            }
        }
        let route = route?;
        ok.then_some(compiled::Node { say, actions, ask, call, route })
    }

    fn unreachable(&mut self, set: &FlowSet) {
        let mut seen: HashSet<NodeRef> = HashSet::new();
        let mut queue: VecDeque<NodeRef> = set.flows.keys().filter_map(|f| set.start_of(f)).collect();
        for t in &set.triggers {
            if let TriggerAction::Goto(target) = &t.action {
                queue.push_back(target.clone());
            }
        }
        while let Some(at) = queue.pop_front() {
            if !seen.insert(at.clone()) {
                continue;
            }
            let Some(node) = set.node(&at) else { continue };
            let mut next: Vec<NodeRef> = Vec::new();
            if let Some(ask) = &node.ask {
                next.extend(ask.choices.iter().filter_map(|c| c.goto.clone()));
                next.extend(ask.fallback.clone());
                next.extend(ask.timeout.as_ref().map(|(_, t)| t.clone()));
            }
            if let Some(flow) = &node.call {
                next.extend(set.start_of(flow));
            }
            match &node.route {
                Route::Goto(t) => next.push(t.clone()),
                Route::Branch(arms) => next.extend(arms.iter().map(|(_, t)| t.clone())),
                Route::None | Route::End => {}
            }
            queue.extend(next);
        }
        let mut missing: Vec<(&NodeRef, &(PathBuf, u64))> = self
            .node_lines
            .iter()
            .filter(|(r, _)| !seen.contains(*r) && !self.failed_flows.contains(&r.flow))
            .collect();
        missing.sort_by(|a, b| a.1.cmp(b.1));
        let found: Vec<(PathBuf, u64, String)> = missing
            .into_iter()
            .map(|(r, (file, line))| {
                (
                    file.clone(),
                    *line,
                    format!("node `{}` cannot be reached from the start or any trigger", r.node),
                )
            })
            .collect();
        for (file, line, message) in found {
            self.report(&file, line, ProblemKind::Unreachable, message);
        }
    }

    /// Chains of nodes that only `goto` each other never wait for input: the engine would stop
    /// them at run time, so report them now.
    fn goto_loops(&mut self, set: &FlowSet) {
        let plain_goto = |at: &NodeRef| -> Option<NodeRef> {
            let node = set.node(at)?;
            match (&node.ask, &node.call, &node.route) {
                (None, None, Route::Goto(next)) => Some(next.clone()),
                _ => None,
            }
        };
        let mut reported: HashSet<NodeRef> = HashSet::new();
        let mut starts: Vec<&NodeRef> = self.node_lines.keys().collect();
        starts.sort_by(|a, b| self.node_lines[*a].cmp(&self.node_lines[*b]));
        let mut found = Vec::new();
        for start in starts {
            let mut path = vec![start.clone()];
            let mut at = start.clone();
            while let Some(next) = plain_goto(&at) {
                if let Some(pos) = path.iter().position(|p| *p == next) {
                    let cycle = &path[pos..];
                    if cycle.iter().all(|n| !reported.contains(n)) {
                        reported.extend(cycle.iter().cloned());
                        let first = cycle.iter().min_by(|a, b| self.node_lines[*a].cmp(&self.node_lines[*b]));
                        if let Some(first) = first {
                            let names: Vec<&str> = cycle.iter().map(|n| n.node.as_str()).collect();
                            let (file, line) = self.node_lines[first].clone();
                            found.push((
                                file,
                                line,
                                format!(
                                    "nodes {} go to each other without ever waiting for an answer",
                                    names.join(" -> ")
                                ),
                            ));
                        }
                    }
                    break;
                }
                if path.len() > set.flows.values().map(|f| f.nodes.len()).sum::<usize>() {
                    break;
                }
                path.push(next.clone());
                at = next;
            }
        }
        for (file, line, message) in found {
            self.report(&file, line, ProblemKind::Loop, message);
        }
    }

    fn missing_messages(&mut self, builtin: &[&str]) {
        let langs: Vec<String> = self.i18n.languages().map(str::to_string).collect();
        let refs = std::mem::take(&mut self.messages);
        for (file, line, id) in &refs {
            for lang in &langs {
                if !self.i18n.has_message(lang, id) {
                    self.report(
                        file,
                        *line,
                        ProblemKind::MissingMessage,
                        format!("message `{id}` is missing in locale `{lang}`"),
                    );
                }
            }
        }
        for id in builtin {
            for lang in &langs {
                if !self.i18n.has_message(lang, id) {
                    let dir = self.i18n.dir().join(lang);
                    self.report(
                        &dir,
                        0,
                        ProblemKind::MissingMessage,
                        format!("built-in message `{id}` is missing in locale `{lang}`"),
                    );
                }
            }
        }
    }
}

/// Checks and compiles flows; the set is complete only when no problem was found.
pub fn compile(sources: &[Source], i18n: &I18n, builtin_messages: &[&str]) -> (FlowSet, Vec<Problem>) {
    let mut c = Checker {
        i18n,
        problems: Vec::new(),
        node_ids: HashMap::new(),
        node_lines: HashMap::new(),
        messages: Vec::new(),
        keywords: HashMap::new(),
        failed_flows: HashSet::new(),
        policy_refs: Vec::new(),
    };
    let accepted = c.index(sources);
    let mut set = FlowSet::default();
    for i in accepted {
        let src = &sources[i];
        let flow = src.doc.id.value.clone();
        let file = src.path.as_path();
        if c.target(file, &flow, &src.doc.start, "start").is_none() {
            // Keep checking the rest of the flow so every problem is reported at once.
            c.failed_flows.insert(flow.clone());
        }
        for t in &src.doc.triggers {
            if let Some(t) = c.trigger(file, &flow, t) {
                set.triggers.push(t);
            }
        }
        let mut nodes = HashMap::new();
        for (id, node) in &src.doc.nodes.0 {
            if nodes.contains_key(&id.value) {
                continue;
            }
            match c.node(file, &flow, id, node) {
                Some(n) => {
                    nodes.insert(id.value.clone(), n);
                }
                None => {
                    c.failed_flows.insert(flow.clone());
                }
            }
        }
        set.flows.insert(flow, compiled::Flow { start: src.doc.start.value.clone(), nodes });
    }
    c.unreachable(&set);
    c.goto_loops(&set);
    c.missing_messages(builtin_messages);
    set.policy_refs = std::mem::take(&mut c.policy_refs);
    let mut problems = c.problems;
    problems.sort_by(|a, b| (&a.file, a.line, a.kind).cmp(&(&b.file, b.line, b.kind)));
    problems.dedup();
    (set, problems)
}
