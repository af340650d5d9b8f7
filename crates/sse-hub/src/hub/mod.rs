//! The hub: registry, routing, publish, subscribe, pause, drain.
//!
//! [`Hub`] is a cheap-to-clone handle (an `Arc` inside). Publishing is
//! synchronous and never waits on a client: it validates and encodes the
//! event once, appends it to the replay store, finds the matching
//! connections through the indexes and pushes one shared frame to each.

mod drain;
mod errors;
mod fanout;
pub(crate) mod ids;
mod publish;
pub(crate) mod registry;
mod stats;
pub(crate) mod strikes;
mod subscribe;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

pub use drain::ShutdownReport;
pub use errors::{PublishError, SubscribeError, TopicsError, UnknownConnection};
pub use stats::{
    Disconnects, Dropped, LatencyHistogram, ReplayStats, Stats, StatsOptions, LATENCY_BUCKETS_US,
};

use crate::config::{call_hook, Config, ConfigError};
use crate::connection::{CloseReason, Connection, ConnectionId, Shared, SharedFrame};
use registry::Registry;

/// The broker. Clone it freely: every clone is the same hub.
///
/// # Examples
///
/// ```
/// use sse_hub::{Event, Hub, Config};
///
/// let hub = Hub::new(Config::new()).unwrap();
/// let receipt = hub.publish(Event::new("update").data("hello").topic("notifications")).unwrap();
/// assert_eq!(receipt.recipients, 0); // nobody subscribed yet
/// ```
#[derive(Clone)]
pub struct Hub {
    pub(crate) inner: Arc<HubInner>,
}

pub(crate) struct HubInner {
    pub(crate) config: Config,
    pub(crate) registry: RwLock<Registry>,
    pub(crate) stats: stats::Counters,
    pub(crate) ids: ids::IdGenerator,
    /// Shared coalesce keys, so a publish allocates one only when its event
    /// goes on the coalesced lane with a key of its own.
    pub(crate) keys: publish::SharedKeys,
    pub(crate) draining: AtomicBool,
    pub(crate) paused: AtomicUsize,
    /// Notified whenever the last connection leaves.
    pub(crate) empty: Notify,
    /// Flips to `true` when the hub drains; bridges watch it to stop.
    pub(crate) stopping: watch::Sender<bool>,
    /// Direct writes requested and not yet run (see `fanout`).
    pub(crate) direct_backlog: AtomicUsize,
    /// Clients cut for overflow, for the reconnect backoff.
    pub(crate) strikes: strikes::Strikes,
}

impl Hub {
    /// A hub with `config`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when a setting is out of range (zero buffer, retry 0, ...).
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let strikes = strikes::Strikes::new(config.overflow_memory, config.overflow_retry_max);
        Ok(Self {
            inner: Arc::new(HubInner {
                strikes,
                config,
                registry: RwLock::new(Registry::default()),
                stats: stats::Counters::default(),
                ids: ids::IdGenerator::default(),
                keys: publish::SharedKeys::default(),
                draining: AtomicBool::new(false),
                paused: AtomicUsize::new(0),
                empty: Notify::new(),
                stopping: watch::channel(false).0,
                direct_backlog: AtomicUsize::new(0),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.inner.registry.read().len()
    }

    /// Whether the hub is draining (or drained).
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    /// A handle on a connection.
    pub fn connection(&self, id: ConnectionId) -> Option<Connection> {
        self.inner.registry.read().get(id).cloned().map(Connection)
    }

    /// A receiver that turns `true` when the hub starts draining: background
    /// tasks (bridges) select on it to stop.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.inner.stopping.subscribe()
    }

    /// Pauses a connection (its browser tab is hidden): instant events still
    /// flow; batched and coalesced ones are held until [`Hub::resume`].
    /// Pausing a paused connection does nothing (and `on_pause` is not called again).
    ///
    /// # Errors
    ///
    /// [`UnknownConnection`] if no such connection is open.
    pub fn pause(&self, id: ConnectionId) -> Result<(), UnknownConnection> {
        let shared = self.shared(id)?;
        if shared.state.lock().lanes.pause() {
            self.inner.paused.fetch_add(1, Ordering::Relaxed);
            call_hook(
                self.inner.config.on_pause.as_ref(),
                "on_pause",
                &Connection(shared),
            );
        }
        Ok(())
    }

    /// Resumes a paused connection: held events are flushed at once (the
    /// latest per coalesce key), preceded by a `resync` event if some were
    /// lost while paused.
    ///
    /// # Errors
    ///
    /// [`UnknownConnection`] if no such connection is open.
    pub fn resume(&self, id: ConnectionId) -> Result<(), UnknownConnection> {
        let shared = self.shared(id)?;
        let resumed = {
            let mut state = shared.state.lock();
            let resumed = state.lanes.resume();
            if let Some(overflowed) = resumed {
                if overflowed {
                    state.lanes.push_control(crate::connection::Frame::control(
                        crate::control::resync(crate::control::ResyncReason::PausedOverflow),
                    ));
                    self.inner.stats.gaps.fetch_add(1, Ordering::Relaxed);
                }
                state.force_flush = true;
                if let Some(waker) = state.waker.take() {
                    waker.wake();
                }
            }
            resumed.is_some()
        };
        if resumed {
            self.inner.paused.fetch_sub(1, Ordering::Relaxed);
            call_hook(
                self.inner.config.on_resume.as_ref(),
                "on_resume",
                &Connection(shared),
            );
        }
        Ok(())
    }

    fn shared(&self, id: ConnectionId) -> Result<Arc<Shared>, UnknownConnection> {
        self.inner
            .registry
            .read()
            .get(id)
            .cloned()
            .ok_or(UnknownConnection)
    }
}

impl HubInner {
    /// Removes a connection from every index and runs `on_disconnect`.
    pub(crate) fn unregister(&self, shared: &Arc<Shared>) {
        let (removed, now_empty) = {
            let mut registry = self.registry.write();
            let removed = registry.remove(shared);
            (removed, registry.len() == 0)
        };
        if !removed {
            return;
        }
        let reason = {
            let state = shared.state.lock();
            if state.lanes.is_paused() {
                self.paused.fetch_sub(1, Ordering::Relaxed);
            }
            state.close.unwrap_or(CloseReason::ClientClosed)
        };
        self.stats.disconnects.fetch_add(1, Ordering::Relaxed);
        self.stats.disconnects_by_reason[reason.index()].fetch_add(1, Ordering::Relaxed);
        call_hook(
            self.config.on_disconnect.as_ref(),
            "on_disconnect",
            &Connection(shared.clone()),
        );
        if now_empty {
            self.empty.notify_waiters();
        }
    }

    /// Accounts one socket write carrying `events` events to a connection.
    pub(crate) fn count_write(&self, counters: &crate::connection::Counters, events: u64) {
        counters.delivered.fetch_add(events, Ordering::Relaxed);
        self.stats.delivered.fetch_add(events, Ordering::Relaxed);
        self.stats.writes.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn observe_latency(&self, frame: &SharedFrame, now: Instant) {
        self.stats
            .latency
            .record(now.saturating_duration_since(frame.published_at));
    }
}

/// `base` stretched by a random factor in `1.0..=1.0 + fraction`.
pub(crate) fn jittered(base: Duration, fraction: f64) -> Duration {
    base.mul_f64(1.0 + rand::random::<f64>() * fraction)
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("connections", &self.connection_count())
            .field("draining", &self.is_draining())
            .finish_non_exhaustive()
    }
}
