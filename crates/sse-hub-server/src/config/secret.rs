//! [`Secret`]: the publish token.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// A secret string (the publish token): compared in constant time, never
/// printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret's text.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` equals the secret. The time taken depends on the
    /// length of `presented` only, not on where it differs.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        let mut diff = expected.len() ^ presented.len();
        for (i, byte) in presented.iter().enumerate() {
            let other = expected.get(i).copied().unwrap_or(0);
            diff |= usize::from(byte ^ other);
        }
        std::hint::black_box(diff) == 0
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}
