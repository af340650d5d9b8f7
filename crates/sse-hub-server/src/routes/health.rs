//! `GET /healthz` and `GET /readyz`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::error::Error;

/// Liveness: 200 while the process serves requests.
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: 200, or 503 with `Retry-After` while draining (so load
/// balancers stop sending new subscribers).
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, Error> {
    if state.hub.is_draining() {
        return Err(Error::Draining);
    }
    Ok(Json(json!({"status": "ready"})))
}
