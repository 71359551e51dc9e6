//! `teduh bench`: a load generator against a real `teduh serve` process on 127.0.0.1.
//!
//! The bench starts the server as a child process (SQLite in a temporary directory, or the
//! PostgreSQL and Redis it is given), with the generic SMS gateway pointed at a fake gateway it
//! serves itself, so every reply is timed when it arrives at the "provider". Synthetic people
//! walk the shipped menus with signed webhooks, each waiting for her reply and a think time
//! before the next message; alongside, one emergency at a time in each of four cities (each
//! with its own on-call counselor), timed from her last answer to the counselor's notice. Everything is bounded in users and seconds.

mod drain;
mod fake;
mod report;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

pub use drain::{DrainOptions, DrainReport, run as drain};
pub use report::{Report, render_all, render_timeline};

use fake::Gateway;

/// The gateway's shared secret between the bench and its server.
const SECRET: &str = "bench-gateway-secret-0123456789";
/// Where the emergencies happen: her answer to "where are you", and the on-call counselor
/// there in providers/example.yaml (provider, counselor id, SMS number). One city at a time
/// would time three or four emergencies in a 15-second run, too few for a p99.
const SITES: &[(&str, &str, &str, &str)] = &[
    ("kota palu", "uptd-ppa-palu", "uptd-ppa-palu-k1", "+6281200000201"),
    ("kota kupang", "uptd-ppa-kupang", "uptd-ppa-kupang-k1", "+6281200000501"),
    ("kota banjarbaru", "uptd-ppa-banjarbaru", "uptd-ppa-banjarbaru-k1", "+6281200000801"),
    ("kota padang", "uptd-ppa-padang", "uptd-ppa-padang-k1", "+6281200001101"),
];
/// No further part of a reply for this long: she has it all (parts come a second apart).
const QUIET: Duration = Duration::from_millis(1_200);
const MENU: &[&str] = &["halo", "1", "menu", "2", "menu", "3", "menu"];
/// An emergency's answers; `None` is where she names her city.
const EMERGENCY: &[Option<&str>] =
    &[Some("darurat"), Some("tidak"), None, Some("1"), Some("tidak"), Some("tidak")];

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Concurrent people walking the menus.
    pub users: usize,
    /// How long the load runs.
    pub duration: Duration,
    /// Pause between a reply and her next message.
    pub think: Duration,
    /// PostgreSQL instead of SQLite (a fresh schema is made and dropped).
    pub database_url: Option<String>,
    /// Redis for the server's coordination.
    pub redis_url: Option<String>,
    /// Inbound messages per second to offer (open loop): each message goes to the next person
    /// free to write; `None` lets each person write again after her reply and `think`.
    pub inbound_rate: Option<f64>,
}

/// Why the bench could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Something around the server failed.
    #[error("{0}")]
    Setup(String),
}

fn setup(e: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(e.to_string())
}

/// The peak and current resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

struct Server {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
    schema: Option<(String, String)>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the bench and returns its numbers.
pub async fn run(options: &BenchOptions) -> Result<Report, BenchError> {
    let gateway = Gateway::start().await.map_err(setup)?;
    let mut server = start_server(options, &gateway, 10_000.0, 0).await?;
    let mut report = Report::new(options);
    report.startup = server.startup;
    tokio::time::sleep(Duration::from_secs(1)).await;
    report.idle_rss_kib = rss_kib(server.inner.child.id()).1;

    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(setup)?;
    let deadline = Instant::now() + options.duration;
    let accepted = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    // Open loop: a ticket per message at the offered rate; a person takes one when she is free.
    let tickets = options.inbound_rate.map(|rate| {
        let tickets = Arc::new(Semaphore::new(0));
        tokio::spawn(offer(tickets.clone(), rate, deadline));
        tickets
    });
    let mut people = tokio::task::JoinSet::new();
    for n in 0..options.users {
        let (gateway, http, accepted) = (gateway.clone(), http.clone(), accepted.clone());
        let base = server.inner.base.clone();
        let think = options.think;
        let tickets = tickets.clone();
        people.spawn(async move {
            if tickets.is_none() {
                // Spread the first messages over one think time, as people arrive.
                tokio::time::sleep(think.mul_f64(n as f64 / 1000.0 % 1.0)).await;
            }
            let number = format!("+62899{n:07}");
            let inbox = gateway.subscribe(&number);
            let mut latencies = Vec::new();
            let mut step = 0usize;
            while Instant::now() < deadline {
                if let Some(tickets) = &tickets {
                    let wait = deadline.saturating_duration_since(Instant::now());
                    match tokio::time::timeout(wait, tickets.acquire()).await {
                        Ok(Ok(ticket)) => ticket.forget(),
                        _ => break,
                    }
                }
                let sent = Instant::now();
                if !post(&http, &base, &number, MENU[step % MENU.len()]).await {
                    continue;
                }
                accepted.fetch_add(1, Ordering::Relaxed);
                if let Some(arrived) = inbox.next_after(sent, Duration::from_secs(20)).await {
                    latencies.push((sent.duration_since(started), arrived.duration_since(sent)));
                }
                // She reads the whole reply (its parts come a second apart), then thinks.
                while inbox.next_after(Instant::now(), QUIET).await.is_some() {}
                step += 1;
                if tickets.is_none() {
                    tokio::time::sleep(think.saturating_sub(QUIET)).await;
                }
            }
            latencies
        });
    }
    let mut emergencies = tokio::task::JoinSet::new();
    for (site, &(city, _, _, counselor)) in SITES.iter().enumerate() {
        let (gateway, http) = (gateway.clone(), http.clone());
        let base = server.inner.base.clone();
        emergencies.spawn(async move {
            emergencies_in(site, city, counselor, &gateway, &http, &base, deadline).await
        });
    }
    while let Some(timed) = people.join_next().await {
        report.timeline.extend(timed.map_err(setup)?);
    }
    report.elapsed = started.elapsed();
    report.accepted = accepted.load(Ordering::Relaxed);
    report.unserved = tickets.map_or(0, |t| t.available_permits());
    while let Some(times) = emergencies.join_next().await {
        report.emergency.extend(times.map_err(setup)?);
    }
    report.peak_rss_kib = rss_kib(server.inner.child.id()).0;
    server.stop().await;
    Ok(report)
}

/// Issues tickets at `rate` a second until `deadline`, a millisecond's worth at a time.
async fn offer(tickets: Arc<Semaphore>, rate: f64, deadline: Instant) {
    let start = Instant::now();
    let mut issued = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while Instant::now() < deadline {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate) as usize;
        if due > issued {
            tickets.add_permits(due - issued);
            issued = due;
        }
    }
}

/// Signs and posts one inbound SMS; whether it was accepted.
async fn post(http: &reqwest::Client, base: &str, from: &str, text: &str) -> bool {
    let body =
        serde_json::json!({ "id": uuid::Uuid::new_v4().to_string(), "from": from, "text": text }).to_string();
    let signature = crate::channel::sms::gateway_signature(SECRET, body.as_bytes());
    let response = http
        .post(format!("{base}{}", crate::channel::sms::GATEWAY_PATH))
        .header("content-type", "application/json")
        .header("x-teduh-signature", signature)
        .body(body)
        .send()
        .await;
    matches!(response, Ok(r) if r.status().is_success())
}

/// One emergency after another in `city` until `deadline`: each answers every question as
/// soon as it comes, and is timed from her last answer to the notice reaching `counselor`.
async fn emergencies_in(
    site: usize,
    city: &str,
    counselor: &str,
    gateway: &Gateway,
    http: &reqwest::Client,
    base: &str,
    deadline: Instant,
) -> Vec<Duration> {
    let counselor = gateway.subscribe(counselor);
    let mut times = Vec::new();
    let mut n = 0usize;
    while Instant::now() + Duration::from_secs(5) < deadline {
        let number = format!("+628980{site}{n:06}");
        n += 1;
        let inbox = gateway.subscribe(&number);
        let mut last = Instant::now();
        for (i, line) in EMERGENCY.iter().enumerate() {
            last = Instant::now();
            if !post(http, base, &number, line.unwrap_or(city)).await {
                break;
            }
            // Her reply (the last answer's may come after the notice, so it is not awaited).
            if i + 1 < EMERGENCY.len() {
                let _ = inbox.next_after(last, Duration::from_secs(20)).await;
            }
        }
        if let Some(notice) = counselor.next_after(last, Duration::from_secs(20)).await {
            times.push(notice.duration_since(last));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    times
}

struct Started {
    inner: Server,
    startup: Duration,
}

impl Started {
    async fn stop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.inner.child.id().to_string()).status();
        for _ in 0..100 {
            if matches!(self.inner.child.try_wait(), Ok(Some(_))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some((url, schema)) = self.inner.schema.take() {
            drop_schema(&url, &schema).await;
        }
    }
}

async fn drop_schema(url: &str, schema: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(url).await {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).execute(&mut conn).await;
    }
}

/// Prepares a database with the example providers and a round-the-clock roster, starts
/// `teduh serve` and waits until it is ready; the start-up time is from spawn to ready.
async fn start_server(
    options: &BenchOptions,
    gateway: &Gateway,
    sms_rate: f64,
    backlog: usize,
) -> Result<Started, BenchError> {
    use sqlx::Connection;
    let dir = tempfile::tempdir().map_err(setup)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0").map_err(setup)?.local_addr().map_err(setup)?.port();
    let mut schema = None;
    let database_url = match &options.database_url {
        Some(url) => {
            let name = format!("bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
            let mut conn = sqlx::PgConnection::connect(url).await.map_err(setup)?;
            sqlx::query(&format!("CREATE SCHEMA \"{name}\"")).execute(&mut conn).await.map_err(setup)?;
            let sep = if url.contains('?') { '&' } else { '?' };
            schema = Some((url.clone(), name.clone()));
            format!("{url}{sep}options=-c%20search_path%3D{name}")
        }
        None => format!("sqlite:{}", dir.path().join("bench.db").display()),
    };
    let exe = std::env::current_exe().map_err(setup)?;
    let keys = crate::vault::Keyring::generate_text();
    let prefix = format!("teduh-bench-{}", uuid::Uuid::new_v4().simple());
    let command = |args: &[&str]| {
        let mut c = Command::new(&exe);
        c.args(args)
            .env("DATABASE_URL", &database_url)
            .env("TEDUH_KEYS", &keys)
            .env("TEDUH_DATA_DIR", dir.path())
            .env("TEDUH_BIND", format!("127.0.0.1:{port}"))
            .env("SMS_GATEWAY_URL", format!("{}/send", gateway.base()))
            .env("SMS_GATEWAY_SECRET", SECRET)
            .env("SMS_RATE", sms_rate.to_string())
            .env("TEDUH_FLOOD_PER_MINUTE", "0")
            .env("TEDUH_REDIS_PREFIX", &prefix)
            // The server's own log level for a profiling run (`TEDUH_BENCH_LOG=sqlx::query=debug`
            // counts statements); warnings only otherwise, so the table stays readable.
            .env("RUST_LOG", std::env::var("TEDUH_BENCH_LOG").unwrap_or_else(|_| "warn".into()))
            .env_remove("TEDUH_CONFIG")
            .env_remove("TELEGRAM_BOT_TOKEN")
            .env_remove("WHATSAPP_ACCESS_TOKEN")
            .env_remove("TWILIO_ACCOUNT_SID");
        match &options.redis_url {
            Some(url) => c.env("REDIS_URL", url),
            None => c.env_remove("REDIS_URL"),
        };
        c
    };
    let roster = dir.path().join("roster.csv");
    let mut shifts = String::from("provider,counselor,role,days,start,end\n");
    for (_, provider, counselor, _) in SITES {
        shifts += &format!("{provider},{counselor},primary,mon-sun,00:00,12:00\n");
        shifts += &format!("{provider},{counselor},primary,mon-sun,12:00,00:00\n");
    }
    std::fs::write(&roster, shifts).map_err(setup)?;
    let roster = roster.display().to_string();
    for args in [&["providers", "import", "providers/example.yaml"][..], &["roster", "import", &roster]] {
        let out = command(args).output().map_err(setup)?;
        if !out.status.success() {
            return Err(BenchError::Setup(format!(
                "teduh {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
    }
    if backlog > 0 {
        drain::queue_backlog(&database_url, &keys, backlog).await?;
    }
    let spawned = Instant::now();
    let child = command(&["serve"]).stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().map_err(setup)?;
    let base = format!("http://127.0.0.1:{port}");
    let inner = Server { child, base: base.clone(), _dir: dir, schema };
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return Ok(Started { inner, startup: spawned.elapsed() });
        }
        if spawned.elapsed() > Duration::from_secs(60) {
            return Err(BenchError::Setup("the server was not ready within 60 s".into()));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
