//! DESIGN §6 with real signed tokens, through real sockets: keys, claims,
//! 401 / 403 and their challenges, anonymous topics, tenancy (live, replay,
//! wildcards), publish grants, tenant-bound publishers, tickets (memory, and
//! Redis shared by two server processes), a rotating JWKS URL, expiry, and no
//! token, claim or tenant in any response.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::common::{binary_command, error_of, free_port, json_of, raw, Raw, Server, Sse, WAIT};

/// HS256 secret of the test servers (test only).
const SECRET: &str = "0123456789abcdef0123456789abcdef-server-test";
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sse-hub/src/auth/testdata");
const RSA_PRIVATE: &[u8] = include_bytes!("../../../sse-hub/src/auth/testdata/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../../../sse-hub/src/auth/testdata/rsa_public.pem");
const RSA2_PRIVATE: &[u8] = include_bytes!("../../../sse-hub/src/auth/testdata/rsa2_private.pem");
const EC256_PRIVATE: &[u8] = include_bytes!("../../../sse-hub/src/auth/testdata/ec256_private.pem");

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims for `sub` valid for an hour with this `sse_hub` claim.
fn claims(sse_hub: Value) -> Value {
    json!({"sub": "user-1", "exp": now() + 3600, "sse_hub": sse_hub})
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// An HS256 token with the servers' secret.
fn hs(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
}

fn rs(claims: &Value) -> String {
    sign(
        Algorithm::RS256,
        None,
        claims,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    )
}

/// `header.payload.` with `alg: none`.
fn unsigned(claims: &Value) -> String {
    use base64::Engine as _;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    )
}

async fn jwt_server(extra: &[&str]) -> Server {
    let mut args = vec![
        "--jwt-secret",
        SECRET,
        "--publish-token",
        "pub",
        "--admin-token",
        "adm",
    ];
    args.extend_from_slice(extra);
    Server::start(&args).await
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn subscribing_needs_a_grant_or_an_anonymous_topic() {
    let server = jwt_server(&["--anonymous-topics", "public.>"]).await;
    let grants = json!({"subscribe": ["orders.>", "chat.*"]});
    let good = hs(&claims(grants.clone()));
    // Anonymous topics without a credential; others 401.
    let _public = server.subscribe(&["public.news"]).await;
    let response = server.events(&["orders.eu"]).send().await.unwrap();
    assert_eq!(challenge(&response), "Bearer");
    assert_eq!(error_of(response, 401).await.0, "unauthorized");
    // Failing credentials: 401 invalid_token, even for an anonymous topic.
    let mut expired = claims(grants.clone());
    expired["exp"] = json!(now() - 60);
    let mut not_yet = claims(grants.clone());
    not_yet["nbf"] = json!(now() + 600);
    let mut no_exp = claims(grants.clone());
    no_exp.as_object_mut().unwrap().remove("exp");
    let wrong_secret = sign(
        Algorithm::HS256,
        None,
        &claims(grants.clone()),
        &EncodingKey::from_secret(b"another-secret-another-secret-another!"),
    );
    for (name, token) in [
        ("alg none", unsigned(&claims(grants.clone()))),
        ("expired", hs(&expired)),
        ("nbf", hs(&not_yet)),
        ("no exp", hs(&no_exp)),
        ("wrong secret", wrong_secret),
        ("rsa on an hmac server", rs(&claims(grants.clone()))),
        ("garbage", "not.a.token".to_owned()),
    ] {
        for topics in [&["orders.eu"][..], &["public.news"][..]] {
            let response = server
                .events(topics)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(
                challenge(&response),
                "Bearer error=\"invalid_token\"",
                "{name}"
            );
            let (code, message) = error_of(response, 401).await;
            assert_eq!(code, "invalid_token", "{name}");
            assert!(!message.contains(&token), "{name}");
        }
    }
    // Valid but not covering: 403.
    let response = server
        .events(&["orders.eu", "billing"])
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(challenge(&response), "Bearer error=\"insufficient_scope\"");
    assert_eq!(error_of(response, 403).await.0, "forbidden");
    // Covered (a pattern inside a grant, an anonymous topic with a token).
    let sse = Sse::open(
        server
            .events(&["orders.eu", "chat.room1", "public.x"])
            .bearer_auth(&good),
    )
    .await;
    assert_eq!(sse.topics, ["orders.eu", "chat.room1", "public.x"]);
    // No topic: every granted pattern.
    let all = Sse::open(server.events(&[]).bearer_auth(&good)).await;
    assert_eq!(all.topics, ["orders.>", "chat.*"]);
    // The cookie works like the bearer; the bearer wins over it.
    let by_cookie = Sse::open(
        server
            .events(&["orders.us"])
            .header("cookie", format!("theme=dark; sse_hub_token={good}")),
    )
    .await;
    assert_eq!(by_cookie.topics, ["orders.us"]);
    let response = server
        .events(&["orders.us"])
        .bearer_auth("nope")
        .header("cookie", format!("sse_hub_token={good}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // Topic changes are checked against the grants.
    let client = server.client();
    let path = format!("/connections/{}/topics", sse.id);
    let widen = client
        .post(server.url(&path))
        .bearer_auth(&sse.control_token)
        .json(&json!({"add": ["billing"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(widen, 403).await.0, "topic_not_allowed");
    let ok: Value = json_of(
        client
            .post(server.url(&path))
            .bearer_auth(&sse.control_token)
            .json(&json!({"add": ["chat.room2"]})),
    )
    .await;
    assert_eq!(ok["topics"][3], "chat.room2");
    // A JWT is not a control token, nor admin without `admin: true`.
    let other_user = client
        .post(server.url(&format!("/connections/{}/pause", sse.id)))
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(other_user, 403).await.0, "forbidden");
    let admin_jwt = hs(&claims(json!({"admin": true})));
    let paused = client
        .post(server.url(&format!("/connections/{}/pause", sse.id)))
        .bearer_auth(&admin_jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), 204);
}

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
async fn tenants_are_isolated_live_by_replay_and_through_wildcards() {
    let server = jwt_server(&[]).await;
    let token = |tenant: Option<&str>| {
        let mut grants = json!({"subscribe": [">"]});
        if let Some(tenant) = tenant {
            grants["tenant"] = json!(tenant);
        }
        hs(&claims(grants))
    };
    let (acme, globex, none) = (token(Some("acme")), token(Some("globex")), token(None));
    let mut a = Sse::open(server.events(&[">"]).bearer_auth(&acme)).await;
    let mut g = Sse::open(server.events(&[">"]).bearer_auth(&globex)).await;
    let mut n = Sse::open(server.events(&[]).bearer_auth(&none)).await;
    let first = server
        .publish(json!({"topics": ["orders.1"], "tenant": "acme", "data": "for-acme"}))
        .await;
    server
        .publish(
            json!({"topics": ["orders.1"], "group": {"tenant": "globex"}, "data": "for-globex"}),
        )
        .await;
    server
        .publish(json!({"topics": ["orders.1"], "data": "for-all"}))
        .await;
    assert_eq!(a.next().await.data, "for-acme");
    assert_eq!(a.next().await.data, "for-all");
    assert_eq!(g.next().await.data, "for-globex");
    assert_eq!(g.next().await.data, "for-all");
    assert_eq!(
        n.next().await.data,
        "for-all",
        "no tenant: no tenant's event"
    );
    // Replay from before the first event: the same rule.
    let before = first[0].clone();
    let replay = |token: &str| {
        server.events(&[">"]).bearer_auth(token).header(
            "last-event-id",
            format!("{}-0", before.split('-').next().unwrap()),
        )
    };
    // An id that is not stored gets resync; use the first event's own id to
    // replay what followed it instead, and a metadata-only client.
    let _ = replay;
    let replay = |token: &str, topic: &str| {
        Sse::open_replaying(
            server
                .events(&[topic])
                .bearer_auth(token)
                .header("last-event-id", &before),
        )
    };
    let data = |events: Vec<eventsource_stream::Event>| {
        events.into_iter().map(|e| e.data).collect::<Vec<_>>()
    };
    assert_eq!(
        data(replay(&globex, ">").await.0),
        ["for-globex", "for-all"]
    );
    assert_eq!(data(replay(&acme, "orders.*").await.0), ["for-all"]);
    assert_eq!(data(replay(&none, "orders.*").await.0), ["for-all"]);
    // A client cannot claim a tenant: metadata comes from the token only.
    let mut forged = Sse::open(
        server
            .events(&["orders.1"])
            .bearer_auth(&none)
            .header("x-tenant", "acme"),
    )
    .await;
    server
        .publish(json!({"topics": ["orders.1"], "tenant": "acme", "data": "acme-2"}))
        .await;
    assert!(forged
        .next_within(Duration::from_millis(300))
        .await
        .is_none());
}

#[tokio::test]
async fn publish_grants_cover_every_topic_of_every_event() {
    let server = jwt_server(&["--anonymous-topics", ">"]).await;
    let publisher = hs(&claims(json!({"publish": ["news.>", "weather"]})));
    let mut sse = server.subscribe(&[">"]).await;
    let client = server.client();
    let post = |body: Value| {
        client
            .post(server.url("/publish"))
            .bearer_auth(&publisher)
            .json(&body)
    };
    for body in [
        json!([{"topics": ["news.eu"], "data": "1"}, {"topics": ["orders"], "data": "2"}]),
        json!({"topics": ["news.eu", "orders"], "data": "3"}),
        json!({"group": {"user": "u"}, "data": "no topics"}),
        json!({"topics": ["news.eu"], "group": {"user": "u"}, "scope": "union"}),
    ] {
        let response = post(body.clone()).send().await.unwrap();
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"insufficient_scope\""
        );
        assert_eq!(error_of(response, 403).await.0, "forbidden", "{body}");
    }
    assert_eq!(server.hub.stats(false).published, 0, "nothing published");
    let accepted =
        post(json!([{"topics": ["news.eu"], "data": "a"}, {"topics": ["weather"], "data": "b"}]))
            .send()
            .await
            .unwrap();
    assert_eq!(accepted.status(), 202);
    assert_eq!(sse.next().await.data, "a");
    assert_eq!(sse.next().await.data, "b");
    // A token without publish grants, a subscriber's, is refused.
    let reader = hs(&claims(json!({"subscribe": [">"]})));
    let response = client
        .post(server.url("/publish"))
        .bearer_auth(&reader)
        .json(&json!({"topics": ["news.eu"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_tenant_bound_publisher_publishes_for_its_tenant_only() {
    let server = jwt_server(&[]).await;
    let reader = |tenant: &str| hs(&claims(json!({"subscribe": [">"], "tenant": tenant})));
    let mut acme = Sse::open(server.events(&[">"]).bearer_auth(reader("acme"))).await;
    let mut globex = Sse::open(server.events(&[">"]).bearer_auth(reader("globex"))).await;
    let publisher = hs(&claims(json!({"publish": [">"], "tenant": "acme"})));
    let client = server.client();
    let post = |body: Value| {
        client
            .post(server.url("/publish"))
            .bearer_auth(&publisher)
            .json(&body)
    };
    // Filled in when absent.
    assert_eq!(
        post(json!({"topics": ["orders"], "data": "filled"}))
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(acme.next().await.data, "filled");
    // Another tenant, directly or through the group: 403. Widening: 400.
    for (body, status) in [
        (json!({"topics": ["orders"], "tenant": "globex"}), 403),
        (
            json!({"topics": ["orders"], "group": {"tenant": "globex"}}),
            403,
        ),
        (
            json!({"topics": ["orders"], "scope": "union", "group": {"x": "y"}}),
            400,
        ),
        (
            json!([{"topics": ["orders"], "data": "ok"}, {"topics": ["orders"], "tenant": "globex"}]),
            403,
        ),
    ] {
        let response = post(body.clone()).send().await.unwrap();
        assert_eq!(response.status(), status, "{body}");
        let text = response.text().await.unwrap();
        assert!(!text.contains("globex") && !text.contains("acme"), "{text}");
    }
    assert_eq!(server.hub.stats(false).published, 1);
    assert!(globex
        .next_within(Duration::from_millis(300))
        .await
        .is_none());
}

async fn ticket(server: &Server, token: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = server
        .client()
        .post(server.url("/tickets"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn tickets_are_single_use_scoped_and_live_until_the_token_expires() {
    let server = jwt_server(&["--ticket-ttl-ms", "20000"]).await;
    let token = hs(&claims(json!({"subscribe": ["orders.>", "chat"]})));
    let issued = ticket(&server, &token, None).await;
    assert_eq!(issued.status(), 201);
    assert_eq!(issued.headers()["cache-control"], "no-store");
    let body: Value = issued.json().await.unwrap();
    assert_eq!(body["expires_in_ms"], 20000);
    let value = body["ticket"].as_str().unwrap().to_owned();
    assert!(value.len() >= 22, "128 bits at least: {value}");
    let url = |ticket: &str| server.url(&format!("/events?ticket={ticket}"));
    let sse = Sse::open(server.client().get(url(&value))).await;
    assert_eq!(sse.topics, ["orders.>", "chat"]);
    let again = server.client().get(url(&value)).send().await.unwrap();
    assert_eq!(challenge(&again), "Bearer error=\"invalid_token\"");
    assert_eq!(error_of(again, 401).await.0, "invalid_token");
    // Topics: exactly those, each granted.
    let scoped: Value = ticket(&server, &token, Some(json!({"topics": ["orders.eu"]})))
        .await
        .json()
        .await
        .unwrap();
    let sse = Sse::open(
        server
            .client()
            .get(url(scoped["ticket"].as_str().unwrap()) + "&topic=chat"),
    )
    .await;
    assert_eq!(sse.topics, ["orders.eu"]);
    let refused = ticket(&server, &token, Some(json!({"topics": ["billing"]}))).await;
    assert_eq!(error_of(refused, 403).await.0, "forbidden");
    // No credential, a ticket, a bad token.
    let none = server
        .client()
        .post(server.url("/tickets"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(none, 401).await.0, "unauthorized");
    let bad = ticket(&server, "nope", None).await;
    assert_eq!(error_of(bad, 401).await.0, "invalid_token");
    // A stream opened by ticket ends at the issuing token's exp.
    let mut short = claims(json!({"subscribe": ["t"]}));
    short["exp"] = json!(now() + 2);
    let short = hs(&short);
    let body: Value = ticket(&server, &short, None).await.json().await.unwrap();
    let mut sse = Sse::open(server.client().get(url(body["ticket"].as_str().unwrap()))).await;
    let expired = sse.next().await;
    assert_eq!(expired.event, "auth-expired");
    assert_eq!(expired.data, r#"{"reason":"token_expired"}"#);
    sse.until_end().await;
    assert_eq!(server.hub.stats(false).auth_expired, 1);
}

#[tokio::test]
async fn the_memory_ticket_store_is_bounded_by_max_tickets() {
    let server = jwt_server(&["--max-tickets", "1"]).await;
    let token = hs(&claims(json!({"subscribe": ["t"]})));
    let first: Value = ticket(&server, &token, None).await.json().await.unwrap();
    let full = ticket(&server, &token, None).await;
    assert_eq!(error_of(full, 503).await.0, "tickets_unavailable");
    // Redeeming the held ticket makes room again.
    let value = first["ticket"].as_str().unwrap();
    let sse = Sse::open(
        server
            .client()
            .get(server.url(&format!("/events?ticket={value}"))),
    )
    .await;
    assert_eq!(sse.topics, ["t"]);
    assert_eq!(ticket(&server, &token, None).await.status(), 201);
}

#[tokio::test]
async fn a_bearer_stream_ends_with_auth_expired_at_exp() {
    let server = jwt_server(&["--jwt-leeway-s", "0", "--max-lifetime-s", "3600"]).await;
    let mut short = claims(json!({"subscribe": ["t"]}));
    short["exp"] = json!(now() + 2);
    let mut sse = Sse::open(server.events(&["t"]).bearer_auth(hs(&short))).await;
    server
        .publish(json!({"topics": ["t"], "data": "before"}))
        .await;
    assert_eq!(sse.next().await.data, "before");
    let expired = sse.next().await;
    assert_eq!(expired.event, "auth-expired");
    assert_eq!(expired.data, r#"{"reason":"token_expired"}"#);
    assert!(sse.until_end().await.is_empty(), "then the stream ends");
    let stats = server.hub.stats(false);
    assert_eq!(stats.auth_expired, 1);
    assert_eq!(stats.connections, 0);
}

#[tokio::test]
async fn cookie_ticket_requests_need_a_trusted_origin() {
    let listed = "http://app.example:5173";
    let server = jwt_server(&["--cors-origin", listed]).await;
    let token = hs(&claims(json!({"subscribe": ["t"]})));
    let addr = server.addr();
    let post = |origin: Option<&str>| {
        let origin = origin
            .map(|o| format!("\r\nOrigin: {o}"))
            .unwrap_or_default();
        let head = format!(
            "POST /tickets HTTP/1.1\r\nHost: localhost:{}\r\nCookie: sse_hub_token={token}{origin}",
            addr.port()
        );
        async move { raw(addr, &head, "").await }
    };
    let own = format!("http://localhost:{}", addr.port());
    assert_eq!(post(Some(&own)).await.status, 201, "own origin");
    let cross = post(Some(listed)).await;
    assert_eq!(cross.status, 201, "listed origin");
    assert_eq!(cross.header("access-control-allow-origin"), Some(listed));
    let evil = post(Some("http://evil.example")).await;
    assert_eq!(evil.status, 403);
    assert!(evil.body.contains("origin_not_allowed"));
    assert_eq!(post(None).await.status, 403, "no Origin");
    // The bearer needs no Origin (a page cannot make a browser send it).
    assert_eq!(ticket(&server, &token, None).await.status(), 201);
}

#[tokio::test]
async fn stats_and_metrics_for_jwt_admins_only() {
    let server = jwt_server(&[]).await;
    let user = hs(&claims(json!({"subscribe": [">"]})));
    let admin = hs(&claims(json!({"admin": true})));
    let client = server.client();
    let metrics = client
        .get(server.url("/metrics"))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(metrics, 403).await.0, "forbidden");
    let metrics = client
        .get(server.url("/metrics"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let detail = client
        .get(server.url("/stats?connections=true"))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(detail, 403).await.0, "forbidden");
    let detail: Value = json_of(
        client
            .get(server.url("/stats?connections=true"))
            .bearer_auth(&admin),
    )
    .await;
    assert!(detail["connection_details"].is_array());
}

/// A JWKS served over HTTP by the test, whose keys it can change.
async fn jwks_server(keys: Arc<Mutex<Vec<Jwk>>>) -> String {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/jwks.json",
        get(move || {
            let keys = keys.clone();
            async move {
                let keys = keys.lock().unwrap().clone();
                axum::Json(json!({ "keys": keys }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/jwks.json")
}

fn jwk(alg: Algorithm, private: &[u8], kid: &str) -> Jwk {
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(private).unwrap(),
        _ => EncodingKey::from_rsa_pem(private).unwrap(),
    };
    let mut jwk = Jwk::from_encoding_key(&key, alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk
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

/// A server binary sharing Redis tickets; returns its base URL.
async fn binary_server(args: &[&str]) -> (tokio::process::Child, String) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = binary_command()
        .args(["--listen", &listen])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await {
            if response.status() == 200 {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "binary did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, base)
}

#[tokio::test]
async fn a_ticket_is_honoured_once_across_two_server_processes_sharing_redis() {
    let prefix = format!("sse-hub-test-tickets-{}-{}", std::process::id(), now());
    let shared = [
        "--jwt-secret",
        SECRET,
        "--publish-token",
        "pub",
        "--redis-url",
        "redis://127.0.0.1:6379/",
        "--redis-prefix",
        &prefix,
    ];
    let here = Server::start(&shared).await;
    let (_child, there) = binary_server(&shared).await;
    let token = hs(&claims(json!({"subscribe": ["t"]})));
    let client = reqwest::Client::new();
    for (issuer, redeemers) in [
        (
            here.url("/tickets"),
            [format!("{there}/events"), here.url("/events")],
        ),
        (
            format!("{there}/tickets"),
            [here.url("/events"), format!("{there}/events")],
        ),
    ] {
        let body: Value = json_of(client.post(&issuer).bearer_auth(&token)).await;
        let ticket = body["ticket"].as_str().unwrap().to_owned();
        // Both processes try at once: exactly one stream.
        let (a, b) = tokio::join!(
            client
                .get(format!("{}?ticket={ticket}", redeemers[0]))
                .send(),
            client
                .get(format!("{}?ticket={ticket}", redeemers[1]))
                .send(),
        );
        let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 401], "{issuer}");
    }
    let mut redis = redis::Client::open("redis://127.0.0.1:6379/")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(left.is_empty(), "redeemed tickets are deleted: {left:?}");
}

#[tokio::test]
async fn no_response_echoes_a_token_a_claim_or_a_tenant() {
    let server = jwt_server(&["--anonymous-topics", "public"]).await;
    let addr = server.addr();
    let secret_claims = |extra: Value| {
        let mut grants = json!({"subscribe": ["orders.>"], "publish": ["orders.>"],
                                "tenant": "tnt-zq81", "meta": {"plan": "meta-zq81"}});
        grants
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let mut claims = claims(grants);
        claims["sub"] = json!("sub-zq81");
        claims
    };
    let good = hs(&secret_claims(json!({})));
    let mut expired = secret_claims(json!({}));
    expired["exp"] = json!(now() - 100);
    let expired = hs(&expired);
    let forged = unsigned(&secret_claims(json!({"admin": true})));
    let tokens = [good.clone(), expired.clone(), forged.clone()];
    let mut seen: Vec<Raw> = Vec::new();
    for token in &tokens {
        for head in [
            format!("GET /events?topic=orders.eu HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"),
            format!("GET /events?topic=billing HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"),
            format!("GET /events?topic=public HTTP/1.1\r\nHost: localhost\r\nCookie: sse_hub_token={token}"),
            format!("GET /stats?connections=true HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"),
            format!("GET /stats HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"),
            format!("GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"),
            format!("POST /connections/0123456789abcdef0123456789abcdef/pause HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"),
        ] {
            seen.push(raw(addr, &head, "").await);
        }
        for body in [
            r#"{"topics":["orders.x"],"data":"d"}"#,
            r#"{"topics":["orders.x"],"tenant":"tnt-other-zq81"}"#,
            r#"{"topics":["billing"],"data":"d"}"#,
            r#"{"topics":["orders.x"],"tenant":"tnt-zq81","scope":"union"}"#,
        ] {
            seen.push(
                raw(
                    addr,
                    &format!("POST /publish HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"),
                    body,
                )
                .await,
            );
        }
        for body in [
            "",
            r#"{"topics":["billing"]}"#,
            r#"{"topics":["orders.eu"]}"#,
        ] {
            seen.push(
                raw(
                    addr,
                    &format!("POST /tickets HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"),
                    body,
                )
                .await,
            );
        }
    }
    // Every route and outcome was exercised.
    let statuses: std::collections::BTreeSet<u16> = seen.iter().map(|r| r.status).collect();
    for status in [200, 201, 202, 400, 401, 403] {
        assert!(
            statuses.contains(&status),
            "{status} not seen: {statuses:?}"
        );
    }
    // Tickets are redeemed, used twice, and their streams read too.
    let tickets: Vec<String> = seen
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["ticket"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for ticket in &tickets {
        for _ in 0..2 {
            seen.push(
                raw(
                    addr,
                    &format!("GET /events?ticket={ticket} HTTP/1.1\r\nHost: localhost"),
                    "",
                )
                .await,
            );
        }
    }
    let forbidden: Vec<&str> = tokens
        .iter()
        .map(String::as_str)
        .chain([
            "sub-zq81",
            "tnt-zq81",
            "tnt-other-zq81",
            "meta-zq81",
            SECRET,
            "adm",
        ])
        .collect();
    for response in &seen {
        let text = format!("{:?}\n{}", response.headers, response.body);
        for needle in &forbidden {
            // "adm" is short: only as a whole header value or word.
            let found = if *needle == "adm" {
                text.split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|w| w == "adm")
            } else {
                text.contains(needle)
            };
            assert!(!found, "{needle} in {response:?}");
        }
    }
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
