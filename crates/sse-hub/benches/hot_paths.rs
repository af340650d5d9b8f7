//! Hot paths through the public API: validating and encoding an event
//! (publish with no subscriber), routing a tenant-scoped event among many
//! wildcard patterns and groups, and coalescing a burst on one connection.
//!
//! `cargo bench -p sse-hub --bench hot_paths`
#![allow(missing_docs, clippy::unwrap_used)] // criterion macros; a bench may panic on setup failure

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::{FutureExt, StreamExt};
use sse_hub::{Config, Connecting, Event, Hub, Priority, Scope};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// Validation + one encode (+ an empty route): what every publish pays once.
fn encode(c: &mut Criterion) {
    let hub = Hub::new(Config::new().max_event_bytes(1 << 20)).unwrap();
    let mut group = c.benchmark_group("encode");
    group.measurement_time(Duration::from_secs(3));
    for (name, data) in [
        ("64B", "x".repeat(64)),
        ("4KiB", "x".repeat(4096)),
        ("4KiB_multiline", "line of text\n".repeat(315)),
    ] {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &data, |b, data| {
            b.iter(|| {
                hub.publish(
                    Event::new("update")
                        .data(data.as_str())
                        .topic("nobody.here"),
                )
                .unwrap()
            });
        });
    }
    group.finish();
}

/// 10,000 connections spread over 1,000 tenants, with exact and wildcard
/// patterns; a tenant-scoped (intersect) event reaches that tenant's 10.
fn route_with_groups(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let hub = Hub::new(Config::new().max_connections(20_000)).unwrap();
    let mut streams = Vec::new();
    rt.block_on(async {
        for i in 0..10_000 {
            let pattern = match i % 3 {
                0 => "orders.*".to_owned(),
                1 => "orders.>".to_owned(),
                _ => format!("orders.{}", i % 50),
            };
            let mut stream = hub
                .subscribe(
                    Connecting::new()
                        .with_topics([pattern])
                        .with_metadata("tenant_id", format!("t{}", i % 1000)),
                )
                .await
                .unwrap();
            stream.next().await.unwrap();
            streams.push(stream);
        }
    });
    // Tenant t7's ten connections all hold a pattern matching `orders.7`.
    let recipients: Vec<usize> = (0..10_000).filter(|i| i % 1000 == 7).collect();
    c.bench_function("route_intersect_10k_conns_1k_tenants", |b| {
        b.iter(|| {
            let receipt = hub
                .publish(
                    Event::new("created")
                        .data("{}")
                        .topic("orders.7")
                        .group("tenant_id", "t7")
                        .scope(Scope::Intersect),
                )
                .unwrap();
            assert_eq!(receipt.recipients, recipients.len());
            for &i in &recipients {
                let _ = streams[i].next().now_or_never();
            }
        });
    });
}

/// 1,000 coalesced updates over 10 keys land on one paused connection; the
/// resume flushes the 10 survivors at once (no timer in the measurement).
fn coalesce(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let hub = Hub::new(Config::new()).unwrap();
    let mut stream = rt
        .block_on(hub.subscribe(Connecting::new().with_topics(["progress"])))
        .unwrap();
    rt.block_on(stream.next()).unwrap();
    let id = stream.connection_id().unwrap();
    let mut group = c.benchmark_group("coalesce");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("1000_updates_10_keys", |b| {
        b.iter(|| {
            hub.pause(id).unwrap();
            for n in 0..1000u32 {
                hub.publish(
                    Event::new("progress")
                        .data(n.to_string())
                        .topic("progress")
                        .priority(Priority::Coalesced)
                        .coalesce_key(format!("k{}", n % 10)),
                )
                .unwrap();
            }
            hub.resume(id).unwrap();
            let chunk = stream.next().now_or_never().flatten().unwrap();
            assert_eq!(chunk.iter().filter(|&&b| b == b'\n').count(), 10 * 4);
        });
    });
    group.finish();
}

criterion_group!(benches, encode, route_with_groups, coalesce);
criterion_main!(benches);
