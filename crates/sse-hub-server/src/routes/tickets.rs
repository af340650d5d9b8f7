//! `POST /tickets`: a one-time ticket for `GET /events?ticket=...`.
//!
//! An `EventSource` cannot send an `Authorization` header, and a cookie does
//! not cross sites; a page that holds a JWT trades it here for a ticket and
//! puts the ticket in the stream's URL. A ticket is single-use (consumed
//! atomically on first use; a second use is 401), short-lived
//! (`--ticket-ttl-ms`), at least 128 random bits, and the stream it opens
//! lives until the issuing token's `exp`. Long-lived tokens never go in URLs.
//!
//! The request is authenticated by `Authorization: Bearer <jwt>` or the
//! `--auth-cookie` cookie; with the cookie, the `Origin` must be this
//! server's own or a `--cors-origin` (a browser would send the cookie for
//! any page). An optional JSON body `{"topics": [...]}` limits the ticket's
//! stream to exactly those topics, each covered by a `subscribe` grant.
//! Answers 201 `{"ticket", "expires_in_ms"}`.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sse_hub::auth::{credential, Credential, TicketGrant};
use sse_hub::Pattern;

use super::{from_value, is_json};
use crate::app::AppState;
use crate::auth::cors;
use crate::error::Error;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketRequest {
    topics: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
struct Issued {
    ticket: String,
    expires_in_ms: u64,
}

/// Issues a ticket (see the module docs).
pub(crate) async fn issue(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, Error> {
    let (parts, body) = request.into_parts();
    let settings = &state.auth.settings;
    let (token, by_cookie) = match credential(&parts, &settings.cookie) {
        Err(_) => return Err(Error::InvalidToken),
        Ok(Some(Credential::Bearer(token))) => (token, false),
        Ok(Some(Credential::Cookie(token))) => (token, true),
        // A ticket does not buy another ticket.
        Ok(_) => return Err(Error::Unauthorized),
    };
    if by_cookie && !cors::trusted_origin(settings, &parts.headers) {
        return Err(Error::OriginNotAllowed);
    }
    let claims = state.auth.verify(&token).await?;
    let max = state.api.max_body_bytes;
    let bytes = axum::body::to_bytes(body, max)
        .await
        .map_err(|_| Error::BodyTooLarge { max })?;
    let topics = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        if !is_json(parts.headers.get(header::CONTENT_TYPE)) {
            return Err(Error::UnsupportedMediaType);
        }
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|err| Error::InvalidJson(err.to_string()))?;
        let request: TicketRequest = from_value(value).map_err(Error::InvalidBody)?;
        request.topics
    };
    if let Some(topics) = &topics {
        if topics.is_empty() {
            return Err(Error::InvalidBody(
                "field `topics`: must not be empty (omit it for every granted topic)".into(),
            ));
        }
        for (i, topic) in topics.iter().enumerate() {
            let pattern = Pattern::new(topic)
                .map_err(|err| Error::InvalidBody(format!("field `topics[{i}]`: {err}")))?;
            if !claims.grants.may_subscribe(&pattern) {
                return Err(Error::Forbidden);
            }
        }
    }
    let ttl = settings.ticket_ttl;
    let ticket = state
        .auth
        .tickets()
        .issue(TicketGrant::new(claims, topics), ttl)
        .await
        .map_err(|err| {
            tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "ticket not issued");
            Error::TicketsUnavailable
        })?;
    let mut response = (
        StatusCode::CREATED,
        Json(Issued {
            ticket,
            expires_in_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
