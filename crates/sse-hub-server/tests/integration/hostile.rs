//! Hostile clients (issue 13): what an attacker on the network can send, and
//! the limit that answers it. Each test goes through a real socket.

use serde_json::json;

use crate::common::{error_of, Server};

#[tokio::test]
async fn reserved_and_empty_types_and_hub_form_ids_are_refused() {
    let server = Server::start(&[]).await;
    let mut sse = server.subscribe(&["orders"]).await;
    for reserved in [
        "connected",
        "resync",
        "server-shutdown",
        "overloaded",
        "auth-expired",
    ] {
        let body = json!({"topics": ["orders"], "type": reserved, "data": "x"});
        let (code, message) = error_of(server.publish_raw(&body).await, 400).await;
        assert_eq!(code, "invalid_event");
        assert!(
            message.contains("`type`") && message.contains("reserved"),
            "{message}"
        );
    }
    let (_, message) = error_of(
        server
            .publish_raw(&json!({"topics": ["orders"], "type": "", "data": "x"}))
            .await,
        400,
    )
    .await;
    assert!(
        message.contains("`type`") && message.contains("empty"),
        "{message}"
    );
    let (_, message) = error_of(
        server
            .publish_raw(&json!({"topics": ["orders"], "type": "t".repeat(300)}))
            .await,
        400,
    )
    .await;
    assert!(
        message.contains("`type`"),
        "an oversized type is named: {message}"
    );
    let (_, message) = error_of(
        server
            .publish_raw(&json!({"topics": ["orders"], "id": "1700000000000-5"}))
            .await,
        400,
    )
    .await;
    assert!(
        message.contains("`id`") && message.contains("reserved"),
        "{message}"
    );

    // Nothing of that reached the subscriber: the marker is the next event.
    server
        .publish(json!({"topics": ["orders"], "type": "marker", "data": "m"}))
        .await;
    assert_eq!(sse.next_pair().await, ("marker".into(), "m".into()));
}
