//! An encoded event as it sits in connection queues.

use std::sync::Arc;
use tokio::time::Instant;

use bytes::Bytes;

use crate::event::Priority;

/// One event, encoded once at publish and shared by every recipient: a
/// delivery costs one reference-count increment, never a copy or a format.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) bytes: Bytes,
    pub(crate) id: Option<Arc<str>>,
    pub(crate) priority: Priority,
    /// Key for last-writer-wins on the coalesced lane.
    pub(crate) coalesce_key: Arc<str>,
    pub(crate) published_at: Instant,
    pub(crate) expires_at: Option<Instant>,
}

pub(crate) type SharedFrame = Arc<Frame>;

impl Frame {
    /// A frame that is not an event: control events and comments.
    pub(crate) fn control(bytes: Bytes) -> SharedFrame {
        Arc::new(Self {
            bytes,
            id: None,
            priority: Priority::Instant,
            coalesce_key: Arc::from(""),
            published_at: Instant::now(),
            expires_at: None,
        })
    }

    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}
