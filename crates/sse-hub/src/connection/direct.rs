//! Writes made for a parked stream, without waking its task.
//!
//! At low per-connection rates every event is its own write, and waking the
//! connection's task to make that write costs about as much user-space CPU as
//! the rest of the delivery: a wake, a trip through the scheduler, a poll of
//! the stream and of its transport. When the transport lends the hub a
//! non-blocking writer ([`DirectWrite`]) and a publisher finds the
//! connection's stream parked (nothing queued, nothing being written), it
//! queues the frame as always but, instead of waking the stream, asks for a
//! direct write ([`Offer::Deferred`](super::Offer::Deferred)). The hub runs
//! those writes in chunks spread over the runtime's workers, starting while
//! the fan-out is still offering (`hub::fanout`): each locks the connection,
//! writes what its instant lane holds to the socket, and leaves the task
//! asleep.
//!
//! Ordering holds because frames still go through the connection's queue in
//! publish order, and the queue is written either by the stream or by a
//! direct write, never both: the stream hands data to its transport only from
//! `poll_next`, which clears `parked` under the connection's lock first; a
//! direct write happens under that lock and only while `parked` is set; and
//! the transport polls the stream again only after its own write finished.
//! Whatever a direct write cannot finish (a partial write, a full socket, an
//! expired frame) stays queued, in front, and the stream is woken as usual.
//!
//! Direct writes give up batching, so they are used only for a connection
//! whose average gap between instant events is at least
//! [`Config::direct_write_gap`](crate::Config::direct_write_gap), and only
//! while the hub's earlier direct writes are done; a direct write that found
//! a backlog starts the `min_write_interval` hold like the stream's own
//! writes. Everything else is served by the stream, which packs everything
//! queued into one write; so is every connection while the runtime is
//! saturated (`hub::fanout::direct_allowed`). Measurements in
//! `BENCHMARKS.md`.

use std::io;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use super::stream::HOLD_AFTER_BACKLOG;
use super::{wake, Frame, Shared};
use crate::hub::HubInner;

/// A non-blocking write to a connection's socket.
pub(crate) trait DirectWrite: Send + Sync {
    /// Writes what the socket takes now, without waiting: the byte count,
    /// `WouldBlock`, or the socket's error.
    fn try_write(&self, bytes: &[u8]) -> io::Result<usize>;
}

impl Shared {
    /// Runs the direct write a [`Offer::Deferred`](super::Offer::Deferred)
    /// asked for: writes the instant lane to the socket if the stream is
    /// still parked, else leaves everything to the stream (waking it if
    /// anything is left over).
    pub(crate) fn write_direct(&self, hub: &HubInner) {
        let now = Instant::now();
        let mut state = self.state.lock();
        state.direct_pending = false;
        if !state.parked || !state.lanes.has_instant() {
            // The stream woke meanwhile and took (or will take) the frames.
            return;
        }
        let fits = state.lanes.instant().all(|frame| !frame.is_expired(now))
            && state
                .lanes
                .instant()
                .map(|frame| frame.bytes.len())
                .sum::<usize>()
                <= hub.config.max_write_bytes;
        let written = match (&state.writer, fits) {
            (Some(writer), true) => {
                let bytes = joined(state.lanes.instant());
                match writer.try_write(&bytes) {
                    Ok(n) if n > 0 => Some((bytes, n)),
                    // A full socket, or an error the stream's own write will
                    // meet and end the connection on.
                    _ => None,
                }
            }
            _ => None,
        };
        let Some((bytes, n)) = written else {
            let waker = state.take_waker(now);
            drop(state);
            wake(waker);
            return;
        };
        let mut events = 0;
        let mut last_id = None;
        for frame in state.lanes.instant() {
            if let Some(id) = &frame.id {
                events += 1;
                hub.observe_latency(frame, now);
                last_id = Some(id.clone());
            }
        }
        if last_id.is_some() {
            state.last_id = last_id;
        }
        state.lanes.clear_instant();
        // Like the stream's own writes: one that found a backlog holds the
        // next write for `min_write_interval`, so a connection that falls
        // behind goes back to packing many events per write.
        let backlog = events >= HOLD_AFTER_BACKLOG;
        if backlog && !hub.config.min_write_interval.is_zero() {
            state.hold_until = Some(now + hub.config.min_write_interval);
        }
        state.written_at = Some((now, backlog));
        hub.count_write(&self.counters, events);
        hub.stats.direct_writes.fetch_add(1, Ordering::Relaxed);
        if n == bytes.len() {
            return;
        }
        // The socket took part of it: the rest goes first, by the stream.
        state.lanes.push_control(Frame::control(bytes.slice(n..)));
        let waker = state.waker.take();
        state.waiting_since = Some(now);
        drop(state);
        wake(waker);
    }
}

/// The frames as one buffer (a lone frame is shared, not copied).
fn joined<'a>(mut frames: impl ExactSizeIterator<Item = &'a super::SharedFrame>) -> Bytes {
    if frames.len() == 1 {
        if let Some(frame) = frames.next() {
            return frame.bytes.clone();
        }
    }
    let mut buf = BytesMut::new();
    for frame in frames {
        buf.extend_from_slice(&frame.bytes);
    }
    buf.freeze()
}
