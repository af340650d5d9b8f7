//! The JWT verifier: algorithms pinned by the configured key, `exp` required.

mod keys;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};

use self::keys::{FetchLimits, Jwks, JwksLocation, Lookup, VerifyKey};
use super::claims::{ClaimLimits, Claims, RawClaims};
use super::error::{AuthConfigError, TokenError};

/// The shortest HMAC secret accepted (RFC 7518 §3.2: at least the hash size).
pub const MIN_HMAC_SECRET_LEN: usize = 32;

/// Verifies JWTs and turns their claims into [`Claims`].
///
/// Cheap to clone (one `Arc`). `Debug` shows the key kind, never key bytes.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use sse_hub::auth::JwtVerifier;
///
/// let verifier = JwtVerifier::builder()
///     .hmac_secret("a secret of at least thirty-two bytes!")
///     .audience("sse-hub")
///     .build()
///     .await?;
/// assert!(verifier.verify("not.a.token").await.is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    keys: KeySource,
    limits: ClaimLimits,
    max_token_len: usize,
}

enum KeySource {
    Static(Arc<VerifyKey>),
    Jwks(Box<Jwks>),
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match &self.inner.keys {
            KeySource::Static(key) => format!("{key:?}"),
            KeySource::Jwks(jwks) => format!("{jwks:?}"),
        };
        f.debug_struct("JwtVerifier")
            .field("keys", &keys)
            .field("max_token_len", &self.inner.max_token_len)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A builder; exactly one key source must be set.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::new()
    }

    /// Verifies the signature with the key the configuration pins (by `kid`
    /// for a JWKS), then `exp` (required), `nbf`, `aud` and `iss` when
    /// configured, with the leeway; then reads the `sse_hub` claim.
    ///
    /// Keys named by the token (`jwk`, `jku`, `x5u`, `x5c` headers) are never
    /// used. With a JWKS, an unknown `kid` re-reads the file or URL, at most
    /// once per [`jwks_refresh_interval`](VerifierBuilder::jwks_refresh_interval)
    /// for all `kid`s together.
    ///
    /// # Errors
    ///
    /// A [`TokenError`] saying which rule failed; its message is safe to send
    /// to the client.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a cancelled JWKS re-read leaves the previous keys.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let inner = &*self.inner;
        if token.len() > inner.max_token_len {
            return Err(TokenError::Malformed);
        }
        let header = Header::parse(token)?;
        let key = match &inner.keys {
            KeySource::Static(key) => key.clone(),
            KeySource::Jwks(jwks) => match jwks.lookup(header.kid.as_deref()).await {
                Lookup::Found(key) => key,
                Lookup::Unknown => return Err(TokenError::UnknownKey),
                Lookup::Failed(err) => {
                    tracing::warn!(error = %err, source = ?std::error::Error::source(&err), "JWKS re-read failed; keeping the previous keys");
                    return Err(TokenError::KeySource(err));
                }
            },
        };
        let algorithm: Algorithm = header
            .alg
            .parse()
            .map_err(|_| TokenError::AlgorithmNotAllowed)?;
        if !key.validation.algorithms.contains(&algorithm) {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        let data = jsonwebtoken::decode::<RawClaims>(token, &key.key, &key.validation)
            .map_err(|err| token_error(err.kind()))?;
        Ok(data.claims.into_claims(&inner.limits)?)
    }
}

/// The two header fields the verifier reads; all others (`jwk`, `jku`,
/// `x5u`, ...) are ignored.
struct Header {
    alg: String,
    kid: Option<String>,
}

impl Header {
    fn parse(token: &str) -> Result<Self, TokenError> {
        #[derive(serde::Deserialize)]
        struct Raw {
            alg: String,
            #[serde(default)]
            kid: Option<String>,
        }
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenError::Malformed)?;
        let raw: Raw = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        Ok(Self {
            alg: raw.alg,
            kid: raw.kid,
        })
    }
}

fn token_error(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => TokenError::BadSignature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            TokenError::AlgorithmNotAllowed
        }
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => TokenError::MissingExp,
            "aud" => TokenError::WrongAudience,
            "iss" => TokenError::WrongIssuer,
            _ => TokenError::Malformed,
        },
        ErrorKind::InvalidClaimFormat(claim) => match claim.as_str() {
            "exp" => TokenError::InvalidClaims(super::error::ClaimError::new(
                "exp",
                "not a number of seconds",
            )),
            "nbf" => TokenError::InvalidClaims(super::error::ClaimError::new(
                "nbf",
                "not a number of seconds",
            )),
            _ => TokenError::Malformed,
        },
        _ => TokenError::Malformed,
    }
}

/// Configures a [`JwtVerifier`]. Exactly one key source: [`hmac_secret`](Self::hmac_secret),
/// [`public_key_pem`](Self::public_key_pem), [`jwks_file`](Self::jwks_file) or
/// [`jwks_url`](Self::jwks_url).
#[derive(Debug, Clone)]
#[must_use]
pub struct VerifierBuilder {
    secret: Option<Secret>,
    pem: Option<Vec<u8>>,
    jwks_file: Option<PathBuf>,
    jwks_url: Option<String>,
    audience: Option<String>,
    issuer: Option<String>,
    leeway: Duration,
    refresh_interval: Duration,
    fetch_timeout: Duration,
    max_jwks_bytes: usize,
    max_token_len: usize,
    limits: ClaimLimits,
}

/// An HMAC secret that never prints.
#[derive(Clone)]
struct Secret(Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl Default for VerifierBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl VerifierBuilder {
    /// A builder with no key source and the defaults documented on each setter.
    pub fn new() -> Self {
        Self {
            secret: None,
            pem: None,
            jwks_file: None,
            jwks_url: None,
            audience: None,
            issuer: None,
            leeway: Duration::from_secs(5),
            refresh_interval: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(10),
            max_jwks_bytes: 1 << 20,
            max_token_len: 8 * 1024,
            limits: ClaimLimits::default(),
        }
    }

    /// Verifies with a shared secret: HS256, HS384 and HS512 are allowed,
    /// nothing else. The bytes are used as they are (no base64 decoding); at
    /// least 32 bytes ([`MIN_HMAC_SECRET_LEN`]), or `build` fails. Default: unset.
    pub fn hmac_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.secret = Some(Secret(secret.into()));
        self
    }

    /// Verifies with one public key in PEM (`-----BEGIN PUBLIC KEY-----`):
    /// RSA allows RS256/384/512 and PS256/384/512, EC P-256 only ES256,
    /// P-384 only ES384, Ed25519 only EdDSA. Default: unset.
    pub fn public_key_pem(mut self, pem: &[u8]) -> Self {
        self.pem = Some(pem.to_vec());
        self
    }

    /// Verifies with the keys of a JWKS file, chosen by the token's `kid`
    /// (see [`JwtVerifier::verify`] for re-reads). Each key allows the
    /// algorithms of its type, or only its `alg` when the JWK names one.
    /// Symmetric (`oct`) and encryption keys are skipped. Default: unset.
    pub fn jwks_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.jwks_file = Some(path.into());
        self
    }

    /// Like [`jwks_file`](Self::jwks_file), fetched over `http` or `https`
    /// (TLS with the system's roots), bounded by
    /// [`jwks_fetch_timeout`](Self::jwks_fetch_timeout) and
    /// [`max_jwks_bytes`](Self::max_jwks_bytes). Default: unset.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// Requires `aud` to be, or to contain, this value. Unset (the default),
    /// `aud` is ignored whatever it holds.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }

    /// Requires `iss` to equal this value. Unset (the default), `iss` is ignored.
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// Clock skew tolerated on `exp` and `nbf`, rounded down to whole
    /// seconds. Default: 5 s.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The least time between two JWKS re-reads on unknown `kid`s, whatever
    /// the `kid`. The initial load does not count: the first unknown `kid`
    /// re-reads at once. Default: 30 s.
    pub fn jwks_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// The whole JWKS HTTP request (connect, TLS, body) must finish within
    /// this time. Default: 10 s.
    pub fn jwks_fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// The largest JWKS document read, from a file or a URL. Default: 1 MiB.
    pub fn max_jwks_bytes(mut self, max: usize) -> Self {
        self.max_jwks_bytes = max;
        self
    }

    /// Tokens longer than this are refused before any parsing. Default: 8 KiB.
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.max_token_len = max;
        self
    }

    /// The most patterns in each of `sse_hub.subscribe` and `sse_hub.publish`.
    /// Default: 256.
    pub fn max_grant_patterns(mut self, max: usize) -> Self {
        self.limits.max_patterns = max;
        self
    }

    /// The most entries in `sse_hub.meta`. Default: 32.
    pub fn max_meta_entries(mut self, max: usize) -> Self {
        self.limits.max_meta_entries = max;
        self
    }

    /// The longest `sub`, `sse_hub.tenant`, and `sse_hub.meta` key or value,
    /// in bytes. Default: 256.
    pub fn max_claim_value_len(mut self, max: usize) -> Self {
        self.limits.max_value_len = max;
        self
    }

    /// Checks the configuration and loads the key (PEM) or key set (JWKS, read once).
    ///
    /// # Errors
    ///
    /// [`AuthConfigError`] for no or several key sources, a short secret, a
    /// PEM that is not a supported public key, a bad JWKS URL, or a JWKS that
    /// cannot be read or holds no usable key.
    pub async fn build(self) -> Result<JwtVerifier, AuthConfigError> {
        let sources = usize::from(self.secret.is_some())
            + usize::from(self.pem.is_some())
            + usize::from(self.jwks_file.is_some())
            + usize::from(self.jwks_url.is_some());
        match sources {
            0 => return Err(AuthConfigError::NoKeySource),
            1 => {}
            _ => return Err(AuthConfigError::SeveralKeySources),
        }
        let template = self.validation();
        let limits = FetchLimits {
            max_bytes: self.max_jwks_bytes,
        };
        let keys = if let Some(Secret(secret)) = &self.secret {
            if secret.len() < MIN_HMAC_SECRET_LEN {
                return Err(AuthConfigError::SecretTooShort {
                    len: secret.len(),
                    min: MIN_HMAC_SECRET_LEN,
                });
            }
            let key = DecodingKey::from_secret(secret);
            KeySource::Static(Arc::new(VerifyKey::new(
                key,
                AlgorithmFamily::Hmac.algorithms().to_vec(),
                &template,
            )))
        } else if let Some(pem) = &self.pem {
            let (key, algorithms) = keys::from_pem(pem)?;
            KeySource::Static(Arc::new(VerifyKey::new(key, algorithms, &template)))
        } else {
            let location = match (&self.jwks_file, &self.jwks_url) {
                (Some(path), _) => JwksLocation::File(path.clone()),
                (None, Some(url)) => JwksLocation::Url {
                    url: check_url(url)?,
                    client: self.client()?,
                },
                (None, None) => return Err(AuthConfigError::NoKeySource),
            };
            let jwks = Jwks::load(location, limits, template, self.refresh_interval)
                .await
                .map_err(AuthConfigError::Jwks)?;
            KeySource::Jwks(Box::new(jwks))
        };
        Ok(JwtVerifier {
            inner: Arc::new(Inner {
                keys,
                limits: self.limits,
                max_token_len: self.max_token_len,
            }),
        })
    }

    /// Validation rules shared by every key; each key then pins its algorithms.
    fn validation(&self) -> Validation {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = self.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        match &self.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            // jsonwebtoken refuses any `aud` unless told otherwise.
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        validation
    }

    fn client(&self) -> Result<reqwest::Client, AuthConfigError> {
        reqwest::Client::builder()
            .timeout(self.fetch_timeout)
            .connect_timeout(self.fetch_timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(AuthConfigError::HttpClient)
    }
}

fn check_url(url: &str) -> Result<String, AuthConfigError> {
    let uri: http::Uri = url.parse().map_err(|_| AuthConfigError::BadJwksUrl)?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(url.to_owned()),
        _ => Err(AuthConfigError::BadJwksUrl),
    }
}
