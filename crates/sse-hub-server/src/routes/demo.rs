//! `GET /`: a self-contained demo page.

use axum::http::header;
use axum::response::{Html, IntoResponse};

const PAGE: &str = include_str!("../../static/index.html");

/// The demo page: subscribe, publish, watch events arrive; the connection
/// pauses while the tab is hidden.
pub(crate) async fn index() -> impl IntoResponse {
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
        )],
        Html(PAGE),
    )
}
