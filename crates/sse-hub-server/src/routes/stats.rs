//! `GET /stats[?connections=true]`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use sse_hub::Stats;

use crate::app::AppState;
use crate::error::Error;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsQuery {
    #[serde(default)]
    connections: bool,
}

/// The hub's counters. Per-connection detail (ids, topics, metadata) needs
/// the publish token when one is configured: a connection id lets its holder
/// pause the connection or change its topics.
pub(crate) async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<StatsQuery>, QueryRejection>,
) -> Result<Json<Stats>, Error> {
    let Query(query) = query.map_err(|rejection| Error::InvalidQuery(rejection.body_text()))?;
    if query.connections {
        state.authorize(&headers)?;
    }
    Ok(Json(state.hub.stats(query.connections)))
}
