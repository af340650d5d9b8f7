//! `GET /stats[?connections=true]`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use sse_hub::Stats;

use crate::app::AppState;
use crate::error::Error;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsQuery {
    #[serde(default)]
    connections: bool,
}

/// Fields of [`Stats`] that name things (topics carry tenant and user ids,
/// event types may too, details carry connection ids and metadata): only
/// admins see them.
const NAMED: [&str; 3] = ["by_topic", "by_type", "connection_details"];

/// The hub's counters. Anyone gets the aggregates; admins also get topic
/// and type names and, with `?connections=true`, per-connection detail (a
/// connection id lets an admin pause it or change its topics).
pub(crate) async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<StatsQuery>, QueryRejection>,
) -> Result<Json<Value>, Error> {
    let Query(query) = query.map_err(|rejection| Error::InvalidQuery(rejection.body_text()))?;
    let admin = if query.connections {
        state.auth.admin(&headers).await?;
        true
    } else {
        state.auth.is_admin(&headers).await
    };
    let stats: Stats = state.hub.stats(query.connections);
    let mut value = serde_json::to_value(&stats)
        .map_err(|_| Error::Internal("stats encoding failed".into()))?;
    if !admin {
        if let Some(object) = value.as_object_mut() {
            for name in NAMED {
                object.remove(name);
            }
        }
    }
    Ok(Json(value))
}
