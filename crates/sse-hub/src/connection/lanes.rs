//! The three delivery lanes of one connection, and their bound.
//!
//! Pure data structure: no clock, no waker; the connection's stream decides
//! when to take from it. All lanes share one bound, in entries (the send
//! buffer size) and in bytes (the send buffer bytes): whichever is reached
//! first makes the queue full. Replacing a coalesced entry does not grow the
//! entry count. Queues allocate on demand and give their memory back once
//! emptied after a burst, so an idle connection holds none.
//!
//! A quarter of either bound is the *release threshold*: past it the stream
//! stops holding (neither the `min_write_interval` hold nor the batched
//! lane's flush tick applies), so the hub's own batching can never be what
//! fills the queue (see `Lanes::past_release`).
//!
//! While paused, instant events still flow, batched and coalesced ones are
//! held. Anything that does not fit while paused sets a flag so the client
//! gets an explicit `resync` on resume instead of a silent gap.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::frame::SharedFrame;
use crate::event::Priority;

/// Below this many coalesced keys a linear scan beats hashing.
const COALESCE_SCAN_LIMIT: usize = 8;

/// An emptied queue whose buffer holds more entries than this frees it, so a
/// connection that once had a burst queued does not keep its memory idle.
const SHRINK_ABOVE: usize = 64;

/// The release threshold is this fraction (1 / N) of each bound.
const RELEASE_DIVISOR: usize = 4;

/// Result of offering a frame to the lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Push {
    /// Appended to a lane.
    Queued,
    /// Replaced an older event with the same coalesce key.
    Replaced,
    /// No room: the caller applies the overflow policy.
    Full,
    /// No room while paused: dropped, and the client will get `resync`.
    HeldOverflow,
}

#[derive(Debug)]
pub(crate) struct Lanes {
    instant: VecDeque<SharedFrame>,
    batched: VecDeque<SharedFrame>,
    coalesced: Vec<SharedFrame>,
    /// Key → position in `coalesced`, built only when many keys are held.
    coalesced_index: HashMap<Arc<str>, usize>,
    capacity: usize,
    /// Bound on the bytes of queued frames.
    max_bytes: usize,
    /// Bytes of the frames queued in all lanes.
    bytes: usize,
    /// Bytes of the frames in the instant lane.
    instant_bytes: usize,
    paused: bool,
    held_overflow: bool,
    /// Entries offered to the held lanes since the last flush, replacements
    /// included: the publish pressure the throttle reacts to.
    arrivals: usize,
}

impl Lanes {
    /// Lanes bounded by `capacity` entries and `max_bytes` bytes; nothing is
    /// allocated until a frame is queued.
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        Self {
            instant: VecDeque::new(),
            batched: VecDeque::new(),
            coalesced: Vec::new(),
            coalesced_index: HashMap::new(),
            capacity,
            max_bytes,
            bytes: 0,
            instant_bytes: 0,
            paused: false,
            held_overflow: false,
            arrivals: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.instant.len() + self.batched.len() + self.coalesced.len()
    }

    /// How full the queue is (`0.0..`): the larger of its entry and byte
    /// occupancy.
    pub(crate) fn fill(&self) -> f64 {
        (self.len() as f64 / self.capacity as f64).max(self.bytes as f64 / self.max_bytes as f64)
    }

    /// Bytes of the queued frames.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the queue is past the release threshold (a quarter of its
    /// entries or of its bytes): the stream must write now, whatever it was
    /// holding for. With the threshold this far below the bound, a stream
    /// that is polled when woken drains the queue long before it is full, so
    /// only a socket that does not take the writes (or a task that does not
    /// run) lets it fill.
    pub(crate) fn past_release(&self) -> bool {
        self.len() >= (self.capacity / RELEASE_DIVISOR).max(1)
            || self.bytes >= (self.max_bytes / RELEASE_DIVISOR).max(1)
    }

    /// Whether the held lanes alone are past the release threshold (the
    /// batched lane's flush tick must not wait).
    pub(crate) fn held_past_release(&self) -> bool {
        let held = self.batched.len() + self.coalesced.len();
        (held > 0 && held >= (self.capacity / RELEASE_DIVISOR).max(1))
            || self.held_bytes() >= (self.max_bytes / RELEASE_DIVISOR).max(1)
    }

    fn held_bytes(&self) -> usize {
        self.bytes - self.instant_bytes
    }

    pub(crate) fn has_instant(&self) -> bool {
        !self.instant.is_empty()
    }

    pub(crate) fn has_held(&self) -> bool {
        !self.batched.is_empty() || !self.coalesced.is_empty()
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    /// Saturation in `0.0..=1.0`: the larger of queue occupancy and the
    /// arrivals since the last flush, both relative to the capacity. Counting
    /// arrivals lets a coalesced stream under heavy publish pressure slow its
    /// flushes even though coalescing keeps the queue itself short.
    pub(crate) fn saturation(&self) -> f64 {
        let pressure = self.len().max(self.arrivals);
        (pressure as f64 / self.capacity as f64).min(1.0)
    }

    pub(crate) fn push(&mut self, frame: SharedFrame) -> Push {
        if frame.priority != Priority::Instant {
            self.arrivals = self.arrivals.saturating_add(1);
        }
        let size = frame.bytes.len();
        if frame.priority == Priority::Coalesced {
            if let Some(slot) = self.coalesced_slot(&frame.coalesce_key) {
                let old = self.coalesced[slot].bytes.len();
                if size > old && self.bytes - old + size > self.max_bytes {
                    // The larger replacement does not fit: keep the older
                    // value and let the caller apply the overflow policy.
                    if self.paused {
                        self.held_overflow = true;
                        return Push::HeldOverflow;
                    }
                    return Push::Full;
                }
                self.bytes = self.bytes - old + size;
                self.coalesced[slot] = frame;
                return Push::Replaced;
            }
        }
        // A frame larger than the byte bound still goes into an empty queue:
        // otherwise it could never be delivered.
        let over_bytes = self.bytes > 0 && self.bytes + size > self.max_bytes;
        if self.len() >= self.capacity || over_bytes {
            if self.paused && frame.priority != Priority::Instant {
                self.held_overflow = true;
                return Push::HeldOverflow;
            }
            return Push::Full;
        }
        self.bytes += size;
        match frame.priority {
            Priority::Instant => {
                self.instant_bytes += size;
                self.instant.push_back(frame);
            }
            Priority::Batched => self.batched.push_back(frame),
            Priority::Coalesced => {
                let slot = self.coalesced.len();
                if slot >= COALESCE_SCAN_LIMIT {
                    if self.coalesced_index.is_empty() {
                        for (i, held) in self.coalesced.iter().enumerate() {
                            self.coalesced_index.insert(held.coalesce_key.clone(), i);
                        }
                    }
                    self.coalesced_index
                        .insert(frame.coalesce_key.clone(), slot);
                }
                self.coalesced.push(frame);
            }
        }
        Push::Queued
    }

    /// Puts a control frame at the end of the instant lane, ignoring the bound:
    /// control events (`server-shutdown`, `resync`) must never be dropped.
    pub(crate) fn push_control(&mut self, frame: SharedFrame) {
        self.bytes += frame.bytes.len();
        self.instant_bytes += frame.bytes.len();
        self.instant.push_back(frame);
    }

    fn coalesced_slot(&self, key: &str) -> Option<usize> {
        if self.coalesced.len() > COALESCE_SCAN_LIMIT || !self.coalesced_index.is_empty() {
            return self.coalesced_index.get(key).copied();
        }
        self.coalesced
            .iter()
            .position(|held| &*held.coalesce_key == key)
    }

    /// The instant frames, in order.
    pub(crate) fn instant(&self) -> impl ExactSizeIterator<Item = &SharedFrame> {
        self.instant.iter()
    }

    /// Drops the instant frames (after they were written elsewhere).
    pub(crate) fn clear_instant(&mut self) {
        self.bytes -= std::mem::take(&mut self.instant_bytes);
        self.instant.clear();
        shrink_emptied(&mut self.instant);
    }

    /// Moves instant frames into `out`.
    pub(crate) fn take_instant(&mut self, out: &mut impl Extend<SharedFrame>) {
        self.bytes -= std::mem::take(&mut self.instant_bytes);
        out.extend(self.instant.drain(..));
        shrink_emptied(&mut self.instant);
    }

    /// Moves held frames into `out`: batched in publish order, then coalesced
    /// in first-seen key order. Resets the arrival count.
    pub(crate) fn take_held(&mut self, out: &mut impl Extend<SharedFrame>) {
        self.bytes = self.instant_bytes;
        out.extend(self.batched.drain(..));
        out.extend(self.coalesced.drain(..));
        shrink_emptied(&mut self.batched);
        if self.coalesced.capacity() > SHRINK_ABOVE {
            self.coalesced = Vec::new();
        }
        self.coalesced_index = HashMap::new();
        self.arrivals = 0;
    }

    /// Moves held frames to the end of the instant lane (drain: everything
    /// goes out now, in the order a flush would send it).
    pub(crate) fn release_held(&mut self) {
        self.instant_bytes = self.bytes;
        self.instant.extend(self.batched.drain(..));
        self.instant.extend(self.coalesced.drain(..));
        self.coalesced_index.clear();
        self.arrivals = 0;
    }

    /// Removes queued frames whose id is in `ids` (already sent by replay).
    pub(crate) fn remove_ids(&mut self, ids: &std::collections::HashSet<Arc<str>>) {
        let keep = |frame: &SharedFrame| frame.id.as_ref().is_none_or(|id| !ids.contains(id));
        self.instant.retain(keep);
        self.batched.retain(keep);
        self.coalesced.retain(keep);
        self.instant_bytes = self.instant.iter().map(|f| f.bytes.len()).sum();
        self.bytes = self.instant_bytes
            + self
                .batched
                .iter()
                .chain(&self.coalesced)
                .map(|f| f.bytes.len())
                .sum::<usize>();
        self.coalesced_index.clear();
        if self.coalesced.len() > COALESCE_SCAN_LIMIT {
            for (i, held) in self.coalesced.iter().enumerate() {
                self.coalesced_index.insert(held.coalesce_key.clone(), i);
            }
        }
    }

    /// Pauses; returns false if already paused.
    pub(crate) fn pause(&mut self) -> bool {
        !std::mem::replace(&mut self.paused, true)
    }

    /// Resumes; returns `Some(overflowed)` if it was paused, where
    /// `overflowed` says held events were lost and the client needs `resync`.
    pub(crate) fn resume(&mut self) -> Option<bool> {
        if !std::mem::replace(&mut self.paused, false) {
            return None;
        }
        Some(std::mem::take(&mut self.held_overflow))
    }
}

/// Frees an emptied queue's buffer if a burst grew it.
fn shrink_emptied(queue: &mut VecDeque<SharedFrame>) {
    if queue.is_empty() && queue.capacity() > SHRINK_ABOVE {
        *queue = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::frame::Frame;
    use bytes::Bytes;
    use proptest::prelude::*;
    use tokio::time::Instant;

    fn frame(priority: Priority, key: &str, body: &str) -> SharedFrame {
        Arc::new(Frame {
            bytes: Bytes::from(body.to_owned()),
            id: Some(Arc::from(body)),
            priority,
            coalesce_key: Arc::from(key),
            published_at: Instant::now(),
            expires_at: None,
        })
    }

    fn bodies(frames: &[SharedFrame]) -> Vec<String> {
        frames
            .iter()
            .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
            .collect()
    }

    #[test]
    fn batched_keeps_order_and_coalesced_keeps_last_per_key_in_first_seen_order() {
        let mut lanes = Lanes::new(16, 1 << 20);
        lanes.push(frame(Priority::Coalesced, "a", "a1"));
        lanes.push(frame(Priority::Batched, "x", "b1"));
        lanes.push(frame(Priority::Coalesced, "b", "b-1"));
        assert_eq!(
            lanes.push(frame(Priority::Coalesced, "a", "a2")),
            Push::Replaced
        );
        lanes.push(frame(Priority::Batched, "x", "b2"));
        let mut out = Vec::new();
        lanes.take_held(&mut out);
        assert_eq!(bodies(&out), ["b1", "b2", "a2", "b-1"]);
        assert_eq!(lanes.len(), 0);
    }

    #[test]
    fn full_queue_reports_full_and_paused_overflow_flags_resync() {
        let mut lanes = Lanes::new(2, 1 << 20);
        lanes.push(frame(Priority::Instant, "i", "1"));
        lanes.push(frame(Priority::Batched, "b", "2"));
        assert_eq!(lanes.push(frame(Priority::Instant, "i", "3")), Push::Full);
        assert!(lanes.pause());
        assert!(!lanes.pause());
        assert_eq!(
            lanes.push(frame(Priority::Batched, "b", "4")),
            Push::HeldOverflow
        );
        assert_eq!(lanes.resume(), Some(true));
        assert_eq!(lanes.resume(), None);
    }

    #[test]
    fn coalescing_still_replaces_after_removing_ids_with_many_keys() {
        let mut lanes = Lanes::new(100, 1 << 20);
        for key in 0..12 {
            lanes.push(frame(
                Priority::Coalesced,
                &format!("k{key}"),
                &format!("v{key}"),
            ));
        }
        let gone: std::collections::HashSet<Arc<str>> = [Arc::from("v0")].into_iter().collect();
        lanes.remove_ids(&gone);
        assert_eq!(
            lanes.push(frame(Priority::Coalesced, "k5", "new")),
            Push::Replaced
        );
        assert_eq!(lanes.len(), 11);
    }

    #[test]
    fn control_frames_ignore_the_bound() {
        let mut lanes = Lanes::new(1, 1 << 20);
        lanes.push(frame(Priority::Instant, "i", "1"));
        lanes.push_control(frame(Priority::Instant, "", "ctl"));
        let mut out = Vec::new();
        lanes.take_instant(&mut out);
        assert_eq!(bodies(&out), ["1", "ctl"]);
    }

    proptest! {
        /// Against a brute-force model: the flushed coalesced lane holds the
        /// last value per key, keys in first-seen order, whatever the key count
        /// (crossing the scan/index threshold).
        #[test]
        fn coalescing_matches_model(ops in proptest::collection::vec((0u8..20, 0u32..1000), 0..200)) {
            let mut lanes = Lanes::new(1000, 1 << 20);
            let mut model: Vec<(String, String)> = Vec::new();
            for (key, value) in &ops {
                let key = format!("k{key}");
                let body = format!("{key}={value}");
                lanes.push(frame(Priority::Coalesced, &key, &body));
                match model.iter_mut().find(|(k, _)| *k == key) {
                    Some(entry) => entry.1 = body,
                    None => model.push((key, body)),
                }
            }
            let mut out = Vec::new();
            lanes.take_held(&mut out);
            let expected: Vec<String> = model.into_iter().map(|(_, body)| body).collect();
            prop_assert_eq!(bodies(&out), expected);
        }

        /// The bound holds for any mix of lanes, and what is queued comes out
        /// in order per lane.
        #[test]
        fn bound_and_order_hold(ops in proptest::collection::vec(0u8..3, 0..100), cap in 1usize..20) {
            let mut lanes = Lanes::new(cap, 1 << 20);
            let mut instant = Vec::new();
            let mut batched = Vec::new();
            for (n, op) in ops.iter().enumerate() {
                let body = n.to_string();
                let (priority, key) = match op {
                    0 => (Priority::Instant, "i".to_string()),
                    1 => (Priority::Batched, "b".to_string()),
                    _ => (Priority::Coalesced, format!("c{n}")),
                };
                let pushed = lanes.push(frame(priority, &key, &body));
                prop_assert!(lanes.len() <= cap);
                if pushed == Push::Queued {
                    match op { 0 => instant.push(body), 1 => batched.push(body), _ => {} }
                }
            }
            let mut out = Vec::new();
            lanes.take_instant(&mut out);
            prop_assert_eq!(bodies(&out), instant);
            out.clear();
            lanes.take_held(&mut out);
            let held = bodies(&out);
            prop_assert_eq!(&held[..batched.len()], &batched[..]);
        }
    }
}
