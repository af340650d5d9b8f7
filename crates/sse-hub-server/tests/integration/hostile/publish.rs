//! What publishers and subscribers may send: reserved names, bounded errors,
//! strict JSON, UTF-8 in the query, a page that cannot be framed.

use super::*;

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

#[tokio::test]
async fn error_bodies_are_bounded_and_name_the_field() {
    let server = Server::start(&["--max-body-bytes", "4194304"]).await;
    let huge = "y".repeat(1 << 20);
    for (body, field) in [
        (json!({"topics": huge.clone()}), "`topics`"),
        (
            json!({"topics": ["t"], "priority": huge.clone()}),
            "`priority`",
        ),
        (json!({"topics": ["t"], "type": huge.clone()}), "`type`"),
        (json!({"topics": ["t"], "id": huge.clone()}), "`id`"),
        (json!({"topics": [huge.clone()]}), "`topics`"),
    ] {
        let response = server.publish_raw(&body).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!(status == 400 || status == 413, "{status}");
        assert!(text.len() <= 2048, "{} bytes: {}", text.len(), &text[..200]);
        assert!(text.contains(field), "{text}");
        assert!(!text.contains(&"y".repeat(100)), "input echoed: {text}");
    }
}

#[tokio::test]
async fn duplicate_keys_null_data_and_two_authorization_headers() {
    let server = Server::start(&["--publish-token", "a-long-enough-token"]).await;
    let mut sse = server.subscribe(&["t"]).await;
    let send = |body: &'static str| {
        server
            .client()
            .post(server.url("/publish"))
            .bearer_auth("a-long-enough-token")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for body in [
        r#"{"topics": ["t"], "type": "a", "type": "connected"}"#,
        r#"[{"topics": ["t"], "data": {"k": 1, "k": 2}}]"#,
    ] {
        let (code, message) = error_of(send(body).await.unwrap(), 400).await;
        assert_eq!(code, "invalid_json");
        assert!(message.contains("duplicate key"), "{message}");
    }
    let response = send(r#"{"topics": ["t"], "type": "n", "data": null}"#)
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(sse.next_pair().await, ("n".into(), "null".into()));
    let response = send(r#"{"topics": ["t"], "type": "n"}"#).await.unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(sse.next_pair().await, ("n".into(), String::new()));

    // The right token and a wrong one, in either order: refused.
    for (first, second) in [
        ("a-long-enough-token", "wrong"),
        ("wrong", "a-long-enough-token"),
    ] {
        let response = server
            .client()
            .post(server.url("/publish"))
            .header("authorization", format!("Bearer {first}"))
            .header("authorization", format!("Bearer {second}"))
            .json(&json!({"topics": ["t"], "data": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
}

#[tokio::test]
async fn defaults_hold_a_64_kib_payload_and_the_demo_page_cannot_be_framed() {
    let server = Server::start(&["--max-body-bytes", "1048576"]).await;
    let mut sse = server.subscribe(&["t"]).await;
    let payload = "p".repeat(64 * 1024);
    server
        .publish(json!({"topics": ["t"], "type": "big", "data": payload}))
        .await;
    let (event_type, data) = sse.next_pair().await;
    assert_eq!((event_type.as_str(), data.len()), ("big", 64 * 1024));

    let page = server.client().get(server.url("/")).send().await.unwrap();
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

#[tokio::test]
async fn invalid_utf8_in_topic_or_last_event_id_is_refused() {
    let server = Server::start(&[]).await;
    for query in ["topic=a%FFb", "topic=t&lastEventID=%C3%28"] {
        let response = server
            .client()
            .get(server.url(&format!("/events?{query}")))
            .send()
            .await
            .unwrap();
        let (code, message) = error_of(response, 400).await;
        assert_eq!(code, "invalid_request", "{query}");
        assert!(message.contains("UTF-8"), "{message}");
    }
    assert_eq!(server.hub.connection_count(), 0);
}
