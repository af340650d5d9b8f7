//! Publishing to a topic with 100 subscribers while 0, 10,000 or 100,000
//! unrelated connections exist. Routing is indexed, so the unrelated
//! connections must not make a publish measurably slower.
//!
//! Each iteration publishes one event and lets the 100 subscribers take it
//! (so queues never fill and the drop path is never measured).
//!
//! `cargo bench -p sse-hub --bench publish`
#![allow(missing_docs, clippy::unwrap_used)] // criterion macros; a bench may panic on setup failure

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures_util::{FutureExt, StreamExt};
use sse_hub::{Config, Connecting, Event, EventStream, Hub};

const SUBSCRIBERS: usize = 100;

fn setup(
    rt: &tokio::runtime::Runtime,
    unrelated: usize,
) -> (Hub, Vec<EventStream>, Vec<EventStream>) {
    let hub = Hub::new(Config::new().max_connections(unrelated + SUBSCRIBERS + 1)).unwrap();
    rt.block_on(async {
        let mut targets = Vec::with_capacity(SUBSCRIBERS);
        for _ in 0..SUBSCRIBERS {
            let mut stream = hub
                .subscribe(Connecting::new().with_topics(["bench.target"]))
                .await
                .unwrap();
            stream.next().await.unwrap();
            targets.push(stream);
        }
        let mut others = Vec::with_capacity(unrelated);
        for i in 0..unrelated {
            // A mix of exact topics, wildcards and tenants, none matching.
            let topic = match i % 3 {
                0 => format!("other.{i}"),
                1 => format!("other.{i}.*"),
                _ => format!("bench.{i}.>"),
            };
            let stream = hub
                .subscribe(
                    Connecting::new()
                        .with_topics([topic])
                        .with_metadata("tenant_id", format!("t{}", i % 1000)),
                )
                .await
                .unwrap();
            others.push(stream);
        }
        (hub.clone(), targets, others)
    })
}

fn publish_with_unrelated(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut group = c.benchmark_group("publish_100_subscribers");
    group.measurement_time(Duration::from_secs(4));
    group.sample_size(40);
    for unrelated in [0usize, 10_000, 100_000] {
        let (hub, mut targets, others) = setup(&rt, unrelated);
        group.bench_with_input(
            BenchmarkId::new("unrelated", unrelated),
            &unrelated,
            |b, _| {
                b.iter(|| {
                    let receipt = hub
                        .publish(Event::new("tick").data("{\"n\":1}").topic("bench.target"))
                        .unwrap();
                    assert_eq!(receipt.recipients, SUBSCRIBERS);
                    for stream in &mut targets {
                        let _ = stream.next().now_or_never();
                    }
                });
            },
        );
        drop(others);
    }
    group.finish();
}

criterion_group!(benches, publish_with_unrelated);
criterion_main!(benches);
