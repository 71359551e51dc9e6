//! Encryption at rest: what she wrote, what she was sent, her answers and the counselors' free
//! text are sealed in the database; keys rotate without losing anything; embedded mode makes an
//! owner-only key file, and PostgreSQL mode refuses to start without a key.

mod common;

use std::process::Command;
use std::sync::Arc;

use teduh::channel::{Inbound, InboundEvent};
use teduh::clock::{Clock, ManualClock};
use teduh::flow::Event;
use teduh::runtime::Runtime;
use teduh::store::{Db, StepWrite, Store};
use teduh::vault::Keyring;

const HER: &str = "6281200003333";

async fn say(runtime: &Runtime, id: &str, text: &str) {
    let inbound = Inbound {
        channel: "whatsapp".into(),
        provider_id: Some(id.into()),
        contact: HER.into(),
        event: InboundEvent::Text { text: text.into() },
        lang_hint: None,
    };
    runtime.accept(&inbound).await.unwrap();
    runtime.process_pending(10).await.unwrap();
}

/// An emergency report from Kota Palu, a counselor's note and field, a survey comment.
async fn fill(store: &Store) {
    let clock = Arc::new(ManualClock::new(1_790_000_000_000));
    let runtime = Runtime::new(common::shipped_engine(), store.clone(), clock.clone());
    for (i, line) in ["darurat", "ya", "kota palu", "1", "tidak", "tidak"].iter().enumerate() {
        say(&runtime, &format!("m{i}"), line).await;
    }
    let case = store.cases_between(0, i64::MAX).await.unwrap().remove(0).case;
    store.set_case_field(&case.id, "relationship", "mantan pacar", "k1", clock.now_ms()).await.unwrap();
    store.add_case_event(&case.id, clock.now_ms(), "note", Some("bersembunyi di kebun")).await.unwrap();
    let write = StepWrite { outbox: true, ..StepWrite::default() };
    runtime.handle_with("whatsapp", HER, &Event::Begin("survey".into()), None, &write).await.unwrap();
    for (i, line) in ["5", "ya", "Terima kasih banyak ibu konselor"].iter().enumerate() {
        say(&runtime, &format!("s{i}"), line).await;
    }
}

/// Every sealed column's stored values.
async fn stored(store: &Store) -> Vec<(&'static str, String)> {
    const COLUMNS: &[(&str, &str)] = &[
        ("inbound", "SELECT payload FROM inbound"),
        ("outbox", "SELECT payload FROM outbox"),
        ("conversations", "SELECT state FROM conversations"),
        ("cases", "SELECT fields FROM cases WHERE fields IS NOT NULL"),
        ("case_events", "SELECT detail FROM case_events WHERE kind = 'note'"),
        ("survey_responses", "SELECT comment FROM survey_responses WHERE comment IS NOT NULL"),
        ("conversations", "SELECT contact_sealed FROM conversations"),
        ("inbound", "SELECT contact_sealed FROM inbound"),
        ("outbox", "SELECT contact_sealed FROM outbox"),
    ];
    let mut out = Vec::new();
    for (table, sql) in COLUMNS {
        let values: Vec<String> = match store.db() {
            Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
            Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
        };
        assert!(!values.is_empty(), "{table} has values to check");
        out.extend(values.into_iter().map(|v| (*table, v)));
    }
    out
}

async fn sealed_at_rest(store: Store) {
    fill(&store).await;
    let secrets = ["darurat", "Palu", "mantan pacar", "bersembunyi", "ibu konselor", "Apakah Anda aman", HER];
    for (table, value) in stored(&store).await {
        assert!(value.starts_with("enc:v1:k1:"), "{table}: not sealed: {value}");
        for secret in secrets {
            assert!(!value.contains(secret), "{table}: `{secret}` readable at rest");
        }
    }
    // Lookups go by a keyed hash: her number is nowhere in plain.
    for sql in [
        "SELECT contact_key FROM conversations",
        "SELECT contact_key FROM inbound",
        "SELECT contact_key FROM outbox",
        "SELECT contact_key FROM channel_contacts",
    ] {
        let keys: Vec<String> = match store.db() {
            Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
            Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
        };
        assert!(
            !keys.is_empty() && keys.iter().all(|k| k.len() == 64 && !k.contains("62812")),
            "{sql}: {keys:?}"
        );
    }
    // And everything reads back.
    let case = &store.cases_between(0, i64::MAX).await.unwrap()[0];
    assert!(case.case.fields.as_deref().unwrap().contains("mantan pacar"));
    assert!(case.events.iter().any(|e| e.detail.as_deref() == Some("bersembunyi di kebun")));
    assert_eq!(
        store.surveys(None).await.unwrap()[0].comment.as_deref(),
        Some("Terima kasih banyak ibu konselor")
    );
    let state = store.conversation("whatsapp", HER).await.unwrap().unwrap().state;
    assert_eq!(state.lang, "id");
}

#[tokio::test]
async fn sealed_at_rest_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    sealed_at_rest(Store::open_sqlite(&dir.path().join("t.db")).await.unwrap()).await;
}

#[tokio::test]
async fn sealed_at_rest_on_postgres() {
    let Some(pg) = common::pg_store("sealed_at_rest").await else { return };
    sealed_at_rest(pg.store.clone()).await;
    pg.cleanup().await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_embedded_key_file_is_made_owner_only_and_reused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("var/teduh.db");
    let store = Store::open_sqlite(&db).await.unwrap();
    fill(&store).await;
    store.close().await;
    let key = dir.path().join("var/teduh.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    // Reopened, it reads what it sealed: the same key was used, not a new one.
    let store = Store::open_sqlite(&db).await.unwrap();
    assert!(store.conversation("whatsapp", HER).await.unwrap().is_some());
}

#[tokio::test]
async fn rotation_reseals_everything_and_the_old_key_can_go() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let key = dir.path().join("t.key");
    let store = Store::open_sqlite(&db).await.unwrap();
    fill(&store).await;
    store.close().await;

    let (id, text) = Keyring::add_key_text(&std::fs::read_to_string(&key).unwrap()).unwrap();
    assert_eq!(id, "k2");
    Keyring::write_file(&key, &text).unwrap();
    let store = Store::open_sqlite(&db).await.unwrap();
    let done = store.rotate_keys().await.unwrap();
    assert!(done.iter().all(|(_, n)| *n > 0), "every sealed table had values to re-seal: {done:?}");
    assert!(stored(&store).await.iter().all(|(_, v)| v.starts_with("enc:v1:k2:")));
    assert!(store.rotate_keys().await.unwrap().iter().all(|(_, n)| *n == 0), "a second run finds nothing");
    store.close().await;

    // Without k1 the data still reads: nothing depends on the old key any more.
    let without_k1: String =
        text.lines().filter(|l| !l.starts_with("k1 ")).map(|l| format!("{l}\n")).collect();
    Keyring::write_file(&key, &without_k1).unwrap();
    let store = Store::open_sqlite(&db).await.unwrap();
    let case = &store.cases_between(0, i64::MAX).await.unwrap()[0];
    assert!(case.case.fields.as_deref().unwrap().contains("mantan pacar"));
    assert!(store.conversation("whatsapp", HER).await.unwrap().is_some());
}

#[test]
fn postgres_mode_without_a_key_is_a_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_teduh"))
        .arg("migrate")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
        .env("TEDUH_DATA_DIR", dir.path())
        .env_remove("TEDUH_KEYS")
        .env_remove("TEDUH_KEY_FILE")
        .env_remove("TEDUH_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("no encryption key") && stderr.contains("TEDUH_KEYS"), "{stderr}");
    assert!(!dir.path().join("teduh.key").exists(), "PostgreSQL mode never makes a key");
}

#[test]
fn the_keys_commands_add_a_key_and_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let teduh = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_teduh"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("TEDUH_DATA_DIR", dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("TEDUH_KEYS")
            .env_remove("TEDUH_KEY_FILE")
            .env_remove("TEDUH_CONFIG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    teduh(&["chat", "--user", "sari"], "1\n");
    assert!(teduh(&["keys", "add"], "").contains("key `k2` added"));
    let rotated = teduh(&["keys", "rotate"], "");
    assert!(rotated.contains("conversations") && rotated.contains("under key `k2`"), "{rotated}");
    // The conversation continues after rotation.
    let more = teduh(&["chat", "--user", "sari"], "menu\n");
    assert!(more.contains("Apa yang Anda perlukan?"), "{more}");
}
