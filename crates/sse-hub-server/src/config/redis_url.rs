//! [`RedisUrl`]: `--redis-url`, never shown with its credentials.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use super::ConfigError;
#[cfg(doc)]
use super::Options;

/// Default `--redis-url`.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/";

/// A Redis URL (`--redis-url`). It may carry a password: `Debug` and
/// `Display` show it [redacted](RedisUrl::redacted), without credentials.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// A URL holding `url` (validated by [`Options::resolve`]).
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The full URL, credentials included: only for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL without credentials, query or fragment, for messages:
    /// `redis://user:pw@host:6379/0?x=y` shows as `redis://host:6379/0`.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return "<invalid url>".to_owned();
        };
        // Everything up to the last `@` is (or may be) userinfo; a query may
        // carry `pass=`, so it is cut too. A malformed URL can only lose
        // more, never show a secret.
        let rest = rest.rfind('@').map_or(rest, |at| &rest[at + 1..]);
        let end = rest.find(['?', '#', '&', '=', ';']).unwrap_or(rest.len());
        format!("{scheme}://{}", &rest[..end])
    }

    /// `text` (an error message, say) with every occurrence of this URL and
    /// of its password replaced by the redacted form / `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.replace(&self.0, &self.redacted());
        if let Some(password) = self.password().filter(|p| p.len() >= 3) {
            text = text.replace(password, "***");
        }
        text
    }

    /// The password of the userinfo, if any.
    fn password(&self) -> Option<&str> {
        let (_, rest) = self.0.split_once("://")?;
        let userinfo = &rest[..rest.rfind('@')?];
        userinfo.split_once(':').map(|(_, pw)| pw)
    }

    /// Checks the scheme and that something follows it.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| ConfigError::RedisUrl {
            url: self.redacted(),
            message: message.to_owned(),
        };
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return Err(invalid("expected redis://host:port/db"));
        };
        if !["redis", "rediss", "redis+unix", "unix"].contains(&scheme) {
            return Err(invalid(
                "the scheme must be redis, rediss, redis+unix or unix",
            ));
        }
        if rest.is_empty() {
            return Err(invalid("no host"));
        }
        Ok(())
    }
}

impl Default for RedisUrl {
    fn default() -> Self {
        Self::new(DEFAULT_REDIS_URL)
    }
}

impl FromStr for RedisUrl {
    // Infallible so that clap never echoes a URL (with its password) in an
    // error: `resolve` validates it and names it redacted.
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({:?})", self.redacted())
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}
