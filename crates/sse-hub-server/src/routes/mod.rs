//! HTTP handlers, one module per resource, and the JSON body helpers they share.

pub(crate) mod client;
pub(crate) mod connections;
pub(crate) mod demo;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod metrics;
pub(crate) mod publish;
pub(crate) mod stats;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::Error;

/// The request's body as JSON: 415 unless the content type is JSON, 413 over
/// the body limit (set by `DefaultBodyLimit` in [`crate::app::router`]), 400
/// for invalid JSON.
pub(crate) async fn json_body(
    request: Request,
    max_body: usize,
) -> Result<serde_json::Value, Error> {
    if !is_json(request.headers().get(header::CONTENT_TYPE)) {
        return Err(Error::UnsupportedMediaType);
    }
    let bytes = Bytes::from_request(request, &())
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::BodyTooLarge { max: max_body }
            } else {
                Error::BodyUnreadable
            }
        })?;
    serde_json::from_slice(&bytes).map_err(|err| Error::InvalidJson(err.to_string()))
}

/// `application/json` or `application/<something>+json`, any parameters.
fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5
                && subtype.is_char_boundary(subtype.len() - 5)
                && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Deserialises `value` into `T`; the error names the field path
/// (``field `topics[0]`: invalid type ...``).
pub(crate) fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        if path == "." {
            err.inner().to_string()
        } else {
            format!("field `{path}`: {}", err.inner())
        }
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn json_content_types() {
        let ok = |v: &'static str| is_json(Some(&HeaderValue::from_static(v)));
        assert!(ok("application/json"));
        assert!(ok("Application/JSON; charset=utf-8"));
        assert!(ok("application/merge-patch+json"));
        assert!(!ok("text/plain"));
        assert!(!ok("application/x-www-form-urlencoded"));
        assert!(!ok("+json"));
        assert!(!is_json(None));
    }
}
