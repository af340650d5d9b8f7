//! Auth, health, turning subscribers away, draining, graceful shutdown, SIGTERM.

use std::process::Stdio;
use std::time::{Duration, Instant};

use eventsource_stream::Eventsource as _;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{binary_command, error_of, free_port, json_of, Server, Sse, WAIT};

#[tokio::test]
async fn publish_requires_the_token_when_configured() {
    let server = Server::start(&["--publish-token", "s3cret"]).await;
    let client = server.client();
    let event = json!({"topics": ["t"], "data": "x"});
    let routes = [
        "/publish",
        "/connections/00000000000000000000000000000000/pause",
    ];
    for path in routes {
        for (auth, challenge, expected) in [
            (None, "Bearer", "unauthorized"),
            (Some("Basic s3cret"), "Bearer", "unauthorized"),
            (
                Some("Bearer wrong"),
                "Bearer error=\"invalid_token\"",
                "invalid_token",
            ),
            (
                Some("Bearer s3cre"),
                "Bearer error=\"invalid_token\"",
                "invalid_token",
            ),
        ] {
            let mut request = client.post(server.url(path)).json(&event);
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.headers()["www-authenticate"], challenge);
            let (code, message) = error_of(response, 401).await;
            assert_eq!(code, expected, "{path} {auth:?}");
            assert!(!message.contains("s3cret"));
        }
    }
    let stats = client
        .get(server.url("/stats?connections=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(stats, 401).await.0, "unauthorized");
    let stats = client.get(server.url("/stats")).send().await.unwrap();
    assert_eq!(stats.status(), 200);
    // The right token (the helper sends it) is accepted.
    assert_eq!(server.publish(event).await.len(), 1);
}

#[tokio::test]
async fn health_stats_demo_and_unknown_routes() {
    let server = Server::start(&[]).await;
    let client = server.client();
    for path in ["/healthz", "/readyz"] {
        assert_eq!(
            client.get(server.url(path)).send().await.unwrap().status(),
            200
        );
    }
    let _sse = server.subscribe(&["t"]).await;
    let stats: Value = json_of(client.get(server.url("/stats"))).await;
    assert_eq!(stats["connections"], 1, "{stats}");
    assert!(stats["connection_details"].is_null(), "{stats}");
    let metrics = client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("sse_hub_connections 1"), "{metrics}");
    assert!(
        metrics.contains("sse_hub_events_dropped_total{reason=\"queue_full\"} 0"),
        "{metrics}"
    );
    let bad_query = client
        .get(server.url("/stats?connections=maybe"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(bad_query, 400).await.0, "invalid_query");

    let demo = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(demo.status(), 200);
    assert!(demo.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = demo.text().await.unwrap();
    for needle in ["/client.js", "SseHubClient", "/publish", "/stats"] {
        assert!(page.contains(needle), "demo page lacks {needle}");
    }
    let client_js = client.get(server.url("/client.js")).send().await.unwrap();
    assert_eq!(client_js.status(), 200);
    assert_eq!(
        client_js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let module = client_js.text().await.unwrap();
    assert!(
        module.contains("export class SseHubClient"),
        "not the client module"
    );

    let missing = client.get(server.url("/nope")).send().await.unwrap();
    assert_eq!(error_of(missing, 404).await.0, "not_found");
    let wrong_method = client.get(server.url("/publish")).send().await.unwrap();
    assert_eq!(error_of(wrong_method, 405).await.0, "method_not_allowed");
    let no_topic = client.get(server.url("/events")).send().await.unwrap();
    assert_eq!(error_of(no_topic, 400).await.0, "missing_topic");
    let bad_topic = client
        .get(server.url("/events?topic=a..b"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(bad_topic, 400).await.0, "invalid_topic");
}

/// Reads a turned-away response: 200, a `retry:` first, one control event, then the end.
async fn turned_away(response: reqwest::Response) -> (u64, String) {
    assert_eq!(response.status(), 200);
    let body = tokio::time::timeout(WAIT, response.text())
        .await
        .expect("turned-away stream ends")
        .unwrap();
    let retry: u64 = body
        .strip_prefix("retry: ")
        .and_then(|rest| rest.split('\n').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no retry first: {body:?}"));
    let chunk = Ok::<_, std::convert::Infallible>(body.into_bytes());
    let events: Vec<_> = futures_util::stream::iter([chunk])
        .eventsource()
        .collect()
        .await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = events.into_iter().next().unwrap().unwrap();
    (retry, event.event)
}

#[tokio::test]
async fn over_the_connection_cap_is_told_to_retry() {
    let server = Server::start(&["--max-connections", "1"]).await;
    let _first = server.subscribe(&["t"]).await;
    let second = server.events(&["t"]).send().await.unwrap();
    let (retry, event) = turned_away(second).await;
    assert_eq!(event, "overloaded");
    assert!(retry >= 1000, "backoff {retry}");
}

#[tokio::test]
async fn draining_hub_refuses_politely() {
    let server = Server::start(&[]).await;
    let mut open = server.subscribe(&["t"]).await;
    let report = server.hub.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.connections, 1);
    let rest = open.until_end().await;
    assert_eq!(
        rest.last().map(|e| e.event.as_str()),
        Some("server-shutdown")
    );

    let client = server.client();
    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    assert!(ready.headers().contains_key("retry-after"));
    assert_eq!(error_of(ready, 503).await.0, "draining");
    let publish = server.publish_raw(&json!({"topics": ["t"]})).await;
    assert!(publish.headers().contains_key("retry-after"));
    assert_eq!(error_of(publish, 503).await.0, "draining");
    let (_, event) = turned_away(server.events(&["t"]).send().await.unwrap()).await;
    assert_eq!(event, "server-shutdown");
    assert_eq!(
        client
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn graceful_shutdown_completes_with_open_streams() {
    let mut server = Server::start(&["--flush-interval-ms", "5000"]).await;
    let mut a = server.subscribe(&["t"]).await;
    let mut b = server.subscribe(&["t"]).await;
    // Held on the batched lane (long flush): the drain flushes it before saying goodbye.
    server
        .publish(json!({"topics": ["t"], "type": "b", "data": "held", "priority": "batched"}))
        .await;

    let started = Instant::now();
    server.signal_shutdown();
    for sse in [&mut a, &mut b] {
        let events = sse.until_end().await;
        let kinds: Vec<_> = events
            .iter()
            .map(|e| (e.event.as_str(), e.data.as_str()))
            .collect();
        assert_eq!(kinds.len(), 2, "{kinds:?}");
        assert_eq!(kinds[0], ("b", "held"));
        assert_eq!(kinds[1].0, "server-shutdown");
    }
    server.stopped(Duration::from_secs(3)).await.unwrap();
    // Drain window 1 s; one `grace` (1 s) more at the very most.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    let port = free_port();
    let mut child = binary_command()
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--drain-timeout-s", "2", "--log", "info"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("sse-hub listening") {
                // The log says where to point a browser.
                let url = format!("http://127.0.0.1:{port}/");
                assert!(line.contains(&url), "{line}");
                return;
            }
        }
        panic!("server exited before listening");
    })
    .await
    .expect("server listening in time");
    let logs = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            all.push(line);
        }
        all
    });

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut sse = Sse::open(client.get(format!("{base}/events?topic=t"))).await;
    let published = client
        .post(format!("{base}/publish"))
        .json(&json!({"topics": ["t"], "data": "before"}))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 202);
    assert_eq!(sse.next().await.data, "before");

    let started = Instant::now();
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let events = sse.until_end().await;
    assert_eq!(
        events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["server-shutdown"]
    );
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("exited within the drain window")
        .unwrap();
    let logs = logs.await.unwrap();
    assert!(status.success(), "{status:?}; logs: {logs:#?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(logs.iter().any(|l| l.contains("drained")), "{logs:#?}");
}

#[tokio::test]
async fn binary_refuses_to_start_open_on_non_loopback() {
    // No key: the public's topics must be said explicitly...
    let output = binary_command().args(["--listen", "0.0.0.0:0"]).output();
    let output = tokio::time::timeout(WAIT, output).await.unwrap().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--anonymous-topics"), "{stderr}");
    assert!(stderr.contains("'>' = everything"), "{stderr}");
    // ...and someone must be able to publish.
    let output = binary_command()
        .args(["--listen", "0.0.0.0:0", "--anonymous-topics", ">"])
        .output();
    let output = tokio::time::timeout(WAIT, output).await.unwrap().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--publish-token"), "{stderr}");
}
