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
use std::sync::Arc;

use anyhow::Context as _;
use axum::http::{header, HeaderMap};
use sse_hub::auth::{
    Claims, JwtVerifier, MemoryTicketStore, RedisTicketStore, SubscribePolicy, TicketStore,
};
use sse_hub::{Connecting, Connection, Pattern, Rejection};

use crate::config::{AuthSettings, KeySource};
use crate::error::Error;

/// The server's authentication state, shared by handlers and the hub hook.
pub(crate) struct Auth {
    pub(crate) settings: AuthSettings,
    verifier: Option<JwtVerifier>,
    tickets: Arc<dyn TicketStore>,
    policy: SubscribePolicy,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// A publisher, as far as what it may publish.
#[derive(Debug)]
pub(crate) enum Publisher {
    /// The static publish token, or development: anything.
    Any,
    /// A JWT: topics its `publish` patterns cover, for its tenant only.
    Granted {
        publish: Vec<Pattern>,
        tenant: Option<String>,
    },
}

impl Publisher {
    /// Whether the publisher is limited by JWT grants.
    pub(crate) fn is_granted(&self) -> bool {
        matches!(self, Self::Granted { .. })
    }

    /// The tenant the publisher is bound to.
    pub(crate) fn tenant(&self) -> Option<&str> {
        match self {
            Self::Any => None,
            Self::Granted { tenant, .. } => tenant.as_deref(),
        }
    }

    /// Whether the publisher may publish an event with these topics: every
    /// one covered by a grant. A granted publisher must name topics (an
    /// event without topics reaches a whole group). A topic that does not
    /// parse is left to the hub's validation (400, nothing published).
    pub(crate) fn may_publish(&self, topics: &[String]) -> bool {
        match self {
            Self::Any => true,
            Self::Granted { publish, .. } => {
                !topics.is_empty()
                    && topics.iter().all(|topic| match sse_hub::Topic::new(topic) {
                        Ok(topic) => publish.iter().any(|p| p.matches(&topic)),
                        Err(_) => true,
                    })
            }
        }
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
    /// Builds the verifier (loading the key: a PEM file, a JWKS file or
    /// URL) and the ticket store (Redis when `--redis-url` is set).
    pub(crate) async fn build(settings: AuthSettings) -> anyhow::Result<Self> {
        let verifier = match &settings.key {
            None => None,
            Some(key) => {
                let builder = JwtVerifier::builder().leeway(settings.leeway);
                let builder = match key {
                    KeySource::Secret(secret) => builder.hmac_secret(secret.expose().as_bytes()),
                    KeySource::PublicKey(path) => {
                        let pem = std::fs::read(path).with_context(|| {
                            format!("reading --jwt-public-key {}", path.display())
                        })?;
                        builder.public_key_pem(&pem)
                    }
                    KeySource::Jwks(source)
                        if source.starts_with("http://") || source.starts_with("https://") =>
                    {
                        builder.jwks_url(source.as_str())
                    }
                    KeySource::Jwks(path) => builder.jwks_file(path.as_str()),
                };
                let builder = match &settings.audience {
                    Some(aud) => builder.audience(aud.as_str()),
                    None => builder,
                };
                let builder = match &settings.issuer {
                    Some(iss) => builder.issuer(iss.as_str()),
                    None => builder,
                };
                Some(builder.build().await.context("loading the JWT key")?)
            }
        };
        let tickets: Arc<dyn TicketStore> = match &settings.ticket_redis {
            Some(url) => Arc::new(
                RedisTicketStore::connect(url.expose(), &settings.ticket_prefix)
                    .await
                    .map_err(|err| anyhow::anyhow!(url.scrub(&err.to_string())))
                    .with_context(|| {
                        format!(
                            "cannot connect the Redis ticket store at {}",
                            url.redacted()
                        )
                    })?,
            ),
            None => Arc::new(MemoryTicketStore::new(settings.max_tickets)),
        };
        let anonymous = settings
            .anonymous_topics
            .iter()
            .filter_map(|p| Pattern::new(p).ok());
        let mut policy = SubscribePolicy::new()
            .cookie_name(settings.cookie.as_str())
            .tickets(tickets.clone())
            .anonymous(anonymous);
        if let Some(verifier) = &verifier {
            policy = policy.verifier(verifier.clone());
        }
        Ok(Self {
            settings,
            verifier,
            tickets,
            policy,
        })
    }

    /// The ticket store.
    pub(crate) fn tickets(&self) -> &dyn TicketStore {
        self.tickets.as_ref()
    }

    /// Verifies a JWT. `Err(InvalidToken)` when it fails or no key is set.
    pub(crate) async fn verify(&self, token: &str) -> Result<Claims, Error> {
        let Some(verifier) = &self.verifier else {
            return Err(Error::InvalidToken);
        };
        verifier.verify(token).await.map_err(|err| {
            // The reason is logged, never sent (it could help an attacker
            // probe keys); it never contains the token.
            tracing::debug!(error = %err, "token refused");
            Error::InvalidToken
        })
    }

    /// Whether `Authorization` carries a static token equal to `secret`.
    fn static_token(headers: &HeaderMap, secret: Option<&crate::config::Secret>) -> bool {
        match (presented(headers), secret) {
            (Presented::Bearer(token), Some(secret)) => secret.matches(token.as_bytes()),
            _ => false,
        }
    }

    /// Admin: `--admin-token` (else the publish token), or a JWT with
    /// `admin: true`; open in development.
    pub(crate) async fn admin(&self, headers: &HeaderMap) -> Result<(), Error> {
        if self.settings.open_admin() || Self::static_token(headers, self.settings.admin_secret()) {
            return Ok(());
        }
        match self.jwt(headers).await? {
            Some(claims) if claims.grants.admin => Ok(()),
            Some(_) => Err(Error::Forbidden),
            None => Err(self.refusal(headers)),
        }
    }

    /// Whether the request is admin (no error).
    pub(crate) async fn is_admin(&self, headers: &HeaderMap) -> bool {
        self.admin(headers).await.is_ok()
    }

    /// The bearer's JWT claims: `Ok(None)` when no bearer is presented or it
    /// is a static token of this server (not a JWT), `Err` when it is
    /// neither and does not verify.
    async fn jwt(&self, headers: &HeaderMap) -> Result<Option<Claims>, Error> {
        let Presented::Bearer(token) = presented(headers) else {
            return Ok(None);
        };
        if Self::static_token(headers, self.settings.publish_token.as_ref())
            || Self::static_token(headers, self.settings.admin_token.as_ref())
        {
            return Ok(None);
        }
        self.verify(token).await.map(Some)
    }

    /// Who is publishing: the static publish token (or anyone, in
    /// development) may publish anything; a JWT what its `publish` patterns
    /// cover, for its tenant.
    pub(crate) async fn publisher(&self, headers: &HeaderMap) -> Result<Publisher, Error> {
        if self.settings.open_publish()
            || Self::static_token(headers, self.settings.publish_token.as_ref())
        {
            return Ok(Publisher::Any);
        }
        match self.jwt(headers).await? {
            Some(claims) => Ok(Publisher::Granted {
                publish: claims.grants.publish,
                tenant: claims.grants.tenant,
            }),
            None => Err(self.refusal(headers)),
        }
    }

    /// Control of `connection` (pause, resume, topics): its control token or
    /// admin. `None` (no such connection) is refused like a wrong token,
    /// unless the caller is admin (who then learns it does not exist).
    pub(crate) async fn control(
        &self,
        headers: &HeaderMap,
        connection: Option<&Connection>,
    ) -> Result<(), Error> {
        if let (Presented::Bearer(token), Some(connection)) = (presented(headers), connection) {
            if connection.control_token_matches(token.as_bytes()) {
                return Ok(());
            }
        }
        self.admin(headers).await?;
        if connection.is_none() {
            return Err(Error::UnknownConnection);
        }
        Ok(())
    }

    /// The error for a request that is not allowed: 401 without a
    /// credential, 403 for a static token used beyond its scope, 401
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

    /// The hub's `on_connect`: DESIGN §6 "Subscribing", by
    /// [`SubscribePolicy`] (bearer, cookie, ticket; anonymous topics; grants
    /// kept as `allowed`; metadata `user` / `tenant` / `meta`; the stream
    /// ends at the token's `exp`).
    pub(crate) async fn on_connect(&self, connecting: Connecting) -> Result<Connecting, Rejection> {
        self.policy.authorize(connecting).await
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
