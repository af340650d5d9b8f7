//! DESIGN §6 "Subscribing" as one `on_connect` call.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use super::claims::{TENANT_META_KEY, USER_META_KEY};
use super::credential::{credential, Credential, DEFAULT_COOKIE};
use super::ticket::{TicketGrant, TicketStore};
use super::verifier::JwtVerifier;
use crate::connect::{Connecting, Rejection};
use crate::topic::Pattern;

/// Who may subscribe to what: a verifier for JWTs (bearer or cookie), a
/// ticket store for `?ticket=`, and the patterns anyone may read.
///
/// Clone it into the `on_connect` hook; see the [module docs](super) for an
/// example.
#[derive(Clone)]
#[must_use]
pub struct SubscribePolicy {
    verifier: Option<JwtVerifier>,
    tickets: Option<Arc<dyn TicketStore>>,
    cookie_name: String,
    anonymous: Vec<Pattern>,
}

impl fmt::Debug for SubscribePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscribePolicy")
            .field("verifier", &self.verifier)
            .field("tickets", &self.tickets)
            .field("cookie_name", &self.cookie_name)
            .field("anonymous", &self.anonymous)
            .finish()
    }
}

impl Default for SubscribePolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl SubscribePolicy {
    /// A policy that lets nobody in: no verifier, no tickets, no anonymous
    /// topics, cookie [`DEFAULT_COOKIE`].
    pub fn new() -> Self {
        Self {
            verifier: None,
            tickets: None,
            cookie_name: DEFAULT_COOKIE.to_owned(),
            anonymous: Vec::new(),
        }
    }

    /// Verifies bearer and cookie JWTs. Default: none (a presented JWT is
    /// then refused as an invalid token, never ignored).
    pub fn verifier(mut self, verifier: JwtVerifier) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// Redeems `?ticket=`. Default: none (a presented ticket is refused).
    pub fn tickets(mut self, store: Arc<dyn TicketStore>) -> Self {
        self.tickets = Some(store);
        self
    }

    /// The cookie that may carry a JWT. Default: [`DEFAULT_COOKIE`].
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// Adds patterns anyone may subscribe to without a credential
    /// (`>` = everything, explicitly). Default: none.
    pub fn anonymous(mut self, patterns: impl IntoIterator<Item = Pattern>) -> Self {
        self.anonymous.extend(patterns);
        self
    }

    /// The request's credential, verified (a JWT) or redeemed (a ticket).
    /// `Ok(None)`: no credential was presented. A JWT becomes a grant with
    /// `topics: None`.
    ///
    /// # Errors
    ///
    /// [`Rejection::InvalidToken`] for a credential that is ambiguous, fails
    /// verification, is an unknown, used or expired ticket, or that this
    /// policy cannot check (no verifier, no ticket store).
    pub async fn authenticate(
        &self,
        request: &http::request::Parts,
    ) -> Result<Option<TicketGrant>, Rejection> {
        let found = credential(request, &self.cookie_name)
            .map_err(|err| Rejection::InvalidToken(err.to_string()))?;
        let grant = match found {
            None => return Ok(None),
            Some(Credential::Bearer(token) | Credential::Cookie(token)) => {
                let Some(verifier) = &self.verifier else {
                    return Err(invalid("no key configured to verify tokens"));
                };
                let claims = verifier.verify(&token).await.map_err(|err| {
                    tracing::debug!(error = %err, "token refused");
                    Rejection::InvalidToken(err.to_string())
                })?;
                TicketGrant::new(claims, None)
            }
            Some(Credential::Ticket(ticket)) => {
                let Some(store) = &self.tickets else {
                    return Err(invalid("tickets are not enabled"));
                };
                match store.redeem(&ticket).await {
                    Ok(Some(grant)) if grant.claims.expires_at > SystemTime::now() => grant,
                    Ok(Some(_)) => return Err(invalid("token expired")),
                    Ok(None) => return Err(invalid("unknown or used ticket")),
                    Err(err) => {
                        tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "ticket store failed");
                        return Err(invalid("ticket could not be checked"));
                    }
                }
            }
        };
        Ok(Some(grant))
    }

    /// Applies DESIGN §6 "Subscribing" to a handshake.
    ///
    /// * Finds the credential (bearer, cookie, ticket) and verifies or redeems it.
    /// * Without one, every requested topic must be covered by an anonymous
    ///   pattern; with no topic requested, the stream starts with none (and
    ///   may add anonymous ones later), unless there are no anonymous
    ///   patterns at all (then 401).
    /// * With one, every requested topic must be covered by a `subscribe`
    ///   grant or an anonymous pattern. No topic requested: all the granted
    ///   patterns. A ticket with topics: exactly those (requested ones are
    ///   replaced).
    /// * Sets `allowed` (granted + anonymous patterns, so later topic changes
    ///   are checked too), `expires_at` (the token's `exp`, or an earlier end
    ///   already set), and metadata `user`, `tenant` and `meta` from the
    ///   token. `user` and `tenant` are removed when the token (or the lack
    ///   of one) does not set them, so nothing else can claim a tenant.
    ///
    /// Topics that are not valid patterns are left for the hub to refuse.
    ///
    /// # Errors
    ///
    /// * [`Rejection::Unauthorized`]: no credential, a topic not anonymous.
    /// * [`Rejection::InvalidToken`]: a presented credential failed (also
    ///   when only anonymous topics were asked for: no silent downgrade).
    /// * [`Rejection::Forbidden`]: a valid credential that does not cover a topic.
    ///
    /// Messages never include the token, its claims, a tenant or a topic.
    pub async fn authorize(&self, mut connecting: Connecting) -> Result<Connecting, Rejection> {
        let grant = match connecting.request.clone() {
            Some(request) => self.authenticate(&request).await?,
            None => None,
        };
        connecting.metadata.remove(USER_META_KEY);
        connecting.metadata.remove(TENANT_META_KEY);
        let Some(grant) = grant else {
            if self.anonymous.is_empty() {
                return Err(Rejection::Unauthorized("credential required".into()));
            }
            if !connecting
                .topics
                .iter()
                .all(|topic| covered(&self.anonymous, topic))
            {
                return Err(Rejection::Unauthorized(
                    "credential required for a requested topic".into(),
                ));
            }
            connecting.allowed = Some(strings(&self.anonymous));
            return Ok(connecting);
        };
        let claims = grant.claims;
        let mut allowed = claims.grants.subscribe.clone();
        allowed.extend(self.anonymous.iter().cloned());
        if let Some(topics) = grant.topics {
            connecting.topics = topics;
        } else if connecting.topics.is_empty() {
            connecting.topics = strings(&claims.grants.subscribe);
        }
        if !connecting
            .topics
            .iter()
            .all(|topic| covered(&allowed, topic))
        {
            return Err(Rejection::Forbidden(
                "a requested topic is not granted".into(),
            ));
        }
        connecting.metadata.extend(claims.metadata());
        connecting.allowed = Some(strings(&allowed));
        connecting.expires_at = Some(match connecting.expires_at {
            Some(earlier) => earlier.min(claims.expires_at),
            None => claims.expires_at,
        });
        Ok(connecting)
    }
}

fn invalid(message: &str) -> Rejection {
    Rejection::InvalidToken(message.to_owned())
}

/// Whether one of `allowed` covers `topic`; an invalid pattern passes here
/// and is refused by the hub's own validation.
fn covered(allowed: &[Pattern], topic: &str) -> bool {
    match Pattern::new(topic) {
        Ok(pattern) => allowed.iter().any(|grant| grant.covers(&pattern)),
        Err(_) => true,
    }
}

fn strings(patterns: &[Pattern]) -> Vec<String> {
    patterns.iter().map(|p| p.as_str().to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use jsonwebtoken::Algorithm;
    use serde_json::json;

    use super::*;
    use crate::auth::testkeys::{claims, now, sign, SECRET};
    use crate::auth::{Claims, Grants, MemoryTicketStore};
    use crate::{Config, Hub, SubscribeError};

    async fn policy() -> SubscribePolicy {
        let verifier = JwtVerifier::builder()
            .hmac_secret(SECRET)
            .build()
            .await
            .unwrap();
        SubscribePolicy::new()
            .verifier(verifier)
            .tickets(Arc::new(MemoryTicketStore::new(100)))
            .anonymous([Pattern::new("public.>").unwrap()])
    }

    fn token() -> String {
        sign(
            Algorithm::HS256,
            None,
            &claims(
                json!({"subscribe": ["orders.>", "chat.*"], "tenant": "acme",
                           "meta": {"plan": "pro", "tenant": "globex"}}),
            ),
        )
    }

    fn request(uri: &str, headers: &[(&str, &str)]) -> Connecting {
        let mut builder = http::Request::get(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let (parts, ()) = builder.body(()).unwrap().into_parts();
        let mut connecting = Connecting::new();
        connecting.request = Some(Arc::new(parts));
        connecting
    }

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    #[tokio::test]
    async fn anonymous_topics_need_no_credential() {
        let policy = policy().await;
        let ok = policy
            .authorize(request("/events", &[]).with_topics(["public.news"]))
            .await
            .unwrap();
        assert_eq!(ok.allowed, Some(vec!["public.>".to_owned()]));
        assert_eq!(ok.expires_at, None);
        let err = policy
            .authorize(request("/events", &[]).with_topics(["public.news", "orders.eu"]))
            .await
            .unwrap_err();
        assert!(matches!(err, Rejection::Unauthorized(_)), "{err:?}");
        let closed = SubscribePolicy::new()
            .authorize(request("/events", &[]))
            .await
            .unwrap_err();
        assert!(matches!(closed, Rejection::Unauthorized(_)));
    }

    #[tokio::test]
    async fn a_failed_credential_is_never_downgraded_to_anonymous() {
        let policy = policy().await;
        let expired = sign(Algorithm::HS256, None, &json!({"exp": now() - 3600}));
        let auth = bearer(&expired);
        for connecting in [
            request("/events", &[("authorization", &auth)]),
            request(
                "/events",
                &[("cookie", &format!("sse_hub_token={expired}"))],
            ),
            request("/events?ticket=nope", &[]),
            request(
                "/events",
                &[("authorization", "Bearer a"), ("authorization", "Bearer b")],
            ),
        ] {
            let err = policy
                .authorize(connecting.with_topics(["public.news"]))
                .await
                .unwrap_err();
            assert!(matches!(err, Rejection::InvalidToken(_)), "{err:?}");
            assert!(!err.message().contains(&expired));
        }
        // A JWT with no verifier configured is refused, not ignored.
        let no_keys = SubscribePolicy::new().anonymous([Pattern::new(">").unwrap()]);
        let auth = bearer(&token());
        let err = no_keys
            .authorize(request("/events", &[("authorization", &auth)]))
            .await
            .unwrap_err();
        assert!(matches!(err, Rejection::InvalidToken(_)));
    }

    #[tokio::test]
    async fn granted_topics_pass_and_others_are_forbidden() {
        let policy = policy().await;
        let auth = bearer(&token());
        let ok = policy
            .authorize(
                request("/events", &[("authorization", &auth)])
                    .with_topics(["orders.eu.*", "public.news"])
                    .with_metadata("tenant", "smuggled"),
            )
            .await
            .unwrap();
        assert_eq!(ok.metadata.get("tenant").map(String::as_str), Some("acme"));
        assert_eq!(ok.metadata.get("user").map(String::as_str), Some("user-1"));
        assert_eq!(ok.metadata.get("plan").map(String::as_str), Some("pro"));
        assert_eq!(
            ok.allowed,
            Some(vec!["orders.>".into(), "chat.*".into(), "public.>".into()])
        );
        let exp = ok.expires_at.unwrap().duration_since(UNIX_EPOCH).unwrap();
        assert!(exp.as_secs() > now() + 3000);

        let err = policy
            .authorize(request("/events", &[("authorization", &auth)]).with_topics(["chat.>"]))
            .await
            .unwrap_err();
        assert!(matches!(err, Rejection::Forbidden(_)), "{err:?}");
        assert!(!err.message().contains("chat"));
    }

    #[tokio::test]
    async fn no_topic_means_every_granted_pattern() {
        let policy = policy().await.cookie_name("my_cookie");
        let cookie = format!("other=1; my_cookie={}", token());
        let ok = policy
            .authorize(request("/events", &[("cookie", &cookie)]))
            .await
            .unwrap();
        assert_eq!(ok.topics, vec!["orders.>".to_owned(), "chat.*".to_owned()]);
        // The default cookie name is not read once another is configured.
        let default_cookie = format!("sse_hub_token={}", token());
        let err = policy
            .authorize(request("/events", &[("cookie", &default_cookie)]).with_topics(["orders"]))
            .await
            .unwrap_err();
        assert!(matches!(err, Rejection::Unauthorized(_)));
    }

    #[tokio::test]
    async fn a_ticket_gives_exactly_its_topics_once() {
        let store = Arc::new(MemoryTicketStore::new(10));
        let policy = policy().await.tickets(store.clone());
        let mut grants = Grants::default();
        grants.subscribe.push(Pattern::new("orders.>").unwrap());
        grants.tenant = Some("acme".into());
        let exp = std::time::SystemTime::now() + Duration::from_secs(600);
        let claims = Claims::new(Some("u9".into()), exp, grants);
        let ticket = store
            .issue(
                TicketGrant::new(claims.clone(), Some(vec!["orders.eu".into()])),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
        let uri = format!("/events?ticket={ticket}&topic=orders.us");
        let ok = policy.authorize(request(&uri, &[])).await.unwrap();
        assert_eq!(ok.topics, vec!["orders.eu".to_owned()]);
        assert_eq!(ok.expires_at, Some(exp));
        assert_eq!(ok.metadata.get("user").map(String::as_str), Some("u9"));
        let again = policy.authorize(request(&uri, &[])).await.unwrap_err();
        assert!(matches!(again, Rejection::InvalidToken(_)));

        // A ticket whose token has expired since it was issued.
        let stale = Claims::new(None, UNIX_EPOCH + Duration::from_secs(1), Grants::default());
        let ticket = store
            .issue(TicketGrant::new(stale, None), Duration::from_secs(30))
            .await
            .unwrap();
        let err = policy
            .authorize(request(&format!("/events?ticket={ticket}"), &[]))
            .await
            .unwrap_err();
        assert!(matches!(err, Rejection::InvalidToken(_)));
    }

    #[tokio::test]
    async fn the_hub_enforces_grants_on_later_topic_changes() {
        let policy = policy().await;
        let hub = Hub::new(Config::new().on_connect(move |connecting| {
            let policy = policy.clone();
            async move { policy.authorize(connecting).await }
        }))
        .unwrap();
        let err = hub
            .subscribe(request("/events", &[]).with_topics(["orders.eu"]))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            SubscribeError::Rejected(Rejection::Unauthorized(_))
        ));
        let auth = bearer(&token());
        let stream = hub
            .subscribe(request("/events", &[("authorization", &auth)]).with_topics(["orders.eu"]))
            .await
            .unwrap();
        let id = stream.connection_id().unwrap();
        assert!(hub.update_topics(id, &["chat.room".into()], &[]).is_ok());
        assert!(hub.update_topics(id, &["secret.x".into()], &[]).is_err());
        assert!(hub.update_topics(id, &["public.news".into()], &[]).is_ok());
    }

    fn pattern() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        proptest::collection::vec(
            prop_oneof![Just("a"), Just("b"), Just("*"), Just(">")],
            1..4,
        )
        .prop_map(|tokens| tokens.join("."))
        .prop_filter("valid pattern", |p| Pattern::new(p).is_ok())
    }

    proptest::proptest! {
        /// Against a brute-force reference: a bearer subscribe succeeds iff
        /// every requested topic is covered by a grant or an anonymous
        /// pattern, and then every topic is covered by `allowed`.
        #[test]
        fn authorize_matches_the_coverage_rule(
            grants in proptest::collection::vec(pattern(), 0..4),
            anonymous in proptest::collection::vec(pattern(), 0..3),
            requested in proptest::collection::vec(pattern(), 1..4),
        ) {
            use futures_util::FutureExt;
            let verifier = JwtVerifier::builder().hmac_secret(SECRET).build().now_or_never().unwrap().unwrap();
            let anonymous: Vec<Pattern> = anonymous.iter().map(|p| Pattern::new(p).unwrap()).collect();
            let policy = SubscribePolicy::new().verifier(verifier).anonymous(anonymous.clone());
            let jwt = sign(Algorithm::HS256, None, &claims(json!({"subscribe": grants})));
            let auth = bearer(&jwt);
            let connecting = request("/events", &[("authorization", &auth)]).with_topics(requested.clone());
            let result = policy.authorize(connecting).now_or_never().unwrap();
            let mut all: Vec<Pattern> = grants.iter().map(|p| Pattern::new(p).unwrap()).collect();
            all.extend(anonymous);
            let expected = requested.iter().all(|t| {
                let t = Pattern::new(t).unwrap();
                all.iter().any(|a| a.covers(&t))
            });
            match result {
                Ok(ok) => {
                    proptest::prop_assert!(expected);
                    let allowed: Vec<Pattern> = ok.allowed.unwrap().iter().map(|p| Pattern::new(p).unwrap()).collect();
                    for topic in &ok.topics {
                        let topic = Pattern::new(topic).unwrap();
                        proptest::prop_assert!(allowed.iter().any(|a| a.covers(&topic)));
                    }
                }
                Err(Rejection::Forbidden(_)) => proptest::prop_assert!(!expected),
                Err(other) => proptest::prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}
