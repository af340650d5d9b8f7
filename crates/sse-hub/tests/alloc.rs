//! Allocations per publish to one subscriber, counted by a wrapping global
//! allocator (own test binary: the allocator is process-wide).
//!
//! `cargo test -p sse-hub --release --test alloc -- --nocapture` prints the
//! figures; BENCHMARKS.md quotes them. Only allocations made inside
//! `Hub::publish` are counted (the event is
//! built before, the subscriber takes the frame after), on a current-thread
//! runtime so no other thread does the publish's work.
//!
//! The bounds below are the figures measured when the publish path was made
//! lean (issue 11 item 3): a change that adds an allocation per publish fails
//! here and must be deliberate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use sse_hub::replay::MemoryReplayer;
use sse_hub::{Config, Connecting, Event, Hub, Priority};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations (reallocations included) made by `f`. The allocator is
/// process-wide: this binary holds one test, on a current-thread runtime.
fn count<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let region = Region::new(GLOBAL);
    let out = f();
    let change = region.change();
    (out, (change.allocations + change.reallocations) as u64)
}

/// Median allocations per `Hub::publish` to one subscriber over `rounds`.
fn per_publish(config: Config, make: impl Fn(u64) -> Event) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let hub = Hub::new(config).unwrap();
        let mut stream = hub
            .subscribe(Connecting::new().with_topics(["alloc.target"]))
            .await
            .unwrap();
        // The connection's preamble (retry/comment).
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        let mut counts = Vec::new();
        for n in 0..200u64 {
            let event = make(n);
            let (receipt, allocs) = count(|| hub.publish(event));
            assert_eq!(receipt.unwrap().recipients, 1);
            counts.push(allocs);
            // Let the subscriber take the frame so its queue never fills.
            while stream.next().now_or_never().flatten().is_some() {}
        }
        counts.sort_unstable();
        counts[counts.len() / 2]
    })
}

fn json_event(n: u64) -> Event {
    Event::new("tick")
        .data(format!("{{\"n\":{n}}}"))
        .topic("alloc.target")
}

// Publish with no replay store: what every publish pays.
const MAX_PLAIN: u64 = 7;
// With an in-memory replay store (the stored copy adds its own).
const MAX_REPLAY: u64 = 14;
// On the coalesced lane (the coalesce key is needed).
const MAX_COALESCED: u64 = 8;

#[test]
fn allocations_per_publish_to_one_subscriber() {
    let plain = per_publish(Config::new(), json_event);
    let replay = per_publish(
        Config::new().replayer(Arc::new(MemoryReplayer::new(
            100_000,
            Duration::from_secs(600),
        ))),
        json_event,
    );
    let coalesced = per_publish(Config::new(), |n| {
        json_event(n)
            .priority(Priority::Coalesced)
            .coalesce_key("k")
    });
    println!("allocations per publish to one subscriber: plain {plain}, memory replay {replay}, coalesced {coalesced}");
    assert!(plain <= MAX_PLAIN, "plain: {plain} > {MAX_PLAIN}");
    assert!(replay <= MAX_REPLAY, "replay: {replay} > {MAX_REPLAY}");
    assert!(
        coalesced <= MAX_COALESCED,
        "coalesced: {coalesced} > {MAX_COALESCED}"
    );
}
