//! Declarative conversation flows: the authored model, loading, checking, and the pure engine.

pub mod check;
pub mod compiled;
pub mod condition;
pub mod engine;
pub mod input;
pub mod load;
pub mod model;
pub mod problem;
pub mod schema;
pub mod state;

use std::path::Path;

pub use compiled::FlowSet;
pub use engine::{Engine, EngineError, Step};
pub use problem::{Problem, ProblemKind, Problems};
pub use state::{Effect, Event, NodeRef, Reply, State, Value};

use crate::i18n::I18n;

/// Loads, checks and compiles every flow in `dir` against the translations; every problem found
/// in the flows is returned at once.
pub fn load_flow_set(dir: &Path, i18n: &I18n) -> Result<FlowSet, Problems> {
    let (sources, mut problems) = load::read_dir(dir);
    let (set, more) = check::compile(&sources, i18n, engine::BUILTIN_MESSAGES);
    problems.extend(more);
    if problems.is_empty() {
        Ok(set)
    } else {
        problems.sort_by(|a, b| (&a.file, a.line, a.kind).cmp(&(&b.file, b.line, b.kind)));
        Err(Problems(problems))
    }
}

/// Problems with the escalation policies the flows name: each `escalate` must name one of
/// `known` (the policies file's names).
pub fn check_policy_refs<'a>(set: &FlowSet, known: impl IntoIterator<Item = &'a str>) -> Vec<Problem> {
    let known: Vec<&str> = known.into_iter().collect();
    let mut problems: Vec<Problem> = set
        .policy_refs
        .iter()
        .filter(|r| !known.contains(&r.policy.as_str()))
        .map(|r| Problem {
            file: r.file.clone(),
            line: r.line,
            kind: ProblemKind::UnknownTarget,
            message: format!("escalate: no escalation policy `{}` (known: {})", r.policy, known.join(", ")),
        })
        .collect();
    problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    problems
}

/// Everything `teduh flows check` reports: locale problems (as `fluent` problems) and flow
/// problems together, so one run shows them all. With `entry`, that flow must exist too.
pub fn check_all(
    flows_dir: &Path,
    locales_dir: &Path,
    default_lang: &str,
    entry: Option<&str>,
) -> Result<(I18n, FlowSet), Problems> {
    let (i18n, locale_errors) = I18n::load_lenient(locales_dir, default_lang);
    let mut problems: Vec<Problem> = locale_errors
        .into_iter()
        .map(|e| Problem { file: e.file, line: e.line, kind: ProblemKind::Fluent, message: e.message })
        .collect();
    let Some(i18n) = i18n else {
        return Err(Problems(problems));
    };
    match load_flow_set(flows_dir, &i18n) {
        Ok(set) => {
            let missing_entry = entry.filter(|e| !set.flows.contains_key(*e));
            if let Some(entry) = missing_entry {
                problems.push(Problem {
                    file: flows_dir.to_path_buf(),
                    line: 0,
                    kind: ProblemKind::UnknownTarget,
                    message: format!(
                        "the entry flow `{entry}` is not among the flows ({}); set TEDUH_ENTRY_FLOW",
                        set.flow_ids().join(", ")
                    ),
                });
            } else if set.flows.is_empty() {
                problems.push(Problem {
                    file: flows_dir.to_path_buf(),
                    line: 0,
                    kind: ProblemKind::Io,
                    message: "no flow files (*.yaml) found".to_string(),
                });
            }
            if problems.is_empty() { Ok((i18n, set)) } else { Err(Problems(problems)) }
        }
        Err(Problems(more)) => {
            problems.extend(more);
            problems.sort_by(|a, b| (&a.file, a.line, a.kind).cmp(&(&b.file, b.line, b.kind)));
            Err(Problems(problems))
        }
    }
}
