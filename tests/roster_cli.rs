//! `teduh roster import` and `teduh roster now` through the binary.

use std::process::{Command, Output};

fn teduh(data: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_teduh"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TEDUH_DATA_DIR", data)
        .env_remove("DATABASE_URL")
        .env_remove("TEDUH_CONFIG")
        .output()
        .expect("run teduh")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn import_check_and_show_who_is_on_call() {
    let dir = tempfile::tempdir().unwrap();
    assert!(teduh(dir.path(), &["providers", "import", "providers/example.yaml"]).status.success());
    let check = teduh(dir.path(), &["roster", "import", "rosters/example.csv", "--check"]);
    assert!(check.status.success(), "{}", stdout(&check));
    assert!(stdout(&check).ends_with("15 shift(s) for 4 provider(s): no problems\n"), "{}", stdout(&check));
    let now = teduh(dir.path(), &["roster", "now"]);
    assert!(stdout(&now).contains("no roster"), "nothing stored by --check: {}", stdout(&now));

    let import = teduh(dir.path(), &["roster", "import", "rosters/example.csv"]);
    assert_eq!(stdout(&import), "imported 15 shift(s) for 4 provider(s) from rosters/example.csv\n");
    let now = teduh(dir.path(), &["roster", "now", "uptd-ppa-palu"]);
    assert!(now.status.success());
    let text = stdout(&now);
    assert!(text.lines().all(|l| l.starts_with("uptd-ppa-palu\t")), "{text}");
    assert!(!text.contains("+62") && !text.contains("1000000"), "no phone numbers or chat ids: {text}");
    let unknown = teduh(dir.path(), &["roster", "now", "nope"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown provider `nope`"));
}

#[test]
fn a_bad_roster_is_refused_whole_with_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    assert!(teduh(dir.path(), &["providers", "import", "providers/example.yaml"]).status.success());
    assert!(teduh(dir.path(), &["roster", "import", "rosters/example.csv"]).status.success());
    // "nobody on call at <now>" moves with the clock: compare without the times.
    let times = regex::Regex::new(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}").unwrap();
    let now =
        |d: &std::path::Path| times.replace_all(&stdout(&teduh(d, &["roster", "now"])), "T").into_owned();
    let before = now(dir.path());
    let file = "tests/fixtures/roster/several_problems.csv";
    let bad = teduh(dir.path(), &["roster", "import", file]);
    assert_eq!(bad.status.code(), Some(1));
    let out = stdout(&bad);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() >= 3, "{out}");
    for line in &lines[..lines.len() - 1] {
        let rest = line.strip_prefix(&format!("{file}:")).unwrap_or_else(|| panic!("{line}"));
        let number: u64 = rest.split(':').next().unwrap().parse().unwrap_or_else(|_| panic!("{line}"));
        assert!(number >= 1, "{line}");
    }
    assert!(lines.last().unwrap().ends_with("nothing was imported"), "{out}");
    assert_eq!(now(dir.path()), before, "nothing half-imported");
}
