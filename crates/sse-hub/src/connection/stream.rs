//! The outgoing byte stream of one connection, which also drives it.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use tokio::time::{Instant, Sleep};

use super::{throttle, CloseReason, DirectWrite, Shared, SharedFrame};
use crate::hub::HubInner;

/// Events one write must carry before the next write is held for
/// `min_write_interval`: a backlog that size means the connection's writes
/// are falling behind its publishers; one or two queued events are ordinary
/// scheduling jitter and must not add latency.
pub(super) const HOLD_AFTER_BACKLOG: u64 = 4;

/// The SSE body of one connection: `Bytes` chunks ready to write to the
/// socket, in order. Polling it drives the connection (flushes, heartbeats,
/// lifetime, drain); dropping it unsubscribes the connection.
///
/// Any HTTP server can write it; with the `axum` feature it is an
/// `http_body::Body` too.
///
/// # Cancel safety
///
/// Dropping the stream at any point is the normal way a connection ends:
/// it is removed from the hub and `on_disconnect` runs.
pub struct EventStream {
    preamble: Option<Bytes>,
    live: Option<Live>,
}

struct Live {
    shared: Arc<Shared>,
    hub: Arc<HubInner>,
    /// Frames taken from the lanes but not yet written (over the write size).
    pending: VecDeque<SharedFrame>,
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
    interval: Duration,
    next_flush: Option<Instant>,
    last_write: Instant,
    /// When event data (not a heartbeat) was last handed to the writer.
    last_event_write: Option<Instant>,
    lifetime_end: Option<Instant>,
    /// When the credential the stream was opened with expires: the stream
    /// then writes `auth-expired` and ends.
    expires_at: Option<Instant>,
    /// The id of the last event handed to the writer (or the one the client
    /// resumed after): what its client will present as `Last-Event-ID`.
    last_id: Option<Arc<str>>,
    /// The `slow-consumer` goodbye was written; the stream ends next.
    said_goodbye: bool,
    /// When the connection was registered.
    started: Instant,
}

impl EventStream {
    /// A registered connection's stream, starting with `preamble`; it ends
    /// at `lifetime_end`, or with `auth-expired` at `expires_at`.
    pub(crate) fn live(
        hub: Arc<HubInner>,
        shared: Arc<Shared>,
        preamble: Bytes,
        lifetime_end: Option<Instant>,
        expires_at: Option<Instant>,
    ) -> Self {
        let now = Instant::now();
        let interval = throttle::flush_interval(hub.config.flush_interval, 0.0);
        Self {
            preamble: Some(preamble),
            live: Some(Live {
                shared,
                hub,
                pending: VecDeque::new(),
                sleep: Box::pin(tokio::time::sleep_until(now)),
                armed: None,
                interval,
                next_flush: None,
                last_write: now,
                last_event_write: None,
                lifetime_end,
                expires_at,
                last_id: None,
                said_goodbye: false,
                started: now,
            }),
        }
    }

    /// A stream that writes `body` and ends, for subscribers turned away.
    pub(crate) fn once(body: Bytes) -> Self {
        Self {
            preamble: Some(body),
            live: None,
        }
    }

    pub(crate) fn set_preamble(&mut self, preamble: Bytes) {
        self.preamble = Some(preamble);
    }

    /// Whether this stream only turns the subscriber away (draining hub or
    /// connection cap): it writes a jittered `retry:` and a `server-shutdown`
    /// or `overloaded` event, then ends. Serve it with status 200: an
    /// EventSource gives up for good on any other status.
    pub fn is_turned_away(&self) -> bool {
        self.live.is_none()
    }

    /// Lends the hub a non-blocking writer to this connection's socket, for
    /// direct writes while the stream is parked (see `connection::direct`).
    /// The transport must write what the stream yields in order, and poll it
    /// again only once that write is done.
    pub(crate) fn lend_writer(&self, writer: Arc<dyn DirectWrite>) {
        if let Some(live) = &self.live {
            live.shared.state.lock().writer = Some(writer);
        }
    }

    /// Records why the transport is about to drop this stream (counted under
    /// that reason in [`Stats::disconnects_by_reason`](crate::Stats)), unless
    /// the hub already closed it for a reason of its own.
    /// Returns whether this reason is the one recorded.
    pub(crate) fn ended_by(&self, reason: super::CloseReason) -> bool {
        let Some(live) = &self.live else {
            return false;
        };
        let mut state = live.shared.state.lock();
        if state.close.is_some() {
            return false;
        }
        state.close = Some(reason);
        true
    }

    /// The id of the connection, unless this stream turns a subscriber away.
    pub fn connection_id(&self) -> Option<crate::ConnectionId> {
        self.live.as_ref().map(|live| live.shared.id)
    }
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("connection", &self.connection_id())
            .finish_non_exhaustive()
    }
}

enum Step {
    Write(Bytes),
    End,
    Park(Instant),
}

impl Live {
    /// One decision of the driver. Parking registers `waker` and marks the
    /// stream parked under the same lock that found nothing to write, so a
    /// push in between cannot be missed.
    fn step(&mut self, now: Instant, waker: &Waker) -> Step {
        let base_flush = self.hub.config.flush_interval;
        let heartbeat = self.hub.config.heartbeat_interval;
        let mut state = self.shared.state.lock();
        // From here until we park, the transport may be writing what we
        // return: publishers must not write directly.
        state.parked = false;
        if let Some((at, backlog)) = state.written_at.take() {
            // A direct write went out while we were parked.
            self.last_write = self.last_write.max(at);
            self.last_event_write = backlog.then_some(at);
        }
        if let Some(id) = state.last_id.take() {
            // Sent by a direct write while parked, or where the connection
            // started from: either way later than what this stream wrote.
            self.last_id = Some(id);
        }
        if let Some(reason) = state.close {
            if reason == CloseReason::Overflow && !self.said_goodbye {
                self.said_goodbye = true;
                // A connection that stayed open this long without being cut
                // had caught up: this cut starts a new series.
                let caught_up = now.saturating_duration_since(self.started)
                    >= self.hub.config.overflow_retry_max;
                let inherited = if caught_up { 0 } else { state.strikes };
                let strikes = inherited.saturating_add(1);
                drop(state);
                return Step::Write(self.slow_consumer(strikes, now));
            }
            return Step::End;
        }
        if self.expires_at.is_some_and(|at| now >= at) {
            // Nothing more goes out on an expired credential: the goodbye,
            // then the end (the next step sees `close`).
            state.close = Some(CloseReason::AuthExpired);
            drop(state);
            self.pending.clear();
            self.hub.stats.auth_expired.fetch_add(1, Ordering::Relaxed);
            return Step::Write(crate::control::auth_expired());
        }
        // Held lanes past the release threshold flush now: the flush tick
        // batches, it must not fill the queue.
        let flush_due = state.force_flush
            || (!state.lanes.is_paused()
                && state.lanes.has_held()
                && (self.next_flush.is_some_and(|at| now >= at)
                    || state.lanes.held_past_release()));
        // Under load, write at most once per `min_write_interval` so each
        // write carries every event queued meanwhile (see Config). While
        // holding, pushes need not wake the stream (its timer will); with
        // nothing to write, pushes wake it and it decides then.
        let hold = self
            .last_event_write
            .map(|at| at + self.hub.config.min_write_interval)
            .filter(|until| {
                now < *until
                    && state.close_at.is_none()
                    && !state.force_flush
                    && !state.lanes.past_release()
            })
            .filter(|_| state.lanes.has_instant() || flush_due);
        state.hold_until = hold;
        if self.pending.is_empty() && hold.is_none() {
            state.lanes.take_instant(&mut self.pending);
            if flush_due && state.lanes.has_held() {
                self.interval = throttle::flush_interval(base_flush, state.lanes.saturation());
                state.lanes.take_held(&mut self.pending);
                self.next_flush = None;
            }
            state.force_flush = false;
        }
        if !self.pending.is_empty() {
            state.waiting_since = Some(now);
            drop(state);
            if let Some((bytes, events)) = self.pack(now) {
                self.last_write = now;
                // Only a write that found a backlog starts a hold: at low
                // rates every event goes out at once.
                self.last_event_write = (events >= HOLD_AFTER_BACKLOG).then_some(now);
                return Step::Write(bytes);
            }
            state = self.shared.state.lock();
        }
        if state.lanes.has_held() && !state.lanes.is_paused() && self.next_flush.is_none() {
            self.next_flush = Some(now + self.interval);
        }
        if let Some(at) = state.close_at {
            if now >= at && state.lanes.len() == 0 {
                state.close = Some(CloseReason::Drain);
                return Step::End;
            }
        }
        if let Some(end) = self.lifetime_end {
            if now >= end {
                state.close = Some(CloseReason::Lifetime);
                return Step::End;
            }
        }
        let heartbeat_at = self.last_write + heartbeat;
        if now >= heartbeat_at {
            state.waiting_since = Some(now);
            self.last_write = now;
            return Step::Write(Bytes::from_static(crate::wire::HEARTBEAT));
        }
        state.waiting_since = None;
        state.parked = true;
        if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
        let mut deadline = heartbeat_at;
        // While holding, a flush that is already due waits for the hold.
        let flush_at = if hold.is_some() {
            None
        } else {
            self.next_flush
        };
        for at in [
            flush_at,
            self.lifetime_end,
            self.expires_at,
            state.close_at,
            hold,
        ]
        .into_iter()
        .flatten()
        {
            deadline = deadline.min(at);
        }
        Step::Park(deadline)
    }

    /// The goodbye of a connection cut for overflow for the `strikes`-th
    /// time in a row: remembered by the id its client will resume after, so
    /// that a reconnect cut again gets a longer `retry:` (see `hub::strikes`).
    fn slow_consumer(&self, strikes: u32, now: Instant) -> Bytes {
        let config = &self.hub.config;
        if let Some(id) = &self.last_id {
            self.hub.strikes.record(id.clone(), strikes, now);
        }
        if strikes > 1 {
            self.hub
                .stats
                .overflow_repeats
                .fetch_add(1, Ordering::Relaxed);
        }
        let retry = crate::hub::strikes::backoff(config.retry, strikes, config.overflow_retry_max);
        let retry = crate::hub::jittered(retry, config.retry_jitter);
        crate::control::slow_consumer(strikes, crate::hub::millis(retry))
    }

    /// Packs pending frames into one chunk of at most `max_write_bytes`
    /// (a lone frame is passed through without copying) and says how many
    /// events it holds. Expired frames are counted and skipped. `None` if
    /// every pending frame had expired.
    fn pack(&mut self, now: Instant) -> Option<(Bytes, u64)> {
        let max = self.hub.config.max_write_bytes;
        let mut expired = 0u64;
        let mut events = 0u64;
        let mut first: Option<SharedFrame> = None;
        let mut buf: Option<BytesMut> = None;
        let mut size = 0usize;
        while let Some(frame) = self.pending.front() {
            if frame.is_expired(now) {
                expired += 1;
                self.pending.pop_front();
                continue;
            }
            if first.is_some() && size + frame.bytes.len() > max {
                break;
            }
            let Some(frame) = self.pending.pop_front() else {
                break;
            };
            size += frame.bytes.len();
            if let Some(id) = &frame.id {
                events += 1;
                self.hub.observe_latency(&frame, now);
                self.last_id = Some(id.clone());
            }
            match (&first, &mut buf) {
                (None, _) => first = Some(frame),
                (Some(head), None) => {
                    let mut joined = BytesMut::with_capacity(size.max(4096).min(max));
                    joined.extend_from_slice(&head.bytes);
                    joined.extend_from_slice(&frame.bytes);
                    buf = Some(joined);
                }
                (Some(_), Some(joined)) => joined.extend_from_slice(&frame.bytes),
            }
        }
        let counters = &self.shared.counters;
        let stats = &self.hub.stats;
        if expired > 0 {
            counters.expired.fetch_add(expired, Ordering::Relaxed);
            stats.expired.fetch_add(expired, Ordering::Relaxed);
        }
        if events > 0 {
            self.hub.count_write(counters, events);
        }
        let bytes = match buf {
            Some(joined) => joined.freeze(),
            None => first.map(|frame| frame.bytes.clone())?,
        };
        Some((bytes, events))
    }
}

impl Stream for EventStream {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        if let Some(preamble) = this.preamble.take() {
            if let Some(live) = &this.live {
                live.shared.state.lock().waiting_since = Some(Instant::now());
            }
            return Poll::Ready(Some(preamble));
        }
        let Some(live) = this.live.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            match live.step(Instant::now(), cx.waker()) {
                Step::Write(bytes) => return Poll::Ready(Some(bytes)),
                Step::End => {
                    // Dropping `Live` unregisters the connection.
                    this.live = None;
                    return Poll::Ready(None);
                }
                Step::Park(deadline) => {
                    // Re-arm only for an earlier deadline: a deadline that
                    // moved later (the heartbeat, after every write) costs one
                    // early wake-up instead of a timer-wheel update per write.
                    if live.armed.is_none_or(|armed| deadline < armed) {
                        live.sleep.as_mut().reset(deadline);
                        live.armed = Some(deadline);
                    }
                    if live.sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    live.armed = None;
                }
            }
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        {
            let mut state = self.shared.state.lock();
            state.parked = false;
            // The transport's socket must close with the stream, not with
            // the last handle on the connection.
            state.writer = None;
        }
        self.hub.unregister(&self.shared);
    }
}

#[cfg(test)]
mod tests {
    //! The hub's own batching never overflows a reader that keeps up.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::Wake;

    use futures_util::StreamExt;
    use proptest::prelude::*;

    use super::*;
    use crate::{Config, Connecting, Event, Hub, Overflow, Priority};

    /// A waker that only remembers it was woken.
    #[derive(Default)]
    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// A reader that keeps up: whenever its stream is woken (by a push or by
    /// its own timer) it is polled until it has nothing to write, and the
    /// socket takes every write. Returns the events read.
    fn read_all(stream: &mut EventStream, flag: &Arc<Flag>) -> usize {
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let mut events = 0;
        flag.0.store(false, Ordering::SeqCst);
        while let Poll::Ready(Some(bytes)) = stream.poll_next_unpin(&mut cx) {
            events += bytes
                .windows(4)
                .filter(|w| w == b"\nid:" || w == b"\nid ")
                .count();
            events += usize::from(bytes.starts_with(b"id:"));
        }
        events
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Publish one event on a lane, `size` bytes of data.
        Publish(u8, usize),
        /// Let this much time pass (timers fire).
        Wait(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..3, 1usize..600).prop_map(|(lane, size)| Op::Publish(lane, size)),
            1 => (0u64..300).prop_map(Op::Wait),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever `min_write_interval`, `send_buffer_size`,
        /// `send_buffer_bytes` and the flush interval are, a reader that
        /// keeps up never overflows: nothing is dropped, it is not closed,
        /// and every event reaches it.
        #[test]
        fn a_reader_keeping_up_never_overflows(
            hold_ms in 0u64..200,
            size in 1usize..300,
            max_event_kib in 1usize..8,
            extra_bytes in 0usize..20_000,
            flush_ms in 1u64..3000,
            ops in proptest::collection::vec(op(), 1..400),
        ) {
            let max_event = max_event_kib * 1024;
            let config = Config::new()
                .min_write_interval(Duration::from_millis(hold_ms))
                .send_buffer_size(size)
                .max_event_bytes(max_event)
                .send_buffer_bytes(2 * max_event + extra_bytes)
                .flush_interval(Duration::from_millis(flush_ms))
                .overflow(Overflow::Disconnect)
                .direct_write_gap(None);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(async move {
                let hub = Hub::new(config).unwrap();
                let mut stream = hub
                    .subscribe(Connecting::new().with_topics(["t"]))
                    .await
                    .unwrap();
                let flag = Arc::new(Flag::default());
                read_all(&mut stream, &flag);
                let mut published = 0usize;
                let mut read = 0usize;
                for (n, op) in ops.iter().enumerate() {
                    match *op {
                        Op::Publish(lane, bytes) => {
                            let (priority, key) = match lane {
                                0 => (Priority::Instant, String::new()),
                                1 => (Priority::Batched, String::new()),
                                // Distinct keys: nothing is coalesced away.
                                _ => (Priority::Coalesced, format!("k{n}")),
                            };
                            let mut event = Event::new("e")
                                .data("x".repeat(bytes))
                                .topic("t")
                                .priority(priority);
                            if !key.is_empty() {
                                event = event.coalesce_key(key);
                            }
                            hub.publish(event).unwrap();
                            published += 1;
                        }
                        Op::Wait(ms) => tokio::time::advance(Duration::from_millis(ms)).await,
                    }
                    if flag.0.load(Ordering::SeqCst) {
                        read += read_all(&mut stream, &flag);
                    }
                }
                // Whatever is still held goes out on the stream's timers.
                for _ in 0..64 {
                    tokio::time::advance(Duration::from_millis(flush_ms * 4 + hold_ms + 1)).await;
                    read += read_all(&mut stream, &flag);
                }
                let stats = hub.stats(false);
                prop_assert_eq!(stats.dropped.queue_full, 0);
                prop_assert_eq!(stats.dropped.overflow_disconnects, 0);
                prop_assert_eq!(hub.connection_count(), 1);
                prop_assert_eq!(read, published);
                Ok(())
            })?;
        }
    }
}
