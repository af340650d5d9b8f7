//! Test-only keys (see `testdata/README.md`) and token minting.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

pub(crate) const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-only";
pub(crate) const RSA_PRIVATE: &[u8] = include_bytes!("testdata/rsa_private.pem");
pub(crate) const RSA_PUBLIC: &[u8] = include_bytes!("testdata/rsa_public.pem");
pub(crate) const RSA2_PRIVATE: &[u8] = include_bytes!("testdata/rsa2_private.pem");
pub(crate) const EC256_PRIVATE: &[u8] = include_bytes!("testdata/ec256_private.pem");
pub(crate) const EC256_PUBLIC: &[u8] = include_bytes!("testdata/ec256_public.pem");
pub(crate) const EC384_PRIVATE: &[u8] = include_bytes!("testdata/ec384_private.pem");
pub(crate) const EC384_PUBLIC: &[u8] = include_bytes!("testdata/ec384_public.pem");
pub(crate) const ED_PRIVATE: &[u8] = include_bytes!("testdata/ed25519_private.pem");
pub(crate) const ED_PUBLIC: &[u8] = include_bytes!("testdata/ed25519_public.pem");

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims valid for an hour with the given `sse_hub` claim.
pub(crate) fn claims(sse_hub: Value) -> Value {
    json!({"sub": "user-1", "exp": now() + 3600, "sse_hub": sse_hub})
}

/// The signing key for `alg` (secret, RSA, P-256, P-384 or Ed25519).
pub(crate) fn signing_key(alg: Algorithm) -> EncodingKey {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => EncodingKey::from_secret(SECRET),
        Algorithm::ES256 => EncodingKey::from_ec_pem(EC256_PRIVATE).unwrap(),
        Algorithm::ES384 => EncodingKey::from_ec_pem(EC384_PRIVATE).unwrap(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(ED_PRIVATE).unwrap(),
        _ => EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    }
}

pub(crate) fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    sign_with(alg, kid, claims, &signing_key(alg))
}

pub(crate) fn sign_with(
    alg: Algorithm,
    kid: Option<&str>,
    claims: &Value,
    key: &EncodingKey,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// The public JWK of a private PEM for `alg`, with `kid`.
pub(crate) fn jwk(alg: Algorithm, private_pem: &[u8], kid: &str) -> Jwk {
    let mut jwk = if alg == Algorithm::EdDSA {
        Jwk {
            common: CommonParameters {
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ed_public_raw()),
            }),
        }
    } else {
        let key = match alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(private_pem).unwrap(),
            _ => EncodingKey::from_rsa_pem(private_pem).unwrap(),
        };
        Jwk::from_encoding_key(&key, alg).unwrap()
    };
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

/// A JWKS document holding `keys`.
pub(crate) fn jwks(keys: &[Jwk]) -> String {
    json!({ "keys": keys }).to_string()
}

/// The raw 32-byte Ed25519 public key: the tail of the SPKI DER.
fn ed_public_raw() -> Vec<u8> {
    let pem = std::str::from_utf8(ED_PUBLIC).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    der[der.len() - 32..].to_vec()
}
