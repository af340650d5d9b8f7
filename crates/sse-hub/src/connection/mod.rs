//! One subscriber: its queue, lanes, timers, and the handle the hub keeps.
//!
//! A connection is two halves sharing one state:
//!
//! * the hub side ([`Connection`]), which publishers push frames into — a push
//!   never waits: it locks the connection's queue for a few instructions,
//!   applies the overflow policy when full, and wakes the stream only when
//!   the stream is parked (or, for a quiet connection whose transport lent
//!   the hub its socket, asks for a direct write instead: see `direct`);
//! * the client side ([`EventStream`]), the outgoing byte stream. The stream
//!   *is* the connection's driver: it owns the flush, heartbeat, lifetime and
//!   drain timers as one re-armed sleep, so an idle connection costs no task
//!   and no periodic tick, and it packs everything queued into one chunk per
//!   write.
//!
//! ## Lanes and timing
//!
//! Instant events are taken as soon as the stream is polled. Batched and
//! coalesced events wait for the connection's flush deadline, whose distance
//! follows the saturation bands in `throttle`. While paused, only instant
//! events flow; on resume held events are flushed at once, preceded by a
//! `resync` event if any were lost while paused.
//!
//! ## Closing
//!
//! A connection closes when its client goes away (the stream is dropped), at
//! its (jittered) max lifetime, when the credential it was opened with
//! expires (after an `auth-expired` event), when the overflow policy is
//! [`Overflow::Disconnect`](crate::Overflow::Disconnect) and its queue is full,
//! when queued data is not taken within the write timeout, or during drain.

mod direct;
mod frame;
mod lanes;
mod stream;
mod throttle;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::time::Instant;

pub(crate) use direct::DirectWrite;
pub(crate) use frame::{Frame, SharedFrame};
pub(crate) use lanes::{Lanes, Push};
pub use stream::EventStream;

use crate::config::Config;
use crate::event::{Metadata, Priority};
use crate::topic::Pattern;

/// A connection's unguessable id: 128 random bits, as 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u128);

impl ConnectionId {
    pub(crate) fn random() -> Self {
        Self(rand::random())
    }

    /// Parses the 32-hex-digit form. Anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 32 {
            return None;
        }
        u128::from_str_radix(text, 16).ok().map(Self)
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionId({self})")
    }
}

impl Serialize for ConnectionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Why a connection was closed by the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CloseReason {
    /// Its queue was full under [`Overflow::Disconnect`](crate::Overflow::Disconnect).
    Overflow,
    /// Queued data was not taken within the write timeout.
    WriteTimeout,
    /// Its max lifetime was reached.
    Lifetime,
    /// The credential it was opened with expired (it got `auth-expired`).
    AuthExpired,
    /// The hub drained.
    Drain,
    /// The client went away (end of stream, reset, a failed write), or the
    /// transport dropped the stream without saying why.
    ClientClosed,
    /// The client sent bytes after its subscribe request (a body, a
    /// pipelined request), which the SSE fast path does not read.
    UnexpectedInput,
}

impl CloseReason {
    /// Every reason, in the order of [`Disconnects`](crate::hub::Disconnects).
    pub(crate) const ALL: [CloseReason; 7] = [
        CloseReason::ClientClosed,
        CloseReason::WriteTimeout,
        CloseReason::Overflow,
        CloseReason::Lifetime,
        CloseReason::AuthExpired,
        CloseReason::Drain,
        CloseReason::UnexpectedInput,
    ];

    /// The label used in stats and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::WriteTimeout => "write_timeout",
            CloseReason::Overflow => "overflow",
            CloseReason::Lifetime => "lifetime",
            CloseReason::AuthExpired => "auth_expired",
            CloseReason::Drain => "drain",
            CloseReason::UnexpectedInput => "unexpected_input",
        }
    }

    pub(crate) fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// A connection's counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) delivered: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) expired: AtomicU64,
}

/// Mutable state shared by the hub side and the stream.
pub(crate) struct State {
    pub(crate) lanes: Lanes,
    /// Set while the stream is parked; a push takes it and wakes the stream.
    pub(crate) waker: Option<Waker>,
    pub(crate) close: Option<CloseReason>,
    /// During drain: flush everything, then close at this instant.
    pub(crate) close_at: Option<Instant>,
    /// Flush held lanes at the next poll regardless of the deadline.
    pub(crate) force_flush: bool,
    /// The stream holds instant events until then (`min_write_interval`);
    /// a push before it need not wake the stream, its timer will.
    pub(crate) hold_until: Option<Instant>,
    /// Since when the stream owes a poll: set when it hands data to the
    /// writer or is woken, cleared when it parks. A stream that owes a poll
    /// longer than the write timeout has a client that stopped reading.
    pub(crate) waiting_since: Option<Instant>,
    /// The stream is parked with nothing to write and its transport is not
    /// writing: a publisher may write to `writer` directly (see `direct`).
    pub(crate) parked: bool,
    /// The transport's non-blocking writer, if it lent one.
    pub(crate) writer: Option<Arc<dyn DirectWrite>>,
    /// When the last instant event arrived (direct writes are for quiet
    /// connections only).
    pub(crate) last_arrival: Option<Instant>,
    /// Average gap between instant events, µs (see `is_quiet`).
    pub(crate) arrival_gap_us: u64,
    /// When a direct write last went out (the stream's heartbeat counts it)
    /// and whether it found a backlog (which starts a hold, as the stream's
    /// own writes do).
    pub(crate) written_at: Option<(Instant, bool)>,
    /// A direct write was requested and has not run yet.
    pub(crate) direct_pending: bool,
    /// The id of the last event a direct write sent, or the `Last-Event-ID`
    /// (or last replayed id) the connection started from: the stream takes
    /// it as the id its client would resume after.
    pub(crate) last_id: Option<Arc<str>>,
    /// Times in a row this client was cut for overflow without catching up
    /// in between (inherited on reconnect; see `hub::strikes`).
    pub(crate) strikes: u32,
}

/// Longest inter-arrival gap the average counts: a connection that idled
/// for an hour is quiet, but a few fast events make it busy again.
const MAX_COUNTED_GAP_US: u64 = 100_000;

impl State {
    /// Takes the parked stream's waker, to wake it; from `now` on the stream
    /// owes a poll (see `waiting_since`).
    fn take_waker(&mut self, now: Instant) -> Option<Waker> {
        let waker = self.waker.take();
        if waker.is_some() {
            self.waiting_since = Some(now);
        }
        waker
    }

    /// Records an instant event's arrival and says whether the connection is
    /// quiet: its average gap between instant events (an exponential
    /// average, each new gap weighing half) is at least `gap`. One late event
    /// in a fast stream does not make it quiet; one early event in a slow
    /// stream does not make it busy.
    fn is_quiet(&mut self, now: Instant, gap: Option<Duration>) -> bool {
        let since = self
            .last_arrival
            .replace(now)
            .map_or(MAX_COUNTED_GAP_US, |at| {
                u64::try_from(now.saturating_duration_since(at).as_micros()).unwrap_or(u64::MAX)
            });
        self.arrival_gap_us = (self.arrival_gap_us + since.min(MAX_COUNTED_GAP_US)) / 2;
        gap.is_some_and(|gap| u128::from(self.arrival_gap_us) >= gap.as_micros())
    }
}

/// The part of a connection both halves and the registry share.
pub(crate) struct Shared {
    pub(crate) id: ConnectionId,
    pub(crate) key: u64,
    pub(crate) metadata: Metadata,
    pub(crate) topics: Mutex<Vec<Pattern>>,
    /// Patterns the client may subscribe to (`None`: any).
    pub(crate) allowed: Option<Vec<Pattern>>,
    pub(crate) state: Mutex<State>,
    pub(crate) counters: Counters,
    pub(crate) connected_at: SystemTime,
    /// The secret the client proves control with (see [`ControlToken`]).
    pub(crate) control_token: ControlToken,
}

/// A connection's control token: 128 random bits, given only to the
/// connection's own client (in its `connected` event), so that it can pause,
/// resume or change its topics without holding an admin credential.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ControlToken([u8; 16]);

impl ControlToken {
    fn random() -> Self {
        Self(rand::random())
    }

    /// The token as the client sees it: 32 lowercase hex digits.
    pub(crate) fn to_hex(&self) -> String {
        use fmt::Write as _;
        let mut text = String::with_capacity(32);
        for byte in self.0 {
            let _ = write!(text, "{byte:02x}");
        }
        text
    }

    /// Whether `presented` is this token's text. Constant time in the
    /// position of the first difference.
    pub(crate) fn matches(&self, presented: &[u8]) -> bool {
        let expected = self.to_hex();
        let expected = expected.as_bytes();
        if presented.len() != expected.len() {
            return false;
        }
        let diff = expected
            .iter()
            .zip(presented)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("id", &self.id)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Outcome of offering a frame to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    Queued,
    /// Queued; the stream is parked and the connection quiet: the caller
    /// must call [`Shared::write_direct`] soon (see `direct`).
    Deferred,
    /// Queue full: the frame was not queued.
    Full,
    /// Dropped while paused; the client will get `resync`.
    HeldOverflow,
    /// The connection is closing; nothing was queued.
    Closed,
    /// The connection has not taken data within the write timeout and was closed.
    TimedOut,
}

impl Shared {
    pub(crate) fn new(
        key: u64,
        metadata: Metadata,
        topics: Vec<Pattern>,
        allowed: Option<Vec<Pattern>>,
        capacity: usize,
        max_bytes: usize,
    ) -> Self {
        Self {
            id: ConnectionId::random(),
            key,
            metadata,
            topics: Mutex::new(topics),
            allowed,
            state: Mutex::new(State {
                lanes: Lanes::new(capacity, max_bytes),
                waker: None,
                close: None,
                close_at: None,
                force_flush: false,
                hold_until: None,
                waiting_since: None,
                parked: false,
                writer: None,
                last_arrival: None,
                arrival_gap_us: MAX_COUNTED_GAP_US,
                written_at: None,
                direct_pending: false,
                last_id: None,
                strikes: 0,
            }),
            counters: Counters::default(),
            connected_at: SystemTime::now(),
            control_token: ControlToken::random(),
        }
    }

    /// Queues `frame`; never blocks beyond the connection's own lock.
    /// With `direct` (the hub's direct writes are keeping up),
    /// [`Offer::Deferred`] asks the caller to have it written directly (see
    /// `direct`) instead of waking the stream.
    pub(crate) fn offer(
        &self,
        frame: &SharedFrame,
        now: Instant,
        config: &Config,
        direct: bool,
    ) -> Offer {
        let waker;
        {
            let mut state = self.state.lock();
            if state.close.is_some() || state.close_at.is_some() {
                return Offer::Closed;
            }
            if let Some(since) = state.waiting_since {
                if now.saturating_duration_since(since) > config.write_timeout {
                    state.close = Some(CloseReason::WriteTimeout);
                    waker = state.waker.take();
                    drop(state);
                    wake(waker);
                    return Offer::TimedOut;
                }
            }
            let instant = frame.priority == Priority::Instant;
            // Arrivals are tracked only where direct writes can happen (the
            // transport lent a writer): nothing is added to offers otherwise.
            let quiet = instant
                && state.writer.is_some()
                && state.is_quiet(now, config.direct_write_gap)
                && direct;
            let had_held = state.lanes.has_held();
            match state.lanes.push(frame.clone()) {
                Push::Full => return Offer::Full,
                Push::HeldOverflow => return Offer::HeldOverflow,
                Push::Replaced => return Offer::Queued,
                Push::Queued => {}
            }
            // Past the release threshold nothing is held any more (neither
            // by the write hold nor by the flush tick): the hub's own
            // batching must never be what fills the queue.
            let past = state.lanes.past_release();
            let held_back = state.hold_until.is_some_and(|until| now < until) && !past;
            let paused = state.lanes.is_paused();
            let ready = (instant && !held_back)
                || (!paused && (!had_held || state.lanes.held_past_release()))
                || (past && state.lanes.has_instant());
            if !ready {
                return Offer::Queued;
            }
            if instant && !held_back && state.parked && state.writer.is_some() {
                if state.direct_pending && direct {
                    // A direct write is already due; it will take this too.
                    // Not when direct writes are behind (`direct` is off):
                    // the connection would wait for a write job queued
                    // behind a whole fan-out's tasks, so wake the stream.
                    return Offer::Queued;
                }
                if quiet {
                    state.direct_pending = true;
                    return Offer::Deferred;
                }
            }
            waker = state.take_waker(now);
        }
        wake(waker);
        Offer::Queued
    }

    /// Marks the connection closed and wakes its stream so it ends.
    pub(crate) fn close(&self, reason: CloseReason) {
        let waker = {
            let mut state = self.state.lock();
            state.close.get_or_insert(reason);
            state.waker.take()
        };
        wake(waker);
    }

    /// Drain: append `frame`, flush everything held, close at `at`.
    pub(crate) fn drain(&self, frame: SharedFrame, at: Instant) {
        let waker = {
            let mut state = self.state.lock();
            // Held events go out before the goodbye, paused or not.
            state.lanes.release_held();
            state.lanes.push_control(frame);
            state.close_at = Some(at);
            state.waker.take()
        };
        wake(waker);
    }
}

pub(crate) fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// A handle on a subscribed connection: what hooks and stats see.
#[derive(Clone)]
pub struct Connection(pub(crate) Arc<Shared>);

impl Connection {
    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.0.id
    }

    /// The topic patterns it is subscribed to.
    pub fn topics(&self) -> Vec<String> {
        self.0
            .topics
            .lock()
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect()
    }

    /// Its metadata (set by `on_connect`).
    pub fn metadata(&self) -> &Metadata {
        &self.0.metadata
    }

    /// Whether `presented` is this connection's control token, the secret
    /// its client received in the `connected` event (`control_token`). A
    /// server lets the holder pause, resume or change the topics of this
    /// connection only. Compared in constant time.
    pub fn control_token_matches(&self, presented: &[u8]) -> bool {
        self.0.control_token.matches(presented)
    }

    /// The patterns it may subscribe to (`Connecting::allowed`), `None` when
    /// any is allowed.
    pub fn allowed(&self) -> Option<Vec<String>> {
        self.0
            .allowed
            .as_ref()
            .map(|list| list.iter().map(|p| p.as_str().to_owned()).collect())
    }

    /// Whether it is paused.
    pub fn is_paused(&self) -> bool {
        self.0.state.lock().lanes.is_paused()
    }

    /// A snapshot of its counters and queue.
    pub fn stats(&self) -> ConnectionStats {
        let (queued, queued_bytes, saturation, paused) = {
            let state = self.0.state.lock();
            (
                state.lanes.len(),
                state.lanes.bytes(),
                state.lanes.fill(),
                state.lanes.is_paused(),
            )
        };
        ConnectionStats {
            id: self.id(),
            topics: self.topics(),
            metadata: self.0.metadata.clone(),
            paused,
            queued,
            queued_bytes,
            saturation,
            delivered: self.0.counters.delivered.load(Ordering::Relaxed),
            dropped: self.0.counters.dropped.load(Ordering::Relaxed),
            expired: self.0.counters.expired.load(Ordering::Relaxed),
            connected_at_unix_ms: self
                .0
                .connected_at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.0.id)
            .field("metadata", &self.0.metadata)
            .finish_non_exhaustive()
    }
}

/// Per-connection detail in [`Stats`](crate::Stats).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Connection id.
    pub id: ConnectionId,
    /// Subscribed patterns.
    pub topics: Vec<String>,
    /// Metadata.
    pub metadata: Metadata,
    /// Paused (tab hidden).
    pub paused: bool,
    /// Events queued, all lanes.
    pub queued: usize,
    /// Bytes of the queued events.
    pub queued_bytes: usize,
    /// How full the queue is: the larger of `queued / send_buffer_size` and
    /// `queued_bytes / send_buffer_bytes`.
    pub saturation: f64,
    /// Events written to the stream.
    pub delivered: u64,
    /// Events dropped for this connection.
    pub dropped: u64,
    /// Events expired (TTL) before delivery.
    pub expired: u64,
    /// When it connected, Unix milliseconds.
    pub connected_at_unix_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_tokens_are_random_and_compared_exactly() {
        let a = Shared::new(1, Metadata::default(), Vec::new(), None, 8, 1 << 20);
        let b = Shared::new(2, Metadata::default(), Vec::new(), None, 8, 1 << 20);
        let token = a.control_token.to_hex();
        assert_eq!(token.len(), 32);
        assert_ne!(token, b.control_token.to_hex());
        let a = Connection(Arc::new(a));
        assert!(a.control_token_matches(token.as_bytes()));
        assert!(!a.control_token_matches(b.control_token.to_hex().as_bytes()));
        assert!(!a.control_token_matches(&token.as_bytes()[..31]));
        assert!(!a.control_token_matches(format!("{token}0").as_bytes()));
        assert!(!a.control_token_matches(token.to_uppercase().as_bytes()));
        assert!(!a.control_token_matches(b""));
    }

    #[test]
    fn a_connection_is_quiet_while_its_average_gap_between_events_is_long() {
        let shared = Shared::new(1, Metadata::default(), Vec::new(), None, 8, 1 << 20);
        let mut state = shared.state.lock();
        let gap = Some(Duration::from_millis(2));
        let mut now = Instant::now();
        let mut arrive = |state: &mut State, after_us: u64, gap| {
            now += Duration::from_micros(after_us);
            state.is_quiet(now, gap)
        };
        assert!(arrive(&mut state, 0, gap), "first event");
        // 10 ms apart: quiet throughout.
        for _ in 0..20 {
            assert!(arrive(&mut state, 10_000, gap));
        }
        // A burst 0.5 ms apart turns it busy within a few events...
        let busy_after = (1..=20)
            .find(|_| !arrive(&mut state, 500, gap))
            .expect("busy");
        assert!(busy_after <= 5, "{busy_after}");
        for _ in 0..20 {
            assert!(!arrive(&mut state, 500, gap));
        }
        // ...and one late event does not make it quiet again.
        assert!(!arrive(&mut state, 3_000, gap));
        assert!(!arrive(&mut state, 500, gap));
        // A pause does.
        assert!(arrive(&mut state, 1_000_000, gap));
        assert!(!arrive(&mut state, 0, None), "off");
        assert!(arrive(&mut state, 0, Some(Duration::ZERO)));
    }
}
