//! One test suite for every replay store.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use sse_hub::replay::{Replayer, StoredEvent};
use sse_hub::{Metadata, Scope};

use crate::common::{Kind, Stores};

pub const HOUR: Duration = Duration::from_secs(3600);

/// A deterministic event; odd ones are tenant-scoped with a type.
pub fn event(i: usize) -> StoredEvent {
    let mut group = Metadata::new();
    if i % 2 == 1 {
        group.insert("tenant_id".into(), format!("t{}", i % 3));
    }
    StoredEvent::new(
        format!("ev-{i:06}"),
        (i % 2 == 1).then(|| "update".to_owned()),
        format!("payload {i}\nline two \u{e9}"),
        vec![format!("topic.{}", i % 4), "all".into()],
        group,
        if i % 2 == 1 {
            Scope::Intersect
        } else {
            Scope::Union
        },
    )
}

async fn after(store: &dyn Replayer, id: &str, limit: usize) -> sse_hub::replay::Replay {
    store.after(id, limit).await.expect("after")
}

/// Store-independent checks. `exact_count`: the store keeps exactly
/// `max_events` (Redis trims approximately: at least that many).
pub async fn run_suite<F, Fut>(make: F, exact_count: bool)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Arc<dyn Replayer>>,
{
    // after(id) is exactly what followed, in order, fields intact.
    let store = make(1_000).await;
    let events: Vec<StoredEvent> = (0..20).map(event).collect();
    for e in &events {
        store.append(e.clone());
    }
    for (i, e) in events.iter().enumerate() {
        let replay = after(&*store, &e.id, 1_000).await;
        assert!(replay.found, "{i}");
        assert!(!replay.truncated, "{i}");
        assert_eq!(replay.events, events[i + 1..], "after {i}");
    }
    assert!(store.contains(&events[3].id));
    assert!(!store.contains("ev-missing"));

    // Unknown id: not found. Last id: found and empty.
    let unknown = after(&*store, "ev-missing", 10).await;
    assert!(!unknown.found && unknown.events.is_empty());
    let last = after(&*store, &events[19].id, 10).await;
    assert!(last.found && last.events.is_empty() && !last.truncated);

    // Limit and truncation, including the exact boundary.
    let cut = after(&*store, &events[0].id, 5).await;
    assert!(cut.found && cut.truncated);
    assert_eq!(cut.events, events[1..6]);
    let exact = after(&*store, &events[14].id, 5).await;
    assert!(exact.found && !exact.truncated);
    assert_eq!(exact.events, events[15..20]);
    let zero = after(&*store, &events[18].id, 0).await;
    assert!(zero.found && zero.truncated && zero.events.is_empty());

    // Appends are visible to the very next `after` (read-your-writes).
    for i in 20..60 {
        store.append(event(i));
        let replay = after(&*store, &event(i - 1).id, 10).await;
        assert_eq!(replay.events, vec![event(i)], "read-your-writes at {i}");
    }

    // Count retention evicts the oldest; replay after a survivor is exact.
    let max = 5;
    let store = make(max).await;
    let n = 400;
    let events: Vec<StoredEvent> = (0..n).map(event).collect();
    for e in &events {
        store.append(e.clone());
    }
    assert!(
        !after(&*store, &events[0].id, 10).await.found,
        "oldest evicted"
    );
    for i in n - max..n {
        let replay = after(&*store, &events[i].id, 1_000).await;
        assert!(replay.found, "survivor {i}");
        assert_eq!(replay.events, events[i + 1..]);
    }
    if exact_count {
        assert!(!after(&*store, &events[n - max - 1].id, 10).await.found);
        assert!(!store.contains(&events[n - max - 1].id));
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        topic: u8,
        tenant: Option<u8>,
        typed: bool,
        data: String,
    },
    /// Query after the appended event at `pick % appended` (or an unknown id).
    Query { pick: usize, limit: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..4, proptest::option::of(0u8..3), any::<bool>(), "[a-z \n\r:é]{0,12}")
            .prop_map(|(topic, tenant, typed, data)| Op::Append { topic, tenant, typed, data }),
        1 => (any::<usize>(), 0usize..12).prop_map(|(pick, limit)| Op::Query { pick, limit }),
    ]
}

/// Random appends and queries against a `Vec` model; a fresh store and
/// runtime per case.
pub fn run_proptest(kind: Kind, cases: u32, exact_count: bool) {
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let stores = Stores::new();
    proptest!(config, |(max_events in 1usize..40, ops in proptest::collection::vec(op(), 1..150))| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let store = stores.make_untracked(kind, max_events, HOUR).await;
            let mut model: Vec<StoredEvent> = Vec::new();
            for op in &ops {
                match op {
                    Op::Append { topic, tenant, typed, data } => {
                        let mut group = Metadata::new();
                        if let Some(t) = tenant {
                            group.insert("tenant_id".into(), t.to_string());
                        }
                        let e = StoredEvent::new(
                            format!("p-{}", model.len()),
                            typed.then(|| "t".to_owned()),
                            data.clone(),
                            vec![format!("x.{topic}")],
                            group,
                            if tenant.is_some() { Scope::Intersect } else { Scope::Union },
                        );
                        store.append(e.clone());
                        model.push(e);
                    }
                    Op::Query { pick, limit } => {
                        if model.is_empty() || pick % 7 == 0 {
                            let replay = store.after("p-none", *limit).await.unwrap();
                            prop_assert!(!replay.found);
                            continue;
                        }
                        let i = pick % model.len();
                        let replay = store.after(&model[i].id, *limit).await.unwrap();
                        let retained = i + max_events >= model.len();
                        if exact_count {
                            prop_assert_eq!(replay.found, retained, "found at {}", i);
                        } else if retained {
                            prop_assert!(replay.found, "retained {} not found", i);
                        }
                        if replay.found {
                            let rest = &model[i + 1..];
                            let expected = &rest[..rest.len().min(*limit)];
                            prop_assert_eq!(&replay.events[..], expected);
                            prop_assert_eq!(replay.truncated, rest.len() > *limit);
                        } else {
                            prop_assert!(replay.events.is_empty());
                        }
                    }
                }
            }
            // Everything written before this runtime (and the keys) go away.
            let _ = store.after("", 0).await;
            Ok(())
        })?;
    });
}
