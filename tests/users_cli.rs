//! `teduh users` and `teduh audit` through the binary: a token printed once and stored only as
//! a hash, listing without secrets, revoking, and the operator's exports on the record.

use std::process::{Command, Output};

fn teduh(data: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_teduh"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TEDUH_DATA_DIR", data)
        .env_remove("DATABASE_URL")
        .env_remove("TEDUH_CONFIG")
        .env_remove("TEDUH_KEYS")
        .output()
        .expect("run teduh")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn users_get_a_token_once_and_can_be_listed_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    assert!(teduh(dir.path(), &["providers", "import", "providers/example.yaml"]).status.success());
    let add = teduh(
        dir.path(),
        &["users", "add", "dewi.palu", "--role", "counselor", "--provider", "uptd-ppa-palu"],
    );
    assert!(add.status.success(), "{}", err(&add));
    let token = out(&add).trim().to_string();
    assert!(token.starts_with("tdh_") && token.len() == 4 + 12 + 1 + 64, "{token}");
    assert!(err(&add).contains("shown only now"));

    let again = teduh(dir.path(), &["users", "add", "dewi.palu", "--role", "admin"]);
    assert!(!again.status.success());
    assert!(err(&again).contains("exists already"), "{}", err(&again));
    let no_provider = teduh(dir.path(), &["users", "add", "sri", "--role", "supervisor"]);
    assert!(err(&no_provider).contains("give --provider"), "{}", err(&no_provider));
    let bad_role = teduh(dir.path(), &["users", "add", "sri", "--role", "root"]);
    assert!(err(&bad_role).contains("unknown role `root`"), "{}", err(&bad_role));
    let unknown = teduh(dir.path(), &["users", "add", "sri", "--role", "counselor", "--provider", "nope"]);
    assert!(err(&unknown).contains("no provider `nope`"), "{}", err(&unknown));

    let list = out(&teduh(dir.path(), &["users", "list"]));
    assert!(list.contains("dewi.palu") && list.contains("counselor") && list.contains("active"), "{list}");
    assert!(!list.contains(&token[4..16]) && !list.contains("argon2"), "no token or hash listed: {list}");
    let db = std::fs::read(dir.path().join("teduh.db")).unwrap();
    let secret = token.rsplit('_').next().unwrap();
    assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()), "the token is stored only as a hash");

    assert!(teduh(dir.path(), &["users", "revoke", "dewi.palu"]).status.success());
    assert!(out(&teduh(dir.path(), &["users", "list"])).contains("revoked"));
    let twice = teduh(dir.path(), &["users", "revoke", "dewi.palu"]);
    assert!(!twice.status.success() && err(&twice).contains("no active user"));
    let renewed = teduh(dir.path(), &["users", "token", "dewi.palu"]);
    assert!(renewed.status.success());
    assert_ne!(out(&renewed).trim(), token);
    assert!(out(&teduh(dir.path(), &["users", "list"])).contains("active"));
}

#[test]
fn the_operators_exports_are_in_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let export = teduh(dir.path(), &["cases", "export", "--from", "2026-11-01", "--to", "2026-11-23"]);
    assert!(export.status.success(), "{}", err(&export));
    let audit = teduh(dir.path(), &["audit"]);
    assert!(audit.status.success(), "{}", err(&audit));
    let text = out(&audit);
    let row = text.lines().find(|l| l.contains("cases.export")).unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains("cli") && row.contains("operator") && row.contains("from=2026-11-01;to=2026-11-23"),
        "{row}"
    );
}

#[test]
fn a_password_is_set_from_standard_input_and_checked() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    assert!(teduh(dir.path(), &["providers", "import", "providers/example.yaml"]).status.success());
    let add = teduh(dir.path(), &["users", "add", "ops", "--role", "admin"]);
    assert!(add.status.success(), "{}", err(&add));
    let with_input = |args: &[&str], input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_teduh"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("TEDUH_DATA_DIR", dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("TEDUH_CONFIG")
            .env_remove("TEDUH_KEYS")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run teduh");
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let short = with_input(&["users", "password", "ops"], "pendek\n");
    assert!(!short.status.success());
    assert!(err(&short).contains("10 to 256 characters"), "{}", err(&short));
    let nobody = with_input(&["users", "password", "nobody"], "cukup panjang sekali\n");
    assert!(!nobody.status.success());
    assert!(err(&nobody).contains("no user named `nobody`"), "{}", err(&nobody));
    let set = with_input(&["users", "password", "ops"], "cukup panjang sekali\n");
    assert!(set.status.success(), "{}", err(&set));
    assert!(err(&set).contains("password set"));
    let removed = teduh(dir.path(), &["users", "password", "ops", "--remove"]);
    assert!(removed.status.success(), "{}", err(&removed));
}
