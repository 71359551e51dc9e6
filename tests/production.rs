//! Production mode, proved with real processes: several `teduh serve` instances on 127.0.0.1
//! sharing PostgreSQL and Redis, under concurrent Telegram conversations and emergencies, with
//! one instance killed (`kill -9`) or stopped (SIGTERM) during the load, Redis restarted and
//! PostgreSQL cut off. Afterwards every webhook that got a 2xx was processed, each
//! conversation's replies came in order exactly as one instance alone gives them, every
//! emergency reached a counselor, and the fake Bot API never saw more than the shared rate.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use teduh::clock::ManualClock;
use teduh::runtime::Runtime;
use teduh::store::Store;

use common::cluster::{Cluster, PALU_COUNSELORS};

/// One cluster at a time: they measure rates and timings, which a neighbour's load would blur.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MENU: &[&str] = &["halo", "1", "2", "menu", "3"];
const EMERGENCY: &[&str] = &["darurat", "tidak", "<location>", "1", "tidak", "tidak"];
const PALU: (f64, f64) = (-0.90, 119.86);

/// Case codes differ from run to run.
fn masked(text: &str) -> String {
    regex::Regex::new(r"K-[0-9A-F]{6}").unwrap().replace_all(text, "K-######").into_owned()
}

/// What one instance alone sends each conversation, from the same flows and directory.
async fn expected(script: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    let regions = teduh::directory::Regions::embedded().unwrap();
    let providers =
        teduh::directory::provider::read_directory(&common::crate_path("providers/example.yaml"), &regions)
            .unwrap();
    let directory = Arc::new(teduh::directory::Directory { regions, providers });
    let engine = common::shipped_engine().with_directory(directory);
    let runtime = Runtime::new(engine, store.clone(), Arc::new(ManualClock::new(1_790_000_000_000)));
    for (i, line) in script.iter().enumerate() {
        let event = match *line {
            "<location>" => teduh::channel::InboundEvent::Location { lat: PALU.0, lon: PALU.1 },
            text => teduh::channel::InboundEvent::Text { text: text.into() },
        };
        let inbound = teduh::channel::Inbound {
            channel: "telegram".into(),
            provider_id: Some(format!("x{i}")),
            contact: "1".into(),
            event,
            lang_hint: None,
        };
        runtime.accept(&inbound).await.unwrap();
        runtime.process_pending(10).await.unwrap();
    }
    common::queued_texts(&store, "telegram", "1").await.iter().map(|t| masked(t)).collect()
}

/// What to do to the cluster once so many updates have been taken.
type Event = (usize, Box<dyn FnOnce(&Cluster) + Send>);

/// Conversations, each sending its script one message after another (the next once the
/// previous got its 2xx, as Telegram does per chat), spread over the instances; each event runs
/// once its number of updates has been taken. Returns how many updates were taken.
async fn load(cluster: &Arc<Cluster>, chats: &[(i64, &'static [&'static str])], events: Vec<Event>) -> usize {
    let taken = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for (n, (chat, script)) in chats.iter().copied().enumerate() {
        let (cluster, taken) = (cluster.clone(), taken.clone());
        tasks.spawn(async move {
            for (i, line) in script.iter().enumerate() {
                let update = match *line {
                    "<location>" => cluster.location(chat, PALU.0, PALU.1),
                    text => cluster.text(chat, text),
                };
                cluster.deliver(n + i, &update).await;
                taken.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    let watcher = {
        let (cluster, taken) = (cluster.clone(), taken.clone());
        tokio::spawn(async move {
            for (at, event) in events {
                while taken.load(Ordering::SeqCst) < at {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let cluster = cluster.clone();
                tokio::task::spawn_blocking(move || event(&cluster)).await.unwrap();
            }
        })
    };
    while let Some(result) = tasks.join_next().await {
        result.unwrap();
    }
    watcher.await.unwrap();
    taken.load(Ordering::SeqCst)
}

fn chats(menus: usize, emergencies: usize) -> Vec<(i64, &'static [&'static str])> {
    let mut out: Vec<(i64, &'static [&'static str])> =
        (0..menus).map(|i| (700_000 + i as i64, MENU)).collect();
    out.extend((0..emergencies).map(|i| (800_000 + i as i64, EMERGENCY)));
    out
}

/// Every conversation's replies, in order and once each, as one instance gives them; every
/// emergency's case notified to Palu's primary counselor exactly once. Returns the repeats.
async fn check_outcome(cluster: &Cluster, chats: &[(i64, &[&str])]) -> usize {
    let (transcripts, repeats) = cluster.fake.transcripts();
    let menu = expected(MENU).await;
    let emergency = expected(EMERGENCY).await;
    for (chat, script) in chats {
        let got: Vec<String> =
            transcripts.get(chat).map(|t| t.iter().map(|x| masked(x)).collect()).unwrap_or_default();
        let want = if *script == MENU { &menu } else { &emergency };
        assert_eq!(&got, want, "chat {chat}");
    }
    let mut notices: HashMap<String, usize> = HashMap::new();
    let case_code = regex::Regex::new(r"K-[0-9A-F]{6}").unwrap();
    for text in transcripts.get(&PALU_COUNSELORS[0]).into_iter().flatten() {
        if let Some(code) = case_code.find(text) {
            *notices.entry(code.as_str().to_string()).or_default() += text.contains("TERIMA") as usize;
        }
    }
    let cases = cluster.pg.store.cases_between(0, i64::MAX).await.unwrap();
    let emergencies = chats.iter().filter(|(_, s)| *s == EMERGENCY).count();
    assert_eq!(cases.len(), emergencies, "one case per emergency");
    for case in &cases {
        assert_eq!(
            notices.get(&case.case.code),
            Some(&1),
            "case {} notified once: {notices:?}",
            case.case.code
        );
    }
    repeats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_survive_kills_and_keep_order_exactly_once_and_the_shared_rate() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(cluster) = Cluster::start("three_instances_kill", 3, None).await else { return };
    let cluster = Arc::new(cluster);
    let chats = chats(45, 6);
    let total: usize = chats.iter().map(|(_, s)| s.len()).sum();
    let started = Instant::now();
    // `kill -9` at random moments: instance 1, which comes back, then instance 2.
    let mut moments: Vec<usize> = (0..3).map(|_| rand::random_range(total / 10..total * 9 / 10)).collect();
    moments.sort_unstable();
    eprintln!(
        "production: kill -9 instance 1 at update {}, restart it at {}, kill -9 instance 2 at {}",
        moments[0], moments[1], moments[2]
    );
    let url = cluster.database_url.clone();
    let events: Vec<Event> = vec![
        (moments[0], Box::new(|c: &Cluster| c.kill(1))),
        (moments[1], Box::new(move |c: &Cluster| c.spawn(1, &url))),
        (moments[2], Box::new(|c: &Cluster| c.kill(2))),
    ];
    let taken = load(&cluster, &chats, events).await;
    assert_eq!(taken, total);
    assert!(cluster.instances[1].running() && !cluster.instances[2].running());
    cluster.drained(90).await;
    let elapsed = started.elapsed();
    let repeats = check_outcome(&cluster, &chats).await;
    let sends = cluster.fake.sends().len();
    let busiest = cluster.fake.busiest_second();
    eprintln!(
        "production: {total} updates over 3 instances (two kills, one restart), {sends} sends in {elapsed:?}, \
         {repeats} repeated send(s) (at least once, counted by idempotency key), busiest second {busiest} sends"
    );
    // Telegram's 30 per second over all chats, shared by the instances.
    assert!(busiest <= 30, "the instances together sent {busiest} messages in one second");
    let teduh::store::Db::Postgres(pool) = cluster.pg.store.db() else { unreachable!() };
    let steps: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(version), 0)::BIGINT FROM conversations")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(steps as usize, total, "one committed step per update, none twice");
    match Arc::try_unwrap(cluster) {
        Ok(cluster) => cluster.stop().await,
        Err(_) => panic!("cluster still shared"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_in_flight_work_and_hands_the_rest_over() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(cluster) = Cluster::start("sigterm", 2, None).await else { return };
    let cluster = Arc::new(cluster);
    let chats = chats(30, 2);
    let total: usize = chats.iter().map(|(_, s)| s.len()).sum();
    let stopped = Arc::new(std::sync::Mutex::new(None));
    let record = stopped.clone();
    let stop: Event = (
        total / 2,
        Box::new(move |c: &Cluster| {
            let began = Instant::now();
            let status = c.terminate(0, 30);
            *record.lock().unwrap() = Some((status, began.elapsed()));
        }),
    );
    load(&cluster, &chats, vec![stop]).await;
    let (status, took) = stopped.lock().unwrap().take().unwrap();
    assert!(status.success(), "SIGTERM ends with success, got {status:?}:\n{}", cluster.log_of(0));
    assert!(cluster.log_of(0).contains("stopped"), "{}", cluster.log_of(0));
    // What it had claimed was handed back: the other instance finishes well within a lease.
    let after = Instant::now();
    cluster.drained(60).await;
    eprintln!("sigterm: stopped in {took:?}; the rest drained {:?} after the load", after.elapsed());
    check_outcome(&cluster, &chats).await;
    let teduh::store::Db::Postgres(pool) = cluster.pg.store.db() else { unreachable!() };
    let steps: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(version), 0)::BIGINT FROM conversations")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(steps as usize, total);
    match Arc::try_unwrap(cluster) {
        Ok(cluster) => cluster.stop().await,
        Err(_) => panic!("cluster still shared"),
    }
}

/// A Redis server of the test's own, on its own port, so it can be stopped.
struct OwnRedis {
    child: Option<std::process::Child>,
}

impl OwnRedis {
    fn start(port: u16) -> Option<Self> {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        std::thread::sleep(Duration::from_millis(300));
        Some(Self { child: Some(child) })
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn ready_json(cluster: &Cluster, i: usize) -> (u16, Value) {
    cluster.ready_status(i).await.expect("instance answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_restart_loses_nothing_and_the_instances_recover_by_themselves() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let port = common::cluster::free_port();
    let Some(mut redis) = OwnRedis::start(port) else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("redis-server is required in CI");
        }
        eprintln!("skipping: no redis-server binary");
        return;
    };
    let url = format!("redis://127.0.0.1:{port}");
    let Some(cluster) = Cluster::start("redis_restart", 2, Some(url)).await else { return };
    let cluster = Arc::new(cluster);
    let first = chats(10, 1);
    load(&cluster, &first, Vec::new()).await;

    redis.stop();
    // Readiness turns false on both; webhooks are still taken (the database is the record).
    for i in 0..2 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = ready_json(&cluster, i).await;
            if status == 503 {
                assert_eq!(body["coordination"]["status"], "unreachable", "{body}");
                assert_eq!(body["database"]["status"], "ok", "{body}");
                break;
            }
            assert!(Instant::now() < deadline, "instance {i} still ready without Redis: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let second: Vec<(i64, &'static [&'static str])> = (0..10).map(|i| (710_000 + i, MENU)).collect();
    load(&cluster, &second, Vec::new()).await;

    let mut redis = OwnRedis::start(port).expect("redis-server restarts");
    for i in 0..2 {
        let deadline = Instant::now() + Duration::from_secs(20);
        while ready_json(&cluster, i).await.0 != 200 {
            assert!(Instant::now() < deadline, "instance {i} did not recover:\n{}", cluster.log_of(i));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let third: Vec<(i64, &'static [&'static str])> = (0..10).map(|i| (720_000 + i, MENU)).collect();
    load(&cluster, &third, Vec::new()).await;
    cluster.drained(60).await;
    let all: Vec<_> = first.iter().chain(&second).chain(&third).copied().collect();
    check_outcome(&cluster, &all).await;
    redis.stop();
    match Arc::try_unwrap(cluster) {
        Ok(cluster) => cluster.stop().await,
        Err(_) => panic!("cluster still shared"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_its_database_an_instance_answers_503_and_writes_nothing_half() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(mut cluster) = Cluster::start("database_outage", 0, None).await else { return };
    let proxy = common::cluster::Proxy::start(common::cluster::host_port(&common::pg_url())).await;
    let i = cluster.add_instance();
    cluster.spawn(i, &proxy.url(&cluster.database_url));
    cluster.wait_ready(i, 60).await;

    let chat = 730_001;
    let hello = cluster.text(chat, "halo");
    let post = |update: &Value| {
        cluster
            .http
            .post(format!("{}/webhook/telegram", cluster.base(i)))
            .header("X-Telegram-Bot-Api-Secret-Token", common::cluster::SECRET)
            .json(update)
            .send()
    };
    proxy.cut();
    let response = post(&hello).await.unwrap();
    assert_eq!(response.status(), 503, "Telegram must deliver it again");
    let (status, body) = ready_json(&cluster, i).await;
    assert_eq!(status, 503);
    assert_eq!(body["database"]["status"], "unreachable", "{body}");

    // Back: Telegram's redelivery of the same update is stored once and answered once.
    proxy.restore();
    cluster.wait_ready(i, 30).await;
    assert!(post(&hello).await.unwrap().status().is_success());
    assert!(post(&hello).await.unwrap().status().is_success(), "a duplicate is acknowledged");
    cluster.drained(30).await;
    let teduh::store::Db::Postgres(pool) = cluster.pg.store.db() else { unreachable!() };
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbound").fetch_one(pool).await.unwrap();
    assert_eq!(stored, 1, "the refused delivery left nothing behind");
    let (transcripts, _) = cluster.fake.transcripts();
    assert_eq!(transcripts.get(&chat).map(Vec::len), expected(&["halo"]).await.len().into());
    drop(proxy);
    cluster.stop().await;
}
