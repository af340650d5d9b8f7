//! Fan-out: offering one frame to every routed connection, then running the
//! direct writes those offers asked for.
//!
//! Offers run on the publisher's thread under the registry's read lock (the
//! replay/live race in `Hub::replay` relies on every offer of a published
//! event having happened before a subscriber can take the write lock). They
//! only queue: a lock, a push, and a wake or a request for a direct write.
//!
//! Direct writes (`connection::direct`) are socket writes, several
//! microseconds of kernel time each, so they do not run under the lock: every
//! [`DIRECT_BATCH`] deferred connections (and the rest after the fan-out) go
//! to a job, and one task per worker takes chunks of its connections from a
//! shared cursor until none are left. Handing batches over during the
//! fan-out lets other workers start writing before the last offer.
//! Work-sharing instead of a fixed split means a worker the OS preempts
//! delays only the chunk it holds. The publisher does not wait for them: its
//! frames are already queued, in order, and each connection's lock
//! serializes a direct write with its stream.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::time::Instant;

use super::HubInner;
use crate::config::Overflow;
use crate::connection::{CloseReason, Offer, Shared, SharedFrame};

/// Connections per unit of shared work.
const CHUNK: usize = 32;

/// Deferred connections handed to a write job while the fan-out is still
/// offering: a large fan-out's first writes need not wait for its last offer.
pub(crate) const DIRECT_BATCH: usize = 8 * CHUNK;

/// What a fan-out did.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) recipients: usize,
    pub(crate) dropped: usize,
    /// Connections waiting for a direct write.
    pub(crate) direct: Vec<Arc<Shared>>,
}

impl Tally {
    /// Offers `frame` to `conn` and accounts for the outcome.
    pub(crate) fn offer(
        &mut self,
        inner: &HubInner,
        conn: &Arc<Shared>,
        frame: &SharedFrame,
        now: Instant,
        direct: bool,
    ) {
        let stats = &inner.stats;
        match conn.offer(frame, now, &inner.config, direct) {
            Offer::Queued => self.recipients += 1,
            Offer::Deferred => {
                self.recipients += 1;
                self.direct.push(conn.clone());
            }
            Offer::Closed => {}
            Offer::TimedOut => {
                stats.write_timeouts.fetch_add(1, Ordering::Relaxed);
                self.dropped += 1;
            }
            Offer::HeldOverflow => {
                stats.dropped_paused.fetch_add(1, Ordering::Relaxed);
                conn.counters.dropped.fetch_add(1, Ordering::Relaxed);
                self.dropped += 1;
            }
            Offer::Full => {
                conn.counters.dropped.fetch_add(1, Ordering::Relaxed);
                self.dropped += 1;
                match inner.config.overflow {
                    Overflow::DropNewest => {
                        stats.dropped_full.fetch_add(1, Ordering::Relaxed);
                    }
                    Overflow::Disconnect => {
                        stats.disconnected_overflow.fetch_add(1, Ordering::Relaxed);
                        conn.close(CloseReason::Overflow);
                    }
                }
            }
        }
    }
}

/// Whether new offers may ask for direct writes: only while the previous
/// ones are done. Direct writes give up batching, so when they fall behind
/// (events arrive faster than one write per event can follow, as under a
/// flood of publishes) connections go back to their streams, which pack
/// everything queued into one write and hold writes once they fall behind.
///
/// Nor while the runtime has tasks waiting in its shared queue: then it is
/// saturated (a large fan-out's woken streams overflow the workers' local
/// queues into it), a write job would wait behind those tasks, and the
/// streams batch better anyway.
/// `runtime` is the publisher's runtime, if it runs in one.
pub(crate) fn direct_allowed(inner: &HubInner, runtime: Option<&Handle>) -> bool {
    inner.config.direct_write_gap.is_some()
        && inner.direct_backlog.load(Ordering::Relaxed) == 0
        && runtime.is_none_or(|h| h.metrics().global_queue_depth() == 0)
}

/// Runs the direct writes of `conns`: on the workers of `runtime`, else
/// right here.
pub(crate) fn write_direct(
    inner: &Arc<HubInner>,
    runtime: Option<&Handle>,
    conns: Vec<Arc<Shared>>,
) {
    if conns.is_empty() {
        return;
    }
    let Some(handle) = runtime else {
        for conn in &conns {
            conn.write_direct(inner);
        }
        return;
    };
    let workers = match handle.runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => handle.metrics().num_workers(),
        _ => 1,
    };
    inner
        .direct_backlog
        .fetch_add(conns.len(), Ordering::Relaxed);
    let job = Arc::new(Job {
        inner: inner.clone(),
        conns,
        next: AtomicUsize::new(0),
    });
    for _ in 0..workers.clamp(1, job.conns.len().div_ceil(CHUNK)) {
        let job = job.clone();
        handle.spawn(async move { job.work().await });
    }
}

struct Job {
    inner: Arc<HubInner>,
    conns: Vec<Arc<Shared>>,
    /// Next chunk to take.
    next: AtomicUsize,
}

impl Job {
    /// Takes chunks until none are left, yielding between them so that
    /// publish requests keep being served (and see the backlog).
    async fn work(&self) {
        loop {
            let start = self
                .next
                .fetch_add(1, Ordering::Relaxed)
                .saturating_mul(CHUNK);
            let Some(chunk) = self.conns.get(start..) else {
                return;
            };
            let chunk = &chunk[..chunk.len().min(CHUNK)];
            for conn in chunk {
                conn.write_direct(&self.inner);
            }
            self.inner
                .direct_backlog
                .fetch_sub(chunk.len(), Ordering::Relaxed);
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Config, Hub};
    use std::time::{Duration, Instant};

    #[test]
    fn direct_writes_wait_while_the_runtime_has_queued_tasks() {
        let hub = Hub::new(Config::new().direct_write_gap(Some(Duration::from_millis(2)))).unwrap();
        let off = Hub::new(Config::new().direct_write_gap(None)).unwrap();
        // Outside any runtime only the backlog decides.
        assert!(direct_allowed(&hub.inner, None));
        assert!(!direct_allowed(&off.inner, None));

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let runtime = Some(rt.handle());
        assert!(direct_allowed(&hub.inner, runtime));
        // Block the only worker, then queue tasks from this (non-worker)
        // thread: they wait in the runtime's shared queue.
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        rt.spawn(async move {
            let _ = started_tx.send(());
            let _ = blocked.recv();
        });
        started.recv().unwrap();
        for _ in 0..4 {
            rt.spawn(async {});
        }
        assert!(!direct_allowed(&hub.inner, runtime), "a saturated runtime");
        release.send(()).unwrap();
        let t0 = Instant::now();
        while !direct_allowed(&hub.inner, runtime) {
            assert!(t0.elapsed() < Duration::from_secs(5), "queue never drained");
            std::thread::sleep(Duration::from_millis(1));
        }
        // A pending direct write holds new ones back too.
        hub.inner.direct_backlog.fetch_add(1, Ordering::Relaxed);
        assert!(!direct_allowed(&hub.inner, runtime));
    }
}
