//! The three delivery lanes of one connection, and their bound.
//!
//! Pure data structure: no clock, no waker; the connection's stream decides
//! when to take from it. All lanes share one capacity (the send buffer size),
//! counted in entries; replacing a coalesced entry does not grow it.
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
    paused: bool,
    held_overflow: bool,
    /// Entries offered to the held lanes since the last flush, replacements
    /// included: the publish pressure the throttle reacts to.
    arrivals: usize,
}

impl Lanes {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            instant: VecDeque::new(),
            batched: VecDeque::new(),
            coalesced: Vec::new(),
            coalesced_index: HashMap::new(),
            capacity,
            paused: false,
            held_overflow: false,
            arrivals: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.instant.len() + self.batched.len() + self.coalesced.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
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
        if frame.priority == Priority::Coalesced {
            if let Some(slot) = self.coalesced_slot(&frame.coalesce_key) {
                self.coalesced[slot] = frame;
                return Push::Replaced;
            }
        }
        if self.len() >= self.capacity {
            if self.paused && frame.priority != Priority::Instant {
                self.held_overflow = true;
                return Push::HeldOverflow;
            }
            return Push::Full;
        }
        match frame.priority {
            Priority::Instant => self.instant.push_back(frame),
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
        self.instant.clear();
    }

    /// Moves instant frames into `out`.
    pub(crate) fn take_instant(&mut self, out: &mut impl Extend<SharedFrame>) {
        out.extend(self.instant.drain(..));
    }

    /// Moves held frames into `out`: batched in publish order, then coalesced
    /// in first-seen key order. Resets the arrival count.
    pub(crate) fn take_held(&mut self, out: &mut impl Extend<SharedFrame>) {
        out.extend(self.batched.drain(..));
        out.extend(self.coalesced.drain(..));
        self.coalesced_index.clear();
        self.arrivals = 0;
    }

    /// Moves held frames to the end of the instant lane (drain: everything
    /// goes out now, in the order a flush would send it).
    pub(crate) fn release_held(&mut self) {
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
        let mut lanes = Lanes::new(16);
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
        let mut lanes = Lanes::new(2);
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
        let mut lanes = Lanes::new(100);
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
        let mut lanes = Lanes::new(1);
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
            let mut lanes = Lanes::new(1000);
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
            let mut lanes = Lanes::new(cap);
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
