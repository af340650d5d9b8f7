//! The axum integration through real sockets and a real SSE client.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use sse_hub::axum::{DeadlineListener, SseLayer};
use sse_hub::{Config, Event, Hub};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

type ServeHandle = JoinHandle<std::io::Result<()>>;

async fn serve(app: Router, hub: &Hub) -> (SocketAddr, ServeHandle) {
    let listener = DeadlineListener::bind("127.0.0.1:0", hub.config())
        .await
        .unwrap();
    let addr = axum::serve::Listener::local_addr(&listener).unwrap();
    let drain = hub.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<sse_hub::axum::PeerAddr>(),
        )
        .with_graceful_shutdown(async move {
            let mut stopping = drain.stopping();
            let _ = stopping.wait_for(|stop| *stop).await;
        })
        .await
    });
    (addr, server)
}

async fn next<S: Stream<Item = eventsource_stream::Event> + Unpin>(
    events: &mut S,
) -> eventsource_stream::Event {
    tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("event within 5 s")
        .expect("stream open")
}

#[tokio::test]
async fn subscribe_publish_and_graceful_shutdown_with_open_streams() {
    let (events, hub) = sse_hub::axum::new_with_hub(Config::new()).unwrap();
    let app = Router::new().route_service("/events", events);
    let (addr, server) = serve(app, &hub).await;

    let response = reqwest::get(format!("http://{addr}/events?topic=orders.*"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    let mut stream = response
        .bytes_stream()
        .eventsource()
        .filter_map(|e| async move { e.ok() })
        .boxed();
    assert_eq!(next(&mut stream).await.event, "connected");
    hub.publish(Event::new("created").data("ord-1").topic("orders.eu"))
        .unwrap();
    let event = next(&mut stream).await;
    assert_eq!(
        (event.event.as_str(), event.data.as_str()),
        ("created", "ord-1")
    );
    assert!(!event.id.is_empty());

    let bad = reqwest::get(format!("http://{addr}/events?topic=a..b"))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_topic");

    let started = std::time::Instant::now();
    let report = hub.shutdown(Duration::from_secs(2)).await;
    assert_eq!(report.forced, 0);
    assert_eq!(next(&mut stream).await.event, "server-shutdown");
    tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .expect("axum graceful shutdown completes with SSE streams open")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn last_event_id_header_wins_over_query_and_may_be_utf8() {
    let seen = std::sync::Arc::new(parking_lot_free::Slot::default());
    let slot = seen.clone();
    let hub = Hub::new(Config::new().on_connect(move |c| {
        let slot = slot.clone();
        async move {
            slot.set(c.last_event_id.clone());
            Ok(c)
        }
    }))
    .unwrap();
    let app = Router::new().route_service("/events", sse_hub::axum::SseService::new(hub.clone()));
    let (addr, _server) = serve(app, &hub).await;
    let client = reqwest::Client::new();
    let response = client
        .get(format!(
            "http://{addr}/events?topic=t&lastEventID=from-query"
        ))
        .header("last-event-id", "ünïcode-1".as_bytes())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(seen.get().as_deref(), Some("ünïcode-1"));
    let response = client
        .get(format!(
            "http://{addr}/events?topic=t&lastEventID=from-query"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(seen.get().as_deref(), Some("from-query"));
}

#[tokio::test]
async fn layer_passes_requests_to_the_inner_service_when_next_says_so() {
    let hub = Hub::new(Config::new()).unwrap();
    let app = Router::new()
        .route("/events", get(|| async { "plain page" }))
        .layer(
            SseLayer::new(hub.clone()).next(|req: &axum::extract::Request| {
                req.headers().get("accept").map(|v| v.as_bytes()) != Some(b"text/event-stream")
            }),
        );
    let (addr, _server) = serve(app, &hub).await;
    let client = reqwest::Client::new();
    let plain = client
        .get(format!("http://{addr}/events?topic=t"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.text().await.unwrap(), "plain page");
    let sse = client
        .get(format!("http://{addr}/events?topic=t"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_by_the_write_deadline() {
    let (events, hub) = sse_hub::axum::new_with_hub(
        Config::new()
            .write_timeout(Duration::from_millis(300))
            .max_event_bytes(128 * 1024),
    )
    .unwrap();
    let app = Router::new().route_service("/events", events);
    let (addr, _server) = serve(app, &hub).await;
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    raw.write_all(b"GET /events?topic=t HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let wait = std::time::Instant::now();
    while hub.connection_count() == 0 {
        assert!(wait.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Never read: publish until the socket buffers are full and writes block.
    let payload = "x".repeat(100 * 1024);
    let start = std::time::Instant::now();
    while hub.connection_count() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "stuck client not closed"
        );
        let _ = hub.publish(Event::new("big").data(payload.clone()).topic("t"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(raw);
}

/// A tiny mutex-backed slot (the test needs no extra dependency).
mod parking_lot_free {
    use std::sync::Mutex;

    #[derive(Default)]
    pub(crate) struct Slot(Mutex<Option<String>>);

    impl Slot {
        pub(crate) fn set(&self, value: Option<String>) {
            *self.0.lock().unwrap() = value;
        }
        pub(crate) fn get(&self) -> Option<String> {
            self.0.lock().unwrap().clone()
        }
    }
}
