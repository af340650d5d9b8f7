//! Access rules that need no JWT: connection control tokens, admin, `/stats`
//! redaction, `/metrics`, anonymous topics, CORS, the `Host` allow-list, and
//! the `tenant` field's consistency rules.

use serde_json::{json, Value};

use crate::common::{error_of, json_of, raw, Server, Sse};

const ADMIN: &str = "adm1n-t0ken";

#[tokio::test]
async fn a_control_token_controls_its_own_connection_only() {
    let server = Server::start(&["--admin-token", ADMIN, "--publish-token", "pub"]).await;
    let mine = server.subscribe(&["t"]).await;
    let other = server.subscribe(&["t"]).await;
    assert_eq!(mine.control_token.len(), 32);
    assert_ne!(mine.control_token, other.control_token);
    let client = server.client();
    let post = |id: &str, action: &str, token: Option<&str>| {
        let request = client
            .post(server.url(&format!("/connections/{id}/{action}")))
            .json(&json!({}));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    };
    // Its own token: accepted.
    for action in ["pause", "resume"] {
        let response = post(&mine.id, action, Some(&mine.control_token))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "{action}");
    }
    // Another connection's token, none, the publish token (not admin while an
    // admin token is set): refused, nothing changes.
    let refused = post(&mine.id, "pause", Some(&other.control_token))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_eq!(error_of(refused, 401).await.0, "invalid_token");
    let none = post(&mine.id, "pause", None).send().await.unwrap();
    assert_eq!(error_of(none, 401).await.0, "unauthorized");
    let publisher = post(&mine.id, "pause", Some("pub")).send().await.unwrap();
    assert_eq!(
        publisher.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\""
    );
    assert_eq!(error_of(publisher, 403).await.0, "forbidden");
    assert!(!server
        .hub
        .connection(sse_hub::ConnectionId::parse(&mine.id).unwrap())
        .unwrap()
        .is_paused());
    // A token for a connection that does not exist says nothing about it.
    let gone = post(
        "0123456789abcdef0123456789abcdef",
        "pause",
        Some(&mine.control_token),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(gone.status(), 401);
    // Admin controls any connection and learns which do not exist.
    let admin = post(&other.id, "pause", Some(ADMIN)).send().await.unwrap();
    assert_eq!(admin.status(), 204);
    let admin = post("0123456789abcdef0123456789abcdef", "pause", Some(ADMIN))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(admin, 404).await.0, "unknown_connection");
    // Topics with the control token.
    let topics: Value =
        json_of(post(&mine.id, "topics", Some(&mine.control_token)).json(&json!({"add": ["u"]})))
            .await;
    assert_eq!(topics, json!({"topics": ["t", "u"]}));
}

#[tokio::test]
async fn anonymous_topics_bound_subscriptions_and_topic_changes() {
    let server = Server::start(&["--anonymous-topics", "news.>,status"]).await;
    let client = server.client();
    let denied = server.events(&["news.eu", "orders"]).send().await.unwrap();
    assert_eq!(denied.headers()["www-authenticate"], "Bearer");
    assert_eq!(error_of(denied, 401).await.0, "unauthorized");
    let mut sse = server.subscribe(&["news.eu", "status"]).await;
    let path = format!("/connections/{}/topics", sse.id);
    let widen = client
        .post(server.url(&path))
        .bearer_auth(&sse.control_token)
        .json(&json!({"add": ["news.>", "orders"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        widen.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\""
    );
    assert_eq!(error_of(widen, 403).await.0, "topic_not_allowed");
    let granted: Value = json_of(
        client
            .post(server.url(&path))
            .bearer_auth(&sse.control_token)
            .json(&json!({"add": ["news.>"]})),
    )
    .await;
    assert_eq!(granted, json!({"topics": ["news.eu", "status", "news.>"]}));
    // Nothing of the refused change happened: orders does not reach it.
    server
        .publish(json!({"topics": ["orders"], "data": "private"}))
        .await;
    server
        .publish(json!({"topics": ["news.us"], "data": "public"}))
        .await;
    assert_eq!(sse.next().await.data, "public");
}

#[tokio::test]
async fn stats_names_and_metrics_are_for_admins() {
    let server = Server::start(&["--admin-token", ADMIN, "--publish-token", "pub"]).await;
    let _sse = server.subscribe(&["tenant-acme.orders"]).await;
    server
        .publish(json!({"topics": ["tenant-acme.orders"], "type": "acme-secret-type"}))
        .await;
    let client = server.client();
    let public = client.get(server.url("/stats")).send().await.unwrap();
    assert_eq!(public.status(), 200);
    let text = public.text().await.unwrap();
    let stats: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stats["connections"], 1, "{stats}");
    assert_eq!(stats["published"], 1, "{stats}");
    for hidden in ["acme", "by_topic", "by_type", "connection_details"] {
        assert!(!text.contains(hidden), "{hidden} in {text}");
    }
    let detail = client
        .get(server.url("/stats?connections=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(detail, 401).await.0, "unauthorized");
    let admin: Value = json_of(
        client
            .get(server.url("/stats?connections=true"))
            .bearer_auth(ADMIN),
    )
    .await;
    assert_eq!(admin["by_topic"]["tenant-acme.orders"], 1, "{admin}");
    assert_eq!(admin["connection_details"].as_array().unwrap().len(), 1);

    let metrics = client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(error_of(metrics, 401).await.0, "unauthorized");
    let metrics = client
        .get(server.url("/metrics"))
        .bearer_auth("pub")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(metrics, 403).await.0, "forbidden");
    let metrics = client
        .get(server.url("/metrics"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics
        .text()
        .await
        .unwrap()
        .contains("sse_hub_auth_expired"));

    // Without an admin token the publish token administers.
    let server = Server::start(&["--publish-token", "pub"]).await;
    let metrics = client
        .get(server.url("/metrics"))
        .bearer_auth("pub")
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
}

#[tokio::test]
async fn cors_for_listed_origins_only_on_every_path() {
    let listed = "http://app.example:5173";
    let server = Server::start(&["--cors-origin", listed, "--publish-token", "pub"]).await;
    let addr = server.addr();
    // Preflights.
    for path in ["/publish", "/tickets", "/connections/x/pause", "/events"] {
        let ok = raw(
            addr,
            &format!(
                "OPTIONS {path} HTTP/1.1\r\nHost: localhost\r\nOrigin: {listed}\r\n\
                 Access-Control-Request-Method: POST\r\n\
                 Access-Control-Request-Headers: authorization, content-type"
            ),
            "",
        )
        .await;
        assert_eq!(ok.status, 204, "{path}: {ok:?}");
        assert_eq!(ok.header("access-control-allow-origin"), Some(listed));
        assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(ok.header("vary"), Some("Origin"));
        let headers = ok.header("access-control-allow-headers").unwrap();
        for needed in ["authorization", "content-type", "last-event-id"] {
            assert!(headers.contains(needed), "{headers}");
        }
        assert!(ok
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST"));
        assert!(ok.header("access-control-max-age").is_some());
        let refused = raw(
            addr,
            &format!(
                "OPTIONS {path} HTTP/1.1\r\nHost: localhost\r\nOrigin: http://evil.example\r\n\
                 Access-Control-Request-Method: POST"
            ),
            "",
        )
        .await;
        assert_eq!(refused.status, 403, "{path}");
        assert!(refused
            .headers
            .iter()
            .all(|(name, _)| !name.starts_with("access-control-")));
    }
    // Simple requests: the stream (fast path), a refused subscribe, JSON.
    for origin in [listed, "http://evil.example"] {
        for target in ["/events?topic=t", "/events?topic=a..b", "/stats"] {
            let response = raw(
                addr,
                &format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nOrigin: {origin}"),
                "",
            )
            .await;
            assert_eq!(response.header("vary"), Some("Origin"), "{target}");
            if origin == listed {
                assert_eq!(
                    response.header("access-control-allow-origin"),
                    Some(listed),
                    "{target}"
                );
                assert_eq!(
                    response.header("access-control-allow-credentials"),
                    Some("true")
                );
            } else {
                assert!(
                    response
                        .headers
                        .iter()
                        .all(|(name, _)| !name.starts_with("access-control-")),
                    "{target}: {response:?}"
                );
            }
        }
    }
    let publish = raw(
        addr,
        &format!(
            "POST /publish HTTP/1.1\r\nHost: localhost\r\nOrigin: {listed}\r\nAuthorization: Bearer pub"
        ),
        r#"{"topics":["t"],"data":"x"}"#,
    )
    .await;
    assert_eq!(publish.status, 202);
    assert_eq!(publish.header("access-control-allow-origin"), Some(listed));
}

#[tokio::test]
async fn a_foreign_host_is_refused_on_every_route() {
    let server = Server::start(&[]).await;
    let addr = server.addr();
    for host in ["evil.example", "evil.example:80", "localhost.evil.example"] {
        for head in [
            "GET /events?topic=t HTTP/1.1",
            "GET /stats HTTP/1.1",
            "GET /metrics HTTP/1.1",
            "GET / HTTP/1.1",
        ] {
            let response = raw(addr, &format!("{head}\r\nHost: {host}"), "").await;
            assert_eq!(response.status, 403, "{head} {host}: {response:?}");
            assert!(response.body.contains("host_not_allowed"), "{response:?}");
        }
        let publish = raw(
            addr,
            &format!("POST /publish HTTP/1.1\r\nHost: {host}"),
            r#"{"topics":["t"],"data":"x"}"#,
        )
        .await;
        assert_eq!(publish.status, 403);
    }
    assert_eq!(server.hub.stats(false).published, 0);
    assert_eq!(server.hub.stats(false).connects, 0);
    // The loopback names, any port, are accepted.
    for host in [
        "localhost",
        "localhost:8080",
        "127.0.0.1:1",
        "[::1]:8080",
        "LOCALHOST",
    ] {
        let response = raw(
            addr,
            &format!("GET /events?topic=t HTTP/1.1\r\nHost: {host}"),
            "",
        )
        .await;
        assert_eq!(response.status, 200, "{host}");
    }
    // An explicit list replaces the loopback defaults.
    let server = Server::start(&["--allowed-host", "sse.example.com"]).await;
    let ok = raw(
        server.addr(),
        "GET /stats HTTP/1.1\r\nHost: sse.example.com:443",
        "",
    )
    .await;
    assert_eq!(ok.status, 200);
    let refused = raw(server.addr(), "GET /stats HTTP/1.1\r\nHost: localhost", "").await;
    assert_eq!(refused.status, 403);
}

#[tokio::test]
async fn an_event_tenant_cannot_be_widened_or_contradicted() {
    let server = Server::start(&[]).await;
    for (event, message) in [
        (
            json!({"topics": ["t"], "tenant": "acme", "scope": "union"}),
            "`scope`",
        ),
        (
            json!({"topics": ["t"], "tenant": "acme", "group": {"tenant": "globex"}}),
            "`tenant`",
        ),
        (json!({"topics": ["t"], "tenant": ""}), "`tenant`"),
        (
            json!({"topics": ["t"], "group": {"tenant": "acme"}, "scope": "union"}),
            "`scope`",
        ),
    ] {
        let response = server.publish_raw(&event).await;
        let (code, text) = error_of(response, 400).await;
        assert_eq!(code, "invalid_event");
        assert!(text.contains(message), "{text}");
        assert!(!text.contains("acme") && !text.contains("globex"), "{text}");
    }
    assert_eq!(server.hub.stats(false).published, 0);
    // A tenant's event never reaches a connection without a tenant.
    let mut sse = Sse::open(server.events(&["t"])).await;
    server
        .publish(json!({"topics": ["t"], "tenant": "acme", "data": "acme-only"}))
        .await;
    server
        .publish(json!({"topics": ["t"], "data": "everyone"}))
        .await;
    assert_eq!(sse.next().await.data, "everyone");
}
