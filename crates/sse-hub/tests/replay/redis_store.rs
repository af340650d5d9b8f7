//! The suite and hub replay tests against `RedisReplayer` on a real Redis.

use std::time::Duration;

use sse_hub::replay::{Replayer, StoredEvent};

use crate::common::{Kind, Stores};
use crate::{hub, suite};

#[tokio::test]
async fn suite_redis() {
    let stores = Stores::new();
    suite::run_suite(
        |max_events| stores.make(Kind::Redis, max_events, suite::HOUR),
        false,
    )
    .await;
    stores.finish().await;
}

#[test]
fn proptest_redis() {
    suite::run_proptest(Kind::Redis, 24, false);
}

#[tokio::test]
async fn tenants_redis() {
    hub::tenants_replay_only_their_own(Kind::Redis).await;
}

#[tokio::test]
async fn resync_redis() {
    hub::unknown_or_expired_ids_resync(Kind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_redis() {
    hub::reconnect_race_loses_and_duplicates_nothing(Kind::Redis).await;
}

#[tokio::test]
async fn restart_redis() {
    hub::restart_replays_what_the_old_process_stored().await;
}

/// A store on another prefix sees nothing of this one; the keys are the
/// documented layout.
#[tokio::test]
async fn layout_and_isolation() {
    let stores = Stores::new();
    let prefix = stores.prefix();
    let store = stores.redis(&prefix, 100, suite::HOUR).await;
    store.append(suite::event(0));
    store.append(suite::event(1));
    store.flush().await.unwrap();
    let mut keys = stores.keys();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            format!("{prefix}:events"),
            format!("{prefix}:id:{}", suite::event(0).id),
            format!("{prefix}:id:{}", suite::event(1).id),
        ]
    );
    let other = stores.redis(&stores.prefix(), 100, suite::HOUR).await;
    assert!(!other.after(&suite::event(0).id, 10).await.unwrap().found);
    // The mapping expires with max_age.
    let mut con = redis::Client::open(crate::common::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:id:{}", suite::event(0).id))
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(ttl > 3_500_000 && ttl <= 3_600_000, "{ttl}");
}

/// A foreign or damaged stream entry is reported as corrupt, not a panic.
#[tokio::test]
async fn corrupt_entries_are_errors() {
    let stores = Stores::new();
    let prefix = stores.prefix();
    let store = stores.redis(&prefix, 100, suite::HOUR).await;
    store.append(suite::event(0));
    store.flush().await.unwrap();
    let mut con = redis::Client::open(crate::common::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg(format!("{prefix}:events"))
        .arg("*")
        .arg("id")
        .arg("x")
        .arg("topics")
        .arg("not json")
        .query_async(&mut con)
        .await
        .unwrap();
    let result = store.after(&suite::event(0).id, 10).await;
    assert!(
        matches!(result, Err(sse_hub::replay::ReplayError::Corrupt(_))),
        "{result:?}"
    );
}

/// Age retention: an id older than max_age is unknown.
#[tokio::test]
async fn age_retention() {
    let stores = Stores::new();
    let store = stores
        .redis(&stores.prefix(), 100, Duration::from_millis(150))
        .await;
    store.append(suite::event(0));
    store.append(suite::event(1));
    assert!(store.after(&suite::event(0).id, 10).await.unwrap().found);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!store.after(&suite::event(0).id, 10).await.unwrap().found);
}

/// Redis unreachable: connect fails, and a store whose Redis goes away
/// reports errors from `after` within the write timeout instead of hanging.
#[tokio::test]
async fn unreachable_redis_is_an_error() {
    use sse_hub::replay::{RedisReplayOptions, RedisReplayer};
    let options = RedisReplayOptions::new().write_timeout(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let err = RedisReplayer::connect("redis://127.0.0.1:1/", options.clone())
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{err}");
    assert!(RedisReplayer::connect("not a url", options).await.is_err());
}

/// Concurrent appenders: every append is written exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_are_all_written_once() {
    let stores = Stores::new();
    let store = stores.redis(&stores.prefix(), 100_000, suite::HOUR).await;
    store.append(StoredEvent::new(
        "first".into(),
        None,
        String::new(),
        vec!["t".into()],
        Default::default(),
        Default::default(),
    ));
    let mut tasks = Vec::new();
    for t in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..2_000 {
                store.append(suite::event(t * 10_000 + i));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let replay = store.after("first", 100_000).await.unwrap();
    assert!(replay.found && !replay.truncated);
    let mut ids: Vec<String> = replay.events.into_iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 8_000);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8_000);
}
