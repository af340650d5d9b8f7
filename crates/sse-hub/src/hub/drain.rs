//! Graceful drain, Kubernetes style.
//!
//! 1. The hub turns draining: readiness is false, `publish` fails with
//!    [`PublishError::Draining`](crate::PublishError::Draining), new
//!    subscribers are turned away with `server-shutdown` and a jittered retry.
//! 2. Every connection gets its held (batched, coalesced) events flushed, then
//!    a `server-shutdown` event, and closes at a random instant within the
//!    first half of the window, so clients reconnect to other nodes spread out.
//! 3. Bridges watching [`Hub::stopping`] stop.
//! 4. At the deadline, connections whose client never took their data are
//!    dropped from the hub regardless: a wedged client cannot hold shutdown.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::{jittered, millis, Hub};
use crate::connection::{CloseReason, Frame};
use crate::control;

/// What [`Hub::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Connections open when the drain started.
    pub connections: usize,
    /// Connections still open at the deadline, dropped from the hub.
    pub forced: usize,
}

impl Hub {
    /// Drains the hub within `deadline` (see the module docs). Calling it again
    /// while or after draining waits for the same outcome.
    ///
    /// # Cancel safety
    ///
    /// The drain proceeds if the future is dropped; only the waiting stops.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let inner = &self.inner;
        let started = Instant::now();
        let end = started + deadline;
        let first = !inner.draining.swap(true, Ordering::AcqRel);
        inner.stopping.send_replace(true);
        let connections: Vec<_> = inner.registry.read().conns.values().cloned().collect();
        let total = connections.len();
        if first {
            tracing::info!(connections = total, ?deadline, "draining");
            let spread = deadline / 2;
            for conn in &connections {
                let retry = millis(jittered(inner.config.turn_away_retry, 1.0));
                let frame = Frame::control(control::goodbye(
                    control::SERVER_SHUTDOWN,
                    "draining",
                    retry,
                ));
                conn.drain(frame, started + spread.mul_f64(rand::random::<f64>()));
            }
        }
        loop {
            let notified = inner.empty.notified();
            if inner.registry.read().len() == 0 {
                break;
            }
            if tokio::time::timeout_at(end, notified).await.is_err() {
                break;
            }
        }
        let remaining: Vec<_> = inner.registry.read().conns.values().cloned().collect();
        for conn in &remaining {
            conn.close(CloseReason::Drain);
            inner.unregister(conn);
        }
        if !remaining.is_empty() {
            tracing::warn!(
                forced = remaining.len(),
                "drain deadline reached; dropped connections that did not close"
            );
        }
        ShutdownReport {
            connections: total,
            forced: remaining.len(),
        }
    }
}

impl Hub {
    /// The stream for a subscriber on a socket admitted past the socket
    /// limit (see [`Config::socket_reserve`](crate::Config::socket_reserve)):
    /// `retry:` and `overloaded`, then the end.
    #[cfg(feature = "axum")]
    pub(crate) fn turn_away_at_socket_limit(&self) -> crate::EventStream {
        self.inner
            .stats
            .turned_away
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let retry = super::millis(super::jittered(self.inner.config.turn_away_retry, 1.0));
        crate::EventStream::once(crate::control::goodbye(
            crate::control::OVERLOADED,
            "socket limit reached",
            retry,
        ))
    }
}
