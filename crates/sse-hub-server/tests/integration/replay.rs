//! `--replay redis` through the real binary and a real Redis
//! (`127.0.0.1:6379`, or `SSE_HUB_TEST_REDIS_URL`): events survive a restart.

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use eventsource_stream::{Event, Eventsource as _};
use futures_util::{Stream, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::common::{binary_command, free_port, WAIT};

/// The Redis the tests use.
fn redis_url() -> String {
    std::env::var("SSE_HUB_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

/// A key prefix no other run uses; its keys are deleted when dropped.
struct Prefix(String);

impl Prefix {
    fn new(test: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Self(format!(
            "sse-hub-test:{test}:{}-{nanos:x}",
            std::process::id()
        ))
    }

    fn connection(&self) -> redis::Connection {
        redis::Client::open(redis_url())
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap_or_else(|err| {
                panic!(
                    "these tests need Redis at {} (redis-server --port 6379 --save \"\"): {err}",
                    redis_url()
                )
            })
    }

    /// The keys under this prefix.
    fn keys(&self) -> Vec<String> {
        let mut conn = self.connection();
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.0))
            .query(&mut conn)
            .unwrap();
        keys.sort();
        keys
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(redis_url()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.0))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&keys).query(&mut conn);
        }
    }
}

/// The `sse-hub` binary, started with `--replay redis` on `prefix`.
struct Binary {
    child: Child,
    base: String,
    logs: tokio::task::JoinHandle<Vec<String>>,
}

impl Binary {
    async fn start(prefix: &Prefix) -> Self {
        let port = free_port();
        let mut child = binary_command()
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--replay", "redis", "--redis-url", &redis_url()])
            .args(["--redis-prefix", &prefix.0])
            .args(["--flush-interval-ms", "100", "--drain-timeout-s", "1"])
            .args(["--log", "info"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut before = Vec::new();
        let listening = tokio::time::timeout(WAIT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let done = line.contains("sse-hub listening");
                before.push(line);
                if done {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(listening, Ok(true)),
            "server not listening: {before:#?}"
        );
        let logs = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                before.push(line);
            }
            before
        });
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            logs,
        }
    }

    /// Publishes one event on topic `topic`, asserting 202; returns its id.
    async fn publish(&self, topic: &str, data: &str) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/publish", self.base))
            .json(&json!({"topics": [topic], "type": "note", "data": data}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.unwrap();
        body["ids"][0].as_str().unwrap().to_owned()
    }

    /// `GET /events?topic=t`, with `Last-Event-ID` if given.
    async fn events(&self, last_id: Option<&str>) -> Events {
        let mut request = reqwest::Client::new().get(format!("{}/events?topic=t", self.base));
        if let Some(id) = last_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        Box::pin(response.bytes_stream().eventsource())
    }

    /// SIGTERM, then asserts exit 0 within 5 s; returns the logs.
    async fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().unwrap().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .expect("exited in time")
            .unwrap();
        let logs = self.logs.await.unwrap();
        assert!(status.success(), "{status:?}; logs: {logs:#?}");
        logs
    }
}

type Events = std::pin::Pin<
    Box<
        dyn Stream<Item = Result<Event, eventsource_stream::EventStreamError<reqwest::Error>>>
            + Send,
    >,
>;

async fn next(events: &mut Events) -> Event {
    match tokio::time::timeout(WAIT, events.next()).await {
        Ok(Some(Ok(event))) => event,
        other => panic!("no event: {other:?}"),
    }
}

/// Events up to and including `connected`.
async fn until_connected(events: &mut Events) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        let event = next(events).await;
        let done = event.event == "connected";
        seen.push(event);
        if done {
            return seen;
        }
    }
}

/// `(id, type, data)` of each event.
fn triples(events: &[Event]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| (e.id.clone(), e.event.clone(), e.data.clone()))
        .collect()
}

#[tokio::test]
async fn redis_replay_survives_a_restart() {
    let prefix = Prefix::new("restart");
    let first = Binary::start(&prefix).await;

    // A client sees one event, remembers its id, goes away.
    let mut stream = first.events(None).await;
    let connected = until_connected(&mut stream).await;
    assert_eq!(connected.len(), 1, "{connected:?}");
    let seen_id = first.publish("t", "seen").await;
    let seen = next(&mut stream).await;
    assert_eq!(
        (seen.id.as_str(), seen.data.as_str()),
        (seen_id.as_str(), "seen")
    );
    drop(stream);

    // Missed while away: five on its topic, one elsewhere (not replayed).
    let mut missed = Vec::new();
    for i in 1..=5 {
        let data = format!("missed-{i}");
        let id = first.publish("t", &data).await;
        missed.push((id, "note".to_owned(), data));
        if i == 3 {
            first.publish("other", "not-for-t").await;
        }
    }
    let logs = first.stop().await;
    assert!(
        logs.iter()
            .any(|l| l.contains("Redis replay store flushed")),
        "{logs:#?}"
    );
    // The process is gone: only Redis holds the events now.
    let keys = prefix.keys();
    assert!(keys.contains(&format!("{}:events", prefix.0)), "{keys:?}");

    let second = Binary::start(&prefix).await;
    let mut stream = second.events(Some(&seen_id)).await;
    let preamble = until_connected(&mut stream).await;
    let (connected, replayed) = preamble.split_last().unwrap();
    assert_eq!(connected.event, "connected");
    assert!(replayed.iter().all(|e| e.event != "resync"), "{replayed:?}");
    assert_eq!(triples(replayed), missed);

    // Live delivery continues after the replay, without duplicates.
    let live_id = second.publish("t", "live").await;
    let live = next(&mut stream).await;
    assert_eq!(
        (live.id.as_str(), live.data.as_str()),
        (live_id.as_str(), "live")
    );
    drop(stream);
    second.stop().await;
}

#[tokio::test]
async fn redis_replay_of_an_unknown_id_resyncs() {
    let prefix = Prefix::new("unknown");
    let server = Binary::start(&prefix).await;
    server.publish("t", "stored").await;
    let mut stream = server.events(Some("no-such-event-id")).await;
    let preamble = until_connected(&mut stream).await;
    let kinds: Vec<_> = preamble.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["resync", "connected"], "{preamble:?}");
    let reason: Value = serde_json::from_str(&preamble[0].data).unwrap();
    // Not `replay_failed`: Redis answered, and did not know the id.
    assert_eq!(reason, json!({"reason": "unknown_id"}));
    // The event went to Redis, under this prefix.
    let keys = prefix.keys();
    assert!(keys.contains(&format!("{}:events", prefix.0)), "{keys:?}");
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn binary_fails_to_start_when_redis_is_unreachable() {
    let port = free_port();
    let output = binary_command()
        .args(["--listen", "127.0.0.1:0", "--replay", "redis"])
        .args([
            "--redis-url",
            &format!("redis://bob:hunter2@127.0.0.1:{port}/0"),
        ])
        .output();
    let output = tokio::time::timeout(Duration::from_secs(8), output)
        .await
        .expect("failed in time")
        .unwrap();
    assert!(!output.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains(&format!("redis://127.0.0.1:{port}/0")),
        "{text}"
    );
    assert!(text.contains("Redis replay store"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains("sse-hub listening"), "{text}");
}

#[tokio::test]
async fn replay_none_tells_a_client_with_an_id_to_resync() {
    let server = crate::common::Server::start(&["--replay", "none"]).await;
    server.publish(json!({"topics": ["t"], "data": "x"})).await;
    let response = server
        .events(&["t"])
        .header("last-event-id", "1795000000000-0")
        .send()
        .await
        .unwrap();
    let mut stream: Events = Box::pin(response.bytes_stream().eventsource());
    let preamble = until_connected(&mut stream).await;
    let kinds: Vec<_> = preamble.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["resync", "connected"], "{preamble:?}");
    let reason: Value = serde_json::from_str(&preamble[0].data).unwrap();
    assert_eq!(reason, json!({"reason": "no_replay"}));
    // Without an id there is nothing to resynchronise.
    let fresh = server.subscribe(&["t"]).await;
    assert!(!fresh.id.is_empty());
}
