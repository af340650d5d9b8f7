//! The peer baseline: the SSE fan-out a Rust user writes by hand with axum.
//!
//! One `tokio::sync::broadcast` channel per topic (created lazily, capacity
//! 1024); every subscriber converts each message into an
//! `axum::response::sse::Event` itself (per-recipient formatting), lagged
//! receivers skip what they missed.

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::StatusCode,
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    routing::{get, post},
    Router,
};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

/// Capacity of each topic's broadcast channel.
pub const CHANNEL_CAPACITY: usize = 1024;

/// A published message, shared by all receivers of a topic.
#[derive(Debug)]
struct Msg {
    ty: String,
    data: String,
}

type Topics = Arc<Mutex<HashMap<String, broadcast::Sender<Arc<Msg>>>>>;

#[derive(Debug, Deserialize)]
struct EventsQuery {
    topic: String,
}

#[derive(Debug, Deserialize)]
struct PublishReq {
    topics: Vec<String>,
    #[serde(rename = "type", default)]
    ty: Option<String>,
    data: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PublishBody {
    One(PublishReq),
    Many(Vec<PublishReq>),
}

fn sender(topics: &Topics, topic: &str) -> broadcast::Sender<Arc<Msg>> {
    let mut map = topics.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(topic.to_owned())
        .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
        .clone()
}

async fn events(
    State(topics): State<Topics>,
    Query(q): Query<EventsQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = sender(&topics, &q.topic).subscribe();
    let stream = BroadcastStream::new(rx).filter_map(|r| async move {
        match r {
            Ok(m) => Some(Ok(Event::default().event(&m.ty).data(&m.data))),
            Err(_lagged) => None,
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(30)))
}

async fn publish(State(topics): State<Topics>, body: Bytes) -> Response {
    let reqs = match serde_json::from_slice::<PublishBody>(&body) {
        Ok(PublishBody::One(r)) => vec![r],
        Ok(PublishBody::Many(v)) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    for r in reqs {
        let data = match r.data {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        let msg = Arc::new(Msg {
            ty: r.ty.unwrap_or_else(|| "message".to_owned()),
            data,
        });
        for t in &r.topics {
            let tx = topics
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(t)
                .cloned();
            if let Some(tx) = tx {
                // No receivers is not an error for a publisher.
                let _ = tx.send(msg.clone());
            }
        }
    }
    StatusCode::ACCEPTED.into_response()
}

/// The baseline's router.
pub fn router() -> Router {
    let topics: Topics = Arc::default();
    Router::new()
        .route("/events", get(events))
        .route("/publish", post(publish))
        .with_state(topics)
}

/// Serves the baseline on an already bound listener until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    axum::serve(listener, router()).await?;
    Ok(())
}
