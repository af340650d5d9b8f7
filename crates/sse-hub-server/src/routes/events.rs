//! `GET /events?topic=T`: subscribe.

use axum::extract::{Request, State};
use axum::response::Response;

use crate::app::AppState;

/// Subscribes the client (see [`sse_hub::axum::subscribe`]): 200
/// `text/event-stream`, 400 for a missing or invalid topic. A draining or
/// full hub answers 200 with a `retry:` and a control event, then ends.
pub(crate) async fn subscribe(State(state): State<AppState>, request: Request) -> Response {
    sse_hub::axum::subscribe(&state.hub, request).await
}
