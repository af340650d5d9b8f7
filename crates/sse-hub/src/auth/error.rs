//! Errors of the auth building blocks.
//!
//! Messages of [`TokenError`] and [`CredentialError`] may reach clients (in a
//! 401 body): they are short, generic, and never quote the token, its claims,
//! a key id or a tenant. Details that help an operator live in `source()`
//! chains meant for logs.

/// Why a token was refused. The message is safe to send to the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not three base64url parts of JSON, or longer than the configured bound.
    #[error("malformed token")]
    Malformed,
    /// The signature does not verify with the selected key.
    #[error("invalid signature")]
    BadSignature,
    /// `exp` (plus leeway) is in the past.
    #[error("token expired")]
    Expired,
    /// `nbf` (minus leeway) is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// An audience is configured and `aud` does not contain it (or is absent).
    #[error("wrong audience")]
    WrongAudience,
    /// An issuer is configured and `iss` differs (or is absent).
    #[error("wrong issuer")]
    WrongIssuer,
    /// No configured key matches the token's `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// The token's `alg` is not one the selected key allows (`none`, HS with a
    /// public key, RS with an EC key, ...).
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    /// The token has no `exp`: tokens without an end are refused.
    #[error("token has no expiry")]
    MissingExp,
    /// A claim has the wrong shape or breaks a bound (see [`ClaimError`]).
    #[error(transparent)]
    InvalidClaims(#[from] ClaimError),
    /// The key set could not be (re)loaded while looking for the token's key.
    #[error("signing keys unavailable")]
    KeySource(#[source] KeySourceError),
}

/// A claim that cannot be turned into grants. Names the claim, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid claim {claim}: {reason}")]
pub struct ClaimError {
    claim: &'static str,
    reason: &'static str,
}

impl ClaimError {
    pub(crate) fn new(claim: &'static str, reason: &'static str) -> Self {
        Self { claim, reason }
    }

    /// The claim's path, such as `sse_hub.subscribe`.
    pub fn claim(&self) -> &'static str {
        self.claim
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

/// Why a JWKS (file or URL) could not be read. For logs: it may name the path
/// or URL, never key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeySourceError {
    /// Reading the JWKS file failed.
    #[error("cannot read the JWKS file")]
    Io(#[source] std::io::Error),
    /// The HTTP request failed (connect, TLS, timeout, body).
    #[error("cannot fetch the JWKS URL")]
    Http(#[source] reqwest::Error),
    /// The JWKS URL answered with a non-2xx status.
    #[error("the JWKS URL answered HTTP {0}")]
    Status(u16),
    /// The document is larger than the configured bound.
    #[error("the JWKS is larger than {limit} bytes")]
    TooLarge {
        /// The bound, in bytes.
        limit: usize,
    },
    /// The document is not a JSON object with a `keys` array.
    #[error("the JWKS is not a JSON key set")]
    Json(#[source] serde_json::Error),
    /// The set holds no key this verifier can use (public RSA, EC P-256/P-384, Ed25519).
    #[error("the JWKS holds no usable public key")]
    NoUsableKeys,
}

/// A verifier configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthConfigError {
    /// None of `hmac_secret`, `public_key_pem`, `jwks_file`, `jwks_url` was set.
    #[error("no key configured: set an HMAC secret, a public key PEM or a JWKS")]
    NoKeySource,
    /// More than one key source was set; the algorithms would be ambiguous.
    #[error("several key sources configured: choose exactly one")]
    SeveralKeySources,
    /// An HMAC secret shorter than 32 bytes is guessable offline.
    #[error("HMAC secret too short: {len} bytes, at least {min} required")]
    SecretTooShort {
        /// The secret's length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// The PEM is not a public RSA, EC P-256/P-384 or Ed25519 key.
    #[error("unsupported or invalid public key PEM: {0}")]
    BadPublicKey(&'static str),
    /// The JWKS URL is not an absolute `http` or `https` URL.
    #[error("the JWKS URL must be an absolute http or https URL")]
    BadJwksUrl,
    /// The initial JWKS load failed.
    #[error("cannot load the JWKS")]
    Jwks(#[source] KeySourceError),
    /// The HTTP client for the JWKS URL could not be built.
    #[error("cannot build the JWKS HTTP client")]
    HttpClient(#[source] reqwest::Error),
}

/// A request whose credential cannot be read unambiguously.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// Several `Authorization` headers: which one counts would depend on the proxy.
    #[error("several Authorization headers")]
    AmbiguousAuthorization,
    /// `Authorization: Bearer` without a token, or with bytes a token cannot have.
    #[error("malformed bearer credential")]
    MalformedBearer,
}
