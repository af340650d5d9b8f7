//! `GET /stats[?connections=true][&offset=N][&limit=N][&topics=N]`.
//!
//! Bounded whatever the number of connections and topics: `by_topic` lists
//! the `topics` most subscribed patterns (default 100, at most 1,000;
//! `topics_total` counts them all) and connection detail comes a page at a
//! time (`limit` default 100, at most 1,000, from `offset`, in connection
//! order).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use sse_hub::{Stats, StatsOptions};

use crate::app::AppState;
use crate::error::Error;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsQuery {
    #[serde(default)]
    connections: bool,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
    topics: Option<usize>,
}

/// Default and largest page of connection detail, and of `by_topic`.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

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
    let page = |value: Option<usize>, name: &str| match value.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=MAX_PAGE => Ok(n),
        _ => Err(Error::InvalidQuery(format!(
            "`{name}` must be 1 to {MAX_PAGE}"
        ))),
    };
    let mut options = StatsOptions::new().top_topics(page(query.topics, "topics")?);
    if query.connections {
        options = options.connections(query.offset, page(query.limit, "limit")?);
    }
    let stats: Stats = state.hub.stats_with(&options);
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
