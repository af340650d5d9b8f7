//! A test server running the app in-process, and an SSE client.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use serde_json::Value;
use sse_hub::axum::DeadlineListener;
use sse_hub::Hub;
use sse_hub_server::app;
use sse_hub_server::config::Options;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Longest wait for something that should happen.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// A port that was free a moment ago, for a server binary to listen on.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `sse-hub` binary, without the `SSE_HUB_*` variables of this process.
pub(crate) fn binary_command() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sse-hub"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SSE_HUB_") {
            command.env_remove(key);
        }
    }
    command
}

/// Flags every test server starts with, unless the test sets them.
const BASE_ARGS: &[&str] = &[
    "sse-hub",
    "--flush-interval-ms",
    "100",
    "--max-body-bytes",
    "8192",
    "--write-timeout-ms",
    "2000",
    "--drain-timeout-s",
    "1",
];

/// The app served on `127.0.0.1:0` by [`app::serve`].
pub(crate) struct Server {
    pub(crate) hub: Hub,
    base: String,
    token: Option<String>,
    client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// A server with these extra flags.
    pub(crate) async fn start(args: &[&str]) -> Self {
        Self::start_with(args, |config| config).await
    }

    /// A server with these extra flags whose hub configuration `customize`
    /// changes (to add an `on_connect` hook, say).
    pub(crate) async fn start_with(
        args: &[&str],
        customize: impl FnOnce(sse_hub::Config) -> sse_hub::Config,
    ) -> Self {
        let argv = ["sse-hub"].iter().chain(args);
        let settings = Options::from_flags(argv)
            .unwrap()
            .or(Options::from_flags(BASE_ARGS).unwrap())
            .resolve()
            .unwrap();
        let app = app::build(&settings, customize(settings.hub_config()))
            .await
            .unwrap();
        let hub = app.hub.clone();
        let listener = DeadlineListener::bind("127.0.0.1:0", hub.config())
            .await
            .unwrap();
        let addr: SocketAddr = axum::serve::Listener::local_addr(&listener).unwrap();
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(app::serve(
            listener,
            app,
            settings.drain_timeout,
            Duration::from_secs(1),
            async move {
                let _ = signal.await;
            },
        ));
        Self {
            hub,
            base: format!("http://{addr}"),
            token: settings.publish_token.map(|t| t.expose().to_owned()),
            client: reqwest::Client::new(),
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// The server's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.base.trim_start_matches("http://").parse().unwrap()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// A POST with a JSON body, carrying the server's token if it has one.
    pub(crate) fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        let request = self.client.post(self.url(path)).json(body);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Publishes `body` and returns the response.
    pub(crate) async fn publish_raw(&self, body: &Value) -> reqwest::Response {
        self.post("/publish", body).send().await.unwrap()
    }

    /// Publishes `body`, asserting 202; returns the ids.
    pub(crate) async fn publish(&self, body: Value) -> Vec<String> {
        let response = self.publish_raw(&body).await;
        let status = response.status();
        let json: Value = response.json().await.unwrap();
        assert_eq!(status, 202, "{json}");
        json["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap().to_owned())
            .collect()
    }

    /// A GET `/events` for these topics, to send with [`Sse::open`].
    pub(crate) fn events(&self, topics: &[&str]) -> reqwest::RequestBuilder {
        let query: Vec<(&str, &str)> = topics.iter().map(|t| ("topic", *t)).collect();
        self.client.get(self.url("/events")).query(&query)
    }

    /// An open subscription to `topics`, past its `connected` event.
    pub(crate) async fn subscribe(&self, topics: &[&str]) -> Sse {
        Sse::open(self.events(topics)).await
    }

    /// Triggers the graceful shutdown (the test's SIGTERM).
    pub(crate) fn signal_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Waits for the serve task to finish.
    pub(crate) async fn stopped(&mut self, within: Duration) -> std::io::Result<()> {
        let task = self.task.take().unwrap();
        tokio::time::timeout(within, task)
            .await
            .expect("server stopped in time")
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

type Events = Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<reqwest::Error>>> + Send>>;

/// An SSE subscription read by `eventsource-stream`.
pub(crate) struct Sse {
    /// The `connection_id` of the `connected` event.
    pub(crate) id: String,
    /// The topics of the `connected` event.
    pub(crate) topics: Vec<String>,
    /// The `control_token` of the `connected` event.
    pub(crate) control_token: String,
    events: Events,
}

/// The response's body as SSE events.
fn events_of(response: reqwest::Response) -> Events {
    Box::pin(response.bytes_stream().eventsource())
}

impl Sse {
    /// Sends `request` (with `Last-Event-ID`), asserts a 200 SSE response
    /// and returns the events replayed before `connected`, and the stream.
    pub(crate) async fn open_replaying(request: reqwest::RequestBuilder) -> (Vec<Event>, Self) {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let mut sse = Self {
            id: String::new(),
            topics: Vec::new(),
            control_token: String::new(),
            events: events_of(response),
        };
        let mut replayed = Vec::new();
        loop {
            let event = sse.next().await;
            if event.event == "connected" {
                let data: Value = serde_json::from_str(&event.data).unwrap();
                sse.id = data["connection_id"].as_str().unwrap().to_owned();
                return (replayed, sse);
            }
            replayed.push(event);
        }
    }

    /// Sends `request`, asserts a 200 SSE response and reads `connected`.
    pub(crate) async fn open(request: reqwest::RequestBuilder) -> Self {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut sse = Self {
            id: String::new(),
            topics: Vec::new(),
            control_token: String::new(),
            events: events_of(response),
        };
        let connected = sse.next().await;
        assert_eq!(connected.event, "connected");
        assert!(connected.id.is_empty(), "control events carry no id");
        let data: Value = serde_json::from_str(&connected.data).unwrap();
        sse.id = data["connection_id"].as_str().unwrap().to_owned();
        sse.topics = serde_json::from_value(data["topics"].clone()).unwrap();
        sse.control_token = data["control_token"].as_str().unwrap().to_owned();
        sse
    }

    /// The next event; fails the test after [`WAIT`] or if the stream ends.
    pub(crate) async fn next(&mut self) -> Event {
        match tokio::time::timeout(WAIT, self.events.next()).await {
            Ok(Some(Ok(event))) => event,
            Ok(Some(Err(err))) => panic!("stream error: {err}"),
            Ok(None) => panic!("stream ended"),
            Err(_) => panic!("no event within {WAIT:?}"),
        }
    }

    /// The next event's `(type, data)`.
    pub(crate) async fn next_pair(&mut self) -> (String, String) {
        let event = self.next().await;
        (event.event, event.data)
    }

    /// The next event if one arrives within `within`.
    pub(crate) async fn next_within(&mut self, within: Duration) -> Option<Event> {
        match tokio::time::timeout(within, self.events.next()).await {
            Ok(Some(Ok(event))) => Some(event),
            Ok(Some(Err(err))) => panic!("stream error: {err}"),
            Ok(None) => panic!("stream ended"),
            Err(_) => None,
        }
    }

    /// Asserts the stream ends (after any remaining events) within [`WAIT`];
    /// returns the events read before the end.
    pub(crate) async fn until_end(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        loop {
            match tokio::time::timeout(WAIT, self.events.next()).await {
                Ok(Some(Ok(event))) => events.push(event),
                // The server closing the connection mid-chunk is an end too.
                Ok(Some(Err(_)) | None) => return events,
                Err(_) => panic!("stream did not end within {WAIT:?}; got {events:?}"),
            }
        }
    }
}

/// The `{"error": {...}}` body of a response, asserting its status.
/// Sends `request` and parses the JSON answer.
pub(crate) async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

pub(crate) async fn error_of(response: reqwest::Response, status: u16) -> (String, String) {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    (
        body["error"]["code"].as_str().unwrap().to_owned(),
        body["error"]["message"].as_str().unwrap().to_owned(),
    )
}

/// A response read off a raw socket: status, headers (names lower case), body.
#[derive(Debug)]
pub(crate) struct Raw {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Raw {
    /// A header's value.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `head` (request line and headers, without the blank line) and
/// `body` on a fresh socket and reads the response head plus whatever body
/// arrives within a moment (an SSE stream does not end).
pub(crate) async fn raw(addr: SocketAddr, head: &str, body: &str) -> Raw {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = if body.is_empty() {
        format!("{head}\r\nConnection: close\r\n\r\n")
    } else {
        format!(
            "{head}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + WAIT;
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = tokio::time::timeout_at(deadline, socket.read(&mut chunk))
            .await
            .expect("response head in time")
            .unwrap();
        assert!(n > 0, "closed before the response head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let mut body = buf[end + 4..].to_vec();
    // Read until the server closes or goes quiet for a moment.
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_millis(300), socket.read(&mut chunk)).await
    {
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    Raw {
        status,
        headers,
        body,
    }
}
