//! `POST /connections/{id}/pause`, `/resume` and `/topics`.
//!
//! A browser tab pauses its connection when hidden (instant events keep
//! flowing, batched and coalesced ones are held) and resumes it when shown;
//! widgets add and remove topics without reconnecting.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use sse_hub::ConnectionId;

use super::{from_value, json_body};
use crate::app::AppState;
use crate::error::Error;

/// The connection `text` names, once the request proves control of it
/// (its control token, or admin). Without control, an unknown id is refused
/// like a wrong token: only admins learn which ids exist (404).
async fn controlled(
    state: &AppState,
    headers: &HeaderMap,
    text: &str,
) -> Result<ConnectionId, Error> {
    let id = ConnectionId::parse(text);
    let connection = id.and_then(|id| state.hub.connection(id));
    state.auth.control(headers, connection.as_ref()).await?;
    id.ok_or(Error::UnknownConnection)
}

/// Pauses the connection: 204, or 404 if it is not open.
pub(crate) async fn pause(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Error> {
    let id = controlled(&state, &headers, &id).await?;
    state.hub.pause(id).map_err(|_| Error::UnknownConnection)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Resumes the connection (held events are flushed at once): 204, or 404.
pub(crate) async fn resume(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Error> {
    let id = controlled(&state, &headers, &id).await?;
    state.hub.resume(id).map_err(|_| Error::UnknownConnection)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicChange {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

/// The connection's topics after a change.
#[derive(Debug, Serialize)]
pub(crate) struct Topics {
    topics: Vec<String>,
}

/// Adds and removes topic patterns, all or nothing: 200 with the resulting
/// topics, 400 for an invalid pattern or too many, 403 for one the
/// connection's grants (or the anonymous topics) do not cover, 404 for an
/// unknown connection.
pub(crate) async fn topics(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<Topics>, Error> {
    let id = controlled(&state, request.headers(), &id).await?;
    let body = json_body(request, state.api.max_body_bytes).await?;
    let change: TopicChange = from_value(body).map_err(Error::InvalidBody)?;
    let topics = state.hub.update_topics(id, &change.add, &change.remove)?;
    Ok(Json(Topics { topics }))
}
