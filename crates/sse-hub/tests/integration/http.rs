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

/// Sends a raw GET and returns the response head (lower-cased header names)
/// and whatever body arrived within a moment of it.
async fn raw_get(
    addr: SocketAddr,
    target: &str,
    host: &str,
) -> (u16, Vec<(String, String)>, String) {
    use tokio::io::AsyncReadExt;
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n");
        if let Some(end) = end {
            let text = String::from_utf8_lossy(&buf[..end]).into_owned();
            let mut lines = text.split("\r\n");
            let status = lines.next().unwrap()[9..12].parse().unwrap();
            let headers = lines
                .map(|line| {
                    let (name, value) = line.split_once(':').unwrap();
                    (name.trim().to_ascii_lowercase(), value.trim().to_owned())
                })
                .collect();
            // The body: what is already there plus a moment more.
            let mut body = buf[end + 4..].to_vec();
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(200), socket.read(&mut chunk)).await
            {
                body.extend_from_slice(&chunk[..n]);
            }
            return (status, headers, String::from_utf8_lossy(&body).into_owned());
        }
        let n = tokio::time::timeout_at(deadline, socket.read(&mut chunk))
            .await
            .expect("response head within 5 s")
            .unwrap();
        assert!(n > 0, "closed before the head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A hub whose `on_connect` refuses by the `auth` query parameter, the way an
/// auth policy would.
fn refusing_hub() -> Hub {
    Hub::new(Config::new().on_connect(|connecting| async move {
        match connecting.query_param("auth").as_deref() {
            Some("none") => Err(sse_hub::Rejection::Unauthorized("no credential".into())),
            Some("bad") => Err(sse_hub::Rejection::InvalidToken("token rejected".into())),
            Some("scope") => Err(sse_hub::Rejection::Forbidden("not granted".into())),
            _ => Ok(connecting),
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn refused_subscribes_carry_the_bearer_challenge_on_both_paths() {
    let hub = refusing_hub();
    // The axum path.
    let router_hub = hub.clone();
    let app = Router::new().route(
        "/events",
        get(move |request: axum::extract::Request| {
            let hub = router_hub.clone();
            async move { sse_hub::axum::subscribe(&hub, request).await }
        }),
    );
    let (axum_addr, _server) = serve(app, &hub).await;
    // The fast path.
    let listener = DeadlineListener::bind("127.0.0.1:0", hub.config())
        .await
        .unwrap();
    let fast_addr = axum::serve::Listener::local_addr(&listener).unwrap();
    tokio::spawn(sse_hub::axum::serve_with_sse(
        listener,
        Router::new(),
        hub.clone(),
        "/events",
        std::future::pending(),
        Duration::from_secs(1),
    ));
    for addr in [axum_addr, fast_addr] {
        for (auth, status, challenge, code) in [
            ("none", 401, "Bearer", "unauthorized"),
            (
                "bad",
                401,
                "Bearer error=\"invalid_token\"",
                "invalid_token",
            ),
            (
                "scope",
                403,
                "Bearer error=\"insufficient_scope\"",
                "forbidden",
            ),
        ] {
            let (got, headers, body) =
                raw_get(addr, &format!("/events?topic=t&auth={auth}"), "localhost").await;
            assert_eq!(got, status, "{auth} at {addr}");
            assert_eq!(
                header(&headers, "www-authenticate"),
                Some(challenge),
                "{auth}"
            );
            assert_eq!(header(&headers, "content-type"), Some("application/json"));
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(json["error"]["code"], code, "{body}");
        }
        let (got, headers, _) = raw_get(addr, "/events?topic=a..b", "localhost").await;
        assert_eq!(got, 400);
        assert_eq!(header(&headers, "www-authenticate"), None);
    }
}

#[tokio::test]
async fn the_fast_path_route_sends_untaken_requests_to_the_router_and_adds_headers() {
    let hub = Hub::new(Config::new()).unwrap();
    let listener = DeadlineListener::bind("127.0.0.1:0", hub.config())
        .await
        .unwrap();
    let addr = axum::serve::Listener::local_addr(&listener).unwrap();
    let app = Router::new().route(
        "/events",
        get(|| async { (axum::http::StatusCode::FORBIDDEN, "refused by the router") }),
    );
    let route = sse_hub::axum::SseRoute::new("/events")
        .take(|parts| parts.headers.get("host").is_some_and(|h| h == "good"))
        .headers(|parts| {
            let mut headers = http::HeaderMap::new();
            if let Some(origin) = parts.headers.get("origin") {
                headers.insert("access-control-allow-origin", origin.clone());
            }
            headers.insert("vary", http::HeaderValue::from_static("Origin"));
            headers
        });
    tokio::spawn(sse_hub::axum::serve_with_sse_route(
        listener,
        app,
        hub.clone(),
        route,
        std::future::pending(),
        Duration::from_secs(1),
    ));
    let (status, headers, body) = raw_get(addr, "/events?topic=t", "evil").await;
    assert_eq!(status, 403);
    assert_eq!(body, "refused by the router");
    assert_eq!(header(&headers, "vary"), None, "the router's response");
    let (status, headers, body) = raw_get(addr, "/events?topic=t", "good").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("text/event-stream"));
    assert_eq!(header(&headers, "vary"), Some("Origin"));
    assert!(body.contains("event: connected"), "{body}");
    // Refusals on the fast path get the headers too.
    let (status, headers, _) = raw_get(addr, "/events?topic=a..b", "good").await;
    assert_eq!(status, 400);
    assert_eq!(header(&headers, "vary"), Some("Origin"));
}

/// `HEAD` on the subscribe route answers the SSE headers and subscribes
/// nobody, through `SseService` on a plain router and through the fast path
/// of `serve_with_sse` (which hands `HEAD` to the router).
#[tokio::test]
async fn head_answers_without_subscribing_on_both_paths() {
    use sse_hub::axum::{SseService, EVENTS_PATH};
    let hub = Hub::new(Config::new()).unwrap();
    let app = Router::new().route_service(EVENTS_PATH, SseService::new(hub.clone()));
    let (plain, _server) = serve(app.clone(), &hub).await;
    let listener = DeadlineListener::bind("127.0.0.1:0", hub.config())
        .await
        .unwrap();
    let fast = axum::serve::Listener::local_addr(&listener).unwrap();
    let drain = hub.clone();
    let _fast_server = tokio::spawn(sse_hub::axum::serve_with_sse(
        listener,
        app,
        hub.clone(),
        EVENTS_PATH,
        async move {
            let mut stopping = drain.stopping();
            let _ = stopping.wait_for(|stop| *stop).await;
        },
        Duration::from_secs(1),
    ));
    let client = reqwest::Client::new();
    for addr in [plain, fast] {
        let response = client
            .head(format!("http://{addr}{EVENTS_PATH}?topic=t"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{addr}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert!(response.bytes().await.unwrap().is_empty());
    }
    assert_eq!(hub.stats_with(&sse_hub::StatsOptions::new()).connects, 0);
    // GET on the fast path still subscribes.
    let response = client
        .get(format!("http://{fast}{EVENTS_PATH}?topic=t"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(hub.stats_with(&sse_hub::StatsOptions::new()).connects, 1);
}
