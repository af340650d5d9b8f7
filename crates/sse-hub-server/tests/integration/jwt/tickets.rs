//! One-time tickets: single use, scope, expiry, the memory bound, the CSRF
//! origin check, and Redis shared by two server processes.

use super::*;

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
