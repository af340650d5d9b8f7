//! `GET /`: a self-contained demo page.

use axum::http::header;
use axum::response::{Html, IntoResponse};

const PAGE: &str = include_str!("../../static/index.html");

/// The demo page, built on `/client.js`: connects on load to `demo` and
/// `demo.>`, logs every event with its id and lane, publishes, shows the pause
/// state and live counters from `/stats`; it pauses while the tab is hidden.
pub(crate) async fn index() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
            ),
            // Not framed by another site (clickjacking); CSP's
            // frame-ancestors for current browsers, this for older ones.
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        Html(PAGE),
    )
}
