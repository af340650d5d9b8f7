//! The `Host` allow-list (`--allowed-host`): a page rebound by DNS to this
//! server's address still sends its own name as `Host`, so refusing unknown
//! names stops it from reaching the API from a victim's browser.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::config::{strip_port, AuthSettings};
use crate::error::Error;

/// Whether the request's `Host` (any port) is allowed. No list: any. A list
/// and no `Host`: refused.
pub(crate) fn allowed(settings: &AuthSettings, headers: &HeaderMap) -> bool {
    let Some(list) = &settings.allowed_hosts else {
        return true;
    };
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let host = strip_port(host.trim());
    list.iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(host))
}

/// Middleware: 403 `host_not_allowed` for a foreign `Host`, on every route.
pub(crate) async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if allowed(&state.auth.settings, request.headers()) {
        next.run(request).await
    } else {
        Error::HostNotAllowed.into_response()
    }
}
