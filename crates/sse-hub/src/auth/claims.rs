//! Verified claims and the grants read from the `sse_hub` claim.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ClaimError;
use crate::event::Metadata;
use crate::topic::{Pattern, Topic};

/// Metadata key that carries the token's `sub`.
pub const USER_META_KEY: &str = "user";
/// Metadata key that carries the grant's `tenant`.
pub const TENANT_META_KEY: &str = crate::TENANT_KEY;

/// What a verified token says about its bearer.
///
/// `Debug` prints no subject, tenant, metadata value or topic: only counts.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Claims {
    /// `sub`, when present.
    pub subject: Option<String>,
    /// `exp`: streams opened with this credential end then.
    pub expires_at: SystemTime,
    /// What the bearer may do, from the `sse_hub` claim.
    pub grants: Grants,
}

impl Claims {
    /// Claims for a subject with the given grants and end. Useful to issue
    /// tickets for a caller authenticated by other means, and in tests.
    #[must_use]
    pub fn new(subject: Option<String>, expires_at: SystemTime, grants: Grants) -> Self {
        Self {
            subject,
            expires_at,
            grants,
        }
    }

    /// Connection metadata for these claims (see [`Grants::metadata`]).
    pub fn metadata(&self) -> Metadata {
        self.grants.metadata(self.subject.as_deref())
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("subject", &self.subject.as_ref().map(|_| "<redacted>"))
            .field("expires_at", &self.expires_at)
            .field("grants", &self.grants)
            .finish()
    }
}

/// The `sse_hub` object claim: what the bearer may subscribe to and publish.
///
/// An absent claim is empty grants: the token then authenticates but covers
/// no topic (only anonymous ones). Unknown keys inside the claim are ignored,
/// so issuers can add fields for newer versions.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Grants {
    /// Topic patterns the bearer may subscribe to.
    pub subscribe: Vec<Pattern>,
    /// Topic patterns the bearer may publish to.
    pub publish: Vec<Pattern>,
    /// The bearer's tenant: becomes metadata `tenant`.
    pub tenant: Option<String>,
    /// Extra connection metadata (string values only).
    pub meta: Metadata,
    /// Whether the bearer may use admin endpoints.
    pub admin: bool,
}

impl fmt::Debug for Grants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grants")
            .field("subscribe", &self.subscribe.len())
            .field("publish", &self.publish.len())
            .field("tenant", &self.tenant.as_ref().map(|_| "<redacted>"))
            .field("meta", &self.meta.len())
            .field("admin", &self.admin)
            .finish()
    }
}

impl Grants {
    /// Whether some `subscribe` grant covers every topic `pattern` can match.
    ///
    /// # Examples
    ///
    /// ```
    /// use sse_hub::auth::Grants;
    /// use sse_hub::Pattern;
    ///
    /// let mut grants = Grants::default();
    /// grants.subscribe.push(Pattern::new("orders.>").unwrap());
    /// assert!(grants.may_subscribe(&Pattern::new("orders.eu.*").unwrap()));
    /// assert!(!grants.may_subscribe(&Pattern::new(">").unwrap()));
    /// ```
    pub fn may_subscribe(&self, pattern: &Pattern) -> bool {
        self.subscribe.iter().any(|grant| grant.covers(pattern))
    }

    /// Whether some `publish` grant matches `topic`.
    pub fn may_publish(&self, topic: &Topic) -> bool {
        self.publish.iter().any(|grant| grant.matches(topic))
    }

    /// Connection metadata: `meta`, then `user` = `subject` and `tenant` =
    /// [`tenant`](Self::tenant). `user` and `tenant` always come from the
    /// token: a `meta` key of the same name is dropped, even when the token
    /// has no `sub` or no tenant, so `meta` cannot claim a tenant.
    pub fn metadata(&self, subject: Option<&str>) -> Metadata {
        let mut metadata = self.meta.clone();
        metadata.remove(USER_META_KEY);
        metadata.remove(TENANT_META_KEY);
        if let Some(subject) = subject {
            metadata.insert(USER_META_KEY.to_owned(), subject.to_owned());
        }
        if let Some(tenant) = &self.tenant {
            metadata.insert(TENANT_META_KEY.to_owned(), tenant.clone());
        }
        metadata
    }
}

/// Bounds on what a token may carry, so a signed but huge token cannot make
/// every connection expensive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClaimLimits {
    pub(crate) max_patterns: usize,
    pub(crate) max_meta_entries: usize,
    pub(crate) max_value_len: usize,
}

impl Default for ClaimLimits {
    fn default() -> Self {
        Self {
            max_patterns: 256,
            max_meta_entries: 32,
            max_value_len: 256,
        }
    }
}

/// The registered claims this crate reads; the rest is ignored.
#[derive(Deserialize)]
pub(crate) struct RawClaims {
    #[serde(default)]
    sub: Option<Value>,
    #[serde(default)]
    exp: Option<Value>,
    #[serde(default)]
    sse_hub: Option<Value>,
}

impl RawClaims {
    /// Turns already-validated registered claims into [`Claims`].
    pub(crate) fn into_claims(self, limits: &ClaimLimits) -> Result<Claims, ClaimError> {
        let subject = match self.sub {
            None | Some(Value::Null) => None,
            Some(Value::String(sub)) => Some(bounded(sub, "sub", limits)?),
            Some(_) => return Err(ClaimError::new("sub", "not a string")),
        };
        let expires_at = match self.exp.as_ref().and_then(Value::as_u64) {
            Some(secs) => UNIX_EPOCH
                .checked_add(Duration::from_secs(secs))
                .ok_or(ClaimError::new("exp", "out of range"))?,
            None => return Err(ClaimError::new("exp", "not a number of seconds")),
        };
        let grants = match self.sse_hub {
            None | Some(Value::Null) => Grants::default(),
            Some(Value::Object(claim)) => grants(claim, limits)?,
            Some(_) => return Err(ClaimError::new("sse_hub", "not an object")),
        };
        Ok(Claims {
            subject,
            expires_at,
            grants,
        })
    }
}

fn grants(
    mut claim: serde_json::Map<String, Value>,
    limits: &ClaimLimits,
) -> Result<Grants, ClaimError> {
    let subscribe = patterns(claim.remove("subscribe"), "sse_hub.subscribe", limits)?;
    let publish = patterns(claim.remove("publish"), "sse_hub.publish", limits)?;
    let tenant = match claim.remove("tenant") {
        None | Some(Value::Null) => None,
        Some(Value::String(tenant)) if tenant.is_empty() => {
            return Err(ClaimError::new("sse_hub.tenant", "empty"))
        }
        Some(Value::String(tenant)) => Some(bounded(tenant, "sse_hub.tenant", limits)?),
        Some(_) => return Err(ClaimError::new("sse_hub.tenant", "not a string")),
    };
    let meta = match claim.remove("meta") {
        None | Some(Value::Null) => Metadata::new(),
        Some(Value::Object(map)) => {
            if map.len() > limits.max_meta_entries {
                return Err(ClaimError::new("sse_hub.meta", "too many entries"));
            }
            let mut meta = Metadata::new();
            for (key, value) in map {
                let Value::String(value) = value else {
                    return Err(ClaimError::new("sse_hub.meta", "a value is not a string"));
                };
                let key = bounded(key, "sse_hub.meta", limits)?;
                meta.insert(key, bounded(value, "sse_hub.meta", limits)?);
            }
            meta
        }
        Some(_) => return Err(ClaimError::new("sse_hub.meta", "not an object")),
    };
    let admin = match claim.remove("admin") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(admin)) => admin,
        Some(_) => return Err(ClaimError::new("sse_hub.admin", "not a boolean")),
    };
    Ok(Grants {
        subscribe,
        publish,
        tenant,
        meta,
        admin,
    })
}

fn patterns(
    value: Option<Value>,
    claim: &'static str,
    limits: &ClaimLimits,
) -> Result<Vec<Pattern>, ClaimError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ClaimError::new(claim, "not an array of patterns")),
    };
    if items.len() > limits.max_patterns {
        return Err(ClaimError::new(claim, "too many patterns"));
    }
    items
        .into_iter()
        .map(|item| match item {
            Value::String(s) => {
                Pattern::new(&s).map_err(|_| ClaimError::new(claim, "invalid topic pattern"))
            }
            _ => Err(ClaimError::new(claim, "not an array of patterns")),
        })
        .collect()
}

fn bounded(value: String, claim: &'static str, limits: &ClaimLimits) -> Result<String, ClaimError> {
    if value.len() > limits.max_value_len {
        Err(ClaimError::new(claim, "value too long"))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(payload: Value) -> Result<Claims, ClaimError> {
        serde_json::from_value::<RawClaims>(payload)
            .unwrap()
            .into_claims(&ClaimLimits::default())
    }

    #[test]
    fn absent_sse_hub_claim_is_empty_grants() {
        let claims = parse(json!({"sub": "u1", "exp": 2_000_000_000u64})).unwrap();
        assert_eq!(claims.grants, Grants::default());
        assert_eq!(claims.subject.as_deref(), Some("u1"));
        assert_eq!(
            claims.expires_at,
            UNIX_EPOCH + Duration::from_secs(2_000_000_000)
        );
    }

    #[test]
    fn grants_are_read_and_validated() {
        let claims = parse(json!({
            "exp": 2_000_000_000u64,
            "sse_hub": {"subscribe": ["orders.>", "chat.*"], "publish": ["chat.room1"],
                        "tenant": "acme", "meta": {"plan": "pro"}, "admin": true, "future": 1}
        }))
        .unwrap();
        let grants = claims.grants;
        assert_eq!(grants.subscribe.len(), 2);
        assert!(grants.may_subscribe(&Pattern::new("orders.eu.*").unwrap()));
        assert!(!grants.may_subscribe(&Pattern::new("orders").unwrap()));
        assert!(grants.may_publish(&Topic::new("chat.room1").unwrap()));
        assert!(!grants.may_publish(&Topic::new("chat.room2").unwrap()));
        assert_eq!(grants.tenant.as_deref(), Some("acme"));
        assert!(grants.admin);
    }

    #[test]
    fn bad_shapes_are_claim_errors_naming_no_value() {
        let cases = [
            json!({"exp": 1, "sse_hub": {"subscribe": ["a.>.b"]}}),
            json!({"exp": 1, "sse_hub": {"subscribe": "orders"}}),
            json!({"exp": 1, "sse_hub": {"publish": [1]}}),
            json!({"exp": 1, "sse_hub": {"meta": {"k": 1}}}),
            json!({"exp": 1, "sse_hub": {"tenant": 7}}),
            json!({"exp": 1, "sse_hub": {"tenant": ""}}),
            json!({"exp": 1, "sse_hub": {"admin": "yes"}}),
            json!({"exp": 1, "sse_hub": "everything"}),
            json!({"exp": 1, "sub": 5}),
            json!({"exp": 1.5}),
        ];
        for case in cases {
            let err = parse(case.clone()).unwrap_err();
            let message = err.to_string();
            assert!(
                !message.contains("a.>.b") && !message.contains("orders"),
                "{message}"
            );
            assert!(message.starts_with("invalid claim "), "{case}: {message}");
        }
    }

    #[test]
    fn bounds_are_enforced() {
        let many: Vec<String> = (0..257).map(|i| format!("t{i}")).collect();
        assert!(parse(json!({"exp": 1, "sse_hub": {"subscribe": many}})).is_err());
        let meta: serde_json::Map<String, Value> =
            (0..33).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(parse(json!({"exp": 1, "sse_hub": {"meta": meta}})).is_err());
        let long = "x".repeat(257);
        assert!(parse(json!({"exp": 1, "sse_hub": {"tenant": long}})).is_err());
    }

    #[test]
    fn metadata_takes_user_and_tenant_from_the_token_only() {
        let mut grants = Grants::default();
        grants.meta.insert("plan".into(), "pro".into());
        grants.meta.insert("tenant".into(), "globex".into());
        grants.meta.insert("user".into(), "mallory".into());
        let metadata = grants.metadata(None);
        assert_eq!(metadata.get("plan").map(String::as_str), Some("pro"));
        assert!(!metadata.contains_key("tenant") && !metadata.contains_key("user"));
        grants.tenant = Some("acme".into());
        let metadata = grants.metadata(Some("u1"));
        assert_eq!(metadata.get("tenant").map(String::as_str), Some("acme"));
        assert_eq!(metadata.get("user").map(String::as_str), Some("u1"));
    }

    #[test]
    fn debug_prints_no_values() {
        let claims = parse(json!({"sub": "alice", "exp": 1,
            "sse_hub": {"tenant": "acme", "subscribe": ["secret.topic"], "meta": {"k": "hidden"}}}))
        .unwrap();
        let debug = format!("{claims:?}");
        for secret in ["alice", "acme", "secret.topic", "hidden"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
}
