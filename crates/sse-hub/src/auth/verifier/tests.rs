//! Verifier tests with real signed tokens (keys in `../testdata`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;
use crate::auth::testkeys::*;
use crate::auth::KeySourceError;
use crate::Pattern;

async fn hmac() -> JwtVerifier {
    JwtVerifier::builder()
        .hmac_secret(SECRET)
        .build()
        .await
        .unwrap()
}

async fn pem(public: &[u8]) -> JwtVerifier {
    JwtVerifier::builder()
        .public_key_pem(public)
        .build()
        .await
        .unwrap()
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn every_algorithm_family_verifies_with_its_key() {
    let body = claims(json!({"subscribe": ["orders.>"], "tenant": "acme"}));
    let cases: [(Algorithm, JwtVerifier); 9] = [
        (Algorithm::HS256, hmac().await),
        (Algorithm::HS384, hmac().await),
        (Algorithm::HS512, hmac().await),
        (Algorithm::RS256, pem(RSA_PUBLIC).await),
        (Algorithm::RS512, pem(RSA_PUBLIC).await),
        (Algorithm::PS256, pem(RSA_PUBLIC).await),
        (Algorithm::ES256, pem(EC256_PUBLIC).await),
        (Algorithm::ES384, pem(EC384_PUBLIC).await),
        (Algorithm::EdDSA, pem(ED_PUBLIC).await),
    ];
    for (alg, verifier) in cases {
        let claims = verifier
            .verify(&sign(alg, None, &body))
            .await
            .unwrap_or_else(|err| panic!("{alg:?}: {err}"));
        assert_eq!(claims.subject.as_deref(), Some("user-1"));
        assert!(claims
            .grants
            .may_subscribe(&Pattern::new("orders.eu").unwrap()));
        assert_eq!(claims.grants.tenant.as_deref(), Some("acme"));
    }
}

#[tokio::test]
async fn a_tampered_token_fails_the_signature() {
    let verifier = pem(EC256_PUBLIC).await;
    let token = sign(Algorithm::ES256, None, &claims(json!({"subscribe": ["a"]})));
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = b64(&claims(json!({"subscribe": [">"]})));
    parts[1] = &forged;
    assert!(matches!(
        verifier.verify(&parts.join(".")).await,
        Err(TokenError::BadSignature)
    ));
}

#[tokio::test]
async fn the_key_pins_the_algorithm() {
    let body = claims(json!({}));
    // `alg: none` with an empty signature.
    let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&body));
    for verifier in [hmac().await, pem(RSA_PUBLIC).await] {
        assert!(matches!(
            verifier.verify(&none).await,
            Err(TokenError::AlgorithmNotAllowed)
        ));
    }
    // HS256 "signed" with the RSA public key's PEM bytes: algorithm confusion.
    let confused = sign_with(
        Algorithm::HS256,
        None,
        &body,
        &EncodingKey::from_secret(RSA_PUBLIC),
    );
    assert!(matches!(
        pem(RSA_PUBLIC).await.verify(&confused).await,
        Err(TokenError::AlgorithmNotAllowed)
    ));
    // A P-256 key allows ES256 only; an RSA token is refused by an HMAC verifier.
    assert!(matches!(
        pem(EC256_PUBLIC)
            .await
            .verify(&sign(Algorithm::ES384, None, &body))
            .await,
        Err(TokenError::AlgorithmNotAllowed)
    ));
    assert!(matches!(
        hmac()
            .await
            .verify(&sign(Algorithm::RS256, None, &body))
            .await,
        Err(TokenError::AlgorithmNotAllowed)
    ));
}

#[tokio::test]
async fn time_claims_are_checked_with_leeway() {
    let verifier = hmac().await;
    let at = |exp: i64, nbf: Option<i64>| {
        let now = now() as i64;
        let mut body = json!({"exp": now + exp});
        if let Some(nbf) = nbf {
            body["nbf"] = json!(now + nbf);
        }
        sign(Algorithm::HS256, None, &body)
    };
    assert!(matches!(
        verifier.verify(&at(-60, None)).await,
        Err(TokenError::Expired)
    ));
    assert!(matches!(
        verifier.verify(&at(3600, Some(60))).await,
        Err(TokenError::NotYetValid)
    ));
    // Within the default 5 s leeway on both ends.
    verifier.verify(&at(-2, None)).await.unwrap();
    verifier.verify(&at(3600, Some(2))).await.unwrap();
    let strict = JwtVerifier::builder()
        .hmac_secret(SECRET)
        .leeway(Duration::ZERO)
        .build()
        .await
        .unwrap();
    assert!(matches!(
        strict.verify(&at(-2, None)).await,
        Err(TokenError::Expired)
    ));
    let missing = sign(Algorithm::HS256, None, &json!({"sub": "u"}));
    assert!(matches!(
        verifier.verify(&missing).await,
        Err(TokenError::MissingExp)
    ));
}

#[tokio::test]
async fn audience_and_issuer_when_configured() {
    let exp = now() + 3600;
    let token = |extra: Value| {
        let mut body = json!({"exp": exp});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        sign(Algorithm::HS256, None, &body)
    };
    let checked = JwtVerifier::builder()
        .hmac_secret(SECRET)
        .audience("sse-hub")
        .issuer("https://issuer.test")
        .build()
        .await
        .unwrap();
    let good = json!({"aud": "sse-hub", "iss": "https://issuer.test"});
    checked.verify(&token(good)).await.unwrap();
    let array = json!({"aud": ["other", "sse-hub"], "iss": "https://issuer.test"});
    checked.verify(&token(array)).await.unwrap();
    for (bad, expected) in [
        (
            json!({"aud": "other", "iss": "https://issuer.test"}),
            "wrong audience",
        ),
        (json!({"iss": "https://issuer.test"}), "wrong audience"),
        (
            json!({"aud": "sse-hub", "iss": "https://evil.test"}),
            "wrong issuer",
        ),
        (json!({"aud": "sse-hub"}), "wrong issuer"),
    ] {
        let err = checked.verify(&token(bad)).await.unwrap_err();
        assert_eq!(err.to_string(), expected);
    }
    // Unconfigured, `aud` and `iss` are ignored whatever they hold.
    hmac()
        .await
        .verify(&token(json!({"aud": "anything", "iss": "anyone"})))
        .await
        .unwrap();
}

#[tokio::test]
async fn keys_named_by_the_token_are_ignored() {
    let attacker = EncodingKey::from_rsa_pem(RSA2_PRIVATE).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.jwk = Some(jwk(Algorithm::RS256, RSA2_PRIVATE, "evil"));
    header.jku = Some("http://127.0.0.1:9/jwks.json".into());
    header.x5u = Some("http://127.0.0.1:9/cert.pem".into());
    let token = jsonwebtoken::encode(&header, &claims(json!({})), &attacker).unwrap();
    assert!(matches!(
        pem(RSA_PUBLIC).await.verify(&token).await,
        Err(TokenError::BadSignature)
    ));
}

#[tokio::test]
async fn build_refuses_bad_configurations() {
    let short = JwtVerifier::builder().hmac_secret("short").build().await;
    assert!(matches!(
        short,
        Err(AuthConfigError::SecretTooShort { len: 5, min: 32 })
    ));
    assert!(matches!(
        JwtVerifier::builder().build().await,
        Err(AuthConfigError::NoKeySource)
    ));
    let both = JwtVerifier::builder()
        .hmac_secret(SECRET)
        .public_key_pem(RSA_PUBLIC)
        .build()
        .await;
    assert!(matches!(both, Err(AuthConfigError::SeveralKeySources)));
    for bad in [RSA_PRIVATE, ED_PRIVATE, b"garbage".as_slice()] {
        assert!(matches!(
            JwtVerifier::builder().public_key_pem(bad).build().await,
            Err(AuthConfigError::BadPublicKey(_))
        ));
    }
    assert!(matches!(
        JwtVerifier::builder()
            .jwks_url("file:///etc/passwd")
            .build()
            .await,
        Err(AuthConfigError::BadJwksUrl)
    ));
    assert!(matches!(
        JwtVerifier::builder()
            .jwks_file("/nonexistent/jwks.json")
            .build()
            .await,
        Err(AuthConfigError::Jwks(KeySourceError::Io(_)))
    ));
}

#[tokio::test]
async fn debug_and_errors_reveal_no_secret_or_claim() {
    let verifier = hmac().await;
    let debug = format!(
        "{verifier:?} {:?}",
        JwtVerifier::builder().hmac_secret(SECRET)
    );
    assert!(!debug.contains("0123456789abcdef"), "{debug}");
    let token = sign(
        Algorithm::HS256,
        Some("kid-x"),
        &json!({"sub": "alice", "exp": 1, "sse_hub": {"tenant": "acme"}}),
    );
    let message = verifier.verify(&token).await.unwrap_err().to_string();
    for secret in ["alice", "acme", "kid-x", &token] {
        assert!(!message.contains(secret), "{message}");
    }
}

#[tokio::test]
async fn oversized_and_malformed_tokens_are_refused() {
    let verifier = hmac().await;
    for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!", &"a".repeat(9000)] {
        assert!(
            matches!(verifier.verify(bad).await, Err(TokenError::Malformed)),
            "{bad:.20}"
        );
    }
    let bad_grant = sign(
        Algorithm::HS256,
        None,
        &claims(json!({"subscribe": ["a.>.b"]})),
    );
    assert!(matches!(
        verifier.verify(&bad_grant).await,
        Err(TokenError::InvalidClaims(_))
    ));
}

// ---- JWKS ----

fn temp_jwks(contents: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "sse-hub-jwks-{}-{:016x}.json",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::write(&path, contents).unwrap();
    path
}

#[tokio::test]
async fn jwks_keys_are_chosen_by_kid() {
    let path = temp_jwks(&jwks(&[
        jwk(Algorithm::RS256, RSA_PRIVATE, "r1"),
        jwk(Algorithm::ES256, EC256_PRIVATE, "e1"),
        jwk(Algorithm::EdDSA, ED_PRIVATE, "d1"),
    ]));
    let verifier = JwtVerifier::builder()
        .jwks_file(&path)
        .build()
        .await
        .unwrap();
    let body = claims(json!({}));
    for (alg, kid) in [
        (Algorithm::RS256, "r1"),
        (Algorithm::ES256, "e1"),
        (Algorithm::EdDSA, "d1"),
    ] {
        verifier
            .verify(&sign(alg, Some(kid), &body))
            .await
            .unwrap_or_else(|err| panic!("{kid}: {err}"));
    }
    // The JWK names RS256: PS256 with the same key is not allowed.
    assert!(matches!(
        verifier
            .verify(&sign(Algorithm::PS256, Some("r1"), &body))
            .await,
        Err(TokenError::AlgorithmNotAllowed)
    ));
    // An RSA token that names the EC key's kid.
    assert!(matches!(
        verifier
            .verify(&sign(Algorithm::RS256, Some("e1"), &body))
            .await,
        Err(TokenError::AlgorithmNotAllowed)
    ));
    // No kid among several keys: no guessing.
    assert!(matches!(
        verifier.verify(&sign(Algorithm::RS256, None, &body)).await,
        Err(TokenError::UnknownKey)
    ));
    std::fs::remove_file(path).unwrap();
}

#[tokio::test]
async fn jwks_file_is_reread_on_unknown_kid_once_per_interval() {
    let path = temp_jwks(&jwks(&[jwk(Algorithm::RS256, RSA_PRIVATE, "k1")]));
    let verifier = JwtVerifier::builder()
        .jwks_file(&path)
        .jwks_refresh_interval(Duration::from_secs(3600))
        .build()
        .await
        .unwrap();
    let body = claims(json!({}));
    let k2 = sign_with(
        Algorithm::RS256,
        Some("k2"),
        &body,
        &EncodingKey::from_rsa_pem(RSA2_PRIVATE).unwrap(),
    );
    let k3 = sign(Algorithm::ES256, Some("k3"), &body);
    // Rotation: k2 appears in the file; the first unknown kid re-reads it.
    std::fs::write(&path, jwks(&[jwk(Algorithm::RS256, RSA2_PRIVATE, "k2")])).unwrap();
    verifier.verify(&k2).await.unwrap();
    assert!(matches!(
        verifier
            .verify(&sign(Algorithm::RS256, Some("k1"), &body))
            .await,
        Err(TokenError::UnknownKey)
    ));
    // k3 appears too, but the interval has not passed: not re-read.
    std::fs::write(
        &path,
        jwks(&[
            jwk(Algorithm::RS256, RSA2_PRIVATE, "k2"),
            jwk(Algorithm::ES256, EC256_PRIVATE, "k3"),
        ]),
    )
    .unwrap();
    assert!(matches!(
        verifier.verify(&k3).await,
        Err(TokenError::UnknownKey)
    ));
    // With no interval, the same lookup re-reads and succeeds.
    let eager = JwtVerifier::builder()
        .jwks_file(&path)
        .jwks_refresh_interval(Duration::ZERO)
        .build()
        .await
        .unwrap();
    std::fs::write(&path, jwks(&[jwk(Algorithm::ES256, EC256_PRIVATE, "k3")])).unwrap();
    eager.verify(&k3).await.unwrap();
    std::fs::remove_file(path).unwrap();
}

/// A tiny JWKS server on loopback whose document can change, counting fetches.
struct JwksServer {
    addr: SocketAddr,
    document: Arc<parking_lot::Mutex<String>>,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    async fn start(document: String) -> Self {
        let document = Arc::new(parking_lot::Mutex::new(document));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (doc, count) = (document.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let (doc, count) = (doc.clone(), count.clone());
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    let body = doc.lock().clone();
                    ([(http::header::CONTENT_TYPE, "application/json")], body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            document,
            fetches,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn jwks_url_rotation_is_followed_and_rate_limited() {
    let server = JwksServer::start(jwks(&[jwk(Algorithm::RS256, RSA_PRIVATE, "old")])).await;
    let verifier = JwtVerifier::builder()
        .jwks_url(server.url())
        .jwks_refresh_interval(Duration::from_secs(3600))
        .build()
        .await
        .unwrap();
    assert_eq!(server.fetches(), 1, "loaded once at build");
    let body = claims(json!({}));
    verifier
        .verify(&sign(Algorithm::RS256, Some("old"), &body))
        .await
        .unwrap();
    assert_eq!(server.fetches(), 1, "a known kid fetches nothing");

    // The issuer rotates to a new key.
    *server.document.lock() = jwks(&[jwk(Algorithm::RS256, RSA2_PRIVATE, "new")]);
    let rsa2 = EncodingKey::from_rsa_pem(RSA2_PRIVATE).unwrap();
    verifier
        .verify(&sign_with(Algorithm::RS256, Some("new"), &body, &rsa2))
        .await
        .unwrap();
    assert_eq!(server.fetches(), 2);

    // Two more unknown kids within the interval: no fetch at all.
    for kid in ["unknown-1", "unknown-2"] {
        assert!(matches!(
            verifier
                .verify(&sign_with(Algorithm::RS256, Some(kid), &body, &rsa2))
                .await,
            Err(TokenError::UnknownKey)
        ));
    }
    assert_eq!(server.fetches(), 2, "the 30 s limit is global");
}

#[tokio::test]
async fn jwks_url_unknown_kid_twice_fetches_once() {
    let server = JwksServer::start(jwks(&[jwk(Algorithm::ES256, EC256_PRIVATE, "a")])).await;
    let verifier = JwtVerifier::builder()
        .jwks_url(server.url())
        .build()
        .await
        .unwrap();
    let token = sign(Algorithm::ES256, Some("missing"), &claims(json!({})));
    let (first, second) = tokio::join!(verifier.verify(&token), verifier.verify(&token));
    assert!(matches!(first, Err(TokenError::UnknownKey)));
    assert!(matches!(second, Err(TokenError::UnknownKey)));
    assert_eq!(server.fetches(), 2, "one load at build, one re-read");
}

#[tokio::test]
async fn jwks_url_failures_keep_the_previous_keys() {
    let server = JwksServer::start(jwks(&[jwk(Algorithm::ES256, EC256_PRIVATE, "a")])).await;
    let verifier = JwtVerifier::builder()
        .jwks_url(server.url())
        .jwks_refresh_interval(Duration::ZERO)
        .max_jwks_bytes(4096)
        .build()
        .await
        .unwrap();
    let body = claims(json!({}));
    *server.document.lock() = "x".repeat(5000);
    assert!(matches!(
        verifier
            .verify(&sign(Algorithm::ES256, Some("b"), &body))
            .await,
        Err(TokenError::KeySource(KeySourceError::TooLarge {
            limit: 4096
        }))
    ));
    *server.document.lock() = "{\"not\": \"a key set\"}".into();
    assert!(matches!(
        verifier
            .verify(&sign(Algorithm::ES256, Some("b"), &body))
            .await,
        Err(TokenError::KeySource(KeySourceError::Json(_)))
    ));
    verifier
        .verify(&sign(Algorithm::ES256, Some("a"), &body))
        .await
        .unwrap();
}
