//! [`AuthSettings`]: who may subscribe, publish and administer (DESIGN §6),
//! resolved from the authentication options.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigError, Options, RedisUrl, Secret};

/// Default `--auth-cookie`.
pub const DEFAULT_AUTH_COOKIE: &str = "sse_hub_token";

/// Hosts accepted on a loopback listen address when `--allowed-host` is not
/// given (any port): a page rebound by DNS to 127.0.0.1 carries its own name.
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// Largest `--jwt-leeway-s`: more would keep expired tokens alive.
const MAX_LEEWAY_S: u64 = 300;

/// Shortest `--jwt-secret`, in bytes (RFC 7518 §3.2 for HS256).
pub const MIN_SECRET_BYTES: usize = 32;

/// Where JWT verification keys come from (exactly one, or none).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// `--jwt-secret`: HMAC.
    Secret(Secret),
    /// `--jwt-public-key FILE`: a PEM public key.
    PublicKey(PathBuf),
    /// `--jwt-jwks FILE|URL`.
    Jwks(String),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("Secret(***)"),
            Self::PublicKey(path) => f.debug_tuple("PublicKey").field(path).finish(),
            Self::Jwks(source) => f.debug_tuple("Jwks").field(source).finish(),
        }
    }
}

/// The validated authentication settings.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AuthSettings {
    /// The JWT key, if any.
    pub key: Option<KeySource>,
    /// Required `aud`.
    pub audience: Option<String>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Clock skew on `exp` / `nbf`.
    pub leeway: Duration,
    /// Cookie carrying a JWT.
    pub cookie: String,
    /// Patterns anyone may subscribe to (`>` for all). Without a key on a
    /// loopback address and no `--anonymous-topics`, `[">"]`.
    pub anonymous_topics: Vec<String>,
    /// One-time ticket lifetime.
    pub ticket_ttl: Duration,
    /// Most tickets held in memory at once (`--max-tickets`).
    pub max_tickets: usize,
    /// Redis holding tickets (set whenever `--redis-url` is); else memory.
    pub ticket_redis: Option<RedisUrl>,
    /// Key prefix of the tickets in Redis (`--redis-prefix`).
    pub ticket_prefix: String,
    /// Static admin token.
    pub admin_token: Option<Secret>,
    /// Static publish token.
    pub publish_token: Option<Secret>,
    /// Origins allowed cross-origin requests with credentials.
    pub cors_origins: Vec<String>,
    /// Accepted `Host` names, lower case, without port (`None`: any).
    pub allowed_hosts: Option<Vec<String>>,
    /// Whether the listen address is loopback (development defaults apply).
    pub loopback: bool,
}

impl AuthSettings {
    /// Publishing without a credential: on loopback with no key and no token.
    pub fn open_publish(&self) -> bool {
        self.loopback && self.key.is_none() && self.publish_token.is_none()
    }

    /// Administration without a credential: on loopback with no key and no
    /// token of any kind (development).
    pub fn open_admin(&self) -> bool {
        self.open_publish() && self.admin_token.is_none()
    }

    /// The token that administers: `--admin-token`, else the publish token.
    pub fn admin_secret(&self) -> Option<&Secret> {
        self.admin_token.as_ref().or(self.publish_token.as_ref())
    }

    /// Resolves the authentication options (`listen` already resolved).
    pub(super) fn resolve(
        options: &Options,
        listen: SocketAddr,
        ticket_ttl: Duration,
        max_tickets: usize,
        redis_prefix: &str,
    ) -> Result<Self, ConfigError> {
        let loopback = listen.ip().is_loopback();
        for (name, token) in [
            ("publish-token", &options.publish_token),
            ("admin-token", &options.admin_token),
            ("jwt-secret", &options.jwt_secret),
        ] {
            if token.as_ref().is_some_and(|t| t.expose().is_empty()) {
                return Err(if name == "publish-token" {
                    ConfigError::EmptyToken
                } else {
                    ConfigError::Empty { name }
                });
            }
        }
        let mut keys = Vec::new();
        if let Some(secret) = &options.jwt_secret {
            if secret.expose().len() < MIN_SECRET_BYTES {
                return Err(ConfigError::ShortSecret {
                    min: MIN_SECRET_BYTES,
                });
            }
            keys.push(KeySource::Secret(secret.clone()));
        }
        if let Some(path) = &options.jwt_public_key {
            keys.push(KeySource::PublicKey(path.clone()));
        }
        if let Some(source) = &options.jwt_jwks {
            if source.is_empty() {
                return Err(ConfigError::Empty { name: "jwt-jwks" });
            }
            keys.push(KeySource::Jwks(source.clone()));
        }
        if keys.len() > 1 {
            return Err(ConfigError::SeveralKeys);
        }
        let key = keys.pop();
        if key.is_none() {
            for (name, set) in [
                ("jwt-audience", options.jwt_audience.is_some()),
                ("jwt-issuer", options.jwt_issuer.is_some()),
            ] {
                if set {
                    return Err(ConfigError::NeedsKey { name });
                }
            }
        }
        let mut anonymous_topics = Vec::new();
        for pattern in options.anonymous_topics.iter().flatten() {
            if let Err(err) = sse_hub::Pattern::new(pattern) {
                return Err(ConfigError::Pattern {
                    name: "anonymous-topics",
                    message: err.to_string(),
                });
            }
            if !anonymous_topics.contains(pattern) {
                anonymous_topics.push(pattern.clone());
            }
        }
        if options.anonymous_topics.is_none() && key.is_none() {
            if !loopback {
                return Err(ConfigError::OpenSubscribe { listen });
            }
            anonymous_topics.push(">".to_owned());
        }
        if !loopback && key.is_none() && options.publish_token.is_none() {
            return Err(ConfigError::OpenPublish { listen });
        }
        let mut cors_origins = Vec::new();
        for origin in options.cors_origin.iter().flatten() {
            if !valid_origin(origin) {
                return Err(ConfigError::CorsOrigin);
            }
            cors_origins.push(origin.clone());
        }
        let allowed_hosts = match &options.allowed_host {
            Some(hosts) => {
                let mut list = Vec::new();
                for host in hosts {
                    let host = host.trim().to_ascii_lowercase();
                    if host.is_empty() || host.contains(['/', ' ', '@']) {
                        return Err(ConfigError::AllowedHost);
                    }
                    list.push(strip_port(&host).to_owned());
                }
                Some(list)
            }
            None if loopback => Some(LOOPBACK_HOSTS.iter().map(|h| (*h).to_owned()).collect()),
            None => None,
        };
        let cookie = options
            .auth_cookie
            .clone()
            .unwrap_or_else(|| DEFAULT_AUTH_COOKIE.to_owned());
        if cookie.is_empty() || !cookie.bytes().all(|b| b.is_ascii_graphic() && b != b'=') {
            return Err(ConfigError::Empty {
                name: "auth-cookie",
            });
        }
        Ok(Self {
            key,
            audience: options.jwt_audience.clone(),
            issuer: options.jwt_issuer.clone(),
            leeway: Duration::from_secs(match options.jwt_leeway_s.unwrap_or(5) {
                s @ 0..=MAX_LEEWAY_S => s,
                _ => {
                    return Err(ConfigError::TooLongMs {
                        name: "jwt-leeway-s",
                        max: MAX_LEEWAY_S,
                    })
                }
            }),
            cookie,
            anonymous_topics,
            ticket_ttl,
            max_tickets,
            ticket_redis: options.redis_url.clone(),
            ticket_prefix: format!("{redis_prefix}:tickets"),
            admin_token: options.admin_token.clone(),
            publish_token: options.publish_token.clone(),
            cors_origins,
            allowed_hosts,
            loopback,
        })
    }
}

/// `scheme://host[:port]`, nothing else (an origin as browsers send it).
fn valid_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', '@', ' ', '*'])
}

/// `host[:port]` → `host` (`[v6]:port` → `[v6]`).
pub(crate) fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("localhost:8080"), "localhost");
        assert_eq!(strip_port("localhost"), "localhost");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("127.0.0.1:1"), "127.0.0.1");
    }

    #[test]
    fn origins() {
        assert!(valid_origin("https://app.example.com"));
        assert!(valid_origin("http://127.0.0.1:5173"));
        assert!(!valid_origin("*"));
        assert!(!valid_origin("https://app.example.com/"));
        assert!(!valid_origin("app.example.com"));
        assert!(!valid_origin("https://*.example.com"));
    }
}
