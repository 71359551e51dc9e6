//! Coordination through a real Redis: one send bucket shared by three instances, wake-ups that
//! reach every instance, delivery keys, and readiness when Redis is away.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use teduh::coord::{Coordination, RedisCoord, Topic, Wakers};

async fn instance(prefix: &str) -> (RedisCoord, Wakers) {
    let wakers = Wakers::default();
    let coord = RedisCoord::connect(&common::redis_url(), prefix, wakers.clone()).await.unwrap();
    (coord, wakers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_share_one_send_rate() {
    if !common::redis_available("three_instances_share_one_send_rate").await {
        return;
    }
    let prefix = common::unique_prefix("bucket");
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(Arc::new(instance(&prefix).await.0));
    }
    // Each instance sends as fast as the shared bucket (20/s) lets it, for 1.5 s.
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for coord in instances {
        tasks.spawn(async move {
            let mut sent = Vec::new();
            while start.elapsed() < Duration::from_millis(1_500) {
                let wait = coord.reserve_token("telegram", 20.0, 1.0).await.unwrap();
                tokio::time::sleep(wait).await;
                if start.elapsed() < Duration::from_millis(1_500) {
                    sent.push(start.elapsed());
                }
            }
            sent
        });
    }
    let mut all: Vec<Duration> = Vec::new();
    let mut per_instance = Vec::new();
    while let Some(sent) = tasks.join_next().await {
        let sent = sent.unwrap();
        per_instance.push(sent.len());
        all.extend(sent);
    }
    all.sort();
    // 1 token at start plus 20 per second: at most 31 in 1.5 s, whatever three instances do.
    assert!(all.len() <= 31, "{} sends in 1.5 s at 20/s", all.len());
    assert!(all.len() >= 24, "the bucket should give close to its rate, gave {}", all.len());
    // In any one-second window, at most 21 (the burst of 1 plus 20).
    for (i, at) in all.iter().enumerate() {
        let within = all[i..].iter().take_while(|t| **t < *at + Duration::from_secs(1)).count();
        assert!(within <= 21, "{within} sends within a second from {at:?}");
    }
    assert!(per_instance.iter().all(|n| *n > 0), "every instance got tokens: {per_instance:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_up_reaches_every_instance_and_deliveries_are_remembered() {
    if !common::redis_available("wake_ups").await {
        return;
    }
    let prefix = common::unique_prefix("wake");
    let (a, _) = instance(&prefix).await;
    let (b, b_wakers) = instance(&prefix).await;
    let (other, other_wakers) = instance(&common::unique_prefix("other")).await;
    // The listeners wake everything once when they have subscribed; wait for those wake-ups,
    // so both are listening before the test's own.
    for wakers in [&b_wakers, &other_wakers] {
        tokio::time::timeout(Duration::from_secs(5), wakers.inbox.notified())
            .await
            .expect("the listener subscribed and woke its workers");
    }
    let b_inbox = b_wakers.inbox.notified();
    let other_inbox = other_wakers.inbox.notified();
    tokio::pin!(b_inbox, other_inbox);
    b_inbox.as_mut().enable();
    other_inbox.as_mut().enable();
    a.notify(Topic::Inbox).await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), b_inbox).await.expect("instance b was woken");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), other_inbox).await.is_err(),
        "another deployment's prefix is not woken"
    );

    assert!(!a.seen("k1").await.unwrap());
    a.remember("k1").await.unwrap();
    assert!(b.seen("k1").await.unwrap(), "a delivery one instance stored is known to the others");
    assert!(!other.seen("k1").await.unwrap());
}

#[tokio::test]
async fn an_unreachable_redis_is_reported_not_fatal() {
    // Nothing listens on port 1.
    let coord =
        RedisCoord::connect("redis://127.0.0.1:1", "teduh-test-down", Wakers::default()).await.unwrap();
    assert!(coord.ping().await.is_err());
    assert!(coord.reserve_token("telegram", 30.0, 1.0).await.is_err());
    assert!(coord.seen("k").await.is_err());
}
