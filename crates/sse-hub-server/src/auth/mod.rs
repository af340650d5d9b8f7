//! Who may do what on this server (DESIGN §6): the [`Auth`] every handler
//! asks, the `Host` allow-list and CORS.
//!
//! * Subscribing is decided by the hub's `on_connect` ([`Auth::on_connect`]),
//!   so both the router and the SSE fast path apply it.
//! * Publishing, administration and connection control are decided here, per
//!   request, from `Authorization: Bearer`.
//! * [`host`] refuses foreign `Host` headers (DNS rebinding) on every route;
//!   [`cors`] answers preflights and adds CORS headers for listed origins.
//!
//! Nothing here puts a token, a claim or a tenant id in a response: errors
//! are the fixed messages of [`crate::error`].

pub(crate) mod cors;
pub(crate) mod host;

use std::fmt;

use axum::http::{header, HeaderMap};
use sse_hub::{Connecting, Connection, Pattern, Rejection};

use crate::config::AuthSettings;
use crate::error::Error;

/// The server's authentication state, shared by handlers and the hub hook.
pub(crate) struct Auth {
    pub(crate) settings: AuthSettings,
    /// `settings.anonymous_topics`, parsed.
    anonymous: Vec<Pattern>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("anonymous", &self.anonymous)
            .finish_non_exhaustive()
    }
}

/// A publisher, as far as what it may publish.
#[derive(Debug)]
pub(crate) enum Publisher {
    /// The static publish token, or development: anything.
    Any,
}

impl Publisher {
    /// The tenant the publisher is bound to.
    pub(crate) fn tenant(&self) -> Option<&str> {
        None
    }

    /// Whether the publisher may publish an event with these topics.
    pub(crate) fn may_publish(&self, _topics: &[String]) -> bool {
        true
    }
}

/// What a request's `Authorization` header presents.
enum Presented<'a> {
    None,
    Bearer(&'a str),
    /// More than one `Authorization` header: refused, never first-wins (a
    /// proxy and the client could each think theirs is the one used).
    Ambiguous,
}

fn presented(headers: &HeaderMap) -> Presented<'_> {
    if headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        return Presented::Ambiguous;
    }
    match headers
        .get(header::AUTHORIZATION)
        .and_then(|value| bearer(value.as_bytes()))
        .and_then(|token| std::str::from_utf8(token).ok())
    {
        Some(token) => Presented::Bearer(token),
        None => Presented::None,
    }
}

/// The credentials of an `Authorization: Bearer <token>` value.
pub(crate) fn bearer(value: &[u8]) -> Option<&[u8]> {
    let split = value.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = value.split_at(split);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let start = rest.iter().position(|b| *b != b' ')?;
    Some(&rest[start..])
}

impl Auth {
    pub(crate) fn new(settings: AuthSettings) -> Self {
        let anonymous = settings
            .anonymous_topics
            .iter()
            .filter_map(|p| Pattern::new(p).ok())
            .collect();
        Self {
            settings,
            anonymous,
        }
    }

    /// Whether `Authorization` carries a static token equal to `secret`.
    fn static_token(headers: &HeaderMap, secret: Option<&crate::config::Secret>) -> bool {
        match (presented(headers), secret) {
            (Presented::Bearer(token), Some(secret)) => secret.matches(token.as_bytes()),
            _ => false,
        }
    }

    /// Admin: `--admin-token` (else the publish token); open in development.
    pub(crate) fn admin(&self, headers: &HeaderMap) -> Result<(), Error> {
        if self.settings.open_admin() || Self::static_token(headers, self.settings.admin_secret()) {
            return Ok(());
        }
        Err(self.refusal(headers))
    }

    /// Whether the request is admin (no error).
    pub(crate) fn is_admin(&self, headers: &HeaderMap) -> bool {
        self.admin(headers).is_ok()
    }

    /// Who is publishing: the static publish token (or anyone, in
    /// development) may publish anything.
    pub(crate) async fn publisher(&self, headers: &HeaderMap) -> Result<Publisher, Error> {
        if self.settings.open_publish()
            || Self::static_token(headers, self.settings.publish_token.as_ref())
        {
            return Ok(Publisher::Any);
        }
        Err(self.refusal(headers))
    }

    /// Control of `connection` (pause, resume, topics): its control token or
    /// admin. `None` (no such connection) is refused like a wrong token,
    /// unless the caller is admin (who then learns it does not exist).
    pub(crate) fn control(
        &self,
        headers: &HeaderMap,
        connection: Option<&Connection>,
    ) -> Result<(), Error> {
        if let (Presented::Bearer(token), Some(connection)) = (presented(headers), connection) {
            if connection.control_token_matches(token.as_bytes()) {
                return Ok(());
            }
        }
        self.admin(headers)?;
        if connection.is_none() {
            return Err(Error::UnknownConnection);
        }
        Ok(())
    }

    /// The error for a request that is not allowed: 401 without a
    /// credential, 403 for a known static token used beyond its scope, 401
    /// `invalid_token` for anything else presented.
    fn refusal(&self, headers: &HeaderMap) -> Error {
        match presented(headers) {
            Presented::None => Error::Unauthorized,
            Presented::Bearer(_)
                if Self::static_token(headers, self.settings.publish_token.as_ref())
                    || Self::static_token(headers, self.settings.admin_token.as_ref()) =>
            {
                Error::Forbidden
            }
            Presented::Bearer(_) | Presented::Ambiguous => Error::InvalidToken,
        }
    }

    /// The hub's `on_connect`: DESIGN §6 "Subscribing". Every requested topic
    /// must be covered by an anonymous pattern; the connection may later add
    /// only topics those patterns cover.
    pub(crate) async fn on_connect(
        &self,
        mut connecting: Connecting,
    ) -> Result<Connecting, Rejection> {
        let covered = |topic: &String| {
            Pattern::new(topic)
                .map(|pattern| self.anonymous.iter().any(|a| a.covers(&pattern)))
                // An invalid pattern is the hub's 400, not ours.
                .unwrap_or(true)
        };
        if !connecting.topics.iter().all(covered) {
            return Err(Rejection::Unauthorized(
                "a credential is required for these topics".into(),
            ));
        }
        connecting.allowed = Some(self.settings.anonymous_topics.clone());
        Ok(connecting)
    }
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer   abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer"), None);
        assert_eq!(bearer(b"Bearer "), None);
    }
}
