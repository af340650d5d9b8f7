//! `GET /client.js`: the browser client (`clients/js`), embedded in the binary.

use axum::http::header;
use axum::response::IntoResponse;

/// The ES module `sse-hub-client`, served as-is: pages import it with
/// `import { SseHubClient } from "/client.js"`.
const CLIENT: &str = include_str!("../../../../clients/js/src/sse-hub-client.js");

/// The client module, with a JavaScript content type (browsers refuse to run
/// a module served as anything else).
pub(crate) async fn client_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        CLIENT,
    )
}
