//! A test client over a hub's `EventStream`, parsed by `eventsource-stream`.

use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::{Event as SseEvent, Eventsource};
use futures_util::{Stream, StreamExt};
use sse_hub::{Config, Connecting, ConnectionId, EventStream, Hub};

type Events = Pin<Box<dyn Stream<Item = SseEvent> + Send>>;

pub struct Client {
    pub id: ConnectionId,
    pub events: Events,
}

pub fn events_of(stream: EventStream) -> Events {
    Box::pin(
        stream
            .map(Ok::<_, Infallible>)
            .eventsource()
            .filter_map(|event| async move { event.ok() }),
    )
}

impl Client {
    pub async fn connect(hub: &Hub, connecting: Connecting) -> Client {
        let stream = hub.subscribe(connecting).await.expect("subscribe");
        let mut events = events_of(stream);
        let connected = events.next().await.expect("connected event");
        assert_eq!(connected.event, "connected");
        let data: serde_json::Value = serde_json::from_str(&connected.data).unwrap();
        let id = ConnectionId::parse(data["connection_id"].as_str().unwrap()).unwrap();
        Client { id, events }
    }

    pub async fn topics(hub: &Hub, topics: &[&str]) -> Client {
        Self::connect(hub, Connecting::new().with_topics(topics.iter().copied())).await
    }

    /// The next event within `within`, or `None`.
    pub async fn next(&mut self, within: Duration) -> Option<SseEvent> {
        tokio::time::timeout(within, self.events.next())
            .await
            .ok()
            .flatten()
    }

    /// Every event arriving within `within`.
    pub async fn drain(&mut self, within: Duration) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        let mut out = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.next()).await {
            out.push(event);
        }
        out
    }

    /// Data of every event arriving within `within`.
    pub async fn data(&mut self, within: Duration) -> Vec<String> {
        self.drain(within)
            .await
            .into_iter()
            .map(|e| e.data)
            .collect()
    }
}

pub fn hub(config: Config) -> Hub {
    Hub::new(config).expect("valid config")
}

pub const MS: Duration = Duration::from_millis(1);

/// Serves `hub` on a free loopback port with the SSE fast path of
/// `serve_with_sse` (an empty router besides `GET /events`) until the hub
/// drains; returns the address.
pub async fn serve_fast_path(hub: &Hub) -> std::net::SocketAddr {
    let listener = sse_hub::axum::DeadlineListener::bind("127.0.0.1:0", hub.config())
        .await
        .unwrap();
    let addr = axum::serve::Listener::local_addr(&listener).unwrap();
    let drain = hub.clone();
    let signal = async move {
        let _ = drain.stopping().wait_for(|stop| *stop).await;
    };
    tokio::spawn(sse_hub::axum::serve_with_sse(
        listener,
        axum::Router::new(),
        hub.clone(),
        sse_hub::axum::EVENTS_PATH,
        signal,
        Duration::from_secs(1),
    ));
    addr
}
