//! `/connections/{id}/...`: pause, resume, live topic changes.

use std::time::Duration;

use serde_json::{json, Value};
use sse_hub::Connecting;

use crate::common::{error_of, json_of, Server};

#[tokio::test]
async fn pause_holds_batched_but_not_instant() {
    let server = Server::start(&[]).await;
    let mut sse = server.subscribe(&["t"]).await;

    let paused = server
        .post(&format!("/connections/{}/pause", sse.id), &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), 204);

    server
        .publish(json!({"topics": ["t"], "type": "b", "data": "held", "priority": "batched"}))
        .await;
    server
        .publish(json!({"topics": ["t"], "type": "i", "data": "live"}))
        .await;
    assert_eq!(sse.next().await.data, "live");

    let stats: Value = json_of(server.client().get(server.url("/stats?connections=true"))).await;
    let conn = &stats["connection_details"][0];
    assert_eq!(conn["paused"], true, "{stats}");
    assert_eq!(conn["queued"], 1, "{stats}");
    assert_eq!(stats["paused"], 1, "{stats}");
    // Several flush intervals (100 ms) pass without the held event.
    assert!(sse.next_within(Duration::from_millis(400)).await.is_none());

    let resumed = server
        .post(&format!("/connections/{}/resume", sse.id), &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 204);
    assert_eq!(sse.next().await.data, "held");
}

#[tokio::test]
async fn topics_change_without_reconnecting() {
    let server = Server::start(&[]).await;
    let mut sse = server.subscribe(&["a"]).await;
    let path = format!("/connections/{}/topics", sse.id);

    let added = server
        .post(&path, &json!({"add": ["b.*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);
    let body: Value = added.json().await.unwrap();
    assert_eq!(body, json!({"topics": ["a", "b.*"]}));
    server
        .publish(json!({"topics": ["b.x"], "type": "t", "data": "on-b"}))
        .await;
    assert_eq!(sse.next().await.data, "on-b");

    let removed: Value = json_of(server.post(&path, &json!({"remove": ["a"]}))).await;
    assert_eq!(removed, json!({"topics": ["b.*"]}));
    server
        .publish(json!({"topics": ["a"], "type": "t", "data": "on-a"}))
        .await;
    server
        .publish(json!({"topics": ["b.y"], "type": "t", "data": "marker"}))
        .await;
    assert_eq!(sse.next().await.data, "marker");

    // Refused changes change nothing.
    let invalid = server
        .post(&path, &json!({"add": ["ok", "a..b"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(invalid, 400).await.0, "invalid_topic");
    let shape = server
        .post(&path, &json!({"add": "a"}))
        .send()
        .await
        .unwrap();
    let (code, message) = error_of(shape, 400).await;
    assert_eq!(code, "invalid_body");
    assert!(message.contains("`add`"), "{message}");
    let unchanged: Value = json_of(server.post(&path, &json!({}))).await;
    assert_eq!(unchanged, json!({"topics": ["b.*"]}));
}

#[tokio::test]
async fn unknown_connections_are_404() {
    let server = Server::start(&[]).await;
    let sse = server.subscribe(&["a"]).await;
    // A well-formed id that is not open, and one that does not parse.
    let unknown = if sse.id.starts_with('0') {
        format!("1{}", &sse.id[1..])
    } else {
        format!("0{}", &sse.id[1..])
    };
    for id in [unknown.as_str(), "not-an-id"] {
        for action in ["pause", "resume", "topics"] {
            let response = server
                .post(
                    &format!("/connections/{id}/{action}"),
                    &json!({"add": ["x"]}),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(
                error_of(response, 404).await.0,
                "unknown_connection",
                "{id} {action}"
            );
        }
    }
}

#[tokio::test]
async fn disallowed_topic_is_403() {
    let server = Server::start_with(&[], |config| {
        config.on_connect(|mut connecting: Connecting| async move {
            connecting.allowed = Some(vec!["orders.>".into()]);
            Ok(connecting)
        })
    })
    .await;
    let sse = server.subscribe(&["orders.eu"]).await;
    let path = format!("/connections/{}/topics", sse.id);
    let refused = server
        .post(&path, &json!({"add": ["chat"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(refused, 403).await.0, "topic_not_allowed");
    let granted: Value = json_of(server.post(&path, &json!({"add": ["orders.us"]}))).await;
    assert_eq!(granted, json!({"topics": ["orders.eu", "orders.us"]}));
}
