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
