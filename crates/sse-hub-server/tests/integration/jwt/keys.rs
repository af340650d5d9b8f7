//! Keys and algorithms: the key pins the algorithm, audience and issuer, a
//! rotating JWKS URL, keys the binary refuses.

use super::*;

#[tokio::test]
async fn a_public_key_pins_the_algorithm_and_audience_and_issuer_must_match() {
    let key = format!("{TESTDATA}/rsa_public.pem");
    let server = Server::start(&[
        "--jwt-public-key",
        &key,
        "--jwt-audience",
        "sse-hub",
        "--jwt-issuer",
        "https://issuer.example",
        "--publish-token",
        "pub",
    ])
    .await;
    let base = |aud: Value, iss: &str| {
        json!({"sub": "u", "exp": now() + 600, "aud": aud, "iss": iss,
               "sse_hub": {"subscribe": ["t"]}})
    };
    let good = rs(&base(json!("sse-hub"), "https://issuer.example"));
    let _ok = Sse::open(server.events(&["t"]).bearer_auth(&good)).await;
    let in_array = rs(&base(json!(["other", "sse-hub"]), "https://issuer.example"));
    let _ok = Sse::open(server.events(&["t"]).bearer_auth(&in_array)).await;
    // HS256 "signed" with the public key's PEM bytes: algorithm confusion.
    let confused = sign(
        Algorithm::HS256,
        None,
        &base(json!("sse-hub"), "https://issuer.example"),
        &EncodingKey::from_secret(RSA_PUBLIC),
    );
    let other_rsa = sign(
        Algorithm::RS256,
        None,
        &base(json!("sse-hub"), "https://issuer.example"),
        &EncodingKey::from_rsa_pem(RSA2_PRIVATE).unwrap(),
    );
    for (name, token) in [
        ("hs256 with the public key", confused),
        ("another rsa key", other_rsa),
        (
            "wrong aud",
            rs(&base(json!("other"), "https://issuer.example")),
        ),
        (
            "wrong iss",
            rs(&base(json!("sse-hub"), "https://evil.example")),
        ),
        (
            "alg none",
            unsigned(&base(json!("sse-hub"), "https://issuer.example")),
        ),
    ] {
        let response = server
            .events(&["t"])
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{name}");
        assert_eq!(error_of(response, 401).await.0, "invalid_token", "{name}");
    }
}

#[tokio::test]
async fn a_rotating_jwks_url_is_reread_on_an_unknown_kid() {
    let keys = Arc::new(Mutex::new(vec![jwk(Algorithm::RS256, RSA_PRIVATE, "k1")]));
    let url = jwks_server(keys.clone()).await;
    let server = Server::start(&["--jwt-jwks", &url, "--publish-token", "pub"]).await;
    let grants = claims(json!({"subscribe": ["t"]}));
    let with = |alg, private: &[u8], kid| {
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(private).unwrap(),
            _ => EncodingKey::from_rsa_pem(private).unwrap(),
        };
        sign(alg, Some(kid), &grants, &key)
    };
    let k1 = with(Algorithm::RS256, RSA_PRIVATE, "k1");
    let _ok = Sse::open(server.events(&["t"]).bearer_auth(&k1)).await;
    // The issuer rotates to k2: the first k2 token makes the server re-read.
    *keys.lock().unwrap() = vec![jwk(Algorithm::RS256, RSA2_PRIVATE, "k2")];
    let k2 = with(Algorithm::RS256, RSA2_PRIVATE, "k2");
    let _ok = Sse::open(server.events(&["t"]).bearer_auth(&k2)).await;
    // k1 is gone from the set.
    let gone = server.events(&["t"]).bearer_auth(&k1).send().await.unwrap();
    assert_eq!(error_of(gone, 401).await.0, "invalid_token");
    // Another rotation right away: re-reads are rate limited (30 s, global).
    *keys.lock().unwrap() = vec![jwk(Algorithm::ES256, EC256_PRIVATE, "k3")];
    let k3 = with(Algorithm::ES256, EC256_PRIVATE, "k3");
    let limited = server.events(&["t"]).bearer_auth(&k3).send().await.unwrap();
    assert_eq!(error_of(limited, 401).await.0, "invalid_token");
}

#[tokio::test]
async fn the_binary_refuses_keys_it_cannot_use() {
    for (args, needle) in [
        (
            &["--jwt-public-key", "/nonexistent/key.pem"][..],
            "--jwt-public-key",
        ),
        (&["--jwt-secret", "too-short"][..], "at least 32 bytes"),
        (&["--jwt-jwks", "/nonexistent/jwks.json"][..], "JWT key"),
    ] {
        let output = binary_command().args(args).output();
        let output = tokio::time::timeout(WAIT, output).await.unwrap().unwrap();
        assert!(!output.status.success(), "{args:?}");
        // Startup errors go to the log (stdout) once logging is set up.
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(text.contains(needle), "{args:?}: {text}");
        assert!(
            !text.contains("too-short"),
            "the secret is not echoed: {text}"
        );
    }
}
