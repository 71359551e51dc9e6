//! Reading flow files from a directory into their authored form.

use std::fs;
use std::path::{Path, PathBuf};

use serde_saphyr::options::DuplicateKeyPolicy;

use super::model::FlowDoc;
use super::problem::{Problem, ProblemKind};

/// A parsed flow file.
#[derive(Debug)]
pub struct Source {
    /// Where it came from.
    pub path: PathBuf,
    /// Its content.
    pub doc: FlowDoc,
}

/// Flow files in a directory (`*.yaml`, `*.yml`), sorted by name.
pub fn flow_files(dir: &Path) -> Result<Vec<PathBuf>, Problem> {
    let entries = fs::read_dir(dir).map_err(|e| Problem {
        file: dir.to_path_buf(),
        line: 0,
        kind: ProblemKind::Io,
        message: format!("cannot read flows directory: {e}"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Parses one flow file's text.
pub fn parse(path: &Path, text: &str) -> Result<FlowDoc, Problem> {
    // Node ids are map keys: let duplicates through to our own map visitor, which reports them
    // with both lines, instead of stopping at the first.
    let options = serde_saphyr::options! {
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        with_snippet: false,
    };
    serde_saphyr::from_str_with_options::<FlowDoc>(text, options).map_err(|e| {
        let line = e.location().map_or(0, |l| l.line());
        Problem {
            file: path.to_path_buf(),
            line,
            kind: ProblemKind::Yaml,
            message: yaml_message(&e.to_string()),
        }
    })
}

/// serde-saphyr's message repeats the position we already print; keep the first line only.
fn yaml_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or(raw).trim();
    match first.rfind(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first.to_string(),
    }
}

/// Reads and parses every flow file in `dir`; unreadable or malformed files become problems.
pub fn read_dir(dir: &Path) -> (Vec<Source>, Vec<Problem>) {
    let mut sources = Vec::new();
    let mut problems = Vec::new();
    let files = match flow_files(dir) {
        Ok(f) => f,
        Err(p) => return (sources, vec![p]),
    };
    for path in files {
        match fs::read_to_string(&path) {
            Ok(text) => match parse(&path, &text) {
                Ok(doc) => sources.push(Source { path, doc }),
                Err(p) => problems.push(p),
            },
            Err(e) => problems.push(Problem {
                file: path.clone(),
                line: 0,
                kind: ProblemKind::Io,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    (sources, problems)
}
