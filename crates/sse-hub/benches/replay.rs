//! Time to replay 10,000 events (everything after the first id) from each
//! store: the in-memory ring, and Redis Streams when a server answers at
//! `SSE_HUB_BENCH_REDIS` (default `redis://127.0.0.1:6379/`; skipped with a
//! message otherwise, or without the `redis` feature).
//!
//! `cargo bench -p sse-hub --features redis --bench replay`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)] // criterion macros; setup may panic

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use sse_hub::replay::{MemoryReplayer, Replayer, StoredEvent};
use sse_hub::{Metadata, Scope};

const EVENTS: usize = 10_000;

fn event(i: usize) -> StoredEvent {
    let mut group = Metadata::new();
    group.insert("tenant_id".into(), format!("t{}", i % 10));
    StoredEvent::new(
        format!("1700000000000-{i}"),
        Some("order.updated".into()),
        format!(r#"{{"order":{i},"status":"shipped","total":"129.90","currency":"EUR"}}"#),
        vec![format!("orders.{}", i % 16)],
        group,
        Scope::Intersect,
    )
}

fn fill(store: &dyn Replayer) -> String {
    for i in 0..=EVENTS {
        store.append(event(i));
    }
    event(0).id
}

fn bench_store(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, store: &dyn Replayer) {
    let first = fill(store);
    let check = rt.block_on(store.after(&first, EVENTS)).unwrap();
    assert!(check.found && !check.truncated && check.events.len() == EVENTS);
    c.bench_function(&format!("replay_10k/{name}"), |b| {
        b.iter(|| {
            let replay = rt.block_on(store.after(&first, EVENTS)).unwrap();
            assert_eq!(replay.events.len(), EVENTS);
            replay
        });
    });
}

fn replay(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let memory = MemoryReplayer::new(EVENTS * 2, Duration::from_secs(3600));
    bench_store(c, &rt, "memory", &memory);
    redis(c, &rt);
}

#[cfg(feature = "redis")]
fn redis(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    use sse_hub::replay::{RedisReplayOptions, RedisReplayer};
    let url =
        std::env::var("SSE_HUB_BENCH_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let prefix = format!("sse-hub-bench:{:016x}", rand::random::<u64>());
    let options = RedisReplayOptions::new()
        .key_prefix(prefix.clone())
        .max_events(EVENTS * 2)
        .write_timeout(Duration::from_secs(2));
    let store = match rt.block_on(RedisReplayer::connect(&url, options)) {
        Ok(store) => store,
        Err(err) => {
            eprintln!("replay_10k/redis skipped: no redis at {url} ({err})");
            return;
        }
    };
    bench_store(c, rt, "redis", &store);
    // Clean up: the stream and one mapping key per event.
    rt.block_on(async {
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let mut keys = vec![format!("{prefix}:events")];
        keys.extend((0..=EVENTS).map(|i| format!("{prefix}:id:{}", event(i).id)));
        for chunk in keys.chunks(1000) {
            let _: i64 = redis::cmd("DEL")
                .arg(chunk)
                .query_async(&mut con)
                .await
                .unwrap();
        }
    });
}

#[cfg(not(feature = "redis"))]
fn redis(_: &mut Criterion, _: &tokio::runtime::Runtime) {
    eprintln!("replay_10k/redis skipped: built without the `redis` feature");
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = replay
}
criterion_main!(benches);
