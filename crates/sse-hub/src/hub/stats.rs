//! Counters and the [`Stats`] snapshot.
//!
//! Counters are plain atomics updated on the delivery path; a snapshot walks
//! the registry once (it is an operator call, not a per-event cost).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;
use serde::Serialize;

use super::Hub;
use crate::connection::{Connection, ConnectionStats};

/// Distinct event types counted by name; the rest are counted as `_other`,
/// so a publisher inventing types cannot grow memory or metric cardinality.
const MAX_TYPES: usize = 256;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) published: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) direct_writes: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) dropped_full: AtomicU64,
    pub(crate) dropped_paused: AtomicU64,
    pub(crate) disconnected_overflow: AtomicU64,
    pub(crate) overflow_repeats: AtomicU64,
    pub(crate) write_timeouts: AtomicU64,
    pub(crate) connects: AtomicU64,
    pub(crate) disconnects: AtomicU64,
    /// Disconnects by reason, indexed by `CloseReason::index`.
    pub(crate) disconnects_by_reason: [AtomicU64; 7],
    pub(crate) turned_away: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) replay_requests: AtomicU64,
    pub(crate) replay_hits: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) gaps: AtomicU64,
    pub(crate) auth_expired: AtomicU64,
    by_type: TypeCounts,
    pub(crate) latency: LatencyHistogram,
}

impl Counters {
    pub(crate) fn count_type(&self, event_type: Option<&str>) {
        self.by_type.count(event_type.unwrap_or("message"));
    }
}

/// Shards of the per-type counters: a name always lands in the same shard.
const TYPE_SHARDS: usize = 16;

/// Events published per type, without a global lock: the names are spread
/// over [`TYPE_SHARDS`] maps, and counting a known type takes only its
/// shard's read lock (shared by every publisher) and an atomic add. A write
/// lock is taken once per new name. At most [`MAX_TYPES`] names are kept,
/// over all shards; later names are counted as `_other`.
#[derive(Debug, Default)]
struct TypeCounts {
    shards: [RwLock<HashMap<Box<str>, AtomicU64>>; TYPE_SHARDS],
    /// Names kept over all shards (at most `MAX_TYPES`).
    names: std::sync::atomic::AtomicUsize,
    other: AtomicU64,
}

impl TypeCounts {
    fn shard(name: &str) -> usize {
        // FNV-1a: cheap, and names are short.
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
        (hash % TYPE_SHARDS as u64) as usize
    }

    fn count(&self, name: &str) {
        let shard = &self.shards[Self::shard(name)];
        if let Some(count) = shard.read().get(name) {
            count.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut map = shard.write();
        if let Some(count) = map.get(name) {
            // Another publisher added it meanwhile.
            count.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let reserved = self
            .names
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < MAX_TYPES).then_some(n + 1)
            })
            .is_ok();
        if reserved {
            map.insert(Box::from(name), AtomicU64::new(1));
        } else {
            self.other.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> BTreeMap<String, u64> {
        let mut out: BTreeMap<String, u64> = self
            .shards
            .iter()
            .flat_map(|shard| {
                shard
                    .read()
                    .iter()
                    .map(|(name, count)| (name.to_string(), count.load(Ordering::Relaxed)))
                    .collect::<Vec<_>>()
            })
            .collect();
        let other = self.other.load(Ordering::Relaxed);
        if other > 0 {
            *out.entry("_other".to_owned()).or_default() += other;
        }
        out
    }
}

/// Upper bounds (µs) of the publish-to-write latency buckets.
pub const LATENCY_BUCKETS_US: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 10_000_000,
];

/// Publish-to-write latency: time from `publish` to the event being handed
/// to the connection's writer, in fixed buckets (lock-free).
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl LatencyHistogram {
    pub(crate) fn record(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let slot = LATENCY_BUCKETS_US
            .iter()
            .position(|&bound| us <= bound)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// `(upper bound µs or None for +Inf, count in that bucket)`, and the sum in µs.
    pub fn snapshot(&self) -> (Vec<(Option<u64>, u64)>, u64) {
        let buckets = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, count)| {
                (
                    LATENCY_BUCKETS_US.get(i).copied(),
                    count.load(Ordering::Relaxed),
                )
            })
            .collect();
        (buckets, self.sum_us.load(Ordering::Relaxed))
    }
}

/// What [`Hub::stats_with`] includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsOptions {
    /// Most entries in `by_topic`. Default: 100.
    pub top_topics: usize,
    /// `(offset, limit)` of the per-connection detail page; `None`: no
    /// detail. Default: `None`.
    pub connections: Option<(usize, usize)>,
}

impl Default for StatsOptions {
    fn default() -> Self {
        Self {
            top_topics: 100,
            connections: None,
        }
    }
}

impl StatsOptions {
    /// The defaults (see the fields).
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `max` entries in `by_topic`.
    #[must_use]
    pub fn top_topics(mut self, max: usize) -> Self {
        self.top_topics = max;
        self
    }

    /// Per-connection detail for `limit` connections from `offset`.
    #[must_use]
    pub fn connections(mut self, offset: usize, limit: usize) -> Self {
        self.connections = Some((offset, limit));
        self
    }
}

/// A snapshot of the hub.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Open connections.
    pub connections: usize,
    /// Paused connections.
    pub paused: usize,
    /// Whether the hub is draining.
    pub draining: bool,
    /// Connections per subscribed pattern (with [`Hub::stats_with`], only
    /// the most subscribed ones: see [`StatsOptions::top_topics`]).
    pub by_topic: BTreeMap<String, usize>,
    /// Distinct subscribed patterns, whether listed in `by_topic` or not.
    pub topics_total: usize,
    /// Events published.
    pub published: u64,
    /// Events written to connections (replayed ones included).
    pub delivered: u64,
    /// Chunks handed to connection writers; `delivered / writes` is the
    /// average number of events per socket write.
    pub writes: u64,
    /// Of `writes`, those made for a parked stream without waking its task
    /// (see [`Config::direct_write_gap`](crate::Config::direct_write_gap)).
    pub direct_writes: u64,
    /// Events dropped, by reason.
    pub dropped: Dropped,
    /// Events not delivered because their TTL had passed.
    pub expired: u64,
    /// Events published, by type (at most 256 names, then `_other`).
    pub by_type: BTreeMap<String, u64>,
    /// Mean queue saturation over connections (0..1).
    pub queue_saturation_avg: f64,
    /// Highest queue saturation of any connection.
    pub queue_saturation_max: f64,
    /// Connections accepted since start.
    pub connects: u64,
    /// Connections closed since start.
    pub disconnects: u64,
    /// Of those, how many for each reason.
    pub disconnects_by_reason: Disconnects,
    /// Subscribers turned away (draining or at the cap).
    pub turned_away: u64,
    /// Subscribers rejected by `on_connect` or invalid input.
    pub rejected: u64,
    /// Connections closed because their credential expired (after an
    /// `auth-expired` event); not counted as max-lifetime closes.
    pub auth_expired: u64,
    /// Replay figures.
    pub replay: ReplayStats,
    /// Per-connection detail, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_details: Option<Vec<ConnectionStats>>,
}

/// Connections closed, by reason (see [`CloseReason`](crate::CloseReason)).
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[non_exhaustive]
pub struct Disconnects {
    /// The client went away (or the transport dropped the stream).
    pub client_closed: u64,
    /// The client did not take data within the write timeout.
    pub write_timeout: u64,
    /// The queue was full under `Overflow::Disconnect`.
    pub overflow: u64,
    /// Max lifetime.
    pub lifetime: u64,
    /// The credential expired (the client got `auth-expired`).
    pub auth_expired: u64,
    /// The hub drained.
    pub drain: u64,
    /// The client sent bytes after its subscribe request.
    pub unexpected_input: u64,
}

impl Disconnects {
    /// `(reason label, count)` pairs, for metrics.
    pub fn pairs(&self) -> [(&'static str, u64); 7] {
        use crate::CloseReason as R;
        [
            (R::ClientClosed.as_str(), self.client_closed),
            (R::WriteTimeout.as_str(), self.write_timeout),
            (R::Overflow.as_str(), self.overflow),
            (R::Lifetime.as_str(), self.lifetime),
            (R::AuthExpired.as_str(), self.auth_expired),
            (R::Drain.as_str(), self.drain),
            (R::UnexpectedInput.as_str(), self.unexpected_input),
        ]
    }
}

/// Drops by reason.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[non_exhaustive]
pub struct Dropped {
    /// Queue full, event dropped (`Overflow::DropNewest`).
    pub queue_full: u64,
    /// Held while paused and did not fit (the client got `resync`).
    pub paused_overflow: u64,
    /// Connections closed because their queue was full (`Overflow::Disconnect`).
    pub overflow_disconnects: u64,
    /// Of those, connections that had themselves reconnected after being cut
    /// and were cut again before catching up (their `retry:` grew; see
    /// [`Config::overflow_retry_max`](crate::Config::overflow_retry_max)).
    pub overflow_repeats: u64,
    /// Connections closed because they did not take data in time.
    pub write_timeouts: u64,
}

/// Replay figures.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[non_exhaustive]
pub struct ReplayStats {
    /// Reconnects that asked for replay.
    pub requests: u64,
    /// Of those, how many found their id.
    pub hits: u64,
    /// Events sent by replay.
    pub events: u64,
    /// `resync` events sent (unknown id, truncated or failed replay, paused overflow).
    pub gaps: u64,
}

impl Hub {
    /// A snapshot of the hub; `with_connections` adds per-connection detail.
    pub fn stats(&self, with_connections: bool) -> Stats {
        self.stats_with(&StatsOptions {
            top_topics: usize::MAX,
            connections: with_connections.then_some((0, usize::MAX)),
        })
    }

    /// A bounded snapshot: at most `options.top_topics` entries in
    /// `by_topic` (the most subscribed, ties by name) and, when asked, one
    /// page of per-connection detail, connections ordered by connection
    /// time then id. What an HTTP endpoint should serve: its size does not
    /// grow with connections × topics.
    pub fn stats_with(&self, options: &StatsOptions) -> Stats {
        let inner = &self.inner;
        let c = &inner.stats;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let connections: Vec<Connection> = inner
            .registry
            .read()
            .conns
            .values()
            .cloned()
            .map(Connection)
            .collect();
        let mut by_topic: BTreeMap<String, usize> = BTreeMap::new();
        let with_connections = options.connections.is_some();
        let mut saturation_sum = 0.0;
        let mut saturation_max: f64 = 0.0;
        let mut details = Vec::new();
        for connection in &connections {
            let detail = connection.stats();
            for topic in &detail.topics {
                *by_topic.entry(topic.clone()).or_default() += 1;
            }
            saturation_sum += detail.saturation;
            saturation_max = saturation_max.max(detail.saturation);
            if with_connections {
                details.push(detail);
            }
        }
        let topics_total = by_topic.len();
        if topics_total > options.top_topics {
            let mut counts: Vec<(String, usize)> =
                std::mem::take(&mut by_topic).into_iter().collect();
            counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            counts.truncate(options.top_topics);
            by_topic = counts.into_iter().collect();
        }
        if let Some((offset, limit)) = options.connections {
            details.sort_by(|a, b| {
                a.connected_at_unix_ms
                    .cmp(&b.connected_at_unix_ms)
                    .then_with(|| a.id.cmp(&b.id))
            });
            details = details.into_iter().skip(offset).take(limit).collect();
        }
        Stats {
            connections: connections.len(),
            paused: inner.paused.load(Ordering::Relaxed),
            draining: self.is_draining(),
            by_topic,
            topics_total,
            published: load(&c.published),
            delivered: load(&c.delivered),
            writes: load(&c.writes),
            direct_writes: load(&c.direct_writes),
            dropped: Dropped {
                queue_full: load(&c.dropped_full),
                paused_overflow: load(&c.dropped_paused),
                overflow_disconnects: load(&c.disconnected_overflow),
                overflow_repeats: load(&c.overflow_repeats),
                write_timeouts: load(&c.write_timeouts),
            },
            expired: load(&c.expired),
            by_type: c.by_type.snapshot(),
            queue_saturation_avg: if connections.is_empty() {
                0.0
            } else {
                saturation_sum / connections.len() as f64
            },
            queue_saturation_max: saturation_max,
            connects: load(&c.connects),
            disconnects: load(&c.disconnects),
            disconnects_by_reason: {
                let by =
                    |reason: crate::CloseReason| load(&c.disconnects_by_reason[reason.index()]);
                Disconnects {
                    client_closed: by(crate::CloseReason::ClientClosed),
                    write_timeout: by(crate::CloseReason::WriteTimeout),
                    overflow: by(crate::CloseReason::Overflow),
                    lifetime: by(crate::CloseReason::Lifetime),
                    auth_expired: by(crate::CloseReason::AuthExpired),
                    drain: by(crate::CloseReason::Drain),
                    unexpected_input: by(crate::CloseReason::UnexpectedInput),
                }
            },
            turned_away: load(&c.turned_away),
            rejected: load(&c.rejected),
            auth_expired: load(&c.auth_expired),
            replay: ReplayStats {
                requests: load(&c.replay_requests),
                hits: load(&c.replay_hits),
                events: load(&c.replayed),
                gaps: load(&c.gaps),
            },
            connection_details: with_connections.then_some(details),
        }
    }

    /// The publish-to-write latency histogram.
    pub fn latency(&self) -> &LatencyHistogram {
        &self.inner.stats.latency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_counts_are_exact_and_bounded() {
        let counts = TypeCounts::default();
        for i in 0..MAX_TYPES + 10 {
            for _ in 0..3 {
                counts.count(&format!("type{i}"));
            }
        }
        let snapshot = counts.snapshot();
        assert_eq!(snapshot.len(), MAX_TYPES + 1);
        assert_eq!(snapshot["_other"], 30);
        assert_eq!(snapshot["type0"], 3);
        assert_eq!(snapshot.values().sum::<u64>(), 3 * (MAX_TYPES as u64 + 10));
    }

    #[test]
    fn type_counts_from_many_threads_add_up() {
        let counts = std::sync::Arc::new(TypeCounts::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let counts = counts.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        counts.count(if i % 2 == 0 {
                            "shared"
                        } else {
                            ["a", "b", "c", "d"][t]
                        });
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let snapshot = counts.snapshot();
        assert_eq!(snapshot["shared"], 10_000);
        for own in ["a", "b", "c", "d"] {
            assert_eq!(snapshot[own], 2_500);
        }
        assert!(!snapshot.contains_key("_other"));
    }
}
