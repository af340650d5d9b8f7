//! [`RecentIds`]: the ids this process appended, for
//! [`Replayer::contains`].

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

#[cfg(doc)]
use crate::replay::Replayer;

/// Ids this process appended within retention, for [`Replayer::contains`].
#[derive(Debug, Default)]
pub(super) struct RecentIds {
    pub(super) set: HashSet<Arc<str>>,
    pub(super) order: VecDeque<(Instant, Arc<str>)>,
}

impl RecentIds {
    pub(super) fn expire(&mut self, now: Instant, max_age: Duration, max_len: usize) {
        while let Some((at, id)) = self.order.front() {
            if self.order.len() <= max_len && now.saturating_duration_since(*at) <= max_age {
                break;
            }
            self.set.remove(id);
            self.order.pop_front();
        }
    }
}
