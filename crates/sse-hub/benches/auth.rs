//! What verifying a token on connect costs, per algorithm: signature,
//! `exp`/`nbf`/`aud` checks and reading the `sse_hub` grants, with the
//! test-only keys of `src/auth/testdata` (RSA 2048, P-256, P-384, Ed25519).
//! `policy_hs256` adds finding the bearer and authorizing one topic.
//!
//! `cargo bench -p sse-hub --bench auth --features jwt`
#![allow(missing_docs, clippy::unwrap_used)] // criterion macros; a bench may panic on setup failure

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sse_hub::auth::{JwtVerifier, SubscribePolicy};
use sse_hub::Connecting;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-bench-only";

fn key(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/src/auth/testdata/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn token(alg: Algorithm, key: &EncodingKey) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims = serde_json::json!({
        "sub": "user-1", "exp": exp, "aud": "sse-hub",
        "sse_hub": {"subscribe": ["orders.>", "chat.*"], "publish": ["chat.room1"],
                    "tenant": "acme", "meta": {"plan": "pro"}}
    });
    jsonwebtoken::encode(&Header::new(alg), &claims, key).unwrap()
}

fn verifier(build: impl FnOnce() -> sse_hub::auth::VerifierBuilder) -> JwtVerifier {
    build()
        .audience("sse-hub")
        .build()
        .now_or_never()
        .unwrap()
        .unwrap()
}

fn verify(c: &mut Criterion) {
    let hmac = verifier(|| JwtVerifier::builder().hmac_secret(SECRET));
    let rsa = verifier(|| JwtVerifier::builder().public_key_pem(&key("rsa_public.pem")));
    let ec256 = verifier(|| JwtVerifier::builder().public_key_pem(&key("ec256_public.pem")));
    let ec384 = verifier(|| JwtVerifier::builder().public_key_pem(&key("ec384_public.pem")));
    let ed = verifier(|| JwtVerifier::builder().public_key_pem(&key("ed25519_public.pem")));
    let rsa_private = EncodingKey::from_rsa_pem(&key("rsa_private.pem")).unwrap();
    let cases = [
        (
            "HS256",
            &hmac,
            token(Algorithm::HS256, &EncodingKey::from_secret(SECRET)),
        ),
        ("RS256", &rsa, token(Algorithm::RS256, &rsa_private)),
        ("PS256", &rsa, token(Algorithm::PS256, &rsa_private)),
        (
            "ES256",
            &ec256,
            token(
                Algorithm::ES256,
                &EncodingKey::from_ec_pem(&key("ec256_private.pem")).unwrap(),
            ),
        ),
        (
            "ES384",
            &ec384,
            token(
                Algorithm::ES384,
                &EncodingKey::from_ec_pem(&key("ec384_private.pem")).unwrap(),
            ),
        ),
        (
            "EdDSA",
            &ed,
            token(
                Algorithm::EdDSA,
                &EncodingKey::from_ed_pem(&key("ed25519_private.pem")).unwrap(),
            ),
        ),
    ];
    let mut group = c.benchmark_group("verify");
    group.measurement_time(Duration::from_secs(3));
    for (name, verifier, token) in &cases {
        // A static key never waits: the future is ready on its first poll.
        verifier.verify(token).now_or_never().unwrap().unwrap();
        group.bench_function(*name, |b| {
            b.iter(|| verifier.verify(token).now_or_never().unwrap().unwrap())
        });
    }
    group.finish();

    let policy = SubscribePolicy::new().verifier(hmac.clone());
    let bearer = format!("Bearer {}", cases[0].2);
    let (parts, ()) = http::Request::get("/events?topic=orders.eu")
        .header("authorization", bearer)
        .body(())
        .unwrap()
        .into_parts();
    let parts = Arc::new(parts);
    let mut group = c.benchmark_group("authorize");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("policy_hs256", |b| {
        b.iter(|| {
            let mut connecting = Connecting::new().with_topics(["orders.eu"]);
            connecting.request = Some(parts.clone());
            policy
                .authorize(connecting)
                .now_or_never()
                .unwrap()
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
