//! `POST /publish`: the three lanes, and every way a request is refused.

use serde_json::{json, Value};

use crate::common::{error_of, json_of, Server};

#[tokio::test]
async fn publish_answers_each_events_id_and_recipients() {
    let server = Server::start(&[]).await;
    let _a = server.subscribe(&["news.*"]).await;
    let _b = server.subscribe(&["news.sport"]).await;
    let answer = json_of(server.post(
        "/publish",
        &json!([
            {"topics": ["news.sport"], "data": "both"},
            {"topics": ["news.weather"], "data": "one"},
            {"topics": ["elsewhere"], "data": "none"},
        ]),
    ))
    .await;
    let ids = answer["ids"].as_array().unwrap();
    let events = answer["events"].as_array().unwrap();
    assert_eq!(ids.len(), 3, "{answer}");
    let recipients: Vec<_> = events.iter().map(|e| e["recipients"].clone()).collect();
    assert_eq!(recipients, [json!(2), json!(1), json!(0)], "{answer}");
    for (event, id) in events.iter().zip(ids) {
        assert_eq!(&event["id"], id, "{answer}");
        assert_eq!(event["dropped"], 0, "{answer}");
    }
}

#[tokio::test]
async fn lanes_instant_batched_coalesced() {
    // A long flush interval (a quarter of it while queues are nearly empty):
    // the instant event must overtake the batched ones.
    let server = Server::start(&["--flush-interval-ms", "4000"]).await;
    let mut sse = server.subscribe(&["orders"]).await;

    let ids = server
        .publish(json!([
            {"topics": ["orders"], "type": "row", "data": "b1", "priority": "batched"},
            {"topics": ["orders"], "type": "row", "data": "b2", "priority": "batched"},
            {"topics": ["orders"], "type": "row", "data": "b3", "priority": "batched"},
            {"topics": ["orders"], "type": "alert", "data": "now"},
        ]))
        .await;
    assert_eq!(ids.len(), 4);
    let first = sse.next().await;
    assert_eq!(
        (first.event.as_str(), first.data.as_str()),
        ("alert", "now")
    );
    assert_eq!(first.id, ids[3]);
    for (expected, id) in ["b1", "b2", "b3"].into_iter().zip(&ids) {
        let event = sse.next().await;
        assert_eq!(
            (event.event.as_str(), event.data.as_str()),
            ("row", expected)
        );
        assert_eq!(&event.id, id);
    }

    // Coalesced: only the last value per key in a window, keys in first-seen order.
    server
        .publish(json!([
            {"topics": ["orders"], "type": "price", "data": "a1", "priority": "coalesced", "coalesce_key": "a"},
            {"topics": ["orders"], "type": "price", "data": "b1", "priority": "coalesced", "coalesce_key": "b"},
            {"topics": ["orders"], "type": "price", "data": "a2", "priority": "coalesced", "coalesce_key": "a"},
            {"topics": ["orders"], "type": "price", "data": "a3", "priority": "coalesced", "coalesce_key": "a"},
        ]))
        .await;
    assert_eq!(sse.next_pair().await, ("price".into(), "a3".into()));
    assert_eq!(sse.next_pair().await, ("price".into(), "b1".into()));
    // Nothing else of that window follows: the next event is the next batch.
    server
        .publish(
            json!({"topics": ["orders"], "type": "row", "data": "after", "priority": "batched"}),
        )
        .await;
    assert_eq!(sse.next_pair().await, ("row".into(), "after".into()));
}

#[tokio::test]
async fn data_string_verbatim_other_json_encoded() {
    let server = Server::start(&[]).await;
    let mut sse = server.subscribe(&["t"]).await;
    server
        .publish(json!([
            {"topics": ["t"], "data": "  two\nlines "},
            {"topics": ["t"], "type": "obj", "data": {"n": 1, "s": "x"}},
            {"topics": ["t"], "type": "num", "data": 42, "id": "my-id"},
        ]))
        .await;
    let text = sse.next().await;
    assert_eq!(
        (text.event.as_str(), text.data.as_str()),
        ("message", "  two\nlines ")
    );
    assert_eq!(
        sse.next_pair().await,
        ("obj".into(), r#"{"n":1,"s":"x"}"#.into())
    );
    let num = sse.next().await;
    assert_eq!((num.data.as_str(), num.id.as_str()), ("42", "my-id"));
}

/// `data` other than a string is sent as the publisher wrote it: the raw
/// JSON text of the body, not parsed and serialised again.
#[tokio::test]
async fn data_json_is_passed_through_as_written() {
    let server = Server::start(&[]).await;
    let mut sse = server.subscribe(&["t"]).await;
    let body = concat!(
        r#"[{"topics": ["t"], "type": "raw", "data": { "n" : 1.50, "e": 1e2, "#,
        r#""big": 123456789012345678901234567890 }},"#,
        "{\"topics\": [\"t\"], \"type\": \"lines\", \"data\": [1,\n 2]},",
        r#"{"topics": ["t"], "type": "esc", "data": "a\u0041\"b"},"#,
        r#"{"topics": ["t"], "type": "nul", "data":null}]"#,
    );
    let response = server
        .post("/publish", &Value::Null)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(
        sse.next_pair().await,
        (
            "raw".into(),
            r#"{ "n" : 1.50, "e": 1e2, "big": 123456789012345678901234567890 }"#.into()
        )
    );
    assert_eq!(sse.next_pair().await, ("lines".into(), "[1,\n 2]".into()));
    assert_eq!(sse.next_pair().await, ("esc".into(), r#"aA"b"#.into()));
    assert_eq!(sse.next_pair().await, ("nul".into(), "null".into()));
}

#[tokio::test]
async fn invalid_requests_name_the_field_and_publish_nothing() {
    let server = Server::start(&["--max-batch", "3", "--max-event-bytes", "200"]).await;
    let mut sse = server.subscribe(&["orders"]).await;

    let bad_json = server
        .client()
        .post(server.url("/publish"))
        .header("content-type", "application/json")
        .body("{\"topics\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(bad_json, 400).await.0, "invalid_json");

    let cases = [
        (json!({"topics": "orders", "data": "x"}), "`topics`"),
        (json!({"topics": ["orders"], "topic": ["x"]}), "`topic`"),
        (
            json!({"topics": ["orders"], "priority": "urgent"}),
            "`priority`",
        ),
        (json!({"topics": ["orders"], "ttl_ms": 0}), "`ttl_ms`"),
        (json!({"topics": ["a..b"], "data": "x"}), "`topics`"),
        (json!({"topics": ["orders"], "type": "bad\ntype"}), "`type`"),
        (json!({"data": "nowhere"}), "`topics`"),
        (json!("just a string"), "invalid event"),
    ];
    for (body, field) in cases {
        let (code, message) = error_of(server.publish_raw(&body).await, 400).await;
        assert_eq!(code, "invalid_event", "{body}");
        assert!(message.contains(field), "{body}: {message}");
    }

    // In a batch, the index is named and none of the valid events goes out.
    let batch = json!([
        {"topics": ["orders"], "data": "valid"},
        {"topics": ["orders"], "data": "valid too"},
        {"topics": [5], "data": "bad"},
    ]);
    let (code, message) = error_of(server.publish_raw(&batch).await, 400).await;
    assert_eq!(code, "invalid_event");
    assert!(
        message.contains("index 2") && message.contains("topics[0]"),
        "{message}"
    );
    let duplicate = json!([
        {"topics": ["orders"], "data": "valid", "id": "same"},
        {"topics": ["orders"], "data": "valid", "id": "same"},
    ]);
    let (_, message) = error_of(server.publish_raw(&duplicate).await, 400).await;
    assert!(
        message.contains("index 1") && message.contains("`id`"),
        "{message}"
    );

    let too_many = json!([{"topics": ["orders"]}, {"topics": ["orders"]}, {"topics": ["orders"]}, {"topics": ["orders"]}]);
    let (code, _) = error_of(server.publish_raw(&too_many).await, 400).await;
    assert_eq!(code, "too_many_events");
    let (code, _) = error_of(server.publish_raw(&json!([])).await, 400).await;
    assert_eq!(code, "invalid_body");

    let large_event = json!({"topics": ["orders"], "data": "x".repeat(500)});
    let (code, _) = error_of(server.publish_raw(&large_event).await, 413).await;
    assert_eq!(code, "event_too_large");

    let large_body = json!({"topics": ["orders"], "data": "x".repeat(10_000)});
    let (code, message) = error_of(server.publish_raw(&large_body).await, 413).await;
    assert_eq!(code, "body_too_large");
    assert!(message.contains("8192"), "{message}");

    let text = server
        .client()
        .post(server.url("/publish"))
        .header("content-type", "text/plain")
        .body(r#"{"topics": ["orders"], "data": "x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(text, 415).await.0, "unsupported_media_type");

    // None of the refused requests delivered anything: the marker comes first.
    server
        .publish(json!({"topics": ["orders"], "type": "marker", "data": "m"}))
        .await;
    assert_eq!(sse.next_pair().await, ("marker".into(), "m".into()));
    let stats: serde_json::Value = json_of(server.client().get(server.url("/stats"))).await;
    assert_eq!(stats["published"], 1, "{stats}");
}
