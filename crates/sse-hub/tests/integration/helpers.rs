//! The seed's helpers: payload shapes, lanes and tenant scoping.

use std::time::Duration;

use serde_json::{json, Value};
use sse_hub::{Config, Connecting, DomainEventSpec, Hint};

use crate::common::{hub, Client, MS};

fn payload(data: &str) -> Value {
    serde_json::from_str(data).unwrap()
}

#[tokio::test(start_paused = true)]
async fn helper_payloads_match_the_seed() {
    let hub = hub(Config::new().flush_interval(400 * MS));
    let mut acme = Client::connect(
        &hub,
        Connecting::new()
            .with_topics(["orders", "users", "jobs"])
            .with_metadata(sse_hub::TENANT_KEY, "acme"),
    )
    .await;
    let mut other = Client::connect(
        &hub,
        Connecting::new()
            .with_topics(["orders", "users", "jobs"])
            .with_metadata(sse_hub::TENANT_KEY, "other"),
    )
    .await;
    let wait = Duration::from_secs(1);

    hub.invalidate("orders", "ord_1", "updated").unwrap();
    let event = acme.next(wait).await.unwrap();
    assert_eq!(event.event, "invalidate");
    assert_eq!(
        payload(&event.data),
        json!({"resource": "orders", "action": "updated", "resource_id": "ord_1"})
    );
    assert_eq!(other.drain(wait).await.len(), 1, "not tenant-scoped");

    let mut hint = Hint::new();
    hint.insert("fields".into(), json!(["status"]));
    hub.invalidate_for_tenant_with_hint("acme", "orders", "ord_2", "updated", hint)
        .unwrap();
    let event = acme.next(wait).await.unwrap();
    assert_eq!(
        payload(&event.data),
        json!({"resource": "orders", "action": "updated", "resource_id": "ord_2", "hint": {"fields": ["status"]}})
    );
    assert!(
        other.drain(wait).await.is_empty(),
        "tenant helpers never leak"
    );

    hub.signal_for_tenant("acme", "users").unwrap();
    hub.signal_for_tenant("acme", "users").unwrap();
    let events = acme.drain(wait).await;
    assert_eq!(events.len(), 1, "signals coalesce");
    assert_eq!(events[0].event, "signal");
    assert_eq!(payload(&events[0].data), json!({"signal": "refresh"}));

    let mut hint = Hint::new();
    hint.insert("pct".into(), json!(999));
    hint.insert("file".into(), json!("a.csv"));
    hub.progress("jobs", "job_1", Some("acme"), 3, 4, Some(hint))
        .unwrap();
    let event = acme.next(wait).await.unwrap();
    assert_eq!(
        payload(&event.data),
        json!({"resource_id": "job_1", "current": 3, "total": 4, "pct": 75, "file": "a.csv"})
    );
    hub.progress("jobs", "job_1", None, 7, 0, None).unwrap();
    assert_eq!(payload(&acme.next(wait).await.unwrap().data)["pct"], 0);
    assert_eq!(
        other.drain(wait).await.len(),
        1,
        "no tenant given: not scoped"
    );

    hub.complete("jobs", "job_1", Some("acme"), false, None)
        .unwrap();
    let event = acme.next(wait).await.unwrap();
    assert_eq!(event.event, "complete");
    assert_eq!(
        payload(&event.data),
        json!({"resource_id": "job_1", "status": "failed"})
    );

    let specs = vec![
        DomainEventSpec {
            resource: "users".into(),
            action: "created".into(),
            resource_id: "u1".into(),
            hint: None,
        },
        DomainEventSpec {
            resource: "orders".into(),
            action: "deleted".into(),
            resource_id: String::new(),
            hint: None,
        },
    ];
    assert!(hub
        .batch_domain_events(Some("acme"), &[])
        .unwrap()
        .is_none());
    let receipt = hub
        .batch_domain_events(Some("acme"), &specs)
        .unwrap()
        .unwrap();
    assert_eq!(
        receipt.recipients, 1,
        "once per connection, though on two topics"
    );
    let event = acme.next(wait).await.unwrap();
    assert_eq!(event.event, "batch");
    assert_eq!(
        payload(&event.data),
        json!([{"resource": "users", "action": "created", "resource_id": "u1"},
               {"resource": "orders", "action": "deleted"}])
    );
    assert!(other.drain(wait).await.is_empty());

    hub.signal_throttled("users", 10 * MS).unwrap();
    assert!(
        acme.drain(wait).await.is_empty(),
        "expired before the coalesced flush"
    );
}
