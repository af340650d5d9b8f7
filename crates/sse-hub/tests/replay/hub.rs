//! Replay through `Hub::subscribe`, for every store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sse_hub::{Config, Connecting, Event, Hub, Overflow, Scope};
use tokio::sync::watch;

use crate::common::{next, subscribe, summary, Kind, Stores};

const SEC: Duration = Duration::from_secs(1);

fn hub_with(store: Arc<dyn sse_hub::replay::Replayer>) -> Hub {
    Hub::new(
        Config::new()
            .replayer(store)
            .send_buffer_size(100_000)
            .overflow(Overflow::Disconnect)
            .max_lifetime(None)
            // These tests are about what a replay carries. On a loaded
            // machine a debug-build Redis replay can take longer than the
            // 5 s default, which (rightly) ends in `resync`: not the subject.
            .replay_timeout(60 * SEC),
    )
    .expect("config")
}

fn tenant(name: &str) -> Connecting {
    Connecting::new()
        .with_topics(["orders"])
        .with_metadata("tenant_id", name)
}

/// (a) Two tenants on one topic: each replay carries only its own events.
pub async fn tenants_replay_only_their_own(kind: Kind) {
    let stores = Stores::new();
    let hub = hub_with(stores.make(kind, 10_000, crate::suite::HOUR).await);
    let (_, mut a) = subscribe(&hub, tenant("a")).await;
    let (_, mut b) = subscribe(&hub, tenant("b")).await;
    let mark = hub
        .publish(Event::new("public").data("mark").topic("orders"))
        .unwrap();
    for client in [&mut a, &mut b] {
        assert_eq!(next(client, SEC).await.unwrap().id, mark.id);
    }
    drop((a, b));

    // Published while both are away.
    let scoped = |t: &str, n: u32| {
        Event::new("order")
            .data(format!("{t}-{n}"))
            .topic("orders")
            .group("tenant_id", t)
            .scope(Scope::Intersect)
    };
    let group_only = |t: &str| {
        Event::new("notice")
            .data(format!("{t}-notice"))
            .group("tenant_id", t)
    };
    let mut want_a = Vec::new();
    let mut want_b = Vec::new();
    for n in 0..3 {
        want_a.push(hub.publish(scoped("a", n)).unwrap().id);
        want_b.push(hub.publish(scoped("b", n)).unwrap().id);
    }
    want_a.push(hub.publish(group_only("a")).unwrap().id);
    want_b.push(hub.publish(group_only("b")).unwrap().id);
    // Another topic's tenant-a event: neither subscribed to it.
    hub.publish(
        Event::new("order")
            .data("a-other")
            .topic("invoices")
            .group("tenant_id", "a")
            .scope(Scope::Intersect),
    )
    .unwrap();
    let public = hub
        .publish(Event::new("public").data("both").topic("orders"))
        .unwrap()
        .id;
    want_a.push(public.clone());
    want_b.push(public);

    for (name, want) in [("a", &want_a), ("b", &want_b)] {
        let (replayed, _) = subscribe(&hub, tenant(name).with_last_event_id(&mark.id)).await;
        let ids: Vec<String> = replayed.iter().map(|e| e.id.clone()).collect();
        assert_eq!(&ids, want, "tenant {name}: {:?}", summary(&replayed));
        for e in &replayed {
            assert!(
                !e.data.contains(if name == "a" { "b-" } else { "a-" }),
                "tenant {name} got {e:?}"
            );
        }
    }
    stores.finish().await;
}

/// (b) Unknown ids and ids older than retention (by count and by age):
/// `resync`, then `connected`, then live events.
pub async fn unknown_or_expired_ids_resync(kind: Kind) {
    let stores = Stores::new();
    // Count: 400 events through a 5-event store evict the first.
    let hub = hub_with(stores.make(kind, 5, crate::suite::HOUR).await);
    let first = hub
        .publish(Event::new("e").data("0").topic("t"))
        .unwrap()
        .id;
    for i in 1..400 {
        hub.publish(Event::new("e").data(i.to_string()).topic("t"))
            .unwrap();
    }
    // Age: a 100 ms store, and an id published before the wait.
    let aged = hub_with(stores.make(kind, 10_000, Duration::from_millis(100)).await);
    let old = aged
        .publish(Event::new("e").data("old").topic("t"))
        .unwrap()
        .id;
    tokio::time::sleep(Duration::from_millis(250)).await;

    for (hub, id) in [(&hub, "no-such-id".to_owned()), (&hub, first), (&aged, old)] {
        let (preamble, mut live) = subscribe(
            hub,
            Connecting::new().with_topics(["t"]).with_last_event_id(&id),
        )
        .await;
        assert_eq!(preamble.len(), 1, "{id}: {:?}", summary(&preamble));
        assert_eq!(preamble[0].event, "resync");
        assert!(
            preamble[0].data.contains("unknown_id"),
            "{}",
            preamble[0].data
        );
        let receipt = hub
            .publish(Event::new("e").data("live").topic("t"))
            .unwrap();
        let event = next(&mut live, SEC).await.expect("live event after resync");
        assert_eq!((event.id, event.data), (receipt.id, "live".to_owned()));
    }
    stores.finish().await;
}

/// (c) The replay/live race: one publisher publishing continuously while
/// 100 clients disconnect and reconnect with their last id. Every client
/// must receive the published sequence exactly: no gap, no duplicate.
pub async fn reconnect_race_loses_and_duplicates_nothing(kind: Kind) {
    const CLIENTS: usize = 100;
    const RUN: Duration = Duration::from_secs(3);
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
    // Unoptimised builds are ~10x slower: a lighter load keeps the test
    // about the race rather than about an overloaded runtime.
    let (publish_every, hold_ms) = if cfg!(debug_assertions) {
        (Duration::from_millis(4), 10..80)
    } else {
        (Duration::from_millis(1), 2..40)
    };
    let stores = Stores::new();
    let hub = hub_with(stores.make(kind, 1_000_000, crate::suite::HOUR).await);

    // Everyone is subscribed before the first publish.
    let mut streams = Vec::new();
    for _ in 0..CLIENTS {
        streams.push(
            subscribe(&hub, Connecting::new().with_topics(["race"]))
                .await
                .1,
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (last_tx, last_rx) = watch::channel(None::<String>);

    let publisher = {
        let hub = hub.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut published = Vec::new();
            let mut tick = tokio::time::interval(publish_every);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                for _ in 0..2 {
                    let n = published.len();
                    published.push(
                        hub.publish(Event::new("tick").data(n.to_string()).topic("race"))
                            .unwrap()
                            .id,
                    );
                }
            }
            last_tx.send_replace(published.last().cloned());
            published
        })
    };

    let mut clients = Vec::new();
    for (index, mut events) in streams.into_iter().enumerate() {
        let hub = hub.clone();
        let stop = stop.clone();
        let mut last_rx = last_rx.clone();
        let hold_ms = hold_ms.clone();
        clients.push(tokio::spawn(async move {
            let mut received: Vec<String> = Vec::new();
            let mut control = Vec::new();
            let mut reconnects = 0u32;
            loop {
                // Read for a while (forever once the publisher stopped).
                let hold = Duration::from_millis(rand::random_range(hold_ms.clone()));
                let until = tokio::time::Instant::now() + hold;
                loop {
                    let final_id = last_rx.borrow_and_update().clone();
                    if let (Some(final_id), Some(last)) = (&final_id, received.last()) {
                        if final_id == last {
                            return (index, received, control, reconnects);
                        }
                    }
                    let stopped = stop.load(Ordering::Relaxed);
                    let deadline = if stopped { tokio::time::Instant::now() + 10 * SEC } else { until };
                    tokio::select! {
                        event = tokio::time::timeout_at(deadline, events.next()) => match event {
                            Ok(Some(event)) if event.event == "tick" => received.push(event.id),
                            Ok(Some(event)) => control.push(format!("{}: {}", event.event, event.data)),
                            Ok(None) => break,
                            Err(_) if stopped => return (index, received, control, reconnects),
                            Err(_) => break,
                        },
                        _ = last_rx.changed(), if final_id.is_none() => {}
                    }
                }
                drop(events);
                reconnects += 1;
                let mut connecting = Connecting::new().with_topics(["race"]);
                if let Some(last) = received.last() {
                    connecting = connecting.with_last_event_id(last.clone());
                }
                let (preamble, rest) = subscribe(&hub, connecting).await;
                for event in preamble {
                    if event.event == "tick" {
                        received.push(event.id);
                    } else {
                        control.push(format!("{}: {}", event.event, event.data));
                    }
                }
                events = rest;
            }
        }));
    }

    tokio::time::sleep(RUN).await;
    stop.store(true, Ordering::Relaxed);
    let published = publisher.await.unwrap();
    assert!(published.len() > 500, "published only {}", published.len());
    let mut total_reconnects = 0;
    for client in clients {
        let (index, received, control, reconnects) = client.await.unwrap();
        total_reconnects += reconnects;
        assert!(
            control.is_empty(),
            "client {index} got control events {control:?}"
        );
        if received != published {
            let at = received
                .iter()
                .zip(&published)
                .position(|(a, b)| a != b)
                .unwrap_or(received.len().min(published.len()));
            panic!(
                "client {index}: received {} events, published {}; first difference at {at}: got {:?}, want {:?}",
                received.len(),
                published.len(),
                received.get(at.saturating_sub(1)..at + 2),
                published.get(at.saturating_sub(1)..at + 2),
            );
        }
    }
    assert!(
        total_reconnects > CLIENTS as u32 * 2,
        "only {total_reconnects} reconnects"
    );
    eprintln!(
        "{kind:?}: {} events, {total_reconnects} reconnects, {CLIENTS} clients exact",
        published.len()
    );
    stores.finish().await;
}

/// (d) A restart: hub A publishes into Redis and goes away; hub B on a
/// fresh store with the same prefix replays exactly what a client missed.
#[cfg(feature = "redis")]
pub async fn restart_replays_what_the_old_process_stored() {
    let stores = Stores::new();
    let prefix = stores.prefix();
    let store_a = stores.redis(&prefix, 10_000, crate::suite::HOUR).await;
    let hub_a = hub_with(store_a.clone());
    let (_, mut client) = subscribe(&hub_a, Connecting::new().with_topics(["t"])).await;
    let seen = hub_a
        .publish(Event::new("e").data("seen").topic("t"))
        .unwrap()
        .id;
    assert_eq!(next(&mut client, SEC).await.unwrap().id, seen);
    drop(client);
    let mut missed = Vec::new();
    for i in 0..5 {
        let receipt = hub_a
            .publish(Event::new("e").data(format!("missed {i}")).topic("t"))
            .unwrap();
        missed.push((receipt.id, format!("missed {i}")));
    }
    store_a.flush().await.unwrap();
    drop(hub_a);
    drop(store_a);

    let store_b = stores.redis(&prefix, 10_000, crate::suite::HOUR).await;
    let hub_b = hub_with(store_b);
    let (replayed, mut live) = subscribe(
        &hub_b,
        Connecting::new()
            .with_topics(["t"])
            .with_last_event_id(&seen),
    )
    .await;
    let got: Vec<(String, String)> = replayed.into_iter().map(|e| (e.id, e.data)).collect();
    assert_eq!(got, missed);
    let receipt = hub_b
        .publish(Event::new("e").data("new").topic("t"))
        .unwrap();
    assert_eq!(next(&mut live, SEC).await.unwrap().id, receipt.id);
    stores.finish().await;
}
