//! Several real `teduh serve` processes on 127.0.0.1 sharing one PostgreSQL schema and one
//! Redis, behind a fake Telegram Bot API that records every send with its idempotency key.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

pub const TOKEN: &str = "123456:cluster-token";
pub const SECRET: &str = "cluster-webhook-secret-0123456789";
/// Telegram chat ids of Kota Palu's counselors in providers/example.yaml.
pub const PALU_COUNSELORS: [i64; 2] = [100000021, 100000022];

/// One `sendMessage` as the fake received it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub at: Instant,
    pub chat: i64,
    pub text: String,
    pub key: String,
}

/// The fake Bot API's record.
#[derive(Debug, Clone, Default)]
pub struct Fake {
    sends: Arc<Mutex<Vec<Sent>>>,
    next_id: Arc<AtomicI64>,
}

impl Fake {
    pub fn sends(&self) -> Vec<Sent> {
        self.sends.lock().unwrap().clone()
    }

    /// Each chat's texts in order, a repeated idempotency key counted once; and how many sends
    /// were repeats.
    pub fn transcripts(&self) -> (HashMap<i64, Vec<String>>, usize) {
        let mut seen = std::collections::HashSet::new();
        let mut out: HashMap<i64, Vec<String>> = HashMap::new();
        let mut repeats = 0;
        for s in self.sends() {
            if seen.insert(s.key.clone()) {
                out.entry(s.chat).or_default().push(s.text);
            } else {
                repeats += 1;
            }
        }
        (out, repeats)
    }

    /// The most sends (repeats included) inside any one second.
    pub fn busiest_second(&self) -> usize {
        let mut times: Vec<Instant> = self.sends().iter().map(|s| s.at).collect();
        times.sort();
        (0..times.len())
            .map(|i| times[i..].iter().take_while(|t| **t < times[i] + Duration::from_secs(1)).count())
            .max()
            .unwrap_or(0)
    }
}

async fn bot_api(
    State(fake): State<Fake>,
    Path((_bot, method)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    if method != "sendMessage" {
        return Json(json!({ "ok": true, "result": true }));
    }
    let chat = body["chat_id"].as_i64().or_else(|| body["chat_id"].as_str().and_then(|c| c.parse().ok()));
    let key = headers.get("x-teduh-idempotency-key").and_then(|k| k.to_str().ok()).unwrap_or("").to_string();
    let sent = Sent {
        at: Instant::now(),
        chat: chat.unwrap_or_default(),
        text: body["text"].as_str().unwrap_or_default().to_string(),
        key,
    };
    fake.sends.lock().unwrap().push(sent);
    let id = fake.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    Json(json!({ "ok": true, "result": { "message_id": id, "date": 0, "chat": { "id": chat } } }))
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Instance {
    pub port: u16,
    pub child: Mutex<Option<Child>>,
    pub log: PathBuf,
}

impl Instance {
    pub fn running(&self) -> bool {
        self.child.lock().unwrap().is_some()
    }
}

pub struct Cluster {
    pub pg: super::PgStore,
    pub database_url: String,
    pub redis_url: String,
    pub prefix: String,
    pub fake: Fake,
    fake_url: String,
    pub instances: Vec<Instance>,
    pub http: reqwest::Client,
    next_update: AtomicI64,
    pub dir: tempfile::TempDir,
}

/// `url` with the connection's search path set to `schema`.
pub fn in_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

impl Cluster {
    /// A schema with the example providers and Kota Palu's counselors on call around the clock,
    /// and `n` instances started and ready. `None` when PostgreSQL or Redis is missing (off CI).
    pub async fn start(test: &str, n: usize, redis_url: Option<String>) -> Option<Self> {
        if redis_url.is_none() && !super::redis_available(test).await {
            return None;
        }
        let pg = super::pg_store(test).await?;
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::default();
        let fake_url =
            super::serve(Router::new().route("/{bot}/{method}", post(bot_api)).with_state(fake.clone()))
                .await;
        let mut cluster = Cluster {
            database_url: in_schema(&super::pg_url(), &pg.schema),
            pg,
            redis_url: redis_url.unwrap_or_else(super::redis_url),
            prefix: super::unique_prefix(test),
            fake,
            fake_url,
            instances: Vec::new(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap(),
            next_update: AtomicI64::new(1),
            dir,
        };
        let roster = cluster.dir.path().join("roster.csv");
        std::fs::write(
            &roster,
            "provider,counselor,role,days,start,end\n\
             uptd-ppa-palu,uptd-ppa-palu-k1,primary,mon-sun,00:00,12:00\n\
             uptd-ppa-palu,uptd-ppa-palu-k1,primary,mon-sun,12:00,00:00\n\
             uptd-ppa-palu,uptd-ppa-palu-k2,backup,mon-sun,00:00,12:00\n\
             uptd-ppa-palu,uptd-ppa-palu-k2,backup,mon-sun,12:00,00:00\n",
        )
        .unwrap();
        cluster.cli(&["providers", "import", "providers/example.yaml"]);
        cluster.cli(&["roster", "import", roster.to_str().unwrap()]);
        for _ in 0..n {
            cluster.add_instance();
        }
        for i in 0..n {
            cluster.spawn(i, &cluster.database_url);
        }
        for i in 0..n {
            cluster.wait_ready(i, 60).await;
        }
        Some(cluster)
    }

    fn env(&self, database_url: &str) -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", database_url.to_string()),
            ("TEDUH_KEYS", self.pg.keys.clone()),
            ("REDIS_URL", self.redis_url.clone()),
            ("TEDUH_REDIS_PREFIX", self.prefix.clone()),
            ("TEDUH_DATA_DIR", self.dir.path().display().to_string()),
            ("TELEGRAM_BOT_TOKEN", TOKEN.into()),
            ("TELEGRAM_API_URL", self.fake_url.clone()),
            ("TELEGRAM_WEBHOOK_URL", "https://teduh.example.org/webhook/telegram".into()),
            ("TELEGRAM_WEBHOOK_SECRET", SECRET.into()),
            ("RUST_LOG", "info".into()),
        ]
    }

    fn command(&self, database_url: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_teduh"));
        command.current_dir(env!("CARGO_MANIFEST_DIR"));
        for var in
            ["TEDUH_CONFIG", "WHATSAPP_ACCESS_TOKEN", "TWILIO_ACCOUNT_SID", "SMS_GATEWAY_URL", "TEDUH_BIND"]
        {
            command.env_remove(var);
        }
        command.envs(self.env(database_url));
        command
    }

    fn cli(&self, args: &[&str]) {
        let out = self.command(&self.database_url).args(args).output().unwrap();
        assert!(out.status.success(), "teduh {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn add_instance(&mut self) -> usize {
        let i = self.instances.len();
        let log = self.dir.path().join(format!("instance-{i}.log"));
        self.instances.push(Instance { port: free_port(), child: Mutex::new(None), log });
        i
    }

    /// Starts instance `i` (again) on its port, with `database_url`.
    pub fn spawn(&self, i: usize, database_url: &str) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.instances[i].log).unwrap();
        let child = self
            .command(database_url)
            .arg("serve")
            .env("TEDUH_BIND", format!("127.0.0.1:{}", self.instances[i].port))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        *self.instances[i].child.lock().unwrap() = Some(child);
    }

    pub fn base(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.instances[i].port)
    }

    pub async fn ready_status(&self, i: usize) -> Option<(u16, Value)> {
        let response = self
            .http
            .get(format!("{}/readyz", self.base(i)))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.json().await.ok()?))
    }

    pub async fn wait_ready(&self, i: usize, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Some((200, _)) = self.ready_status(i).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("instance {i} not ready after {secs} s:\n{}", self.log_of(i));
    }

    pub fn log_of(&self, i: usize) -> String {
        std::fs::read_to_string(&self.instances[i].log).unwrap_or_default()
    }

    /// `kill -9`.
    pub fn kill(&self, i: usize) {
        if let Some(mut child) = self.instances[i].child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits up to `secs` for it to exit; its exit status.
    pub fn terminate(&self, i: usize, secs: u64) -> std::process::ExitStatus {
        let mut child = self.instances[i].child.lock().unwrap().take().expect("running");
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("instance {i} did not stop within {secs} s after SIGTERM:\n{}", self.log_of(i));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A text message from `chat`, as Telegram's webhook update.
    pub fn text(&self, chat: i64, text: &str) -> Value {
        let id = self.next_update.fetch_add(1, Ordering::Relaxed);
        json!({ "update_id": id, "message": { "message_id": id, "date": 0,
            "chat": { "id": chat, "type": "private" }, "from": { "id": chat, "is_bot": false, "first_name": "S" },
            "text": text } })
    }

    /// A shared location from `chat`.
    pub fn location(&self, chat: i64, lat: f64, lon: f64) -> Value {
        let id = self.next_update.fetch_add(1, Ordering::Relaxed);
        json!({ "update_id": id, "message": { "message_id": id, "date": 0,
            "chat": { "id": chat, "type": "private" }, "from": { "id": chat, "is_bot": false, "first_name": "S" },
            "location": { "latitude": lat, "longitude": lon } } })
    }

    /// Posts an update to instance `first`, and, as Telegram redelivers and a load balancer
    /// moves on, to the next live instance while the answer is not 2xx. Returns the instance
    /// that took it.
    pub async fn deliver(&self, first: usize, update: &Value) -> usize {
        let n = self.instances.len();
        for attempt in 0..(n * 20) {
            let i = (first + attempt) % n;
            if !self.instances[i].running() {
                continue;
            }
            let response = self
                .http
                .post(format!("{}/webhook/telegram", self.base(i)))
                .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
                .json(update)
                .send()
                .await;
            match response {
                Ok(r) if r.status().is_success() => return i,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        panic!("no instance took update {update}");
    }

    /// Waits until every stored message is processed, every case escalated and every queued
    /// send done.
    pub async fn drained(&self, secs: u64) {
        let teduh::store::Db::Postgres(pool) = self.pg.store.db() else { unreachable!() };
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let inbound: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbound WHERE processed_at IS NULL")
                .fetch_one(pool)
                .await
                .unwrap();
            let outbox: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status IN ('queued', 'sending')")
                    .fetch_one(pool)
                    .await
                    .unwrap();
            // A case is `new` until the escalation worker queues its first notice.
            let unescalated: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases WHERE status = 'new'")
                .fetch_one(pool)
                .await
                .unwrap();
            if inbound == 0 && outbox == 0 && unescalated == 0 {
                return;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = (0..self.instances.len()).map(|i| self.log_of(i)).collect();
                panic!(
                    "not drained after {secs} s: {inbound} inbound, {outbox} outbox left\n{}",
                    logs.join("\n---\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops every instance and drops the schema.
    pub async fn stop(self) {
        use sqlx::Connection;
        for i in 0..self.instances.len() {
            self.kill(i);
        }
        self.pg.store.close().await;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&super::pg_url()).await {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.pg.schema))
                .execute(&mut conn)
                .await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for instance in &mut self.instances {
            if let Some(mut child) = instance.child.lock().unwrap().take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused) and
/// restored: the database "going away" without touching the shared server.
pub struct Proxy {
    pub port: u16,
    enabled: Arc<std::sync::atomic::AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let enabled = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (on, conns) = (enabled.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !on.load(Ordering::SeqCst) {
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().unwrap().push(task);
            }
        });
        Self { port, enabled, connections, accept }
    }

    /// The database URL `url`, through this proxy.
    pub fn url(&self, url: &str) -> String {
        let mut parsed = reqwest::Url::parse(url).unwrap();
        parsed.set_host(Some("127.0.0.1")).unwrap();
        parsed.set_port(Some(self.port)).unwrap();
        parsed.to_string()
    }

    pub fn cut(&self) {
        self.enabled.store(false, Ordering::SeqCst);
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    pub fn restore(&self) {
        self.enabled.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// `host:port` of a database URL.
pub fn host_port(url: &str) -> String {
    let parsed = reqwest::Url::parse(url).unwrap();
    format!("{}:{}", parsed.host_str().unwrap_or("127.0.0.1"), parsed.port().unwrap_or(5432))
}
