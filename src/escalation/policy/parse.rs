//! Reading and checking a policy file, with every problem reported at its line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;
use serde_saphyr::options::DuplicateKeyPolicy;

use super::{Level, MAX_REPEAT, MAX_WAIT, Policies, Policy, REQUIRED, Role, Step};

/// What is wrong with a policy file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolicyErrorKind {
    /// The file cannot be read.
    Io,
    /// YAML syntax or shape error (the file is not checked further).
    Yaml,
    /// A key the format does not have (top level), or a step that is not `key: value`.
    MalformedStep,
    /// A step whose key is not `notify`, `notify_provider`, `wait` or `repeat`.
    UnknownStep,
    /// `notify:` names a role that does not exist.
    UnknownRole,
    /// `notify_provider:` names something other than `province` or `national`.
    UnknownProvider,
    /// A `wait` that is not a duration, is zero, or is longer than [`MAX_WAIT`].
    BadDuration,
    /// `repeat: { times: N }` with N outside 1 to [`MAX_REPEAT`], or repeating steps that have no
    /// wait (they would all go out at once).
    BadRepeat,
    /// A `repeat` with no step before it (first step, or right after another repeat), or whose
    /// steps notify nobody.
    RepeatWithoutSteps,
    /// A policy with no `notify` or `notify_provider` step.
    NeverNotifies,
    /// A `wait` as the last step: nothing follows it, so it would only delay the end.
    TrailingWait,
    /// `urgent` or `normal` is not defined.
    MissingPolicy,
    /// Two policies with the same name.
    DuplicatePolicy,
}

impl PolicyErrorKind {
    /// Short name shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Io => "io",
            Self::Yaml => "yaml",
            Self::MalformedStep => "malformed-step",
            Self::UnknownStep => "unknown-step",
            Self::UnknownRole => "unknown-role",
            Self::UnknownProvider => "unknown-provider",
            Self::BadDuration => "bad-duration",
            Self::BadRepeat => "bad-repeat",
            Self::RepeatWithoutSteps => "repeat-without-steps",
            Self::NeverNotifies => "never-notifies",
            Self::TrailingWait => "trailing-wait",
            Self::MissingPolicy => "missing-policy",
            Self::DuplicatePolicy => "duplicate-policy",
        }
    }
}

/// A problem in a policy file, at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// 1-based line (0 when unknown, e.g. an unreadable file).
    pub line: u64,
    /// What kind of problem.
    pub kind: PolicyErrorKind,
    /// What is wrong, for people.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {} [{}]", self.line, self.message, self.kind.as_str())
    }
}

impl std::error::Error for PolicyError {}

// ---- The authored form ------------------------------------------------------------------------

/// The whole file: `policies:` and nothing else, read by hand so the key's line is known.
struct FileDoc {
    policies: Option<(u64, PolicyMap)>,
    unknown: Vec<Spanned<String>>,
}

impl<'de> Deserialize<'de> for FileDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FileVisitor;
        impl<'de> Visitor<'de> for FileVisitor {
            type Value = FileDoc;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping with `policies:`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FileDoc, A::Error> {
                let mut doc = FileDoc { policies: None, unknown: Vec::new() };
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    if key.value == "policies" && doc.policies.is_none() {
                        doc.policies = Some((key.referenced.line(), map.next_value::<PolicyMap>()?));
                    } else {
                        map.next_value::<IgnoredAny>()?;
                        doc.unknown.push(key);
                    }
                }
                Ok(doc)
            }
        }
        deserializer.deserialize_map(FileVisitor)
    }
}

/// Policies in file order, duplicates kept so they can be reported with both lines.
struct PolicyMap(Vec<(Spanned<String>, PolicyDoc)>);

impl<'de> Deserialize<'de> for PolicyMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = PolicyMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of policy names to policies")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PolicyMap, A::Error> {
                let mut policies = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let policy = map.next_value::<PolicyDoc>()?;
                    policies.push((key, policy));
                }
                Ok(PolicyMap(policies))
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDoc {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    office_hours_only: bool,
    steps: Vec<Spanned<StepDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RepeatDoc {
    times: Spanned<i64>,
}

/// A step as written. Read leniently so that one bad step does not hide the others.
#[derive(Debug)]
enum StepDoc {
    Notify(Spanned<String>),
    NotifyProvider(Spanned<String>),
    Wait(Spanned<String>),
    Repeat(Spanned<RepeatDoc>),
    /// A key that is not a step.
    Unknown(Spanned<String>),
    /// A plain word such as `- notify` instead of `- notify: primary`.
    Bare(String),
    /// `- {}`.
    Empty,
    /// Several keys in one step: whether the first one notifies, and the second and later keys.
    Several {
        notifies: bool,
        extra: Vec<Spanned<String>>,
    },
}

const STEP_KEYS: &str = "notify, notify_provider, wait or repeat";

impl<'de> Deserialize<'de> for StepDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StepVisitor;
        impl<'de> Visitor<'de> for StepVisitor {
            type Value = StepDoc;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a step such as `notify: primary` or `wait: 2m`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StepDoc, E> {
                Ok(StepDoc::Bare(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StepDoc, A::Error> {
                let mut first = None;
                let mut extra = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    if first.is_some() {
                        map.next_value::<IgnoredAny>()?;
                        extra.push(key);
                        continue;
                    }
                    first = Some(match key.value.as_str() {
                        "notify" => StepDoc::Notify(map.next_value()?),
                        "notify_provider" => StepDoc::NotifyProvider(map.next_value()?),
                        "wait" => StepDoc::Wait(map.next_value()?),
                        "repeat" => StepDoc::Repeat(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            StepDoc::Unknown(key)
                        }
                    });
                }
                Ok(match first {
                    None => StepDoc::Empty,
                    Some(step) if !extra.is_empty() => StepDoc::Several {
                        notifies: matches!(step, StepDoc::Notify(_) | StepDoc::NotifyProvider(_)),
                        extra,
                    },
                    Some(step) => step,
                })
            }
        }
        deserializer.deserialize_any(StepVisitor)
    }
}

// ---- Checking ---------------------------------------------------------------------------------

fn line<T>(s: &Spanned<T>) -> u64 {
    s.referenced.line()
}

/// serde-saphyr's message repeats the position we already report; keep the first line only.
fn yaml_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or(raw).trim();
    match first.rfind(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}

struct Checker {
    errors: Vec<PolicyError>,
}

impl Checker {
    fn report(&mut self, line: u64, kind: PolicyErrorKind, message: impl Into<String>) {
        self.errors.push(PolicyError { line, kind, message: message.into() });
    }

    fn duration(&mut self, text: &Spanned<String>) -> Option<Duration> {
        let at = line(text);
        match humantime::parse_duration(text.value.trim()) {
            Ok(d) if d.is_zero() => {
                self.report(at, PolicyErrorKind::BadDuration, "a wait must be longer than 0s");
                None
            }
            Ok(d) if d > MAX_WAIT => {
                self.report(
                    at,
                    PolicyErrorKind::BadDuration,
                    format!(
                        "a wait of `{}` is longer than 7 days; the case would sit unattended",
                        text.value
                    ),
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.report(
                    at,
                    PolicyErrorKind::BadDuration,
                    format!("invalid duration `{}`: {e}; use e.g. 90s, 2m, 1h", text.value),
                );
                None
            }
        }
    }

    /// Checks one policy; `None` when it has problems (they are reported).
    fn policy(&mut self, name: &Spanned<String>, doc: &PolicyDoc) -> Option<Policy> {
        let before = self.errors.len();
        let mut steps: Vec<(u64, Step)> = Vec::new();
        // Whether anything notifies at all, counting steps that have other problems, so a typo
        // in a role is not also reported as "never notifies".
        let mut any_notify = false;
        // Steps since the previous repeat (or the start): how many, whether one notifies,
        // whether one waits.
        let (mut section_len, mut section_notifies, mut section_waits) = (0usize, false, false);
        for step in &doc.steps {
            let at = line(step);
            let parsed = match &step.value {
                StepDoc::Notify(role) => {
                    any_notify = true;
                    section_notifies = true;
                    match Role::from_name(role.value.trim()) {
                        Some(r) => Some(Step::Notify(r)),
                        None => {
                            let known: Vec<&str> = Role::ALL.iter().map(|(n, _)| *n).collect();
                            self.report(
                                line(role),
                                PolicyErrorKind::UnknownRole,
                                format!("unknown role `{}`; use {}", role.value, known.join(", ")),
                            );
                            None
                        }
                    }
                }
                StepDoc::NotifyProvider(level) => {
                    any_notify = true;
                    section_notifies = true;
                    match Level::TARGETS.iter().find(|(n, _)| *n == level.value.trim()) {
                        Some((_, l)) => Some(Step::NotifyProvider(*l)),
                        None => {
                            self.report(
                                line(level),
                                PolicyErrorKind::UnknownProvider,
                                format!(
                                    "unknown provider `{}`; use province (the province's UPTD PPA) or \
                                     national (SAPA 129)",
                                    level.value
                                ),
                            );
                            None
                        }
                    }
                }
                StepDoc::Wait(text) => {
                    section_waits = true;
                    self.duration(text).map(Step::Wait)
                }
                StepDoc::Repeat(repeat) => {
                    let times = &repeat.value.times;
                    if section_len == 0 {
                        self.report(
                            line(repeat),
                            PolicyErrorKind::RepeatWithoutSteps,
                            "a repeat needs steps before it (since the start or the previous repeat)",
                        );
                    } else if !section_notifies {
                        self.report(
                            line(repeat),
                            PolicyErrorKind::RepeatWithoutSteps,
                            "the steps this repeat repeats notify nobody",
                        );
                    } else if !section_waits {
                        self.report(
                            line(repeat),
                            PolicyErrorKind::BadRepeat,
                            "the steps this repeat repeats have no wait, so every round would go out \
                             at once; add a wait before the repeat",
                        );
                    }
                    let ok = u8::try_from(times.value).ok().filter(|t| (1..=MAX_REPEAT).contains(t));
                    if ok.is_none() {
                        self.report(
                            line(times),
                            PolicyErrorKind::BadRepeat,
                            format!("repeat times must be 1 to {MAX_REPEAT}, not {}", times.value),
                        );
                    }
                    (section_len, section_notifies, section_waits) = (0, false, false);
                    ok.map(|times| Step::Repeat { times })
                }
                StepDoc::Unknown(key) => {
                    self.report(
                        line(key),
                        PolicyErrorKind::UnknownStep,
                        format!("unknown step `{}`; use {STEP_KEYS}", key.value),
                    );
                    None
                }
                StepDoc::Bare(word) => {
                    let message = if ["notify", "notify_provider", "wait", "repeat"].contains(&word.as_str())
                    {
                        format!("step `{word}` needs a value, e.g. `notify: primary`, `wait: 2m`")
                    } else {
                        format!("unknown step `{word}`; use {STEP_KEYS}")
                    };
                    self.report(at, PolicyErrorKind::UnknownStep, message);
                    None
                }
                StepDoc::Empty => {
                    self.report(at, PolicyErrorKind::MalformedStep, format!("empty step; use {STEP_KEYS}"));
                    None
                }
                StepDoc::Several { notifies, extra } => {
                    any_notify |= *notifies;
                    section_notifies |= *notifies;
                    for key in extra {
                        self.report(
                            line(key),
                            PolicyErrorKind::MalformedStep,
                            format!("`{}` must be a step of its own: start it with `- `", key.value),
                        );
                    }
                    None
                }
            };
            if !matches!(step.value, StepDoc::Repeat(_)) {
                section_len += 1;
            }
            if let Some(s) = parsed {
                steps.push((at, s));
            }
        }
        if !any_notify {
            self.report(
                line(name),
                PolicyErrorKind::NeverNotifies,
                format!("policy `{}` never notifies anyone; add e.g. `- notify: primary`", name.value),
            );
        }
        if let Some(last) = doc.steps.last()
            && matches!(last.value, StepDoc::Wait(_))
        {
            self.report(
                line(last),
                PolicyErrorKind::TrailingWait,
                "a wait as the last step only delays the end of the chain; remove it or notify \
                 someone after it",
            );
        }
        (self.errors.len() == before).then(|| Policy {
            name: name.value.clone(),
            description: doc.description.clone(),
            office_hours_only: doc.office_hours_only,
            steps: steps.into_iter().map(|(_, s)| s).collect(),
        })
    }
}

/// Parses and checks a policy file. Either every policy is valid and `urgent` and `normal`
/// exist, or every problem found is returned, sorted by line. A YAML syntax or shape error stops
/// the check at that error.
pub fn parse_policies(text: &str) -> Result<Policies, Vec<PolicyError>> {
    // Policy names are keys: let duplicates through to our own map visitor, which reports them.
    let options = serde_saphyr::options! {
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        with_snippet: false,
    };
    let doc: FileDoc = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        vec![PolicyError {
            line: e.location().map_or(0, |l| l.line()),
            kind: PolicyErrorKind::Yaml,
            message: yaml_message(&e.to_string()),
        }]
    })?;
    let mut checker = Checker { errors: Vec::new() };
    for key in &doc.unknown {
        checker.report(
            line(key),
            PolicyErrorKind::MalformedStep,
            format!("unknown key `{}`; a policy file has only `policies:`", key.value),
        );
    }
    let mut by_name: BTreeMap<String, Policy> = BTreeMap::new();
    let mut first_line: BTreeMap<String, u64> = BTreeMap::new();
    let (policies_line, policies) = match &doc.policies {
        Some((at, map)) => (*at, map.0.as_slice()),
        None => {
            checker.report(1, PolicyErrorKind::MissingPolicy, "the file has no `policies:`");
            (1, &[][..])
        }
    };
    for (name, policy) in policies {
        if let Some(first) = first_line.get(&name.value) {
            let message = format!("policy `{}` is defined twice (first at line {first})", name.value);
            checker.report(line(name), PolicyErrorKind::DuplicatePolicy, message);
            continue;
        }
        first_line.insert(name.value.clone(), line(name));
        if let Some(p) = checker.policy(name, policy) {
            by_name.insert(name.value.clone(), p);
        }
    }
    if doc.policies.is_some() {
        for required in REQUIRED {
            if !first_line.contains_key(required) {
                checker.report(
                    policies_line,
                    PolicyErrorKind::MissingPolicy,
                    format!("policy `{required}` is missing; a policy file must define urgent and normal"),
                );
            }
        }
    }
    if checker.errors.is_empty() {
        Ok(Policies { by_name })
    } else {
        let mut errors = checker.errors;
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

/// Reads and checks a policy file.
pub fn load_policies(path: &Path) -> Result<Policies, Vec<PolicyError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![PolicyError {
            line: 0,
            kind: PolicyErrorKind::Io,
            message: format!("cannot read {}: {e}", path.display()),
        }]
    })?;
    parse_policies(&text)
}
