//! Every error the HTTP API returns, and the one table mapping each to its
//! status and `{"error":{"code","message"}}` body.
//!
//! Messages name the offending field and never echo payloads, tokens, claims
//! or tenant ids. Auth errors carry the RFC 6750 challenge: 401 with
//! `WWW-Authenticate: Bearer` (plus `error="invalid_token"` when a credential
//! was presented and failed), 403 with `Bearer error="insufficient_scope"`.
//!
//! Refused subscribes (`GET /events`) are answered by the library's
//! [`sse_hub::axum::subscribe_error_response`] on both the router and the
//! SSE fast path, with the same codes and challenges.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sse_hub::axum::ApiError;
use sse_hub::{PublishError, TopicsError};

/// An API error. Converting it into a response uses [`Error::api`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No credential was presented.
    #[error("a valid `Authorization: Bearer` token is required")]
    Unauthorized,
    /// A credential was presented and failed (bad signature, expired, unknown
    /// key, used ticket, not a token this server knows).
    #[error("the presented credential is not valid")]
    InvalidToken,
    /// A valid credential that does not cover the request.
    #[error("the credential does not allow this")]
    Forbidden,
    /// The `Host` header is not in `--allowed-host`.
    #[error("host not allowed")]
    HostNotAllowed,
    /// A preflight or cookie-authenticated request from an origin that is
    /// neither this server's nor listed in `--cors-origin`.
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// The ticket store failed (Redis down); details are logged.
    #[error("tickets are unavailable, retry later")]
    TicketsUnavailable,
    /// The body is not JSON.
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The body is JSON of the wrong shape.
    #[error("{0}")]
    InvalidBody(String),
    /// An event of a publish request is invalid (wrong shape or refused by the hub).
    #[error("{}", event_message(*.index, .message))]
    InvalidEvent {
        /// Position in the request's array; `None` for a single event.
        index: Option<usize>,
        /// What is wrong, naming the field.
        message: String,
    },
    /// An encoded event exceeds `--max-event-bytes`.
    #[error("{}", event_message(*.index, .message))]
    EventTooLarge {
        /// Position in the request's array; `None` for a single event.
        index: Option<usize>,
        /// The hub's message.
        message: String,
    },
    /// More events than `--max-batch`.
    #[error("too many events in one request: {count} (max {max})")]
    TooManyEvents {
        /// Events sent.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The body exceeds `--max-body-bytes`.
    #[error("request body is larger than {max} bytes")]
    BodyTooLarge {
        /// The limit.
        max: usize,
    },
    /// The body could not be read.
    #[error("request body could not be read")]
    BodyUnreadable,
    /// The content type is not JSON.
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    /// No open connection has that id.
    #[error("unknown connection")]
    UnknownConnection,
    /// A topic change was refused.
    #[error("{0}")]
    Topics(TopicsError),
    /// A query parameter is invalid.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The hub is draining.
    #[error("server is shutting down")]
    Draining,
    /// No such route.
    #[error("no such endpoint")]
    NotFound,
    /// The route exists with another method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A server-side failure; the message is generic, details are logged.
    #[error("{0}")]
    Internal(String),
}

fn event_message(index: Option<usize>, message: &str) -> String {
    match index {
        Some(index) => format!("invalid event at index {index}: {message}"),
        None => format!("invalid event: {message}"),
    }
}

impl Error {
    /// A hub publish error for the event at `index`.
    pub fn publish(index: Option<usize>, err: &PublishError) -> Self {
        let message = match err.field() {
            Some(field) => format!("field `{field}`: {err}"),
            None => err.to_string(),
        };
        match err {
            PublishError::Draining => Self::Draining,
            PublishError::TooLarge { .. } => Self::EventTooLarge { index, message },
            _ => Self::InvalidEvent { index, message },
        }
    }

    /// The table: status, code and message.
    pub fn api(&self) -> ApiError {
        let (status, code) = match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::HostNotAllowed => (StatusCode::FORBIDDEN, "host_not_allowed"),
            Self::OriginNotAllowed => (StatusCode::FORBIDDEN, "origin_not_allowed"),
            Self::TicketsUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "tickets_unavailable"),
            Self::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            Self::InvalidBody(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
            Self::InvalidEvent { .. } => (StatusCode::BAD_REQUEST, "invalid_event"),
            Self::EventTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "event_too_large"),
            Self::TooManyEvents { .. } => (StatusCode::BAD_REQUEST, "too_many_events"),
            Self::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            Self::BodyUnreadable => (StatusCode::BAD_REQUEST, "body_unreadable"),
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::UnknownConnection | Self::Topics(TopicsError::UnknownConnection(_)) => {
                (StatusCode::NOT_FOUND, "unknown_connection")
            }
            Self::Topics(TopicsError::NotAllowed { .. }) => {
                (StatusCode::FORBIDDEN, "topic_not_allowed")
            }
            Self::Topics(_) => (StatusCode::BAD_REQUEST, "invalid_topic"),
            Self::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "invalid_query"),
            Self::Draining => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError::new(status, code, bounded(&self.to_string()))
    }

    /// The `WWW-Authenticate` challenge of an auth error.
    fn challenge(&self) -> Option<&'static str> {
        match self {
            Self::Unauthorized => Some("Bearer"),
            Self::InvalidToken => Some("Bearer error=\"invalid_token\""),
            Self::Forbidden | Self::Topics(TopicsError::NotAllowed { .. }) => {
                Some("Bearer error=\"insufficient_scope\"")
            }
            _ => None,
        }
    }
}

/// Longest error message sent, in bytes.
pub(crate) const MAX_MESSAGE: usize = 1024;
/// Longest quoted piece of input kept in a message, in bytes.
const MAX_QUOTED: usize = 64;

/// `message` with every quoted piece of input (serde quotes the values it
/// refuses) cut to [`MAX_QUOTED`] bytes and the whole to [`MAX_MESSAGE`],
/// each cut marked with an ellipsis: an error never echoes a large input.
pub(crate) fn bounded(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE + 8));
    // The open quote (`"` or a backtick) and the bytes kept inside it.
    let mut quoted: Option<(char, usize)> = None;
    for c in message.chars() {
        match quoted {
            None => {
                if c == '"' || c == '`' {
                    quoted = Some((c, 0));
                }
                out.push(c);
            }
            Some((open, _)) if c == open => {
                quoted = None;
                out.push(c);
            }
            Some((open, len)) => {
                let next = len + c.len_utf8();
                if next <= MAX_QUOTED {
                    out.push(c);
                } else if len <= MAX_QUOTED {
                    out.push('…');
                }
                quoted = Some((open, next));
            }
        }
        if out.len() >= MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
            out.push('…');
            break;
        }
    }
    out
}

impl From<TopicsError> for Error {
    fn from(err: TopicsError) -> Self {
        Self::Topics(err)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let mut response = self.api().into_response();
        if let Some(challenge) = self.challenge() {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_bounded() {
        let long = "z".repeat(5000);
        let message = bounded(&format!(
            "field `type`: unknown variant `{long}`, expected one of `a`"
        ));
        assert!(
            message.starts_with("field `type`: unknown variant `zzz"),
            "{message}"
        );
        assert!(message.contains("…`, expected one of `a`"), "{message}");
        assert!(message.len() < 200, "{message}");
        let message = bounded(&"w".repeat(5000));
        assert!(message.len() <= MAX_MESSAGE + 3 && message.ends_with('…'));
        assert_eq!(bounded("short \"é\" `x`"), "short \"é\" `x`");
    }

    #[test]
    fn publish_errors_name_field_and_index() {
        let err = Error::publish(Some(2), &PublishError::NoTarget);
        let api = err.api();
        assert_eq!(api.status, StatusCode::BAD_REQUEST);
        assert_eq!(api.code, "invalid_event");
        assert!(api.message.contains("index 2"), "{}", api.message);
        assert!(api.message.contains("`topics`"), "{}", api.message);
        let draining = Error::publish(None, &PublishError::Draining).api();
        assert_eq!(draining.status, StatusCode::SERVICE_UNAVAILABLE);
        let large = Error::publish(None, &PublishError::TooLarge { size: 9, max: 1 }).api();
        assert_eq!(large.status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn auth_errors_challenge_bearer() {
        for (error, status, challenge) in [
            (Error::Unauthorized, 401, Some("Bearer")),
            (
                Error::InvalidToken,
                401,
                Some("Bearer error=\"invalid_token\""),
            ),
            (
                Error::Forbidden,
                403,
                Some("Bearer error=\"insufficient_scope\""),
            ),
            (Error::HostNotAllowed, 403, None),
            (Error::OriginNotAllowed, 403, None),
        ] {
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(
                response
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok()),
                challenge
            );
        }
    }
}
