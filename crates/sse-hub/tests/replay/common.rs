//! Store factories, Redis key cleanup and a small SSE client.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eventsource_stream::{Event as SseEvent, Eventsource};
use futures_util::{Stream, StreamExt};
use sse_hub::replay::{MemoryReplayer, Replayer};
use sse_hub::{Connecting, EventStream, Hub};

/// Which store a generic test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Memory,
    #[cfg(feature = "redis")]
    Redis,
}

#[cfg(feature = "redis")]
pub fn redis_url() -> String {
    std::env::var("SSE_HUB_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned())
}

/// Makes stores for one test; Redis ones live under a random prefix whose
/// keys are deleted when this is dropped.
#[derive(Debug)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub struct Stores {
    base: String,
    next: AtomicU64,
    /// Stores to flush in [`Stores::finish`] before the keys are deleted.
    made: std::sync::Mutex<Vec<Arc<dyn Replayer>>>,
}

#[cfg_attr(not(feature = "redis"), allow(dead_code))]
impl Stores {
    pub fn new() -> Self {
        Self {
            base: format!("sse-hub-test:{:016x}", rand::random::<u64>()),
            next: AtomicU64::new(0),
            made: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// A fresh, unique key prefix under this test's base.
    pub fn prefix(&self) -> String {
        format!(
            "{}:{}",
            self.base,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A store, flushed by [`Stores::finish`].
    pub async fn make(
        &self,
        kind: Kind,
        max_events: usize,
        max_age: Duration,
    ) -> Arc<dyn Replayer> {
        let store = self.make_untracked(kind, max_events, max_age).await;
        self.made.lock().unwrap().push(store.clone());
        store
    }

    /// A store the caller flushes itself (one bound to a short-lived runtime).
    pub async fn make_untracked(
        &self,
        kind: Kind,
        max_events: usize,
        max_age: Duration,
    ) -> Arc<dyn Replayer> {
        match kind {
            Kind::Memory => Arc::new(MemoryReplayer::new(max_events, max_age)),
            #[cfg(feature = "redis")]
            Kind::Redis => Arc::new(
                self.redis_untracked(&self.prefix(), max_events, max_age)
                    .await,
            ),
        }
    }

    /// Waits until every tracked store has written what it was given, so
    /// that nothing is written after the keys are deleted on drop.
    pub async fn finish(&self) {
        let made = std::mem::take(&mut *self.made.lock().unwrap());
        for store in made {
            // `after` waits for pending writes first (read-your-writes).
            let _ = store.after("", 0).await;
        }
    }

    #[cfg(feature = "redis")]
    pub async fn redis(
        &self,
        prefix: &str,
        max_events: usize,
        max_age: Duration,
    ) -> Arc<sse_hub::replay::RedisReplayer> {
        let store = Arc::new(self.redis_untracked(prefix, max_events, max_age).await);
        self.made.lock().unwrap().push(store.clone());
        store
    }

    #[cfg(feature = "redis")]
    async fn redis_untracked(
        &self,
        prefix: &str,
        max_events: usize,
        max_age: Duration,
    ) -> sse_hub::replay::RedisReplayer {
        use sse_hub::replay::{RedisReplayOptions, RedisReplayer};
        RedisReplayer::connect(
            &redis_url(),
            RedisReplayOptions::new()
                .key_prefix(prefix)
                .max_events(max_events)
                .max_age(max_age),
        )
        .await
        .unwrap_or_else(|err| panic!("redis at {} is required: {err}", redis_url()))
    }

    /// Keys under this test's prefix (for cleanup checks).
    #[cfg(feature = "redis")]
    pub fn keys(&self) -> Vec<String> {
        let Ok(client) = redis::Client::open(redis_url()) else {
            return Vec::new();
        };
        let Ok(mut con) = client.get_connection() else {
            return Vec::new();
        };
        let mut keys = Vec::new();
        let mut cursor = 0u64;
        loop {
            let Ok((next, batch)): redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}:*", self.base))
                .arg("COUNT")
                .arg(1000)
                .query(&mut con)
            else {
                return keys;
            };
            keys.extend(batch);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }
}

impl Drop for Stores {
    fn drop(&mut self) {
        #[cfg(feature = "redis")]
        {
            let keys = self.keys();
            if keys.is_empty() {
                return;
            }
            if let Ok(client) = redis::Client::open(redis_url()) {
                if let Ok(mut con) = client.get_connection() {
                    for chunk in keys.chunks(500) {
                        let _: redis::RedisResult<i64> =
                            redis::cmd("DEL").arg(chunk).query(&mut con);
                    }
                }
            }
        }
    }
}

pub type Events = Pin<Box<dyn Stream<Item = SseEvent> + Send>>;

pub fn events_of(stream: EventStream) -> Events {
    Box::pin(
        stream
            .map(Ok::<_, Infallible>)
            .eventsource()
            .filter_map(|event| async move { event.ok() }),
    )
}

/// Subscribes; returns the events before `connected` (replay and control
/// events) and the stream positioned after `connected`.
pub async fn subscribe(hub: &Hub, connecting: Connecting) -> (Vec<SseEvent>, Events) {
    let stream = hub.subscribe(connecting).await.expect("subscribe");
    let mut events = events_of(stream);
    let mut preamble = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("preamble within 10 s")
            .expect("stream ended before `connected`");
        if event.event == "connected" {
            return (preamble, events);
        }
        preamble.push(event);
    }
}

/// The next event within `within`, or `None`.
pub async fn next(events: &mut Events, within: Duration) -> Option<SseEvent> {
    tokio::time::timeout(within, events.next())
        .await
        .ok()
        .flatten()
}

/// `(type, id, data)` of events, for comparisons.
pub fn summary(events: &[SseEvent]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| (e.event.clone(), e.id.clone(), e.data.clone()))
        .collect()
}
