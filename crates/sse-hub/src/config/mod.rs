//! Hub configuration: timings, limits, overflow policy and hooks.
//!
//! Defaults follow the seed (flush 2 s, heartbeat 30 s, max lifetime 30 min,
//! retry 3000 ms), except the send buffer: 4,096 events or 4 MiB, so a
//! connection absorbs more than the bursts a broadcast channel of 1,024 does. Every limit is a setter here, and
//! [`Hub::new`](crate::Hub::new) rejects an inconsistent configuration with a
//! [`ConfigError`] instead of misbehaving at runtime.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use crate::connect::{Connecting, Rejection};
use crate::connection::Connection;
use crate::replay::Replayer;

/// Default [`Config::send_buffer_size`].
pub const DEFAULT_SEND_BUFFER_SIZE: usize = 4096;

/// Default [`Config::send_buffer_bytes`].
pub const DEFAULT_SEND_BUFFER_BYTES: usize = 4 << 20;

/// What happens when an event arrives at a connection whose send queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Overflow {
    /// Drop the new event for that connection and count it (the seed's behaviour).
    #[default]
    DropNewest,
    /// Close the lagging connection. Its EventSource reconnects with
    /// `Last-Event-ID`; with a [`Replayer`] configured that loses nothing.
    Disconnect,
}

/// Async hook deciding whether and how a client subscribes.
pub type OnConnect =
    Arc<dyn Fn(Connecting) -> BoxFuture<'static, Result<Connecting, Rejection>> + Send + Sync>;

/// Hook called with a connection on disconnect, pause or resume.
pub type OnConnection = Arc<dyn Fn(&Connection) + Send + Sync>;

/// Hub configuration. Build with [`Config::new`] and setters.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sse_hub::{Config, Hub};
///
/// let config = Config::new()
///     .flush_interval(Duration::from_millis(500))
///     .send_buffer_size(1024)
///     .on_connect(|mut connecting| async move {
///         connecting.topics.push("notifications".into());
///         Ok(connecting)
///     });
/// let hub = Hub::new(config).expect("valid config");
/// # drop(hub);
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) flush_interval: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) lifetime_jitter: f64,
    pub(crate) send_buffer_size: usize,
    pub(crate) send_buffer_bytes: usize,
    pub(crate) retry: Duration,
    pub(crate) retry_jitter: f64,
    pub(crate) turn_away_retry: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) overflow: Overflow,
    pub(crate) overflow_retry_max: Duration,
    pub(crate) overflow_memory: usize,
    pub(crate) max_connections: usize,
    pub(crate) max_sockets: Option<usize>,
    pub(crate) max_sockets_per_ip: Option<usize>,
    pub(crate) socket_reserve: usize,
    pub(crate) header_timeout: Duration,
    pub(crate) max_replay_bytes: usize,
    pub(crate) max_topics_per_connection: usize,
    pub(crate) max_topics_per_event: usize,
    pub(crate) max_pattern_len: usize,
    pub(crate) max_event_bytes: usize,
    pub(crate) max_metadata_pairs: usize,
    pub(crate) max_metadata_bytes: usize,
    pub(crate) max_id_len: usize,
    pub(crate) max_type_len: usize,
    pub(crate) max_write_bytes: usize,
    pub(crate) min_write_interval: Duration,
    pub(crate) direct_write_gap: Option<Duration>,
    pub(crate) on_connect: Option<OnConnect>,
    pub(crate) on_disconnect: Option<OnConnection>,
    pub(crate) on_pause: Option<OnConnection>,
    pub(crate) on_resume: Option<OnConnection>,
    pub(crate) replayer: Option<Arc<dyn Replayer>>,
    pub(crate) replay_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// The seed's defaults.
    #[must_use]
    pub fn new() -> Self {
        Self {
            flush_interval: Duration::from_secs(2),
            heartbeat_interval: Duration::from_secs(30),
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            lifetime_jitter: 0.1,
            send_buffer_size: DEFAULT_SEND_BUFFER_SIZE,
            send_buffer_bytes: DEFAULT_SEND_BUFFER_BYTES,
            retry: Duration::from_millis(3000),
            retry_jitter: 0.2,
            turn_away_retry: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            overflow: Overflow::DropNewest,
            overflow_retry_max: Duration::from_secs(60),
            overflow_memory: 4096,
            max_connections: 10_000,
            max_sockets: None,
            max_sockets_per_ip: None,
            socket_reserve: 32,
            header_timeout: Duration::from_secs(10),
            max_replay_bytes: 4 * 1024 * 1024,
            max_topics_per_connection: 64,
            max_topics_per_event: 16,
            max_pattern_len: 256,
            max_event_bytes: 256 * 1024,
            max_metadata_pairs: 32,
            max_metadata_bytes: 4 * 1024,
            max_id_len: 256,
            max_type_len: 256,
            max_write_bytes: 64 * 1024,
            min_write_interval: Duration::ZERO,
            direct_write_gap: Some(Duration::from_millis(2)),
            on_connect: None,
            on_disconnect: None,
            on_pause: None,
            on_resume: None,
            replayer: None,
            replay_timeout: Duration::from_secs(5),
        }
    }

    /// Base flush interval of the batched and coalesced lanes; each connection
    /// adapts it to its queue saturation (see [`crate::connection`]). Default: 2 s.
    #[must_use]
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// A `: ping` comment is written to a connection idle this long. Default: 30 s.
    #[must_use]
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Longest a connection stays open (`None` = unlimited). Default: 30 min.
    #[must_use]
    pub fn max_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.max_lifetime = lifetime;
        self
    }

    /// Fraction of the max lifetime taken off at random per connection, so a
    /// fleet does not reconnect in one burst. Default: 0.1.
    #[must_use]
    pub fn lifetime_jitter(mut self, fraction: f64) -> Self {
        self.lifetime_jitter = fraction;
        self
    }

    /// Events a connection may have queued (all lanes) before its queue is
    /// full and the [`Overflow`] policy applies. Default: 4,096: four times
    /// the bursts a `tokio::sync::broadcast` channel of 1,024 absorbs, because
    /// on a loaded 2-core machine readers that keep up on average were
    /// measured lagging more than 1,024 events behind a 30,000 events/s feed
    /// (`BENCHMARKS.md`, S8).
    ///
    /// A connection is never filled by the hub's own batching: once a quarter
    /// of this (or of [`send_buffer_bytes`](Self::send_buffer_bytes)) is
    /// queued, its stream writes at once, whatever `min_write_interval` or the
    /// flush interval would hold. So the queue fills only when the socket does
    /// not take what is written (or the connection's task gets no CPU).
    ///
    /// Memory: 8 bytes per queued event (a shared pointer; the encoded event
    /// is shared by every recipient), allocated on demand and freed once an
    /// emptied queue had grown past 64 entries. An idle connection holds none.
    #[must_use]
    pub fn send_buffer_size(mut self, size: usize) -> Self {
        self.send_buffer_size = size;
        self
    }

    /// Bytes of encoded events a connection may have queued (all lanes); the
    /// queue is full at this or at [`send_buffer_size`](Self::send_buffer_size)
    /// events, whichever comes first. One event larger than this still goes
    /// into an empty queue. Must be at least twice
    /// [`max_event_bytes`](Self::max_event_bytes). Default: 4 MiB.
    ///
    /// Memory: queued events are shared with their other recipients, so this
    /// is the most a lagging connection can keep alive after everyone else has
    /// received it: the worst case per connection is this plus
    /// `8 × send_buffer_size` bytes of pointers plus one write chunk
    /// ([`max_write_bytes`](Self::max_write_bytes)); an idle connection holds none.
    #[must_use]
    pub fn send_buffer_bytes(mut self, bytes: usize) -> Self {
        self.send_buffer_bytes = bytes;
        self
    }

    /// The `retry:` reconnect hint. Must be at least 1 ms. Default: 3000 ms.
    #[must_use]
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = retry;
        self
    }

    /// Fraction of jitter added to each connection's `retry:` (clients retry
    /// exactly that value, so without jitter a restarted node's clients all
    /// come back in the same millisecond). Default: 0.2.
    #[must_use]
    pub fn retry_jitter(mut self, fraction: f64) -> Self {
        self.retry_jitter = fraction;
        self
    }

    /// Base `retry:` given to subscribers turned away while draining or at the
    /// connection cap (jittered up to 2×). Default: 5 s.
    #[must_use]
    pub fn turn_away_retry(mut self, retry: Duration) -> Self {
        self.turn_away_retry = retry;
        self
    }

    /// A connection whose queued data is not taken within this long is closed.
    /// Default: 10 s.
    #[must_use]
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Policy when a connection's queue is full. Default: [`Overflow::DropNewest`].
    #[must_use]
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Longest `retry:` given to a client cut for overflow. Under
    /// [`Overflow::Disconnect`] a cut client gets `retry:` and a
    /// `slow-consumer` control event before the close; each time in a row it
    /// is cut again before catching up (for instance during its replay) the
    /// `retry:` doubles, from [`retry`](Self::retry) up to this, so a client
    /// that cannot keep up backs off instead of looping through reconnects.
    /// Default: 60 s.
    #[must_use]
    pub fn overflow_retry_max(mut self, max: Duration) -> Self {
        self.overflow_retry_max = max;
        self
    }

    /// How many cut clients the hub remembers for that backoff, keyed by the
    /// event id each will present as `Last-Event-ID` (oldest forgotten first;
    /// each also forgotten after twice `overflow_retry_max` plus a minute).
    /// About 100 bytes plus the id per entry. 0 turns the memory off (every
    /// cut then gets the base `retry:`). Default: 4,096.
    #[must_use]
    pub fn overflow_memory(mut self, entries: usize) -> Self {
        self.overflow_memory = entries;
        self
    }

    /// Connections this hub accepts at once; more are turned away. Default: 10,000.
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// TCP connections [`DeadlineListener`](crate::axum::DeadlineListener)
    /// keeps open at once, counted from `accept` (a socket that never sends a
    /// request counts too); past it (and the reserve) a new socket is closed
    /// at once, so an idle flood cannot exhaust file descriptors. Default:
    /// `max_connections` + 1,024 (room for API requests beside the streams).
    #[must_use]
    pub fn max_sockets(mut self, max: usize) -> Self {
        self.max_sockets = Some(max);
        self
    }

    /// TCP connections one IP address may hold open at once (see
    /// [`max_sockets`](Self::max_sockets)). Default: no per-IP limit, because
    /// behind a reverse proxy every client shares the proxy's address; set it
    /// when clients connect directly.
    #[must_use]
    pub fn max_sockets_per_ip(mut self, max: Option<usize>) -> Self {
        self.max_sockets_per_ip = max;
        self
    }

    /// Sockets accepted past [`max_sockets`](Self::max_sockets) that may each
    /// carry one short request (a health check, a publish) and are then
    /// closed; a subscribe on one is turned away (200, `overloaded`,
    /// `retry:`). With the serve loop of [`crate::axum::serve`] this keeps
    /// health checks answered while the limit is reached. Default: 32.
    #[must_use]
    pub fn socket_reserve(mut self, reserve: usize) -> Self {
        self.socket_reserve = reserve;
        self
    }

    /// Longest a client may take to send a request head; the serve loops of
    /// [`crate::axum::serve`] close the socket then, without an answer.
    /// Default: 10 s.
    #[must_use]
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// Encoded bytes of replay one reconnecting client gets; past it the
    /// replay stops with a `resync` (`replay_truncated`), so memory per
    /// reconnect does not grow with retention. Events are fetched from the
    /// store a page at a time. Default: 4 MiB.
    #[must_use]
    pub fn max_replay_bytes(mut self, max: usize) -> Self {
        self.max_replay_bytes = max;
        self
    }

    /// The socket limit in effect (see [`max_sockets`](Self::max_sockets)).
    pub(crate) fn socket_limit(&self) -> usize {
        self.max_sockets
            .unwrap_or_else(|| self.max_connections.saturating_add(1024))
    }

    /// Topic patterns per connection. Default: 64.
    #[must_use]
    pub fn max_topics_per_connection(mut self, max: usize) -> Self {
        self.max_topics_per_connection = max;
        self
    }

    /// Topics per event. Default: 16.
    #[must_use]
    pub fn max_topics_per_event(mut self, max: usize) -> Self {
        self.max_topics_per_event = max;
        self
    }

    /// Bytes per topic or pattern. Default: 256.
    #[must_use]
    pub fn max_pattern_len(mut self, max: usize) -> Self {
        self.max_pattern_len = max;
        self
    }

    /// Bytes of an encoded event (the `event:`, `id:` and `data:` lines).
    /// Default: 256 KiB, comfortably above a 64 KiB payload.
    #[must_use]
    pub fn max_event_bytes(mut self, max: usize) -> Self {
        self.max_event_bytes = max;
        self
    }

    /// Metadata pairs per connection (and group pairs per event). Default: 32.
    #[must_use]
    pub fn max_metadata_pairs(mut self, max: usize) -> Self {
        self.max_metadata_pairs = max;
        self
    }

    /// Total bytes of a connection's metadata keys and values. Default: 4 KiB.
    #[must_use]
    pub fn max_metadata_bytes(mut self, max: usize) -> Self {
        self.max_metadata_bytes = max;
        self
    }

    /// Bytes of an event id (publisher-given or `Last-Event-ID`). Default: 256.
    #[must_use]
    pub fn max_id_len(mut self, max: usize) -> Self {
        self.max_id_len = max;
        self
    }

    /// Bytes of a published event type. Default: 256.
    #[must_use]
    pub fn max_type_len(mut self, max: usize) -> Self {
        self.max_type_len = max;
        self
    }

    /// Most bytes a connection hands to the socket in one write; queued frames
    /// are packed together up to this size. Default: 64 KiB.
    #[must_use]
    pub fn max_write_bytes(mut self, max: usize) -> Self {
        self.max_write_bytes = max;
        self
    }

    /// Shortest time between two writes of events to one connection once it
    /// falls behind. After a write that found a backlog (four or more queued
    /// events), events arriving within the interval are held and written
    /// together when it ends; otherwise every event is written at once. Under
    /// heavy publish load this packs many events into each write (the socket
    /// write dominates the cost of a delivery) at the price of up to this much
    /// added latency; at low rates it changes nothing. Zero (the default)
    /// never holds.
    #[must_use]
    pub fn min_write_interval(mut self, interval: Duration) -> Self {
        self.min_write_interval = interval;
        self
    }

    /// Direct writes: when an instant event reaches a connection whose
    /// stream is parked (nothing queued, nothing being written) and whose
    /// average gap between instant events is at least `gap`, a runtime
    /// worker writes it to the socket instead of waking the connection's
    /// task. Connections receiving events faster than that go through their
    /// streams, which pack queued events into one write; so does every
    /// connection while earlier direct writes are pending or while the
    /// runtime has tasks waiting in its shared queue (it is saturated, and
    /// streams batch better). Only transports that lend the hub their socket
    /// take part ([`serve_with_sse`](crate::axum::serve_with_sse)'s fast
    /// path does). `None` turns them off.
    ///
    /// Measured on a 2-core machine (`BENCHMARKS.md`, S2: 100 events/s to
    /// 1,000 clients, server on its own CPU): about 8 % less server CPU per
    /// delivery and a 10–15 % lower p99; unchanged at 19,000 clients (S4),
    /// where the runtime saturates and streams take over. Default: 2 ms.
    #[must_use]
    pub fn direct_write_gap(mut self, gap: Option<Duration>) -> Self {
        self.direct_write_gap = gap;
        self
    }

    /// Async hook run for every subscriber: may change topics and metadata,
    /// or reject. A panic in it rejects that subscriber only.
    #[must_use]
    pub fn on_connect<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Connecting) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Connecting, Rejection>> + Send + 'static,
    {
        self.on_connect = Some(Arc::new(move |connecting| hook(connecting).boxed()));
        self
    }

    /// Runs `hook` before the `on_connect` hook already configured (if any),
    /// which then sees what `hook` returned; a rejection by `hook` is final.
    /// For layering: an application's auth policy first, then hooks added
    /// by the code that embeds it.
    #[must_use]
    pub fn on_connect_first<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Connecting) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Connecting, Rejection>> + Send + 'static,
    {
        let hook = Arc::new(hook);
        let after = self.on_connect.take();
        self.on_connect = Some(Arc::new(move |connecting| {
            let hook = hook.clone();
            let after = after.clone();
            async move {
                let connecting = hook(connecting).await?;
                match after {
                    Some(after) => after(connecting).await,
                    None => Ok(connecting),
                }
            }
            .boxed()
        }));
        self
    }

    /// Called after a connection closed.
    #[must_use]
    pub fn on_disconnect(mut self, hook: impl Fn(&Connection) + Send + Sync + 'static) -> Self {
        self.on_disconnect = Some(Arc::new(hook));
        self
    }

    /// Called when a connection is paused (browser tab hidden).
    #[must_use]
    pub fn on_pause(mut self, hook: impl Fn(&Connection) + Send + Sync + 'static) -> Self {
        self.on_pause = Some(Arc::new(hook));
        self
    }

    /// Called when a connection is resumed.
    #[must_use]
    pub fn on_resume(mut self, hook: impl Fn(&Connection) + Send + Sync + 'static) -> Self {
        self.on_resume = Some(Arc::new(hook));
        self
    }

    /// Enables `Last-Event-ID` replay from this store. Default: none.
    #[must_use]
    pub fn replayer(mut self, replayer: Arc<dyn Replayer>) -> Self {
        self.replayer = Some(replayer);
        self
    }

    /// Longest a subscriber waits for its replay before getting `resync`. Default: 5 s.
    #[must_use]
    pub fn replay_timeout(mut self, timeout: Duration) -> Self {
        self.replay_timeout = timeout;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("flush_interval", self.flush_interval),
            ("heartbeat_interval", self.heartbeat_interval),
            ("retry", self.retry),
            ("turn_away_retry", self.turn_away_retry),
            ("write_timeout", self.write_timeout),
            ("header_timeout", self.header_timeout),
            ("replay_timeout", self.replay_timeout),
            ("overflow_retry_max", self.overflow_retry_max),
        ];
        for (name, value) in positive {
            if value < Duration::from_millis(1) {
                return Err(ConfigError::TooShort { name });
            }
        }
        if self.max_lifetime == Some(Duration::ZERO) {
            return Err(ConfigError::TooShort {
                name: "max_lifetime",
            });
        }
        let counts = [
            ("send_buffer_size", self.send_buffer_size),
            ("send_buffer_bytes", self.send_buffer_bytes),
            ("max_connections", self.max_connections),
            ("max_sockets", self.socket_limit()),
            ("max_sockets_per_ip", self.max_sockets_per_ip.unwrap_or(1)),
            ("max_topics_per_connection", self.max_topics_per_connection),
            ("max_topics_per_event", self.max_topics_per_event),
            ("max_pattern_len", self.max_pattern_len),
            ("max_event_bytes", self.max_event_bytes),
            ("max_metadata_pairs", self.max_metadata_pairs),
            ("max_metadata_bytes", self.max_metadata_bytes),
            ("max_id_len", self.max_id_len),
            ("max_type_len", self.max_type_len),
            ("max_replay_bytes", self.max_replay_bytes),
            ("max_write_bytes", self.max_write_bytes),
        ];
        for (name, value) in counts {
            if value == 0 {
                return Err(ConfigError::Zero { name });
            }
        }
        // A reader that keeps up has less than a quarter of the bytes queued
        // when an event arrives; the largest event must fit in the rest.
        if self.send_buffer_bytes / 2 < self.max_event_bytes {
            return Err(ConfigError::SendBufferBytes);
        }
        for (name, value) in [
            ("lifetime_jitter", self.lifetime_jitter),
            ("retry_jitter", self.retry_jitter),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::Fraction { name });
            }
        }
        Ok(())
    }

    pub(crate) async fn run_on_connect(
        &self,
        connecting: Connecting,
    ) -> Result<Connecting, Rejection> {
        let Some(hook) = &self.on_connect else {
            return Ok(connecting);
        };
        match AssertUnwindSafe(hook(connecting)).catch_unwind().await {
            Ok(result) => result,
            Err(_) => {
                tracing::error!("on_connect hook panicked; subscriber rejected");
                Err(Rejection::Forbidden("subscription refused".into()))
            }
        }
    }
}

/// Runs a connection hook, containing a panic to that call.
pub(crate) fn call_hook(hook: Option<&OnConnection>, name: &str, connection: &Connection) {
    if let Some(hook) = hook {
        if std::panic::catch_unwind(AssertUnwindSafe(|| hook(connection))).is_err() {
            tracing::error!(hook = name, connection = %connection.id(), "connection hook panicked");
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("flush_interval", &self.flush_interval)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("max_lifetime", &self.max_lifetime)
            .field("send_buffer_size", &self.send_buffer_size)
            .field("send_buffer_bytes", &self.send_buffer_bytes)
            .field("retry", &self.retry)
            .field("write_timeout", &self.write_timeout)
            .field("overflow", &self.overflow)
            .field("max_connections", &self.max_connections)
            .field("max_sockets", &self.socket_limit())
            .field("max_sockets_per_ip", &self.max_sockets_per_ip)
            .field("socket_reserve", &self.socket_reserve)
            .field("replay", &self.replayer.is_some())
            .finish_non_exhaustive()
    }
}

/// An invalid [`Config`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A duration that must be at least 1 ms is shorter.
    #[error("{name} must be at least 1 ms")]
    TooShort {
        /// The setting.
        name: &'static str,
    },
    /// A count or size that must be positive is zero.
    #[error("{name} must be greater than zero")]
    Zero {
        /// The setting.
        name: &'static str,
    },
    /// A fraction outside `0.0..=1.0`.
    #[error("{name} must be between 0 and 1")]
    Fraction {
        /// The setting.
        name: &'static str,
    },
    /// `send_buffer_bytes` is less than twice `max_event_bytes`: a reader
    /// that keeps up could still overflow on one large event.
    #[error("send_buffer_bytes must be at least twice max_event_bytes")]
    SendBufferBytes,
}

#[cfg(test)]
mod tests;
