//! Direct writes (`Config::direct_write_gap`) on the SSE fast path of
//! `serve_with_sse`, through real sockets: they happen, they keep order
//! when mixed with the stream's own writes, they survive partial writes,
//! and a client that stops reading is still closed by the write deadline.

use std::net::SocketAddr;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use sse_hub::{Config, Event, Hub};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::serve_fast_path;

type Events = std::pin::Pin<Box<dyn Stream<Item = eventsource_stream::Event> + Send>>;

/// An SSE client past its `connected` event.
async fn client(addr: SocketAddr, topic: &str) -> Events {
    let response = reqwest::get(format!("http://{addr}/events?topic={topic}"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut events: Events = Box::pin(
        response
            .bytes_stream()
            .eventsource()
            .filter_map(|event| async move { event.ok() }),
    );
    assert_eq!(next(&mut events).await.event, "connected");
    events
}

/// A hub with direct writes for connections whose events come 2 ms apart
/// or less often.
fn direct_hub() -> Hub {
    Hub::new(Config::new().direct_write_gap(Some(Duration::from_millis(2)))).unwrap()
}

/// `n` SSE clients of topic `t`, served by `hub`.
async fn clients_of_t(hub: &Hub, n: usize) -> Vec<Events> {
    let addr = serve_fast_path(hub).await;
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(client(addr, "t").await);
    }
    clients
}

async fn next(events: &mut Events) -> eventsource_stream::Event {
    tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("event within 10 s")
        .expect("stream open")
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_to_quiet_connections_are_written_without_waking_their_tasks() {
    quiet_connections_get_direct_writes().await;
}

/// One worker: the direct writes run as a task on the same thread.
#[tokio::test(flavor = "current_thread")]
async fn direct_writes_work_on_a_current_thread_runtime() {
    quiet_connections_get_direct_writes().await;
}

async fn quiet_connections_get_direct_writes() {
    let hub = direct_hub();
    let mut clients = clients_of_t(&hub, 3).await;
    for i in 0..20 {
        hub.publish(Event::new("tick").data(i.to_string()).topic("t"))
            .unwrap();
        for events in &mut clients {
            let event = next(events).await;
            assert_eq!((event.event.as_str(), event.data), ("tick", i.to_string()));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = hub.stats(false);
    assert_eq!(stats.delivered, 60);
    assert_eq!(stats.writes, 60, "one write per event: nothing to batch");
    // Every event finds its stream parked and the connection quiet; on a
    // loaded machine a write job may still be finishing when the next event
    // comes (then that event wakes the stream instead), hence not all 60.
    assert!(stats.direct_writes >= 54, "{stats:?}");

    // Turned off, the same traffic goes through the streams.
    let hub = Hub::new(Config::new().direct_write_gap(None)).unwrap();
    let addr = serve_fast_path(&hub).await;
    let mut events = client(addr, "t").await;
    for i in 0..5 {
        hub.publish(Event::new("tick").data(i.to_string()).topic("t"))
            .unwrap();
        assert_eq!(next(&mut events).await.data, i.to_string());
    }
    assert_eq!(hub.stats(false).direct_writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_mix_direct_and_stream_writes_without_loss_or_reordering() {
    let hub = direct_hub();
    let mut clients = clients_of_t(&hub, 4).await;
    // Bursts of 1..=6 events, then a pause of 0..=4 ms: some events find the
    // stream parked and the connection quiet, others arrive right behind.
    let mut published = 0u32;
    for round in 0u32..150 {
        for _ in 0..=(round * 7 % 6) {
            hub.publish(Event::new("n").data(published.to_string()).topic("t"))
                .unwrap();
            published += 1;
        }
        tokio::time::sleep(Duration::from_millis(u64::from(round * 3 % 5))).await;
    }
    for events in &mut clients {
        for expected in 0..published {
            assert_eq!(next(events).await.data, expected.to_string());
        }
    }
    let stats = hub.stats(false);
    assert_eq!(stats.delivered, u64::from(published) * 4);
    assert!(stats.direct_writes > 0, "no direct write: {stats:?}");
    assert!(
        stats.direct_writes < stats.writes,
        "no stream write: {stats:?}"
    );
}

/// Reads the raw HTTP response until `want` complete events of type `name`
/// arrived, and returns their data in order.
async fn read_events(socket: &mut TcpStream, name: &str, want: usize) -> Vec<String> {
    let type_line = format!("event: {name}");
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let text = String::from_utf8_lossy(&buf);
        // Only complete events: those a blank line has ended.
        let complete = text.rfind("\n\n").map_or("", |end| &text[..end]);
        let data: Vec<String> = complete
            .split("\n\n")
            .filter_map(|block| {
                let lines: Vec<&str> = block.lines().collect();
                lines
                    .contains(&type_line.as_str())
                    .then(|| lines.iter().find_map(|l| l.strip_prefix("data: ")))
                    .flatten()
                    .map(str::to_owned)
            })
            .collect();
        if data.len() >= want {
            return data;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut chunk))
            .await
            .expect("data within 10 s")
            .unwrap();
        assert!(n > 0, "server closed the stream");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A raw TCP subscriber to topic `t` that reads only when the test says so.
async fn raw_subscriber(hub: &Hub) -> TcpStream {
    let addr = serve_fast_path(hub).await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /events?topic=t HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    wait_for("subscribed", || hub.connection_count() == 1).await;
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_socket_turns_direct_writes_back_into_stream_writes_intact() {
    let hub = Hub::new(
        Config::new()
            .direct_write_gap(Some(Duration::ZERO))
            .max_event_bytes(128 * 1024)
            .send_buffer_size(4096)
            .send_buffer_bytes(16 << 20),
    )
    .unwrap();
    let mut socket = raw_subscriber(&hub).await;
    // The client does not read while 200 events of 40 KiB (8 MB, more than
    // the loopback socket buffers hold) are published one by one: direct
    // writes fill the socket, then write partly, then not at all, and the
    // stream takes over.
    let events = 200;
    for i in 0..events {
        let data = format!("{i:05}{}", "x".repeat(40 * 1024));
        hub.publish(Event::new("big").data(data).topic("t"))
            .unwrap();
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let data = read_events(&mut socket, "big", events).await;
    for (i, data) in data.iter().enumerate() {
        assert_eq!(data.len(), 5 + 40 * 1024, "event {i} cut or merged");
        assert_eq!(&data[..5], format!("{i:05}"), "event {i} out of order");
    }
    let stats = hub.stats(false);
    assert!(stats.direct_writes > 0, "no direct write: {stats:?}");
    assert!(
        stats.direct_writes < stats.writes,
        "no stream write: {stats:?}"
    );
    assert_eq!(stats.dropped.queue_full, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_when_direct_writes_fill_its_socket() {
    let hub = Hub::new(
        Config::new()
            .direct_write_gap(Some(Duration::ZERO))
            .write_timeout(Duration::from_millis(300))
            .max_event_bytes(128 * 1024),
    )
    .unwrap();
    let socket = raw_subscriber(&hub).await;
    let payload = "x".repeat(32 * 1024);
    let start = std::time::Instant::now();
    while hub.connection_count() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "stuck client not closed: {:?}",
            hub.stats(false)
        );
        let _ = hub.publish(Event::new("big").data(payload.clone()).topic("t"));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(hub.stats(false).direct_writes > 0);
    drop(socket);
}

/// More quiet connections than one write job takes: the fan-out hands the
/// first ones to the workers while it is still offering to the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_larger_than_one_write_batch_reaches_everyone_in_order() {
    const CLIENTS: usize = 300;
    const EVENTS: usize = 5;
    let hub = direct_hub();
    let addr = serve_fast_path(&hub).await;
    let mut readers = Vec::new();
    for _ in 0..CLIENTS {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(b"GET /events?topic=t HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        readers.push(tokio::spawn(async move {
            read_events(&mut socket, "n", EVENTS).await
        }));
    }
    wait_for("all subscribed", || hub.connection_count() == CLIENTS).await;
    for i in 0..EVENTS {
        hub.publish(Event::new("n").data(i.to_string()).topic("t"))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let expected: Vec<String> = (0..EVENTS).map(|i| i.to_string()).collect();
    for reader in readers {
        assert_eq!(reader.await.unwrap(), expected);
    }
    let stats = hub.stats(false);
    assert_eq!(stats.delivered, (CLIENTS * EVENTS) as u64);
    // Most events go out as direct writes (a loaded CI may send a few
    // through the streams: see the saturation rule in `hub::fanout`).
    assert!(
        stats.direct_writes >= (CLIENTS * EVENTS / 2) as u64,
        "{stats:?}"
    );
}
