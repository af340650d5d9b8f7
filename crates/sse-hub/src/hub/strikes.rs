//! Remembering clients cut for overflow, so a reconnect loop backs off.
//!
//! Under [`Overflow::Disconnect`](crate::Overflow::Disconnect) a client whose
//! queue filled is closed and reconnects with `Last-Event-ID`; replay makes
//! that lossless. A client that cannot keep up at all would overflow again
//! during its replay and loop: reconnect, replay, overflow, reconnect. So the
//! goodbye a cut client gets says how many times in a row it was cut (its
//! *strikes*) and carries a `retry:` that doubles with each strike (base
//! `retry`, then 2×, 4×, … up to `overflow_retry_max`).
//!
//! The hub remembers strikes by the event id the client will present on
//! reconnect: the id of the last event handed to its connection (or the
//! `Last-Event-ID` it connected with, if nothing was written since). A
//! reconnect presenting a remembered id inherits that count; a connection that
//! catches up (its stream parks with nothing queued) forgets it. Memory is
//! bounded: at most `overflow_memory` ids, the oldest forgotten first, and an
//! id is forgotten anyway after twice `overflow_retry_max` plus a minute. No
//! per-address state is kept.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// How long past the longest `retry:` a strike is remembered.
const GRACE: Duration = Duration::from_secs(60);

/// Strike counts by resume id, bounded in entries and age.
#[derive(Debug)]
pub(crate) struct Strikes {
    capacity: usize,
    ttl: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Id → (strikes, when recorded, record number).
    counts: HashMap<Arc<str>, (u32, Instant, u64)>,
    /// Record order, for eviction; an entry whose record number no longer
    /// matches `counts` was updated since and is skipped.
    order: VecDeque<(Arc<str>, u64)>,
    records: u64,
}

impl Strikes {
    /// At most `capacity` ids, each kept `2 × retry_max + 1 min`.
    pub(crate) fn new(capacity: usize, retry_max: Duration) -> Self {
        Self {
            capacity,
            ttl: retry_max.saturating_mul(2).saturating_add(GRACE),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The strikes remembered for a client resuming after `id`.
    pub(crate) fn get(&self, id: &str, now: Instant) -> u32 {
        let inner = self.inner.lock();
        inner
            .counts
            .get(id)
            .filter(|(_, at, _)| now.saturating_duration_since(*at) < self.ttl)
            .map_or(0, |(strikes, _, _)| *strikes)
    }

    /// Remembers that a client which will resume after `id` has `strikes`.
    pub(crate) fn record(&self, id: Arc<str>, strikes: u32, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.inner.lock();
        let Inner {
            counts,
            order,
            records,
        } = &mut *inner;
        *records += 1;
        counts.insert(id.clone(), (strikes, now, *records));
        order.push_back((id, *records));
        while let Some((oldest, record)) = order.front() {
            let current = counts.get(oldest).filter(|(_, _, r)| r == record);
            let Some(&(_, at, _)) = current else {
                // Updated or removed since: a stale entry.
                order.pop_front();
                continue;
            };
            let expired = now.saturating_duration_since(at) >= self.ttl;
            if !expired && counts.len() <= self.capacity {
                break;
            }
            counts.remove(oldest);
            order.pop_front();
        }
        // Updates leave stale entries behind; keep the queue proportional.
        if order.len() > 2 * self.capacity.max(16) {
            order.retain(|(id, record)| counts.get(id).is_some_and(|(_, _, r)| r == record));
        }
    }

    /// Ids remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().counts.len()
    }
}

/// The `retry:` for a client cut for the `strikes`-th time in a row: `base`
/// doubled per strike after the first, at most `max`.
pub(crate) fn backoff(base: Duration, strikes: u32, max: Duration) -> Duration {
    let doublings = strikes.saturating_sub(1).min(31);
    base.saturating_mul(1 << doublings).min(max.max(base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn backoff_doubles_per_strike_up_to_the_cap() {
        let base = Duration::from_secs(3);
        let max = Duration::from_secs(60);
        let got: Vec<u64> = (1..=7).map(|n| backoff(base, n, max).as_secs()).collect();
        assert_eq!(got, [3, 6, 12, 24, 48, 60, 60]);
        assert_eq!(backoff(base, 0, max), base);
        assert_eq!(backoff(base, u32::MAX, max), max);
    }

    #[test]
    fn strikes_are_remembered_by_id_and_expire() {
        let strikes = Strikes::new(8, Duration::from_secs(10));
        let now = Instant::now();
        assert_eq!(strikes.get("e1", now), 0);
        strikes.record(Arc::from("e1"), 2, now);
        assert_eq!(strikes.get("e1", now + Duration::from_secs(79)), 2);
        assert_eq!(strikes.get("e1", now + Duration::from_secs(80)), 0);
        assert_eq!(strikes.get("e2", now), 0);
    }

    proptest! {
        /// Whatever is recorded, at most `capacity` ids are kept and the
        /// latest record of a kept id wins.
        #[test]
        fn memory_stays_bounded(ops in proptest::collection::vec((0u16..50, 1u32..5), 0..300), capacity in 0usize..20) {
            let strikes = Strikes::new(capacity, Duration::from_secs(10));
            let now = Instant::now();
            for (id, count) in &ops {
                let id: Arc<str> = Arc::from(format!("e{id}"));
                strikes.record(id.clone(), *count, now);
                prop_assert!(strikes.len() <= capacity);
                if capacity > 0 {
                    prop_assert_eq!(strikes.get(&id, now), *count);
                }
                prop_assert!(strikes.inner.lock().order.len() <= 2 * capacity.max(16) + 1);
            }
        }
    }
}
