//! Verification keys: one static key (secret or PEM) or a JWKS that is
//! re-read, at most once per interval, when a token names an unknown `kid`.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use parking_lot::RwLock;
use tokio::time::Instant;

use crate::auth::error::{AuthConfigError, KeySourceError};

/// A key and the validation rules (algorithms pinned by the key) it is used with.
pub(super) struct VerifyKey {
    pub(super) key: DecodingKey,
    pub(super) validation: Validation,
}

impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyKey")
            .field("family", &self.key.family())
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl VerifyKey {
    pub(super) fn new(key: DecodingKey, algorithms: Vec<Algorithm>, template: &Validation) -> Self {
        let mut validation = template.clone();
        validation.algorithms = algorithms;
        Self { key, validation }
    }
}

/// The algorithms a public key PEM allows, and the key.
pub(super) fn from_pem(pem: &[u8]) -> Result<(DecodingKey, Vec<Algorithm>), AuthConfigError> {
    let text = std::str::from_utf8(pem).map_err(|_| AuthConfigError::BadPublicKey("not UTF-8"))?;
    if !text.contains("PUBLIC KEY-----") {
        return Err(AuthConfigError::BadPublicKey(
            "expected a PEM `PUBLIC KEY` block (never a private key)",
        ));
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Ok((key, AlgorithmFamily::Rsa.algorithms().to_vec()));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        // The point's length tells the curve: 0x04 || X || Y, or compressed.
        let algorithm = match key.as_bytes().len() {
            65 | 33 => Algorithm::ES256,
            97 | 49 => Algorithm::ES384,
            _ => {
                return Err(AuthConfigError::BadPublicKey(
                    "EC curve other than P-256/P-384",
                ))
            }
        };
        return Ok((key, vec![algorithm]));
    }
    if let Ok(key) = DecodingKey::from_ed_pem(pem) {
        if key.as_bytes().len() != 32 {
            return Err(AuthConfigError::BadPublicKey(
                "Edwards curve other than Ed25519",
            ));
        }
        return Ok((key, vec![Algorithm::EdDSA]));
    }
    Err(AuthConfigError::BadPublicKey(
        "not an RSA, EC P-256/P-384 or Ed25519 public key",
    ))
}

/// The key of one JWK and the algorithms it allows, or `None` for a key this
/// verifier does not use (encryption keys, symmetric keys, other curves).
fn from_jwk(jwk: &Jwk) -> Option<(DecodingKey, Vec<Algorithm>)> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let declared = match jwk.common.key_algorithm {
        Some(alg) => Some(alg.to_string().parse::<Algorithm>().ok()?),
        None => None,
    };
    let (key, allowed) = match &jwk.algorithm {
        AlgorithmParameters::RSA(params) => (
            DecodingKey::from_rsa_components(&params.n, &params.e).ok()?,
            AlgorithmFamily::Rsa.algorithms().to_vec(),
        ),
        AlgorithmParameters::EllipticCurve(params) => {
            let alg = match params.curve {
                EllipticCurve::P256 => Algorithm::ES256,
                EllipticCurve::P384 => Algorithm::ES384,
                _ => return None,
            };
            (
                DecodingKey::from_ec_components(&params.x, &params.y).ok()?,
                vec![alg],
            )
        }
        AlgorithmParameters::OctetKeyPair(params) if params.curve == EllipticCurve::Ed25519 => (
            DecodingKey::from_ed_components(&params.x).ok()?,
            vec![Algorithm::EdDSA],
        ),
        // Symmetric keys have no place in a key set that may be published.
        AlgorithmParameters::OctetKeyPair(_) | AlgorithmParameters::OctetKey(_) => return None,
    };
    match declared {
        // A JWK that names its `alg` allows exactly that one.
        Some(alg) if allowed.contains(&alg) => Some((key, vec![alg])),
        Some(_) => None,
        None => Some((key, allowed)),
    }
}

/// Keys of one JWKS document.
#[derive(Debug, Default)]
pub(super) struct KeyMap {
    by_kid: HashMap<String, Arc<VerifyKey>>,
    unnamed: Vec<Arc<VerifyKey>>,
}

impl KeyMap {
    /// Parses a JWKS document, skipping keys it cannot use.
    pub(super) fn parse(document: &[u8], template: &Validation) -> Result<Self, KeySourceError> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document = serde_json::from_slice(document).map_err(KeySourceError::Json)?;
        let mut map = KeyMap::default();
        for value in document.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            let Some((key, algorithms)) = from_jwk(&jwk) else {
                continue;
            };
            let key = Arc::new(VerifyKey::new(key, algorithms, template));
            match jwk.common.key_id {
                Some(kid) => {
                    map.by_kid.entry(kid).or_insert(key);
                }
                None => map.unnamed.push(key),
            }
        }
        if map.by_kid.is_empty() && map.unnamed.is_empty() {
            return Err(KeySourceError::NoUsableKeys);
        }
        Ok(map)
    }

    /// The key for `kid`; a token without `kid` is accepted only when the
    /// set holds exactly one key (otherwise which key signed is a guess).
    pub(super) fn find(&self, kid: Option<&str>) -> Option<&Arc<VerifyKey>> {
        match kid {
            Some(kid) => self.by_kid.get(kid),
            None if self.by_kid.len() + self.unnamed.len() == 1 => {
                self.by_kid.values().next().or(self.unnamed.first())
            }
            None => None,
        }
    }
}

/// Where a JWKS is read from.
#[derive(Debug, Clone)]
pub(super) enum JwksLocation {
    File(PathBuf),
    Url {
        url: String,
        client: reqwest::Client,
    },
}

/// Limits on reading a JWKS.
#[derive(Debug, Clone, Copy)]
pub(super) struct FetchLimits {
    pub(super) max_bytes: usize,
}

impl JwksLocation {
    pub(super) async fn read(&self, limits: FetchLimits) -> Result<Vec<u8>, KeySourceError> {
        match self {
            Self::File(path) => {
                let path = path.clone();
                let max = limits.max_bytes;
                tokio::task::spawn_blocking(move || read_file(&path, max))
                    .await
                    .map_err(|_| KeySourceError::Io(std::io::Error::other("reader task failed")))?
            }
            Self::Url { url, client } => fetch(client, url, limits.max_bytes).await,
        }
    }
}

fn read_file(path: &std::path::Path, max: usize) -> Result<Vec<u8>, KeySourceError> {
    let file = std::fs::File::open(path).map_err(KeySourceError::Io)?;
    let mut body = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut body)
        .map_err(KeySourceError::Io)?;
    if body.len() > max {
        return Err(KeySourceError::TooLarge { limit: max });
    }
    Ok(body)
}

async fn fetch(client: &reqwest::Client, url: &str, max: usize) -> Result<Vec<u8>, KeySourceError> {
    let mut response = client
        .get(url)
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(KeySourceError::Http)?;
    if !response.status().is_success() {
        return Err(KeySourceError::Status(response.status().as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(KeySourceError::TooLarge { limit: max });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(KeySourceError::Http)? {
        if body.len() + chunk.len() > max {
            return Err(KeySourceError::TooLarge { limit: max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A JWKS with its refresh state.
#[derive(Debug)]
pub(super) struct Jwks {
    location: JwksLocation,
    limits: FetchLimits,
    template: Validation,
    interval: Duration,
    keys: RwLock<Arc<KeyMap>>,
    /// When the last re-read (not the initial load) started: one per interval,
    /// whatever `kid` asked for it. The lock also makes re-reads single-flight.
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
}

/// How a key lookup ended.
pub(super) enum Lookup {
    Found(Arc<VerifyKey>),
    Unknown,
    Failed(KeySourceError),
}

impl Jwks {
    pub(super) async fn load(
        location: JwksLocation,
        limits: FetchLimits,
        template: Validation,
        interval: Duration,
    ) -> Result<Self, KeySourceError> {
        let document = location.read(limits).await?;
        let keys = KeyMap::parse(&document, &template)?;
        Ok(Self {
            location,
            limits,
            template,
            interval,
            keys: RwLock::new(Arc::new(keys)),
            last_refresh: tokio::sync::Mutex::new(None),
        })
    }

    fn find(&self, kid: Option<&str>) -> Option<Arc<VerifyKey>> {
        self.keys.read().find(kid).cloned()
    }

    /// The key for `kid`, re-reading the set if it is unknown and the last
    /// re-read is older than the interval.
    pub(super) async fn lookup(&self, kid: Option<&str>) -> Lookup {
        if let Some(key) = self.find(kid) {
            return Lookup::Found(key);
        }
        let mut last = self.last_refresh.lock().await;
        // Another task may have re-read the set while this one waited.
        if let Some(key) = self.find(kid) {
            return Lookup::Found(key);
        }
        if last.is_some_and(|at| at.elapsed() < self.interval) {
            return Lookup::Unknown;
        }
        *last = Some(Instant::now());
        let document = match self.location.read(self.limits).await {
            Ok(document) => document,
            Err(err) => return Lookup::Failed(err),
        };
        match KeyMap::parse(&document, &self.template) {
            Ok(keys) => *self.keys.write() = Arc::new(keys),
            Err(err) => return Lookup::Failed(err),
        }
        match self.find(kid) {
            Some(key) => Lookup::Found(key),
            None => Lookup::Unknown,
        }
    }
}
