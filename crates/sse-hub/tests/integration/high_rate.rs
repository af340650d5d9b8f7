//! High-rate feeds through real sockets on the SSE fast path of
//! `serve_with_sse`: readers that keep up are never cut by the hub's own
//! batching (write hold, flush tick) whatever the queue bounds, and a reader
//! that stops reading is the only one cut, with a `slow-consumer` goodbye.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use sse_hub::{Config, Event, Hub, Overflow, Priority};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::serve_fast_path;
use tokio::time::MissedTickBehavior;

/// What a reader saw so far.
#[derive(Default)]
struct Seen {
    updates: AtomicUsize,
    ended: AtomicBool,
}

/// An SSE client that reads as fast as it can and counts the events of type
/// `update` until the stream ends or `stop` is set.
fn reader(addr: SocketAddr, stop: tokio::sync::watch::Receiver<bool>) -> Arc<Seen> {
    let seen = Arc::new(Seen::default());
    let out = seen.clone();
    tokio::spawn(async move {
        let response = reqwest::get(format!("http://{addr}/events?topic=t"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut events = response
            .bytes_stream()
            .eventsource()
            .filter_map(|event| async move { event.ok() })
            .boxed();
        let mut stop = stop;
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(event) if event.event == "update" => {
                        seen.updates.fetch_add(1, Ordering::SeqCst);
                    }
                    Some(_) => {}
                    None => {
                        seen.ended.store(true, Ordering::SeqCst);
                        return;
                    }
                },
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    });
    out
}

/// Waits until every reader has counted `want` events; none may be cut.
async fn all_read(readers: &[Arc<Seen>], want: usize) {
    wait_for("every event read", || {
        readers.iter().all(|seen| {
            assert!(
                !seen.ended.load(Ordering::SeqCst),
                "a reader that keeps up was cut"
            );
            seen.updates.load(Ordering::SeqCst) >= want
        })
    })
    .await;
    for seen in readers {
        assert_eq!(seen.updates.load(Ordering::SeqCst), want);
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(20), "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `clients` readers on `hub`; publishes `ticks` bursts of `burst` events of
/// `size` bytes, one burst per millisecond, far faster than the write hold
/// and the flush interval let through: every reader must get every event
/// and none may be cut.
async fn fast_readers_get_everything(
    hub: Hub,
    clients: usize,
    ticks: usize,
    burst: usize,
    size: usize,
    priority: Priority,
) {
    let addr = serve_fast_path(&hub).await;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let readers: Vec<_> = (0..clients).map(|_| reader(addr, stop.clone())).collect();
    wait_for("readers connected", || hub.connection_count() == clients).await;
    let data = "x".repeat(size);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for _ in 0..ticks {
        tick.tick().await;
        for _ in 0..burst {
            hub.publish(
                Event::new("update")
                    .data(data.as_str())
                    .topic("t")
                    .priority(priority),
            )
            .unwrap();
        }
    }
    all_read(&readers, ticks * burst).await;
    let _ = stop_tx.send(true);
    let stats = hub.stats(false);
    assert_eq!(stats.dropped.overflow_disconnects, 0);
    assert_eq!(stats.dropped.queue_full, 0);
}

fn held(hold_ms: u64, flush_ms: u64) -> Config {
    Config::new()
        .min_write_interval(Duration::from_millis(hold_ms))
        .flush_interval(Duration::from_millis(flush_ms))
        .overflow(Overflow::Disconnect)
}

/// A 200 ms write hold at 8 events per ms would queue 1,600 events; the
/// queue holds 256, so only releasing the hold early keeps the readers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_write_hold_does_not_overflow_fast_readers() {
    let hub = Hub::new(held(200, 2000).send_buffer_size(256)).unwrap();
    fast_readers_get_everything(hub, 3, 500, 8, 64, Priority::Instant).await;
}

/// The same through the batched lane, whose flush tick (here 2 s) holds
/// events until the queue passes a quarter of its bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flush_tick_does_not_overflow_fast_readers() {
    let hub = Hub::new(held(0, 2000).send_buffer_size(256)).unwrap();
    fast_readers_get_everything(hub, 3, 500, 8, 64, Priority::Batched).await;
}

/// Bounded by bytes: 2 KiB events, 64 KiB of queue, released past 16 KiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_byte_bound_does_not_overflow_fast_readers() {
    let hub = Hub::new(
        held(200, 2000)
            .send_buffer_size(100_000)
            .max_event_bytes(16 * 1024)
            .send_buffer_bytes(64 * 1024),
    )
    .unwrap();
    fast_readers_get_everything(hub, 3, 500, 1, 2048, Priority::Instant).await;
}

/// A subscriber that reads its response head, then nothing.
async fn stalled_subscriber(addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut socket = socket.connect(addr).await.unwrap();
    socket
        .write_all(b"GET /events?topic=t HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 256];
    let n = socket.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 200"));
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_reader_that_stops_is_cut_and_it_is_told_why() {
    let hub = Hub::new(held(20, 2000).overflow(Overflow::Disconnect)).unwrap();
    let addr = serve_fast_path(&hub).await;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let fast: Vec<_> = (0..2).map(|_| reader(addr, stop.clone())).collect();
    let mut slow = stalled_subscriber(addr).await;
    wait_for("subscribers connected", || hub.connection_count() == 3).await;
    // 16 KiB events, one per ms, until the stalled subscriber is cut (its
    // kernel buffers and its 1 MiB queue full).
    let data = "x".repeat(16 * 1024);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut published = 0;
    while hub.stats(false).dropped.overflow_disconnects == 0 {
        assert!(published < 20_000, "the stalled subscriber was never cut");
        tick.tick().await;
        hub.publish(Event::new("update").data(data.as_str()).topic("t"))
            .unwrap();
        published += 1;
    }
    for _ in 0..100 {
        tick.tick().await;
        hub.publish(Event::new("update").data(data.as_str()).topic("t"))
            .unwrap();
        published += 1;
    }
    all_read(&fast, published).await;
    let _ = stop_tx.send(true);
    assert_eq!(hub.stats(false).dropped.overflow_disconnects, 1);
    // What the stalled subscriber was sent ends with the goodbye.
    let mut tail = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), slow.read(&mut buf))
            .await
            .expect("the cut stream ends")
            .unwrap();
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buf[..n]);
        let keep = tail.len().saturating_sub(4096);
        tail.drain(..keep);
    }
    let tail = String::from_utf8_lossy(&tail);
    assert!(tail.contains("event: slow-consumer"), "{tail}");
}
