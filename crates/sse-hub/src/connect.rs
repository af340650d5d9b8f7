//! The subscribe handshake: what a client asked for, and what `on_connect` decides.
//!
//! The HTTP layer fills a [`Connecting`] from the request (topics from the
//! query, `Last-Event-ID`, headers, peer address) and hands it to
//! [`Hub::subscribe`](crate::Hub::subscribe). The hub runs the configured
//! `on_connect` hook, which may change the topics, attach metadata (tenant,
//! user) or reject the client with a [`Rejection`].

use std::net::SocketAddr;
use std::sync::Arc;

use crate::event::Metadata;

/// A client asking to subscribe.
///
/// # Examples
///
/// ```
/// use sse_hub::Connecting;
///
/// let connecting = Connecting::new()
///     .with_topics(["orders", "chat.*"])
///     .with_metadata("tenant", "acme");
/// assert_eq!(connecting.topics.len(), 2);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Connecting {
    /// Topic patterns to subscribe to (validated after `on_connect`).
    pub topics: Vec<String>,
    /// Metadata used for group routing (`tenant`, `user`, ...).
    pub metadata: Metadata,
    /// The last event id the client saw (`Last-Event-ID` header or query).
    pub last_event_id: Option<String>,
    /// Patterns the client may subscribe to. `None` allows any topic; set by
    /// auth helpers (a JWT claim, say) so that client-requested topics are
    /// granted only where an allowed pattern covers them.
    pub allowed: Option<Vec<String>>,
    /// The HTTP request head, when the subscriber came through HTTP.
    pub request: Option<Arc<http::request::Parts>>,
    /// The peer's socket address, when known.
    pub peer: Option<SocketAddr>,
    /// When the connection must close at the latest (a JWT's `exp`, say).
    pub expires_at: Option<std::time::SystemTime>,
}

impl Connecting {
    /// An empty handshake.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds topic patterns.
    #[must_use]
    pub fn with_topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.topics.extend(topics.into_iter().map(Into::into));
        self
    }

    /// Adds one metadata pair.
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the last event id the client saw.
    #[must_use]
    pub fn with_last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = Some(id.into());
        self
    }

    /// A request header as bytes (ids and cookies may be non-ASCII).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.request
            .as_ref()
            .and_then(|parts| parts.headers.get(name))
            .map(http::HeaderValue::as_bytes)
    }

    /// A query parameter's first value, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.request.as_ref()?.uri.query()?;
        crate::query::params(query)
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }
}

/// Why `on_connect` turned a client down. The message is sent to the client:
/// never put secrets, tokens or tenant ids in it (log those instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// No credential was presented (HTTP 401, `WWW-Authenticate: Bearer`).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A credential was presented and failed: bad signature, expired, unknown
    /// key, used ticket (HTTP 401, `WWW-Authenticate: Bearer error="invalid_token"`).
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// Credentials are valid but do not cover what was asked (HTTP 403,
    /// `WWW-Authenticate: Bearer error="insufficient_scope"`).
    #[error("forbidden: {0}")]
    Forbidden(String),
}

impl Rejection {
    /// The client-facing message.
    pub fn message(&self) -> &str {
        match self {
            Self::Unauthorized(msg) | Self::InvalidToken(msg) | Self::Forbidden(msg) => msg,
        }
    }
}
