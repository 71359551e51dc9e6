//! Integration tests of the flow validator (`teduh flows check`).
//!
//! Every case lives in `tests/fixtures/check/<case>/` with its own `flows/` and its own
//! `locales/{id,en}/`; the engine's built-in messages, which every locale must define, are shared
//! in `tests/fixtures/check/locales/` and merged with the case's translations into a temporary
//! locales directory, so cases never see each other's messages.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use teduh::flow::{Problem, ProblemKind, load_flow_set};
use teduh::i18n::I18n;

const LANGS: [&str; 2] = ["id", "en"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check")
}

/// A fixture case: its flows directory and its merged locales directory.
struct Case {
    flows: PathBuf,
    locales: TempDir,
}

impl Case {
    fn new(name: &str) -> Self {
        let root = fixtures().join(name);
        assert!(root.is_dir(), "no fixture case {}", root.display());
        let locales = tempfile::tempdir().expect("temporary locales directory");
        for lang in LANGS {
            let to = locales.path().join(lang);
            fs::create_dir_all(&to).unwrap();
            for from in [fixtures().join("locales"), root.join("locales")] {
                for entry in fs::read_dir(from.join(lang)).unwrap() {
                    let path = entry.unwrap().path();
                    let name = path.file_name().unwrap();
                    assert!(
                        !to.join(name).exists(),
                        "{} would overwrite a shared locale file",
                        path.display()
                    );
                    fs::copy(&path, to.join(name)).unwrap();
                }
            }
        }
        Self { flows: root.join("flows"), locales }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.flows.join(name)
    }

    /// Loads the case; it must fail, and every problem it reports is returned.
    fn problems(&self) -> Vec<Problem> {
        let i18n = I18n::load(self.locales.path(), "id").unwrap_or_else(|errors| {
            panic!("fixture locales do not load: {errors:?}");
        });
        match load_flow_set(&self.flows, &i18n) {
            Ok(set) => panic!(
                "expected problems in {}, but it compiled to {:?}",
                self.flows.display(),
                set.flow_ids()
            ),
            Err(problems) => problems.0,
        }
    }
}

fn problems_in(name: &str) -> (Case, Vec<Problem>) {
    let case = Case::new(name);
    let problems = case.problems();
    (case, problems)
}

/// File, line and kind of each problem, the part tests compare exactly.
fn located(problems: &[Problem]) -> Vec<(PathBuf, u64, ProblemKind)> {
    problems.iter().map(|p| (p.file.clone(), p.line, p.kind)).collect()
}

/// Guards the hard-coded line numbers: line `line` (1-based) of `file` must contain `text`.
fn assert_line_has(file: &Path, line: u64, text: &str) {
    let content = fs::read_to_string(file).unwrap();
    let at = content
        .lines()
        .nth(usize::try_from(line).unwrap() - 1)
        .unwrap_or_else(|| panic!("{} has no line {line}", file.display()));
    assert!(
        at.contains(text),
        "fixture {}:{line} is `{at}`, expected it to contain `{text}`",
        file.display()
    );
}

fn assert_mentions(problem: &Problem, words: &[&str]) {
    for word in words {
        assert!(problem.message.contains(word), "message of {problem} does not mention {word}");
    }
}

/// Asserts that the case reports exactly one problem, of `kind` at `file:line`, and returns it.
fn single(name: &str, file: &str, line: u64, kind: ProblemKind) -> Problem {
    let (case, problems) = problems_in(name);
    let path = case.file(file);
    assert_eq!(located(&problems), vec![(path, line, kind)], "problems: {problems:#?}");
    problems.into_iter().next().unwrap()
}

#[test]
fn yaml_syntax_error() {
    let p = single("yaml_syntax", "broken.yaml", 6, ProblemKind::Yaml);
    assert_line_has(&p.file, 6, "goto: b: c");
    assert_mentions(&p, &["mapping values are not allowed"]);
}

#[test]
fn yaml_unknown_key_is_a_yaml_problem_at_its_line() {
    let p = single("yaml_shape", "broken.yaml", 5, ProblemKind::Yaml);
    assert_line_has(&p.file, 5, "sya: hello");
    assert_mentions(&p, &["`sya`"]);
}

#[test]
fn unknown_goto_target() {
    let p = single("unknown_goto", "main.yaml", 9, ProblemKind::UnknownTarget);
    assert_line_has(&p.file, 9, "goto: nowhere");
    assert_mentions(&p, &["`nowhere`", "flow `main`"]);
}

#[test]
fn unknown_cross_flow_targets() {
    let (case, problems) = problems_in("cross_flow_target");
    let main = case.file("main.yaml");
    // `other:intro` on line 9 exists and must not be reported.
    assert_line_has(&main, 9, "goto: other:intro");
    assert_eq!(
        located(&problems),
        vec![(main.clone(), 10, ProblemKind::UnknownTarget), (main.clone(), 13, ProblemKind::UnknownTarget),],
        "problems: {problems:#?}"
    );
    assert_line_has(&main, 10, "goto: other:missing");
    assert_mentions(&problems[0], &["`other:missing`", "flow `other`", "`missing`"]);
    assert_line_has(&main, 13, "goto: ghost:intro");
    assert_mentions(&problems[1], &["`ghost:intro`", "no flow `ghost`"]);
}

#[test]
fn call_of_a_missing_flow() {
    let p = single("call_missing", "main.yaml", 8, ProblemKind::UnknownTarget);
    assert_line_has(&p.file, 8, "call: ghost");
    assert_mentions(&p, &["call `ghost`", "no flow `ghost`"]);
}

#[test]
fn unreachable_node() {
    let p = single("unreachable", "main.yaml", 7, ProblemKind::Unreachable);
    assert_line_has(&p.file, 7, "orphan:");
    assert_mentions(&p, &["`orphan`"]);
}

#[test]
fn message_missing_in_one_locale() {
    let (case, problems) = problems_in("missing_message");
    let main = case.file("main.yaml");
    // Every kind of message reference is checked: a choice label, `on_invalid` and `say`.
    // `hello` and `opt-a` exist in both locales and are not reported.
    let expected = [
        (10, "label: opt-only-id", "`opt-only-id`"),
        (11, "on_invalid: retry-only-id", "`retry-only-id`"),
        (13, "say: bye-only-id", "`bye-only-id`"),
    ];
    assert_eq!(
        located(&problems),
        expected
            .iter()
            .map(|(line, _, _)| (main.clone(), *line, ProblemKind::MissingMessage))
            .collect::<Vec<_>>(),
        "problems: {problems:#?}"
    );
    for (p, (line, text, id)) in problems.iter().zip(expected) {
        assert_line_has(&main, line, text);
        // Present in `id`, so only `en` may be named.
        assert_mentions(p, &[id, "locale `en`"]);
        assert!(!p.message.contains("`id`"), "{p}");
    }
}

#[test]
fn invalid_regex_pattern() {
    let p = single("invalid_regex", "main.yaml", 9, ProblemKind::InvalidRegex);
    assert_line_has(&p.file, 9, "pattern:");
    assert_mentions(&p, &["`[0-9`"]);
}

#[test]
fn unknown_action() {
    let p = single("unknown_action", "main.yaml", 8, ProblemKind::UnknownAction);
    assert_line_has(&p.file, 8, "do: explode");
    assert_mentions(&p, &["`explode`", "open_case"]);
}

#[test]
fn unknown_input() {
    let p = single("unknown_input", "main.yaml", 8, ProblemKind::UnknownInput);
    assert_line_has(&p.file, 8, "expect: telepathy");
    assert_mentions(&p, &["`telepathy`", "yes_no"]);
}

#[test]
fn duplicate_node_id_in_one_file() {
    let p = single("duplicate_node", "main.yaml", 10, ProblemKind::Duplicate);
    assert_line_has(&p.file, 10, "welcome:");
    assert_line_has(&p.file, 4, "welcome:");
    assert_mentions(&p, &["`welcome`", "line 4"]);
}

#[test]
fn duplicate_flow_id_across_files() {
    let (case, problems) = problems_in("duplicate_flow");
    let (first, second) = (case.file("a.yaml"), case.file("b.yaml"));
    // Only the second file is reported; the first keeps the id and is checked normally.
    assert_eq!(
        located(&problems),
        vec![(second.clone(), 2, ProblemKind::Duplicate)],
        "problems: {problems:#?}"
    );
    assert_line_has(&second, 2, "id: main");
    assert_line_has(&first, 1, "id: main");
    assert_mentions(&problems[0], &["`main`", &format!("{}:1", first.display())]);
}

#[test]
fn duplicate_trigger_keyword() {
    let (case, problems) = problems_in("duplicate_keyword");
    let (a, b) = (case.file("a.yaml"), case.file("b.yaml"));
    assert_eq!(
        located(&problems),
        vec![(a.clone(), 8, ProblemKind::Duplicate), (b.clone(), 7, ProblemKind::Duplicate),],
        "problems: {problems:#?}"
    );
    assert_line_has(&a, 4, "tolong");
    assert_line_has(&a, 4, "darurat");
    // Within one file, across languages and letter case.
    assert_line_has(&a, 8, "en: [Tolong]");
    assert_mentions(&problems[0], &["`Tolong`", &format!("{}:4", a.display())]);
    // Across files, after folding case and punctuation.
    assert_line_has(&b, 7, "\"DARURAT!\"");
    assert_mentions(&problems[1], &["`DARURAT!`", &format!("{}:4", a.display())]);
}

#[test]
fn node_without_a_way_forward_is_a_dead_end() {
    let p = single("dead_end", "main.yaml", 7, ProblemKind::DeadEnd);
    assert_line_has(&p.file, 7, "question:");
    assert_mentions(&p, &["`question`"]);
}

#[test]
fn branch_whose_last_arm_has_a_condition_is_a_dead_end() {
    let p = single("dead_end_branch", "main.yaml", 11, ProblemKind::DeadEnd);
    assert_line_has(&p.file, 10, "when: ok == false");
    assert_line_has(&p.file, 11, "goto: done");
    assert_mentions(&p, &["`question`", "last branch arm"]);
}

#[test]
fn nodes_that_only_goto_each_other_are_a_loop() {
    let p = single("goto_loop", "main.yaml", 7, ProblemKind::Loop);
    assert_line_has(&fixtures().join("goto_loop/flows/main.yaml"), 7, "again:");
    assert_mentions(&p, &["again -> round"]);
}

#[test]
fn invalid_duration_and_condition() {
    let (case, problems) = problems_in("invalid_value");
    let main = case.file("main.yaml");
    assert_eq!(
        located(&problems),
        vec![(main.clone(), 9, ProblemKind::InvalidValue), (main.clone(), 11, ProblemKind::InvalidValue),],
        "problems: {problems:#?}"
    );
    assert_line_has(&main, 9, "after: soon");
    assert_mentions(&problems[0], &["duration `soon`"]);
    assert_line_has(&main, 11, "when: ok ==");
    assert_mentions(&problems[1], &["condition `ok ==`"]);
}

/// One directory with many different mistakes: all of them come back at once, sorted by file and
/// line, and a malformed file does not stop the others from being checked.
#[test]
fn every_problem_of_a_directory_is_reported_at_once_sorted() {
    let (case, problems) = problems_in("several");
    let f = |name| case.file(name);
    let expected = vec![
        (f("a.yaml"), 8, ProblemKind::MissingMessage, "say: untranslated"),
        (f("a.yaml"), 13, ProblemKind::UnknownAction, "do: explode"),
        (f("a.yaml"), 16, ProblemKind::InvalidRegex, "pattern:"),
        (f("a.yaml"), 17, ProblemKind::UnknownTarget, "goto: nowhere"),
        (f("b.yaml"), 4, ProblemKind::Duplicate, "DARURAT"),
        (f("b.yaml"), 10, ProblemKind::Unreachable, "orphan:"),
        (f("c.yaml"), 7, ProblemKind::UnknownInput, "mind_reading"),
        (f("c.yaml"), 13, ProblemKind::InvalidValue, "after: \"-5m\""),
        (f("c.yaml"), 15, ProblemKind::DeadEnd, "stuck:"),
        (f("d.yaml"), 5, ProblemKind::Yaml, "say: hello: there"),
    ];
    for (file, line, _, text) in &expected {
        assert_line_has(file, *line, text);
    }
    assert_eq!(
        located(&problems),
        expected.iter().map(|(file, line, kind, _)| (file.clone(), *line, *kind)).collect::<Vec<_>>(),
        "problems: {problems:#?}"
    );
    let names = [
        "`untranslated`",
        "`explode`",
        "`(unclosed`",
        "`nowhere`",
        "`DARURAT`",
        "`orphan`",
        "`mind_reading`",
        "`-5m`",
        "`stuck`",
        "mapping values",
    ];
    for (p, name) in problems.iter().zip(names) {
        assert_mentions(p, &[name]);
    }
}

fn teduh() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_teduh"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    // Configuration from the environment must not change what is checked, or break the run.
    for var in [
        "TEDUH_CONFIG",
        "TEDUH_BIND",
        "TEDUH_DATA_DIR",
        "DATABASE_URL",
        "TEDUH_FLOWS_DIR",
        "TEDUH_LOCALES_DIR",
        "TEDUH_DEFAULT_LANG",
        "TEDUH_ENTRY_FLOW",
        "LOG_FORMAT",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn check_with_binary(flows: &Path, locales: &Path) -> (Output, String) {
    let output = teduh()
        .args(["flows", "check"])
        .arg(flows)
        .arg("--locales")
        .arg(locales)
        .output()
        .expect("run teduh");
    let stdout = String::from_utf8(output.stdout.clone()).expect("UTF-8 output");
    (output, stdout)
}

#[test]
fn binary_prints_file_line_kind_message_and_fails() {
    let case = Case::new("several");
    let (output, stdout) = check_with_binary(&case.flows, case.locales.path());
    assert!(!output.status.success(), "exit status {}", output.status);
    assert_eq!(output.status.code(), Some(1));

    let lines: Vec<&str> = stdout.lines().collect();
    let (summary, reports) = lines.split_last().expect("some output");
    assert_eq!(*summary, format!("{} problem(s) found", reports.len()));
    assert_eq!(reports.len(), 10, "stdout:\n{stdout}");

    let known = [
        ProblemKind::Io,
        ProblemKind::Yaml,
        ProblemKind::Fluent,
        ProblemKind::UnknownTarget,
        ProblemKind::Unreachable,
        ProblemKind::MissingMessage,
        ProblemKind::InvalidRegex,
        ProblemKind::UnknownAction,
        ProblemKind::UnknownInput,
        ProblemKind::Duplicate,
        ProblemKind::InvalidValue,
        ProblemKind::DeadEnd,
    ]
    .map(ProblemKind::as_str);
    let mut parsed = Vec::new();
    for line in reports {
        // path:LINE: kind: message
        let (location, rest) = line.split_once(": ").unwrap_or_else(|| panic!("no location in `{line}`"));
        let (path, number) =
            location.rsplit_once(':').unwrap_or_else(|| panic!("no line number in `{line}`"));
        let number: u64 =
            number.parse().unwrap_or_else(|_| panic!("line number of `{line}` is not a number"));
        assert!(number >= 1, "`{line}`");
        let (kind, message) = rest.split_once(": ").unwrap_or_else(|| panic!("no kind in `{line}`"));
        assert!(known.contains(&kind), "unknown kind `{kind}` in `{line}`");
        assert!(!message.trim().is_empty(), "empty message in `{line}`");
        assert!(Path::new(path).is_file(), "`{path}` is not a file");
        parsed.push((PathBuf::from(path), number, kind.to_string()));
    }
    let flows = &case.flows;
    assert!(parsed.contains(&(flows.join("a.yaml"), 17, "unknown-target".into())));
    assert!(parsed.contains(&(flows.join("b.yaml"), 10, "unreachable".into())));
    assert!(parsed.contains(&(flows.join("c.yaml"), 15, "dead-end".into())));
    assert!(parsed.contains(&(flows.join("d.yaml"), 5, "yaml".into())));
    let mut sorted = parsed.clone();
    sorted.sort();
    assert_eq!(parsed, sorted, "output is not sorted by file and line");
}

#[test]
fn binary_reports_locale_errors_together_with_flow_problems() {
    let case = Case::new("unknown_goto");
    let broken = case.locales.path().join("en/zz-broken.ftl");
    fs::write(&broken, "ok = Baik\n\nbroken = { $x ! }\nlater = Nanti\n").unwrap();
    let (output, stdout) = check_with_binary(&case.flows, case.locales.path());
    assert_eq!(output.status.code(), Some(1), "stdout:\n{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with(&format!("{}:3: fluent: ", broken.display()))),
        "stdout:\n{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.contains(": unknown-target: ")),
        "the flow problem is reported in the same run; stdout:\n{stdout}"
    );
    assert!(stdout.ends_with("2 problem(s) found\n"), "stdout:\n{stdout}");
}

#[test]
fn binary_accepts_the_shipped_flows() {
    let output =
        teduh().args(["flows", "check", "flows", "--locales", "locales"]).output().expect("run teduh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit status {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let files = fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("flows"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .count();
    assert!(files > 0);
    assert_eq!(stdout.trim_end(), format!("{files} flow(s) in {files} file(s): no problems"));
}

// Regression tests for bugs found while the validator was written.

#[test]
fn bad_start_does_not_hide_the_other_problems_of_its_flow() {
    let (case, problems) = problems_in("bug_bad_start");
    let main = case.file("main.yaml");
    assert_eq!(
        located(&problems),
        vec![
            (main.clone(), 2, ProblemKind::UnknownTarget),
            (main.clone(), 7, ProblemKind::UnknownAction),
            (main.clone(), 8, ProblemKind::UnknownTarget),
        ],
        "problems: {problems:#?}"
    );
}

#[test]
fn pattern_with_unbalanced_parentheses_is_invalid() {
    let p = single("bug_pattern_parens", "main.yaml", 8, ProblemKind::InvalidRegex);
    assert_mentions(&p, &["`[0-9]+)|(.*`"]);
}

#[test]
fn unknown_choice_target_is_not_also_a_dead_end() {
    let p = single("bug_choice_dead_end", "main.yaml", 10, ProblemKind::UnknownTarget);
    assert_mentions(&p, &["`nowhere`"]);
}

#[test]
fn trigger_with_only_duplicate_keywords_is_only_a_duplicate() {
    let p = single("bug_trigger_only_duplicates", "main.yaml", 6, ProblemKind::Duplicate);
    assert_mentions(&p, &["`Darurat`"]);
}

#[test]
fn binary_reports_an_unclosed_placeable_on_its_own_line() {
    let case = Case::new("unknown_goto");
    let broken = case.locales.path().join("en/zz-broken.ftl");
    fs::write(&broken, "ok = Baik\n\nbroken = { $x\nlater = Nanti\n").unwrap();
    let (output, stdout) = check_with_binary(&case.flows, case.locales.path());
    assert_eq!(output.status.code(), Some(1), "stdout:\n{stdout}");
    // Problems are sorted by path, so where the temp dir sorts against the checkout decides the order.
    let prefix = format!("{}:3: fluent: ", broken.display());
    assert!(stdout.lines().any(|line| line.starts_with(&prefix)), "stdout:\n{stdout}");
}

#[test]
fn binary_requires_the_configured_entry_flow_and_some_flows() {
    let output =
        teduh().args(["flows", "check"]).env("TEDUH_ENTRY_FLOW", "nowhere").output().expect("run teduh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "stdout:\n{stdout}");
    assert!(stdout.starts_with("flows: unknown-target: the entry flow `nowhere`"), "stdout:\n{stdout}");
    let empty = tempfile::tempdir().unwrap();
    let locales = fixtures().join("locales");
    let output = teduh()
        .args(["flows", "check"])
        .arg(empty.path())
        .arg("--locales")
        .arg(&locales)
        .output()
        .expect("run teduh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "stdout:\n{stdout}");
    assert!(stdout.contains(": io: no flow files"), "stdout:\n{stdout}");
}

#[test]
fn escalating_under_a_policy_that_does_not_exist_is_reported_at_its_line() {
    let case = Case::new("unknown_policy");
    let (output, stdout) = check_with_binary(&case.flows, case.locales.path());
    assert_eq!(output.status.code(), Some(1), "stdout:\n{stdout}");
    let file = case.file("main.yaml");
    assert!(
        stdout.starts_with(&format!(
            "{}:8: unknown-target: escalate: no escalation policy `urgnet` (known: normal, urgent)",
            file.display()
        )),
        "stdout:\n{stdout}"
    );
}

#[test]
fn an_operators_policies_file_decides_which_policies_exist() {
    let case = Case::new("unknown_policy");
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies.yaml");
    let file = |custom_step: &str| {
        format!(
            "policies:\n  urgent:\n    steps:\n      - notify: primary\n  normal:\n    steps:\n      - notify: primary\n  \
             urgnet:\n    steps:\n      - {custom_step}\n"
        )
    };
    fs::write(&policies, file("notify: primary")).unwrap();
    let run = |policies: &Path| {
        let output = teduh()
            .args(["flows", "check"])
            .arg(&case.flows)
            .arg("--locales")
            .arg(case.locales.path())
            .arg("--policies")
            .arg(policies)
            .output()
            .expect("run teduh");
        (output.status.code(), String::from_utf8_lossy(&output.stdout).to_string())
    };
    let (code, stdout) = run(&policies);
    assert_eq!(code, Some(0), "stdout:\n{stdout}");
    fs::write(&policies, file("notify: nobody")).unwrap();
    let (code, stdout) = run(&policies);
    assert_eq!(code, Some(1), "stdout:\n{stdout}");
    let expected = format!("{}:10: invalid-value: escalation policies:", policies.display());
    assert!(stdout.starts_with(&expected), "stdout:\n{stdout}");
}
