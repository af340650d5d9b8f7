//! What the example apps share: the `--listen` flag, the browser client
//! route, and serving with a graceful drain on Ctrl-C or SIGTERM.
//!
//! Each app is one binary of this crate:
//!
//! ```text
//! cargo run -p sse-hub-examples --bin job-progress        # http://127.0.0.1:3000/
//! cargo run -p sse-hub-examples --bin cache-invalidation  # http://127.0.0.1:3001/
//! cargo run -p sse-hub-examples --bin tenant-chat         # http://127.0.0.1:3002/
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use sse_hub::axum::{DeadlineListener, PeerAddr};
use sse_hub::{ConnectionId, Hub};

/// The browser client (`clients/js`), as the server binary serves it.
pub const CLIENT_JS: &str = include_str!("../../clients/js/src/sse-hub-client.js");

/// `GET /client.js`: the browser client with a JavaScript content type.
pub async fn client_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        CLIENT_JS,
    )
}

/// `POST /connections/{id}/pause`, `/resume` and `/topics`, each allowed to
/// the holder of that connection's `control_token` only (the secret its
/// client got in the `connected` event): what `sse-hub-client` calls when a
/// tab is hidden or shown and when it changes topics. Topics added are
/// checked against the connection's grants by the hub.
pub fn control_routes(hub: Hub) -> Router {
    Router::new()
        .route("/connections/{id}/pause", post(pause))
        .route("/connections/{id}/resume", post(resume))
        .route("/connections/{id}/topics", post(topics))
        .with_state(hub)
}

/// The connection named by `id` if `headers` carry its control token.
fn controlled(hub: &Hub, id: &str, headers: &HeaderMap) -> Result<ConnectionId, StatusCode> {
    let id = ConnectionId::parse(id).ok_or(StatusCode::NOT_FOUND)?;
    let connection = hub.connection(id).ok_or(StatusCode::NOT_FOUND)?;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    if connection.control_token_matches(presented.as_bytes()) {
        Ok(id)
    } else {
        Err(StatusCode::FORBIDDEN)
    }
}

async fn pause(State(hub): State<Hub>, Path(id): Path<String>, headers: HeaderMap) -> StatusCode {
    match controlled(&hub, &id, &headers).map(|id| hub.pause(id)) {
        Ok(Ok(())) => StatusCode::NO_CONTENT,
        Ok(Err(_)) => StatusCode::NOT_FOUND,
        Err(status) => status,
    }
}

async fn resume(State(hub): State<Hub>, Path(id): Path<String>, headers: HeaderMap) -> StatusCode {
    match controlled(&hub, &id, &headers).map(|id| hub.resume(id)) {
        Ok(Ok(())) => StatusCode::NO_CONTENT,
        Ok(Err(_)) => StatusCode::NOT_FOUND,
        Err(status) => status,
    }
}

/// `{"add": [...], "remove": [...]}`.
#[derive(Debug, Deserialize)]
struct TopicChange {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

async fn topics(
    State(hub): State<Hub>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(change): Json<TopicChange>,
) -> Result<Json<serde_json::Value>, StatusCode> {
    let id = controlled(&hub, &id, &headers)?;
    let topics = hub
        .update_topics(id, &change.add, &change.remove)
        .map_err(|_| StatusCode::FORBIDDEN)?;
    Ok(Json(serde_json::json!({ "topics": topics })))
}

/// The address from `--listen ADDR` (or `--listen=ADDR`), else `default`.
///
/// # Errors
///
/// A `--listen` value that is not `IP:port`.
pub fn listen_addr(default: &str) -> anyhow::Result<SocketAddr> {
    let mut args = std::env::args().skip(1);
    let mut value = None;
    while let Some(arg) = args.next() {
        if arg == "--listen" {
            value = args.next();
        } else if let Some(rest) = arg.strip_prefix("--listen=") {
            value = Some(rest.to_owned());
        } else {
            anyhow::bail!("unknown argument {arg:?} (only --listen IP:PORT)");
        }
    }
    let text = value.unwrap_or_else(|| default.to_owned());
    text.parse()
        .with_context(|| format!("--listen {text:?} is not IP:PORT"))
}

/// Serves `app` on `addr` until Ctrl-C or SIGTERM (what Kubernetes sends),
/// then drains `hub`: held events flushed, `server-shutdown` sent, streams
/// closed within 5 s.
///
/// # Errors
///
/// Binding or serving failed.
pub async fn serve(app: Router, hub: Hub, addr: SocketAddr) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .init();
    let listener = DeadlineListener::bind(addr, hub.config())
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = axum::serve::Listener::local_addr(&listener)?;
    tracing::info!("listening on http://{local}/");
    let drain = hub.clone();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<PeerAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        drain.shutdown(Duration::from_secs(5)).await;
    })
    .await?;
    Ok(())
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    term.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = ctrl_c => {}
            () = term => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}
