//! A bounded in-memory ring of recent events.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{self, BoxFuture};
use parking_lot::Mutex;
use tokio::time::Instant;

use super::{Replay, ReplayError, Replayer, StoredEvent};

/// Keeps the last `max_events` events, none older than `max_age`.
///
/// Lookup of an id is a hash probe (O(1)); replay copies the events after it.
/// Retention is per process: a restart forgets everything (use the Redis
/// store to survive restarts).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sse_hub::replay::MemoryReplayer;
///
/// let ring = MemoryReplayer::new(10_000, Duration::from_secs(3600));
/// # drop(ring);
/// ```
#[derive(Debug)]
pub struct MemoryReplayer {
    max_events: usize,
    max_age: Duration,
    inner: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    events: VecDeque<(Instant, Arc<StoredEvent>)>,
    /// Id → sequence number; position = sequence − `first_seq`.
    index: HashMap<Arc<str>, u64>,
    first_seq: u64,
}

impl Ring {
    fn evict_front(&mut self) {
        if let Some((_, event)) = self.events.pop_front() {
            self.index.remove(event.id.as_str());
            self.first_seq += 1;
        }
    }

    fn expire(&mut self, now: Instant, max_age: Duration) {
        while self
            .events
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > max_age)
        {
            self.evict_front();
        }
    }
}

impl MemoryReplayer {
    /// A ring holding at most `max_events` (at least 1) events no older than `max_age`.
    pub fn new(max_events: usize, max_age: Duration) -> Self {
        Self {
            max_events: max_events.max(1),
            max_age,
            inner: Mutex::new(Ring::default()),
        }
    }

    /// Events currently held.
    pub fn len(&self) -> usize {
        self.inner.lock().events.len()
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Replayer for MemoryReplayer {
    fn append(&self, event: StoredEvent) {
        let now = Instant::now();
        let mut ring = self.inner.lock();
        ring.expire(now, self.max_age);
        while ring.events.len() >= self.max_events {
            ring.evict_front();
        }
        let seq = ring.first_seq + ring.events.len() as u64;
        let event = Arc::new(event);
        ring.index.insert(Arc::from(event.id.as_str()), seq);
        ring.events.push_back((now, event));
    }

    fn contains(&self, id: &str) -> bool {
        let mut ring = self.inner.lock();
        ring.expire(Instant::now(), self.max_age);
        ring.index.contains_key(id)
    }

    fn after<'a>(
        &'a self,
        id: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Replay, ReplayError>> {
        let mut ring = self.inner.lock();
        ring.expire(Instant::now(), self.max_age);
        let replay = match ring.index.get(id) {
            None => Replay::unknown(),
            Some(&seq) => {
                let start = (seq - ring.first_seq + 1) as usize;
                let available = ring.events.len().saturating_sub(start);
                let events = ring
                    .events
                    .iter()
                    .skip(start)
                    .take(limit)
                    .map(|(_, event)| StoredEvent::clone(event))
                    .collect();
                Replay::found(events, available > limit)
            }
        };
        Box::pin(future::ready(Ok(replay)))
    }
}
