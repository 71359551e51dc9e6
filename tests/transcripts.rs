//! Transcript tests: each file in `tests/transcripts/` is a whole conversation through the
//! console channel, the person's lines marked `> `, everything else what Teduh answers. The
//! inputs are replayed against the shipped flows and the example provider directory, and the
//! output must match the file exactly (case codes aside, which are random).
//!
//! Header lines `#! lang: en`, `#! flow: NAME` choose the language and the starting flow.
//! After changing content, `TEDUH_BLESS=1 cargo test --test transcripts` rewrites the files with
//! the actual output: read the diff before committing it.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use teduh::channel::console::{self, ConsoleOptions};
use teduh::clock::ManualClock;
use teduh::directory::{Directory, Regions, provider};
use teduh::runtime::Runtime;
use teduh::store::Store;

struct Transcript {
    header: Vec<String>,
    lang: Option<String>,
    flow: Option<String>,
    inputs: Vec<String>,
    expected: String,
}

fn parse(text: &str) -> Transcript {
    let mut t = Transcript {
        header: Vec::new(),
        lang: None,
        flow: None,
        inputs: Vec::new(),
        expected: String::new(),
    };
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("#!") {
            t.header.push(line.to_string());
            match h.trim().split_once(':') {
                Some(("lang", v)) => t.lang = Some(v.trim().to_string()),
                Some(("flow", v)) => t.flow = Some(v.trim().to_string()),
                _ => panic!("unknown header line `{line}`"),
            }
            continue;
        }
        if let Some(input) = line.strip_prefix("> ") {
            t.inputs.push(input.to_string());
        }
        t.expected.push_str(line);
        t.expected.push('\n');
    }
    t
}

fn mask(text: &str) -> String {
    regex::Regex::new(r"K-[0-9A-F]{6}").expect("valid regex").replace_all(text, "K-XXXXXX").into_owned()
}

async fn replay(t: &Transcript) -> String {
    let regions = Regions::embedded().unwrap();
    let providers = provider::read_directory(&common::crate_path("providers/example.yaml"), &regions)
        .expect("example directory");
    let directory = Directory { regions, providers };
    let flow = t.flow.as_deref().unwrap_or("helpline");
    let base = common::engine_from(&common::crate_path("flows"), &common::crate_path("locales"), flow);
    let engine = base.with_directory(Arc::new(directory));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    let runtime = Runtime::new(engine, store, Arc::new(ManualClock::new(1_700_000_000_000)));
    let options = ConsoleOptions { user: "t".into(), lang: t.lang.clone(), echo: true, prompt: false };
    let mut input = String::new();
    for line in &t.inputs {
        input.push_str(line);
        input.push('\n');
    }
    let mut output = Vec::new();
    console::run(&runtime, &options, input.as_bytes(), &mut output).await.expect("console session");
    mask(&String::from_utf8(output).expect("utf-8"))
}

fn files() -> Vec<PathBuf> {
    let dir = common::crate_path("tests/transcripts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("transcripts directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
}

async fn check(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).expect("read transcript");
    let t = parse(&text);
    let actual = replay(&t).await;
    if mask(&t.expected) == actual {
        return Ok(());
    }
    if std::env::var("TEDUH_BLESS").is_ok_and(|v| v == "1") {
        let mut blessed = t.header.join("\n");
        if !blessed.is_empty() {
            blessed.push('\n');
        }
        blessed.push_str(&actual);
        std::fs::write(path, blessed).expect("write transcript");
        return Ok(());
    }
    let diff: Vec<String> = mask(&t.expected)
        .lines()
        .zip(actual.lines().chain(std::iter::repeat("<missing>")))
        .enumerate()
        .filter(|(_, (e, a))| e != a)
        .take(3)
        .map(|(i, (e, a))| format!("line {}:\n  expected: {e}\n  actual:   {a}", i + 1))
        .collect();
    Err(format!("{}:\n{}\n--- actual output ---\n{actual}", path.display(), diff.join("\n")))
}

#[tokio::test]
async fn every_transcript_replays_exactly() {
    let files = files();
    assert!(
        files.len() >= 14,
        "expected transcripts for every path in both languages, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        if let Err(e) = check(file).await {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{} transcript(s) differ:\n\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn each_path_has_a_transcript_in_both_languages() {
    let names: Vec<String> =
        files().iter().map(|p| p.file_stem().unwrap().to_string_lossy().into_owned()).collect();
    for path in ["menu", "information", "consultation", "emergency", "nearest", "safety", "survey"] {
        for lang in ["id", "en"] {
            assert!(
                names.iter().any(|n| n.starts_with(&format!("{path}-")) && n.ends_with(&format!(".{lang}"))),
                "no transcript {path}-*.{lang}.txt"
            );
        }
    }
}
