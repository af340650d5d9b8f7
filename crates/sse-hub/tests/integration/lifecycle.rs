//! Overflow, heartbeat, lifetime, write deadline, turning away, handshake,
//! routing by group, live topic changes.

use std::time::Duration;

use futures_util::StreamExt;
use sse_hub::{
    Config, Connecting, Event, Hub, Overflow, Rejection, Scope, SubscribeError, TopicsError,
};
use tokio::time::Instant;

use crate::common::{events_of, hub, Client};

fn instant(data: &str) -> Event {
    Event::new("update").data(data).topic("t")
}

#[tokio::test(start_paused = true)]
async fn full_queue_drops_newest_and_counts() {
    let hub = hub(Config::new().send_buffer_size(2));
    let mut client = Client::topics(&hub, &["t"]).await;
    let receipts: Vec<_> = (0..5)
        .map(|n| hub.publish(instant(&n.to_string())).unwrap())
        .collect();
    let delivered: usize = receipts.iter().map(|r| r.recipients).sum();
    let dropped: usize = receipts.iter().map(|r| r.dropped).sum();
    assert_eq!((delivered, dropped), (2, 3));
    assert_eq!(client.data(Duration::from_secs(1)).await, ["0", "1"]);
    let stats = hub.stats(true);
    assert_eq!(stats.dropped.queue_full, 3);
    assert_eq!(stats.connection_details.unwrap()[0].dropped, 3);
}

#[tokio::test(start_paused = true)]
async fn full_queue_disconnects_under_the_disconnect_policy() {
    let hub = hub(Config::new()
        .send_buffer_size(2)
        .overflow(Overflow::Disconnect));
    let mut client = Client::topics(&hub, &["t"]).await;
    for n in 0..3 {
        hub.publish(instant(&n.to_string())).unwrap();
    }
    // The client is told why, and when to come back; then the stream ends
    // so it reconnects (and replays with Last-Event-ID).
    let goodbye = client.next(Duration::from_secs(1)).await.unwrap();
    assert_eq!(goodbye.event, "slow-consumer");
    assert!(goodbye.id.is_empty(), "control events carry no id");
    let data: serde_json::Value = serde_json::from_str(&goodbye.data).unwrap();
    assert_eq!(data["strikes"], 1);
    assert!(client.next(Duration::from_secs(1)).await.is_none());
    assert_eq!(hub.stats(false).dropped.overflow_disconnects, 1);
    assert_eq!(hub.connection_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn idle_connections_get_a_heartbeat_comment() {
    let hub = hub(Config::new().heartbeat_interval(Duration::from_secs(30)));
    let mut stream = hub
        .subscribe(Connecting::new().with_topics(["t"]))
        .await
        .unwrap();
    let preamble = stream.next().await.unwrap();
    assert!(preamble.starts_with(b"retry: "));
    let start = Instant::now();
    let ping = stream.next().await.unwrap();
    assert_eq!(&ping[..], b": ping\n\n");
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    // Traffic resets the idle timer.
    let quiet = tokio::time::timeout(Duration::from_secs(20), stream.next()).await;
    assert!(quiet.is_err(), "nothing within 20 s");
    hub.publish(instant("x")).unwrap();
    let _event = stream.next().await.unwrap();
    let start = Instant::now();
    let ping = stream.next().await.unwrap();
    assert_eq!(&ping[..], b": ping\n\n");
    assert_eq!(start.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn max_lifetime_closes_with_jitter_below_the_limit() {
    let lifetime = Duration::from_secs(600);
    let hub = hub(Config::new()
        .max_lifetime(Some(lifetime))
        .lifetime_jitter(0.1)
        .heartbeat_interval(Duration::from_secs(3600)));
    let mut ends = Vec::new();
    for _ in 0..8 {
        let start = Instant::now();
        let mut client = Client::topics(&hub, &["t"]).await;
        assert!(client.next(Duration::from_secs(3600)).await.is_none());
        ends.push(start.elapsed());
    }
    for end in &ends {
        assert!(*end <= lifetime && *end >= lifetime.mul_f64(0.9), "{end:?}");
    }
    ends.dedup();
    assert!(ends.len() > 1, "lifetimes are jittered: {ends:?}");
    assert_eq!(hub.connection_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_expired_credential_ends_the_stream_with_auth_expired() {
    let hub = hub(Config::new()
        .max_lifetime(Some(Duration::from_secs(600)))
        .heartbeat_interval(Duration::from_secs(3600)));
    let start = Instant::now();
    let expires_at = std::time::SystemTime::now() + Duration::from_secs(60);
    let mut connecting = Connecting::new().with_topics(["t"]);
    connecting.expires_at = Some(expires_at);
    let mut client = Client::connect(&hub, connecting).await;
    hub.publish(instant("before")).unwrap();
    let before = client.next(Duration::from_secs(1)).await.unwrap();
    assert_eq!(before.data, "before");
    let expired = client.next(Duration::from_secs(3600)).await.unwrap();
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(59) && elapsed <= Duration::from_secs(61),
        "{elapsed:?}"
    );
    assert_eq!(expired.event, "auth-expired");
    assert_eq!(expired.data, r#"{"reason":"token_expired"}"#);
    assert_eq!(
        expired.id, before.id,
        "no `id:`: the last event id is unchanged"
    );
    assert!(
        client.next(Duration::from_secs(3600)).await.is_none(),
        "then the end"
    );
    assert_eq!(hub.connection_count(), 0);
    // A max-lifetime close is not an auth expiry: no event, own counter.
    let mut plain = Client::topics(&hub, &["t"]).await;
    assert!(plain.next(Duration::from_secs(3600)).await.is_none());
    let stats = hub.stats(false);
    assert_eq!(stats.auth_expired, 1);
    assert_eq!(stats.disconnects, 2);
}

#[tokio::test]
async fn the_connected_event_carries_a_control_token_for_this_connection_only() {
    let hub = hub(Config::new());
    let read = |hub: Hub| async move {
        let stream = hub
            .subscribe(Connecting::new().with_topics(["t"]))
            .await
            .unwrap();
        let mut events = events_of(stream);
        let connected = events.next().await.unwrap();
        let data: serde_json::Value = serde_json::from_str(&connected.data).unwrap();
        (data, events)
    };
    let (a, _a) = read(hub.clone()).await;
    let (b, _b) = read(hub.clone()).await;
    let token_a = a["control_token"].as_str().unwrap().to_owned();
    let token_b = b["control_token"].as_str().unwrap().to_owned();
    assert_eq!(token_a.len(), 32, "128 bits, hex");
    assert_ne!(token_a, token_b);
    let id_a = sse_hub::ConnectionId::parse(a["connection_id"].as_str().unwrap()).unwrap();
    let conn_a = hub.connection(id_a).unwrap();
    assert!(conn_a.control_token_matches(token_a.as_bytes()));
    assert!(!conn_a.control_token_matches(token_b.as_bytes()));
    // Not in stats detail.
    let stats = serde_json::to_string(&hub.stats(true)).unwrap();
    assert!(!stats.contains(&token_a), "{stats}");
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_closed_after_the_write_timeout() {
    let hub = hub(Config::new().write_timeout(Duration::from_secs(1)));
    let client = Client::topics(&hub, &["t"]).await;
    hub.publish(instant("1")).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let receipt = hub.publish(instant("2")).unwrap();
    assert_eq!(receipt.recipients, 0);
    assert_eq!(hub.stats(false).dropped.write_timeouts, 1);
    let receipt = hub.publish(instant("3")).unwrap();
    assert_eq!(
        (receipt.recipients, receipt.dropped),
        (0, 0),
        "closed: no longer offered"
    );
    drop(client);
    assert_eq!(hub.connection_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn over_the_connection_cap_subscribers_are_turned_away_with_200_semantics() {
    let hub = hub(Config::new().max_connections(1));
    let _first = Client::topics(&hub, &["t"]).await;
    let mut second = hub
        .subscribe(Connecting::new().with_topics(["t"]))
        .await
        .unwrap();
    assert!(second.is_turned_away());
    let body = second.next().await.unwrap();
    let text = std::str::from_utf8(&body).unwrap();
    assert!(text.starts_with("retry: "), "{text}");
    let retry: u64 = text[7..text.find('\n').unwrap()].parse().unwrap();
    assert!((5000..=10_000).contains(&retry), "jittered backoff {retry}");
    assert!(text.contains("event: overloaded\n"));
    assert!(!text.contains("id:"), "control events carry no id");
    assert!(second.next().await.is_none(), "the stream ends");
    assert_eq!(hub.stats(false).turned_away, 1);
}

#[tokio::test]
async fn on_connect_can_set_topics_and_metadata_or_reject() {
    let hub = hub(Config::new().on_connect(|mut c: Connecting| async move {
        match c
            .query_param("token")
            .as_deref()
            .or(c.last_event_id.as_deref())
        {
            Some("boom") => panic!("hook bug"),
            Some("deny") => Err(Rejection::Forbidden("not allowed".into())),
            None if c.metadata.is_empty() => Err(Rejection::Unauthorized("missing token".into())),
            _ => {
                c.topics = vec!["assigned".into()];
                Ok(c)
            }
        }
    }));
    let err = hub
        .subscribe(Connecting::new().with_topics(["x"]))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        SubscribeError::Rejected(Rejection::Unauthorized(_))
    ));
    let err = hub
        .subscribe(Connecting::new().with_last_event_id("deny"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        SubscribeError::Rejected(Rejection::Forbidden(_))
    ));
    let err = hub
        .subscribe(Connecting::new().with_last_event_id("boom"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SubscribeError::Rejected(_)),
        "a panicking hook rejects"
    );
    let mut client = Client::connect(&hub, Connecting::new().with_metadata("user", "u1")).await;
    hub.publish(Event::new("x").data("hi").topic("assigned"))
        .unwrap();
    assert_eq!(client.data(Duration::from_millis(200)).await, ["hi"]);
    assert_eq!(hub.stats(false).rejected, 3);
    assert_eq!(hub.connection_count(), 1);
}

#[tokio::test]
async fn invalid_subscriptions_are_refused_and_change_nothing() {
    let hub = hub(Config::new()
        .max_topics_per_connection(2)
        .max_pattern_len(16));
    for (topics, expect) in [
        (vec![], "at least one topic"),
        (vec!["a..b"], "invalid topic"),
        (vec!["a.>.b"], "invalid topic"),
        (vec!["a", "b", "c"], "too many topics"),
        (vec!["a.very.long.topic.name"], "longer than 16"),
    ] {
        let err = hub
            .subscribe(Connecting::new().with_topics(topics.clone()))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expect), "{topics:?}: {err}");
    }
    let mut allowed = Connecting::new().with_topics(["orders.eu", "chat.*"]);
    allowed.allowed = Some(vec!["orders.>".into()]);
    let err = hub.subscribe(allowed).await.unwrap_err();
    assert!(matches!(
        err,
        SubscribeError::Topics(TopicsError::NotAllowed { .. })
    ));
    assert_eq!(hub.connection_count(), 0);
}

#[tokio::test]
async fn groups_union_versus_intersect() {
    let hub = hub(Config::new());
    let mut a = Client::connect(
        &hub,
        Connecting::new()
            .with_topics(["orders"])
            .with_metadata(sse_hub::TENANT_KEY, "a"),
    )
    .await;
    let mut b = Client::connect(
        &hub,
        Connecting::new()
            .with_topics(["orders"])
            .with_metadata(sse_hub::TENANT_KEY, "b"),
    )
    .await;
    let mut a_chat = Client::connect(
        &hub,
        Connecting::new()
            .with_topics(["chat"])
            .with_metadata(sse_hub::TENANT_KEY, "a"),
    )
    .await;
    let scoped = |scope| {
        Event::new("created")
            .data("order-1")
            .topic("orders")
            .group(sse_hub::TENANT_KEY, "a")
            .scope(scope)
    };
    hub.publish(scoped(Scope::Intersect)).unwrap();
    let wait = Duration::from_millis(100);
    assert_eq!(a.data(wait).await, ["order-1"]);
    assert!(
        b.data(wait).await.is_empty(),
        "intersect never leaks to another tenant"
    );
    assert!(a_chat.data(wait).await.is_empty());
    hub.publish(scoped(Scope::Union)).unwrap();
    assert_eq!(a.data(wait).await, ["order-1"]);
    assert_eq!(b.data(wait).await, ["order-1"], "union: topic subscribers");
    assert_eq!(a_chat.data(wait).await, ["order-1"], "union: group members");
    // Without an explicit scope the group narrows (intersect).
    hub.publish(
        Event::new("created")
            .data("order-2")
            .topic("orders")
            .group(sse_hub::TENANT_KEY, "a"),
    )
    .unwrap();
    assert_eq!(a.data(wait).await, ["order-2"]);
    assert!(b.data(wait).await.is_empty(), "default scope is intersect");
    assert!(
        a_chat.data(wait).await.is_empty(),
        "default scope is intersect"
    );
    hub.invalidate_for_tenant("a", "orders", "ord_1", "updated")
        .unwrap();
    assert_eq!(a.drain(wait).await.len(), 1);
    assert!(b.data(wait).await.is_empty(), "tenant helpers intersect");
}

#[tokio::test]
async fn topics_change_without_reconnecting() {
    let hub = hub(Config::new());
    let mut client = Client::topics(&hub, &["a"]).await;
    let topics = hub
        .update_topics(client.id, &["b.*".into()], &["a".into()])
        .unwrap();
    assert_eq!(topics, ["b.*"]);
    hub.publish(Event::new("x").data("on-a").topic("a"))
        .unwrap();
    hub.publish(Event::new("x").data("on-b").topic("b.1"))
        .unwrap();
    assert_eq!(client.data(Duration::from_millis(100)).await, ["on-b"]);
    let err = hub
        .update_topics(client.id, &["ok".into(), "bad..x".into()], &["b.*".into()])
        .unwrap_err();
    assert!(matches!(err, TopicsError::Invalid { .. }));
    assert_eq!(
        hub.connection(client.id).unwrap().topics(),
        ["b.*"],
        "all-or-nothing"
    );
    let stats = hub.stats(false);
    assert_eq!(stats.by_topic.get("b.*"), Some(&1));
}

#[tokio::test]
async fn publish_rejects_bad_input_and_publishes_nothing() {
    let hub = hub(Config::new().max_event_bytes(128));
    let mut client = Client::topics(&hub, &[">"]).await;
    let cases: Vec<(Event, &str)> = vec![
        (Event::new("a\rb").topic("t"), "type"),
        (Event::new("a").id("x\0y").topic("t"), "id"),
        (Event::new("a").topic("t.*"), "topics"),
        (Event::new("a"), "topics"),
        (Event::new("a").topic("t").data("x".repeat(200)), "data"),
        (Event::new("").topic("t"), "type"),
        (Event::new("x".repeat(300)).topic("t"), "type"),
        (Event::new("connected").topic("t"), "type"),
        (Event::new("resync").topic("t"), "type"),
        (Event::new("server-shutdown").topic("t"), "type"),
        (Event::new("overloaded").topic("t"), "type"),
        (Event::new("auth-expired").topic("t"), "type"),
        (Event::new("a").id("1700000000000-0").topic("t"), "id"),
        (Event::new("a").id("0-0").topic("t"), "id"),
    ];
    for (event, field) in cases {
        let err = hub.publish(event).unwrap_err();
        assert_eq!(err.field(), Some(field), "{err}");
    }
    let err = hub
        .publish_all(vec![
            Event::new("ok").topic("t").data("1"),
            Event::new("bad\n").topic("t"),
        ])
        .unwrap_err();
    assert_eq!(err.0, 1);
    assert!(client.data(Duration::from_millis(100)).await.is_empty());
    assert_eq!(hub.stats(false).published, 0);
    let wire = Event::new("a")
        .topic("t")
        .data("line1\rinjected: x\r\n\r\nevent: evil");
    hub.publish(wire).unwrap();
    let got = client.drain(Duration::from_millis(100)).await;
    assert_eq!(got.len(), 1, "a payload never creates an event");
    assert_eq!(got[0].event, "a");
    assert_eq!(got[0].data, "line1\ninjected: x\n\nevent: evil");
    // Near misses of the reserved names and of the hub's id form are fine.
    for event in [
        Event::new("Connected").topic("t"),
        Event::new("connected2").topic("t"),
        Event::new("a").id("1700000000000-0a").topic("t"),
        Event::new("a").id("v1-2").topic("t"),
    ] {
        hub.publish(event).unwrap();
    }
}

#[tokio::test]
async fn dropping_a_stream_unsubscribes() {
    let hub = hub(Config::new());
    let stream = hub
        .subscribe(Connecting::new().with_topics(["t"]))
        .await
        .unwrap();
    let mut events = events_of(stream);
    assert_eq!(events.next().await.unwrap().event, "connected");
    assert_eq!(hub.connection_count(), 1);
    drop(events);
    assert_eq!(hub.connection_count(), 0);
    assert_eq!(hub.stats(false).disconnects, 1);
}
