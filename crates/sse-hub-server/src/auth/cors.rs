//! CORS for the origins of `--cors-origin` (exact match), and the
//! `Origin` check on cookie-authenticated POSTs (CSRF).
//!
//! A listed origin gets `Access-Control-Allow-Origin: <origin>`,
//! `Access-Control-Allow-Credentials: true` (cookies and `withCredentials`
//! EventSources) and, on preflight (`OPTIONS`), the methods and headers the
//! API uses; every response varies on `Origin` once any origin is listed.
//! Other origins get no CORS header: the browser then keeps the response
//! from the page.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::config::AuthSettings;
use crate::error::Error;

/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE_S: &str = "600";
/// Methods the API answers cross-origin.
const METHODS: &str = "GET, POST, OPTIONS";
/// Request headers the API reads.
const HEADERS: &str = "authorization, content-type, last-event-id";

/// The request's `Origin` if it is listed.
fn listed<'a>(settings: &AuthSettings, headers: &'a HeaderMap) -> Option<&'a HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    settings
        .cors_origins
        .iter()
        .any(|listed| listed == text)
        .then_some(origin)
}

/// The CORS headers for a response to a request with these headers (empty
/// when no origin is configured).
pub(crate) fn headers(settings: &AuthSettings, request: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    if settings.cors_origins.is_empty() {
        return out;
    }
    out.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = listed(settings, request) {
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        out.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    out
}

/// Whether the request's `Origin` is this server's own (same host and port
/// as `Host`) or listed: required on cookie-authenticated POSTs, which a
/// browser sends on behalf of any page otherwise.
pub(crate) fn trusted_origin(settings: &AuthSettings, request: &HeaderMap) -> bool {
    if listed(settings, request).is_some() {
        return true;
    }
    let origin = request.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = request.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin.and_then(|o| o.split_once("://")), host) {
        (Some((_, authority)), Some(host)) => authority.eq_ignore_ascii_case(host),
        _ => false,
    }
}

/// Paths that accept cross-origin preflights.
fn preflighted(path: &str) -> bool {
    matches!(path, "/publish" | "/tickets" | sse_hub::axum::EVENTS_PATH)
        || path.starts_with("/connections/")
}

/// Middleware: answers preflights (204 for a listed origin, 403 otherwise)
/// and adds the CORS headers to every other response.
pub(crate) async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let settings = &state.auth.settings;
    let cors = headers(settings, request.headers());
    if request.method() == Method::OPTIONS && preflighted(request.uri().path()) {
        if !cors.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
            return Error::OriginNotAllowed.into_response();
        }
        let mut response = StatusCode::NO_CONTENT.into_response();
        let out = response.headers_mut();
        out.extend(cors);
        out.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(METHODS),
        );
        out.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(HEADERS),
        );
        out.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE_S),
        );
        return response;
    }
    let mut response = next.run(request).await;
    response.headers_mut().extend(cors);
    response
}
