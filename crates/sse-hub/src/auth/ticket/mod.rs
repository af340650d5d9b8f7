//! One-time tickets: a short-lived, single-use stand-in for a JWT in a URL.
//!
//! The browser's `EventSource` cannot send headers, and cookies do not cross
//! sites. A client holding a JWT asks the server for a ticket (server:
//! `POST /tickets`), then opens `/events?ticket=...`. The ticket carries the
//! issuing token's [`Claims`] (so the stream still ends at that token's `exp`)
//! and optionally the exact topics the stream gets.
//!
//! A ticket is at least 128 random bits, lives `ttl` (short: it sits in
//! access logs), and is consumed atomically by its first use: of two
//! concurrent redeems, exactly one gets the grant, on any node sharing the
//! store.

mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use self::memory::MemoryTicketStore;
#[cfg(feature = "redis")]
pub use self::redis::RedisTicketStore;
use super::claims::Claims;

/// Random bytes per ticket: 192 bits, 32 URL-safe characters.
const TICKET_BYTES: usize = 24;
/// Longer presented tickets are not looked up.
const MAX_TICKET_LEN: usize = 64;

/// What a ticket stands for. `Debug` prints no claim value or topic.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TicketGrant {
    /// The claims of the token that asked for the ticket.
    pub claims: Claims,
    /// The exact topics of the stream; `None`: all the claims grant.
    pub topics: Option<Vec<String>>,
}

impl TicketGrant {
    /// A grant for `claims`, optionally limited to `topics`.
    #[must_use]
    pub fn new(claims: Claims, topics: Option<Vec<String>>) -> Self {
        Self { claims, topics }
    }
}

impl fmt::Debug for TicketGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketGrant")
            .field("claims", &self.claims)
            .field("topics", &self.topics.as_ref().map(Vec::len))
            .finish()
    }
}

/// Why a ticket could not be issued or redeemed. Never names the ticket.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TicketError {
    /// The store holds its maximum of live tickets.
    #[error("too many outstanding tickets")]
    Full,
    /// The backing store failed (Redis unreachable, ...).
    #[error("ticket store unavailable")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored grant could not be encoded or decoded.
    #[error("ticket grant encoding failed")]
    Encoding(#[source] serde_json::Error),
}

/// Where tickets live between `issue` and `redeem`.
pub trait TicketStore: Send + Sync + fmt::Debug {
    /// Stores `grant` under a fresh ticket (at least 128 random bits,
    /// URL-safe) for `ttl`; returns the ticket.
    ///
    /// # Errors
    ///
    /// [`TicketError::Full`] when the store is at its bound,
    /// [`TicketError::Backend`] when it cannot be reached.
    fn issue(
        &self,
        grant: TicketGrant,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<String, TicketError>>;

    /// Consumes the ticket atomically: `Some` on its first use within its
    /// ttl, `None` afterwards, for unknown tickets and for expired ones.
    ///
    /// # Errors
    ///
    /// [`TicketError::Backend`] when the store cannot be reached.
    fn redeem<'a>(
        &'a self,
        ticket: &'a str,
    ) -> BoxFuture<'a, Result<Option<TicketGrant>, TicketError>>;
}

/// A fresh random ticket.
pub(crate) fn new_ticket() -> String {
    let bytes: [u8; TICKET_BYTES] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `ticket` could have been issued here: anything else is not looked up.
pub(crate) fn plausible(ticket: &str) -> bool {
    !ticket.is_empty()
        && ticket.len() <= MAX_TICKET_LEN
        && ticket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_long_random_and_url_safe() {
        let a = new_ticket();
        let b = new_ticket();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32, "192 bits in base64url");
        assert!(plausible(&a));
        assert!(!plausible("a b"));
        assert!(!plausible(&"a".repeat(65)));
        assert!(!plausible(""));
    }
}
