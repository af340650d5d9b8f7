//! Publishing and administering: grants for every topic of every event,
//! tenant-bound publishers, JWT admins.

use super::*;

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
