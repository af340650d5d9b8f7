//! Who receives what: wildcards, groups, union and intersect scope.

use serde_json::json;
use sse_hub::Connecting;

use crate::common::{Server, Sse};

#[tokio::test]
async fn wildcard_subscriptions() {
    let server = Server::start(&[]).await;
    let mut star = server.subscribe(&["orders.*"]).await;
    let mut tail = server.subscribe(&["orders.>"]).await;
    assert_eq!(star.topics, ["orders.*"]);

    server
        .publish(json!({"topics": ["orders.eu"], "type": "o", "data": "eu"}))
        .await;
    assert_eq!(star.next().await.data, "eu");
    assert_eq!(tail.next().await.data, "eu");

    // `*` is one token: `orders.eu.paris` reaches `orders.>` only.
    server
        .publish(json!({"topics": ["orders.eu.paris"], "type": "o", "data": "paris"}))
        .await;
    server
        .publish(json!({"topics": ["orders"], "type": "o", "data": "bare"}))
        .await;
    server
        .publish(json!({"topics": ["orders.us"], "type": "o", "data": "us"}))
        .await;
    assert_eq!(tail.next().await.data, "paris");
    assert_eq!(star.next().await.data, "us");
    assert_eq!(tail.next().await.data, "us");
}

/// Connections carry `tenant_id` from an `x-tenant` header, as an auth hook would set it.
async fn tenant_server() -> Server {
    Server::start_with(&[], |config| {
        config.on_connect(|mut connecting: Connecting| async move {
            if let Some(tenant) = connecting.header("x-tenant") {
                let tenant = String::from_utf8_lossy(tenant).into_owned();
                connecting.metadata.insert("tenant_id".into(), tenant);
            }
            Ok(connecting)
        })
    })
    .await
}

#[tokio::test]
async fn groups_union_and_intersect() {
    let server = tenant_server().await;
    let mut a = Sse::open(server.events(&["orders"]).header("x-tenant", "a")).await;
    let mut b = Sse::open(server.events(&["orders"]).header("x-tenant", "b")).await;
    let mut other = server.subscribe(&["news"]).await;

    // Intersect: topic AND group. Tenant b shares the topic but not the tenant.
    server
        .publish(
            json!({"topics": ["orders"], "group": {"tenant_id": "a"}, "scope": "intersect",
                        "type": "t", "data": "for-a-only"}),
        )
        .await;
    // Union: topic OR group. Tenant b gets it through the topic, and
    // tenant a through its group although it is not subscribed to `news`.
    server
        .publish(
            json!({"topics": ["news"], "group": {"tenant_id": "a"}, "scope": "union",
                        "type": "t", "data": "union"}),
        )
        .await;
    // Without a scope the group narrows (intersect is the default).
    server
        .publish(json!({"topics": ["orders"], "group": {"tenant_id": "a"},
                        "type": "t", "data": "intersect-default"}))
        .await;

    assert_eq!(a.next().await.data, "for-a-only");
    assert_eq!(a.next().await.data, "union");
    assert_eq!(a.next().await.data, "intersect-default");
    assert_eq!(other.next().await.data, "union");

    // A group-only event reaches that tenant whatever its topics; b's first
    // event: neither intersect event reached it.
    server
        .publish(json!({"group": {"tenant_id": "b"}, "type": "t", "data": "b-group"}))
        .await;
    assert_eq!(b.next().await.data, "b-group");
}

/// `HEAD /events` (which the fast path hands to the router) answers 200 with
/// the SSE headers and no body, and subscribes nobody; `GET` still streams.
#[tokio::test]
async fn head_events_answers_without_subscribing() {
    let server = Server::start(&[]).await;
    for url in [server.url("/events?topic=t"), server.url("/events")] {
        let response = server.client().head(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert_eq!(response.headers()["cache-control"], "no-cache");
        assert!(response.bytes().await.unwrap().is_empty());
    }
    let stats = server.hub.stats_with(&sse_hub::StatsOptions::new());
    assert_eq!((stats.connects, stats.connections), (0, 0));
    // The same path still subscribes on GET (the fast path).
    let _sse = server.subscribe(&["t"]).await;
    assert_eq!(
        server
            .hub
            .stats_with(&sse_hub::StatsOptions::new())
            .connects,
        1
    );
}
