//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod cluster;
pub mod e2e;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use teduh::flow::{Effect, Engine, Event, State, load_flow_set};
use teduh::i18n::I18n;

/// Path inside the crate.
pub fn crate_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// An engine over a flows/locales fixture pair, starting at `entry`.
pub fn engine_from(flows: &Path, locales: &Path, entry: &str) -> Engine {
    let i18n = I18n::load(locales, "id").expect("fixture locales load");
    let set = load_flow_set(flows, &i18n).unwrap_or_else(|p| panic!("fixture flows have problems:\n{p}"));
    let regions = teduh::directory::Regions::embedded().expect("embedded regions");
    let directory = teduh::directory::Directory::with_regions(regions);
    Engine::new(Arc::new(set), Arc::new(i18n), Arc::new(directory), entry).expect("entry flow exists")
}

/// The engine test fixture.
pub fn fixture_engine() -> Engine {
    engine_from(
        &crate_path("tests/fixtures/engine/flows"),
        &crate_path("tests/fixtures/engine/locales"),
        "main",
    )
}

/// The shipped flows and translations.
pub fn shipped_engine() -> Engine {
    engine_from(&crate_path("flows"), &crate_path("locales"), "helpline")
}

/// The texts of the `Send` effects, with choices as `  N. label` lines.
pub fn texts(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(r) => {
                let mut t = r.text.clone();
                for (i, c) in r.choices.iter().enumerate() {
                    t.push_str(&format!("\n  {}. {c}", i + 1));
                }
                Some(t)
            }
            _ => None,
        })
        .collect()
}

/// Steps through typed lines, returning the final state and the effects of the last step.
pub fn run_lines(engine: &Engine, state: &State, lines: &[&str]) -> (State, Vec<Effect>) {
    let mut state = state.clone();
    let mut last = Vec::new();
    for line in lines {
        let step = engine
            .step(&state, &Event::Text(line.to_string()))
            .unwrap_or_else(|e| panic!("step on {line:?} failed: {e}"));
        state = step.state;
        last = step.effects;
    }
    (state, last)
}

/// A started conversation waiting at the menu.
pub fn started(engine: &Engine) -> State {
    engine.step(&State::new("id"), &Event::Start).expect("start").state
}

/// URL of the PostgreSQL server used by tests.
pub fn pg_url() -> String {
    std::env::var("TEDUH_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A PostgreSQL store in a schema of its own, dropped by `cleanup`.
pub struct PgStore {
    /// The store.
    pub store: teduh::store::Store,
    /// Its schema.
    pub schema: String,
    /// Its key text, so a reopened store reads what this one sealed.
    pub keys: String,
}

impl PgStore {
    /// Reopens the same schema, as a restarted process would.
    pub async fn reopen(&self) -> teduh::store::Store {
        let vault = teduh::vault::Keyring::parse(&self.keys).expect("test keys");
        teduh::store::Store::open_postgres_in_schema(&pg_url(), &self.schema, vault)
            .await
            .expect("reopen PostgreSQL schema")
    }

    /// Drops the schema.
    pub async fn cleanup(self) {
        use sqlx::Connection;
        self.store.close().await;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_url()).await {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema))
                .execute(&mut conn)
                .await;
        }
    }
}

/// A fresh PostgreSQL store, or `None` (with one line saying why) when no server answers and
/// this is not CI. In CI (`CI=true`) a missing server fails the test.
pub async fn pg_store(test: &str) -> Option<PgStore> {
    use sqlx::Connection;
    let url = pg_url();
    let probe =
        tokio::time::timeout(std::time::Duration::from_secs(5), sqlx::PgConnection::connect(&url)).await;
    let reason = match probe {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            None
        }
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("timed out".to_string()),
    };
    if let Some(reason) = reason {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{test}: PostgreSQL is required in CI but {url} is not reachable: {reason}");
        }
        eprintln!("skipping {test} on PostgreSQL: {url} not reachable ({reason}); set TEDUH_TEST_PG_URL");
        return None;
    }
    let schema = format!(
        "t_{}_{}",
        test.chars().take(30).collect::<String>(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let keys = teduh::vault::Keyring::generate_text();
    let vault = teduh::vault::Keyring::parse(&keys).expect("generated keys parse");
    let store = teduh::store::Store::open_postgres_in_schema(&url, &schema, vault)
        .await
        .expect("open PostgreSQL test schema");
    Some(PgStore { store, schema, keys })
}

/// Everything behind a channel's webhook, running in the background: the inbox worker and the
/// outbox dispatcher, over the shipped flows and the example directory on a fresh SQLite file.
pub struct Pipeline {
    /// The runtime (store, engine, clock).
    pub runtime: teduh::runtime::Runtime,
    /// Hand inbound messages here (what webhooks do).
    pub ingress: teduh::channel::Ingress,
    /// Its store.
    pub store: teduh::store::Store,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Pipeline {
    /// Starts the worker and dispatcher with the given channel senders.
    pub async fn start(senders: Vec<Arc<dyn teduh::channel::Sender>>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = teduh::store::Store::open_sqlite(&dir.path().join("t.db")).await.expect("store");
        Self::start_on(store, senders, dir).await
    }

    /// Starts on a given store.
    pub async fn start_on(
        store: teduh::store::Store,
        senders: Vec<Arc<dyn teduh::channel::Sender>>,
        dir: tempfile::TempDir,
    ) -> Self {
        let regions = teduh::directory::Regions::embedded().expect("regions");
        let providers =
            teduh::directory::provider::read_directory(&crate_path("providers/example.yaml"), &regions)
                .expect("example directory");
        let engine = engine_from(&crate_path("flows"), &crate_path("locales"), "helpline")
            .with_directory(Arc::new(teduh::directory::Directory { regions, providers }));
        let clock: Arc<dyn teduh::clock::Clock> = Arc::new(teduh::clock::SystemClock);
        let runtime = teduh::runtime::Runtime::new(engine, store.clone(), clock.clone());
        let dispatcher = teduh::dispatch::Dispatcher::new(store.clone(), clock, senders);
        let inbox_wake = Arc::new(tokio::sync::Notify::new());
        let ingress = teduh::channel::Ingress::new(runtime.clone(), inbox_wake.clone());
        let (stop, watch) = tokio::sync::watch::channel(false);
        let stopped = |mut w: tokio::sync::watch::Receiver<bool>| async move {
            let _ = w.wait_for(|s| *s).await;
        };
        let worker = runtime.clone().run_inbox(inbox_wake, dispatcher.waker(), stopped(watch.clone()));
        let tasks = vec![tokio::spawn(worker), tokio::spawn(dispatcher.run(stopped(watch)))];
        Self { runtime, ingress, store, stop, tasks, _dir: dir }
    }

    /// Stops the background tasks.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// The texts queued for one address, oldest first (chat clearings left out).
pub async fn queued_texts(store: &teduh::store::Store, channel: &str, contact: &str) -> Vec<String> {
    store
        .outbox_for(channel, contact)
        .await
        .expect("outbox readable")
        .into_iter()
        .filter_map(|r| match r.payload {
            teduh::channel::OutgoingPayload::Reply(reply) => Some(reply.text),
            teduh::channel::OutgoingPayload::ClearChat { .. } => None,
        })
        .collect()
}

/// Serves `router` on an ephemeral 127.0.0.1 port; returns its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// Polls `check` every 20 ms until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if let Some(v) = check().await {
            return Some(v);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    None
}

/// The Redis URL tests use (`TEDUH_TEST_REDIS_URL`, default the local server).
pub fn redis_url() -> String {
    std::env::var("TEDUH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// Whether Redis answers; `false` (with one line saying why) when it does not and this is not
/// CI. In CI (`CI=true`) a missing server fails the test.
pub async fn redis_available(test: &str) -> bool {
    let url = redis_url();
    let probe = async {
        let client = redis::Client::open(url.as_str())?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut connection).await
    };
    let reason = match tokio::time::timeout(std::time::Duration::from_secs(3), probe).await {
        Ok(Ok(_)) => return true,
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timed out".to_string(),
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: Redis is required in CI but {url} is not reachable: {reason}");
    }
    eprintln!("skipping {test}: Redis at {url} not reachable ({reason}); set TEDUH_TEST_REDIS_URL");
    false
}

/// A key prefix no other test run uses.
pub fn unique_prefix(test: &str) -> String {
    format!("teduh-test-{test}-{}", uuid::Uuid::new_v4().simple())
}
