//! Who may read what: JWT verification, credentials, grants, one-time
//! tickets, and a subscribe policy for `on_connect` (feature `jwt`).
//!
//! ## The model
//!
//! Nothing reaches a subscriber that no credential granted.
//!
//! * **Keys pin algorithms.** A [`JwtVerifier`] has exactly one key source: an
//!   HMAC secret (HS256/384/512), one public key PEM (RSA: RS*/PS*; EC P-256:
//!   ES256; P-384: ES384; Ed25519: EdDSA) or a JWKS file or URL (keys chosen by
//!   `kid`). The token's `alg` must be one the key allows, so `alg: none` and
//!   an HS256 token "signed" with a public key are refused. Keys named by the
//!   token (`jwk`, `jku`, `x5u` headers) are ignored. An unknown `kid`
//!   re-reads the JWKS at most once per refresh interval (30 s), for all
//!   `kid`s together.
//! * **Claims.** `exp` is required, `nbf` honoured, `aud` and `iss` checked
//!   only when configured (an `aud` array matches if it contains the value),
//!   5 s of leeway. `sub` becomes metadata `user`; the object claim `sse_hub`
//!   holds the [`Grants`]: `subscribe` and `publish` topic patterns, `tenant`
//!   (metadata `tenant`), `meta` (string map to metadata) and `admin`.
//! * **Credentials** ([`credential`]), first match wins: `Authorization:
//!   Bearer`, the cookie [`DEFAULT_COOKIE`], `?ticket=`. Long-lived tokens
//!   never go in URLs; a [ticket](TicketStore) is single-use and short-lived.
//! * **Subscribing** ([`SubscribePolicy::authorize`]): every requested topic
//!   must be covered by a `subscribe` grant or an anonymous pattern. No
//!   credential and a topic not anonymous: 401 ([`Rejection::Unauthorized`]);
//!   a credential that fails: 401 `invalid_token`
//!   ([`Rejection::InvalidToken`]); a valid one that does not cover a topic:
//!   403 ([`Rejection::Forbidden`]). The connection keeps the grants as its
//!   `allowed` patterns (later topic changes are checked too) and ends at the
//!   token's `exp`.
//!
//! Error messages are generic: they never quote a token, a claim, a tenant
//! or a topic, since they are sent to clients.
//!
//! ## Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use sse_hub::auth::{JwtVerifier, MemoryTicketStore, SubscribePolicy};
//! use sse_hub::{Config, Hub, Pattern};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = JwtVerifier::builder()
//!     .public_key_pem(&std::fs::read("issuer.pem")?)
//!     .audience("sse-hub")
//!     .build()
//!     .await?;
//! let policy = SubscribePolicy::new()
//!     .verifier(verifier)
//!     .tickets(Arc::new(MemoryTicketStore::new(10_000)))
//!     .anonymous([Pattern::new("public.>")?]);
//!
//! let hub = Hub::new(Config::new().on_connect(move |connecting| {
//!     let policy = policy.clone();
//!     async move { policy.authorize(connecting).await }
//! }))?;
//! # drop(hub);
//! # Ok(())
//! # }
//! ```

mod claims;
mod credential;
mod error;
mod policy;
mod ticket;
mod verifier;

#[cfg(test)]
mod testkeys;

pub use self::claims::{Claims, Grants, TENANT_META_KEY, USER_META_KEY};
pub use self::credential::{credential, Credential, DEFAULT_COOKIE, TICKET_PARAM};
pub use self::error::{AuthConfigError, ClaimError, CredentialError, KeySourceError, TokenError};
pub use self::policy::SubscribePolicy;
#[cfg(feature = "redis")]
pub use self::ticket::RedisTicketStore;
pub use self::ticket::{MemoryTicketStore, TicketError, TicketGrant, TicketStore};
pub use self::verifier::{JwtVerifier, VerifierBuilder, MIN_HMAC_SECRET_LEN};

#[cfg(doc)]
use crate::Rejection;
