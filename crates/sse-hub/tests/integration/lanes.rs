//! Lanes, coalescing, throttle bands, TTL, pause/resume, on a paused clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sse_hub::{Config, Event, Priority};
use tokio::time::Instant;

use crate::common::{hub, Client, MS};

/// Base 400 ms: an idle connection's first window is 100 ms (the < 10 % band).
fn config() -> Config {
    Config::new().flush_interval(400 * MS)
}

fn ev(priority: Priority, key: &str, data: &str) -> Event {
    Event::new("update")
        .data(data)
        .topic("t")
        .priority(priority)
        .coalesce_key(key)
}

#[tokio::test(start_paused = true)]
async fn instant_is_immediate_batched_waits_for_the_flush_in_order() {
    let hub = hub(config());
    let mut client = Client::topics(&hub, &["t"]).await;
    let start = Instant::now();
    for data in ["b1", "b2", "b3"] {
        hub.publish(ev(Priority::Batched, "k", data)).unwrap();
    }
    hub.publish(ev(Priority::Instant, "k", "i1")).unwrap();
    let first = client.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.data, "i1");
    assert!(
        start.elapsed() < 5 * MS,
        "instant waited {:?}",
        start.elapsed()
    );
    let held = client.data(Duration::from_secs(1)).await;
    assert_eq!(held, ["b1", "b2", "b3"]);
}

#[tokio::test(start_paused = true)]
async fn coalesced_keeps_the_last_value_per_key_in_first_seen_order() {
    let hub = hub(config());
    let mut client = Client::topics(&hub, &["t"]).await;
    for (key, data) in [
        ("a", "a5%"),
        ("b", "b1"),
        ("a", "a8%"),
        ("b", "b2"),
        ("a", "a9%"),
    ] {
        hub.publish(ev(Priority::Coalesced, key, data)).unwrap();
    }
    assert_eq!(client.data(Duration::from_secs(1)).await, ["a9%", "b2"]);
}

#[tokio::test(start_paused = true)]
async fn progress_helper_coalesces_within_a_window() {
    let hub = hub(config());
    let mut client = Client::topics(&hub, &["imports"]).await;
    hub.progress("imports", "imp_1", None, 5, 100, None)
        .unwrap();
    hub.progress("imports", "imp_1", None, 8, 100, None)
        .unwrap();
    let events = client.drain(Duration::from_secs(1)).await;
    assert_eq!(events.len(), 1);
    let data: serde_json::Value = serde_json::from_str(&events[0].data).unwrap();
    assert_eq!(data["pct"], 8);
    assert_eq!(data["resource_id"], "imp_1");
    hub.complete("imports", "imp_1", None, true, None).unwrap();
    let done = client.next(Duration::from_secs(1)).await.unwrap();
    assert_eq!(done.event, "complete");
    assert!(done.data.contains(r#""status":"completed""#));
}

#[tokio::test(start_paused = true)]
async fn complete_is_never_overtaken_by_its_last_progress() {
    let hub = hub(config());
    let mut client = Client::topics(&hub, &["jobs"]).await;
    hub.progress("jobs", "job_1", None, 1, 4, None).unwrap();
    hub.progress("jobs", "job_2", None, 1, 4, None).unwrap();
    let first = client.drain(Duration::from_secs(1)).await;
    assert_eq!(first.len(), 2);
    // A progress update still waiting for the flush, then the completion.
    hub.progress("jobs", "job_1", None, 3, 4, None).unwrap();
    hub.progress("jobs", "job_2", None, 2, 4, None).unwrap();
    hub.complete("jobs", "job_1", None, true, None).unwrap();
    let events = client.drain(Duration::from_secs(1)).await;
    let seen: Vec<(String, serde_json::Value)> = events
        .iter()
        .map(|e| (e.event.clone(), serde_json::from_str(&e.data).unwrap()))
        .collect();
    let job_1: Vec<&str> = seen
        .iter()
        .filter(|(_, data)| data["resource_id"] == "job_1")
        .map(|(event, _)| event.as_str())
        .collect();
    assert_eq!(job_1, ["complete"], "no progress after complete: {seen:?}");
    let job_2 = seen
        .iter()
        .find(|(_, data)| data["resource_id"] == "job_2")
        .unwrap();
    assert_eq!(job_2.1["pct"], 50, "other keys keep coalescing");
}

/// Time from publishing one batched event to receiving it, after a window
/// that saw `burst` arrivals on a connection with `capacity` slots.
async fn window_after_burst(burst: usize, capacity: usize) -> Duration {
    let hub = hub(config().send_buffer_size(capacity));
    let mut client = Client::topics(&hub, &["t"]).await;
    for n in 0..burst {
        hub.publish(ev(Priority::Batched, "k", &n.to_string()))
            .unwrap();
    }
    assert_eq!(client.data(Duration::from_secs(1)).await.len(), burst);
    let start = Instant::now();
    hub.publish(ev(Priority::Batched, "k", "probe")).unwrap();
    assert_eq!(
        client.next(Duration::from_secs(10)).await.unwrap().data,
        "probe"
    );
    start.elapsed()
}

#[tokio::test(start_paused = true)]
async fn flush_interval_follows_the_saturation_bands() {
    // capacity 100: 5 → 5 % (base/4), 30 → base, 60 → ×2, 90 → ×4
    let cases = [(5, 100), (30, 400), (60, 800), (90, 1600)];
    for (burst, expected_ms) in cases {
        let took = window_after_burst(burst, 100).await;
        let expected = expected_ms * MS;
        assert!(
            took >= expected && took < expected + 20 * MS,
            "burst {burst}: waited {took:?}, expected {expected:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn expired_events_are_not_sent_and_are_counted() {
    let hub = hub(config());
    let mut client = Client::topics(&hub, &["t"]).await;
    hub.publish(ev(Priority::Batched, "k", "stale").ttl(50 * MS))
        .unwrap();
    hub.publish(ev(Priority::Batched, "k", "fresh").ttl(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(client.data(Duration::from_secs(1)).await, ["fresh"]);
    assert_eq!(hub.stats(false).expired, 1);
}

#[tokio::test(start_paused = true)]
async fn pause_holds_batched_and_coalesced_but_not_instant() {
    let pauses = Arc::new(AtomicUsize::new(0));
    let resumes = Arc::new(AtomicUsize::new(0));
    let (p, r) = (pauses.clone(), resumes.clone());
    let hub = hub(config()
        .on_pause(move |_| {
            p.fetch_add(1, Ordering::SeqCst);
        })
        .on_resume(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        }));
    let mut client = Client::topics(&hub, &["t"]).await;
    hub.pause(client.id).unwrap();
    hub.pause(client.id).unwrap();
    assert_eq!(hub.stats(false).paused, 1);
    hub.publish(ev(Priority::Batched, "k", "b1")).unwrap();
    hub.publish(ev(Priority::Coalesced, "p", "10%")).unwrap();
    hub.publish(ev(Priority::Coalesced, "p", "20%")).unwrap();
    hub.publish(ev(Priority::Instant, "k", "now")).unwrap();
    assert_eq!(client.data(Duration::from_secs(5)).await, ["now"]);
    let start = Instant::now();
    hub.resume(client.id).unwrap();
    hub.resume(client.id).unwrap();
    assert_eq!(client.data(5 * MS).await, ["b1", "20%"]);
    assert!(start.elapsed() <= 5 * MS, "resume flushes at once");
    assert_eq!(
        pauses.load(Ordering::SeqCst),
        1,
        "on_pause fires once per change"
    );
    assert_eq!(
        resumes.load(Ordering::SeqCst),
        1,
        "on_resume fires once per change"
    );
    assert_eq!(hub.stats(false).paused, 0);
}

#[tokio::test(start_paused = true)]
async fn overflow_while_paused_sends_resync_on_resume() {
    let hub = hub(config().send_buffer_size(3));
    let mut client = Client::topics(&hub, &["t"]).await;
    hub.pause(client.id).unwrap();
    for n in 0..10 {
        hub.publish(ev(Priority::Batched, "k", &n.to_string()))
            .unwrap();
    }
    hub.resume(client.id).unwrap();
    let events = client.drain(Duration::from_secs(1)).await;
    assert_eq!(events[0].event, "resync");
    assert!(events[0].data.contains("paused_overflow"));
    let data: Vec<&str> = events[1..].iter().map(|e| e.data.as_str()).collect();
    assert_eq!(data, ["0", "1", "2"]);
    let stats = hub.stats(false);
    assert_eq!(stats.dropped.paused_overflow, 7);
    assert_eq!(stats.replay.gaps, 1);
}

#[tokio::test(start_paused = true)]
async fn min_write_interval_holds_writes_only_after_a_backlog() {
    let hub = hub(config().min_write_interval(20 * MS));
    let mut client = Client::topics(&hub, &["t"]).await;
    // A lone event after a quiet period goes out at once.
    let start = Instant::now();
    hub.publish(ev(Priority::Instant, "k", "alone")).unwrap();
    assert_eq!(
        client.next(Duration::from_secs(1)).await.unwrap().data,
        "alone"
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
    // Two queued events are jitter, not a backlog: no hold after them.
    for data in ["x", "y"] {
        hub.publish(ev(Priority::Instant, "k", data)).unwrap();
    }
    assert_eq!(client.data(MS).await, ["x", "y"]);
    let quick = Instant::now();
    hub.publish(ev(Priority::Instant, "k", "z")).unwrap();
    assert_eq!(client.next(MS).await.unwrap().data, "z");
    assert_eq!(quick.elapsed(), Duration::ZERO);
    // A backlog (four events found by one write) starts a hold...
    for data in ["a", "b", "c", "d"] {
        hub.publish(ev(Priority::Instant, "k", data)).unwrap();
    }
    assert_eq!(client.data(MS).await, ["a", "b", "c", "d"]);
    let burst = Instant::now();
    hub.publish(ev(Priority::Instant, "k", "held-1")).unwrap();
    hub.publish(ev(Priority::Instant, "k", "held-2")).unwrap();
    // ...so the next events wait for the interval and go out together.
    assert!(client.next(10 * MS).await.is_none());
    let first = client.next(Duration::from_secs(1)).await.unwrap();
    let waited = burst.elapsed();
    assert_eq!(first.data, "held-1");
    assert!(waited >= 19 * MS && waited <= 21 * MS, "{waited:?}");
    assert_eq!(client.next(MS).await.unwrap().data, "held-2", "same write");
    let stats = hub.stats(false);
    assert_eq!(stats.delivered, 10);
    assert_eq!(stats.writes, 5, "alone, x+y, z, a..d, held-1+held-2");
}
