//! `GET /metrics`: Prometheus text exposition of the hub's counters.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::registry::Registry;
use sse_hub::metrics::HubCollector;

use crate::app::AppState;
use crate::error::Error;

/// Encodes the hub's counters (connections, events by outcome, replay,
/// publish-to-write latency) in the Prometheus text format.
/// Admin only once any token or key is configured (Prometheus scrapes with
/// a bearer token).
pub(crate) async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<impl IntoResponse, Error> {
    state.auth.admin(&headers).await?;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(HubCollector::new(state.hub.clone())));
    let mut body = String::new();
    prometheus_client::encoding::text::encode(&mut body, &registry)
        .map_err(|_| Error::Internal("metrics encoding failed".into()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    ))
}
