//! Problems found while loading and checking flows, each with its file and line.

use std::fmt;
use std::path::PathBuf;

/// The kind of a flow problem; `flows check` groups and tests by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProblemKind {
    /// The file cannot be read.
    Io,
    /// YAML syntax or shape error.
    Yaml,
    /// Fluent syntax error in a locale file.
    Fluent,
    /// A `goto`, `call`, `start` or trigger names a node or flow that does not exist.
    UnknownTarget,
    /// No path reaches the node.
    Unreachable,
    /// A Fluent message id is missing in a locale.
    MissingMessage,
    /// A `pattern` is not a valid regular expression.
    InvalidRegex,
    /// `do:` names an action that does not exist, or its parameters are wrong.
    UnknownAction,
    /// `expect:` names an input kind that does not exist, or its parameters are wrong.
    UnknownInput,
    /// Two nodes, flows or trigger keywords share an id.
    Duplicate,
    /// A value is malformed: a duration, a condition, a language, a priority.
    InvalidValue,
    /// A node has no way forward.
    DeadEnd,
    /// Nodes lead to each other by plain `goto`s without ever waiting for input.
    Loop,
}

impl ProblemKind {
    /// Short name shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Io => "io",
            Self::Yaml => "yaml",
            Self::Fluent => "fluent",
            Self::UnknownTarget => "unknown-target",
            Self::Unreachable => "unreachable",
            Self::MissingMessage => "missing-message",
            Self::InvalidRegex => "invalid-regex",
            Self::UnknownAction => "unknown-action",
            Self::UnknownInput => "unknown-input",
            Self::Duplicate => "duplicate",
            Self::InvalidValue => "invalid-value",
            Self::DeadEnd => "dead-end",
            Self::Loop => "loop",
        }
    }
}

/// One problem in a flow or locale file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// File the problem is in.
    pub file: PathBuf,
    /// 1-based line, 0 when the problem concerns the whole file.
    pub line: u64,
    /// Kind of problem.
    pub kind: ProblemKind,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: ", self.file.display(), self.line)?;
        } else {
            write!(f, "{}: ", self.file.display())?;
        }
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

/// Every problem found, sorted by file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            writeln!(f, "{p}")?;
        }
        write!(f, "{} problem(s) found", self.0.len())
    }
}

impl std::error::Error for Problems {}
