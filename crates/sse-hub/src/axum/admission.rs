//! Socket admission: every accepted TCP connection counts against a limit
//! from the moment of `accept` until it closes, in total and per IP address,
//! with a small reserve for short requests such as health checks.
//!
//! The hub's `max_connections` counts event streams, which exist only once a
//! request was read; a client that opens sockets and never sends a request
//! would otherwise hold file descriptors unchecked until the header timeout.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::Config;

/// The limits a [`DeadlineListener`](super::DeadlineListener) admits sockets by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketLimits {
    /// Sockets open at once, before the reserve.
    pub max_sockets: usize,
    /// Sockets one IP address may hold open at once; `None`: no such limit.
    pub max_per_ip: Option<usize>,
    /// Sockets past `max_sockets` admitted for one short request each.
    pub reserve: usize,
}

impl SocketLimits {
    /// No limit at all (what [`DeadlineListener::new`](super::DeadlineListener::new) uses).
    pub const UNLIMITED: Self = Self {
        max_sockets: usize::MAX,
        max_per_ip: None,
        reserve: 0,
    };

    /// The limits configured in `config` (see [`Config::max_sockets`]).
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_sockets: config.socket_limit(),
            max_per_ip: config.max_sockets_per_ip,
            reserve: config.socket_reserve,
        }
    }
}

/// Counters of a listener's admission, shared with whoever asks for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SocketStats {
    /// Sockets open now (reserve ones included).
    pub open: usize,
    /// Reserve sockets open now.
    pub reserve_open: usize,
    /// Sockets accepted since start.
    pub accepted: u64,
    /// Sockets closed at once because `max_sockets` and the reserve were full.
    pub refused_at_limit: u64,
    /// Sockets closed at once because their IP address was at its limit.
    pub refused_per_ip: u64,
    /// `accept` calls that failed (out of descriptors and the like).
    pub accept_errors: u64,
}

/// A handle on a listener's admission counters; cheap to clone.
#[derive(Debug, Clone)]
pub struct SocketCounters(pub(crate) Arc<Admission>);

impl SocketCounters {
    /// A snapshot of the counters.
    pub fn snapshot(&self) -> SocketStats {
        let a = &self.0;
        SocketStats {
            open: a.open.load(Ordering::Relaxed),
            reserve_open: a.reserve_open.load(Ordering::Relaxed),
            accepted: a.accepted.load(Ordering::Relaxed),
            refused_at_limit: a.refused_at_limit.load(Ordering::Relaxed),
            refused_per_ip: a.refused_per_ip.load(Ordering::Relaxed),
            accept_errors: a.accept_errors.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Admission {
    limits: SocketLimits,
    open: AtomicUsize,
    reserve_open: AtomicUsize,
    /// Open sockets per address; only addresses with an open socket have an
    /// entry, so it is bounded by the socket limit.
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    accepted: AtomicU64,
    refused_at_limit: AtomicU64,
    refused_per_ip: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
}

impl Admission {
    pub(crate) fn new(limits: SocketLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            open: AtomicUsize::new(0),
            reserve_open: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            accepted: AtomicU64::new(0),
            refused_at_limit: AtomicU64::new(0),
            refused_per_ip: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
        })
    }

    /// A ticket for a socket from `ip`, or `None` if it must be closed.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Ticket> {
        let limits = self.limits;
        let total = limits.max_sockets.saturating_add(limits.reserve);
        let open = self.open.fetch_add(1, Ordering::AcqRel);
        if open >= total {
            self.open.fetch_sub(1, Ordering::AcqRel);
            self.refused_at_limit.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if let Some(max) = limits.max_per_ip {
            let mut per_ip = self.per_ip.lock();
            let count = per_ip.entry(ip).or_insert(0);
            if *count >= max {
                if *count == 0 {
                    per_ip.remove(&ip);
                }
                drop(per_ip);
                self.open.fetch_sub(1, Ordering::AcqRel);
                self.refused_per_ip.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            *count += 1;
        }
        let reserve = open >= limits.max_sockets;
        if reserve {
            self.reserve_open.fetch_add(1, Ordering::Relaxed);
        }
        self.accepted.fetch_add(1, Ordering::Relaxed);
        Some(Ticket {
            admission: self.clone(),
            ip,
            reserve,
        })
    }
}

/// An admitted socket's place; released when the socket is dropped.
#[derive(Debug)]
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    ip: IpAddr,
    pub(crate) reserve: bool,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let admission = &self.admission;
        if admission.limits.max_per_ip.is_some() {
            let mut per_ip = admission.per_ip.lock();
            if let Some(count) = per_ip.get_mut(&self.ip) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    per_ip.remove(&self.ip);
                }
            }
        }
        if self.reserve {
            admission.reserve_open.fetch_sub(1, Ordering::Relaxed);
        }
        admission.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Back-off after failed `accept` calls, logging once per burst of errors:
/// when the burst starts, and when accepts have succeeded for [`QUIET`]
/// after its last error (with the number of errors).
///
/// [`QUIET`]: AcceptBackoff::QUIET
#[derive(Debug, Default)]
pub(crate) struct AcceptBackoff {
    errors_in_burst: u64,
    last_error: Option<std::time::Instant>,
    delay: Duration,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);
    /// Errors less than this apart belong to one burst.
    const QUIET: Duration = Duration::from_secs(1);

    /// Records a failure and returns how long to wait before the next accept.
    pub(crate) fn failed(&mut self, err: &std::io::Error) -> Duration {
        if self.errors_in_burst == 0 {
            tracing::warn!(
                error = %err,
                "accept failed; backing off (the rest of this burst is logged when it ends)"
            );
        }
        self.errors_in_burst += 1;
        self.last_error = Some(std::time::Instant::now());
        self.delay = if self.delay.is_zero() {
            Self::FIRST
        } else {
            (self.delay * 2).min(Self::MAX)
        };
        self.delay
    }

    /// Records a successful accept: the back-off restarts, and a burst whose
    /// last error is [`QUIET`](Self::QUIET) old ends.
    pub(crate) fn succeeded(&mut self) {
        self.delay = Duration::ZERO;
        if self.errors_in_burst == 0 {
            return;
        }
        if self
            .last_error
            .is_some_and(|at| at.elapsed() >= Self::QUIET)
        {
            tracing::warn!(
                errors = self.errors_in_burst,
                "accept recovered after a burst of errors"
            );
            self.errors_in_burst = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn total_reserve_and_per_ip_limits() {
        let admission = Admission::new(SocketLimits {
            max_sockets: 2,
            max_per_ip: Some(2),
            reserve: 1,
        });
        let a = admission.admit(ip(1)).unwrap();
        let b = admission.admit(ip(1)).unwrap();
        assert!(!a.reserve && !b.reserve);
        assert!(admission.admit(ip(1)).is_none(), "per-IP limit");
        let c = admission.admit(ip(2)).unwrap();
        assert!(c.reserve, "past max_sockets: a reserve socket");
        assert!(admission.admit(ip(3)).is_none(), "limit and reserve full");
        let stats = SocketCounters(admission.clone()).snapshot();
        assert_eq!(
            (
                stats.open,
                stats.reserve_open,
                stats.refused_per_ip,
                stats.refused_at_limit
            ),
            (3, 1, 1, 1)
        );
        drop(a);
        drop(c);
        let d = admission.admit(ip(1)).unwrap();
        assert!(!d.reserve);
        drop((b, d));
        assert_eq!(SocketCounters(admission.clone()).snapshot().open, 0);
        assert!(admission.per_ip.lock().is_empty(), "no entry left behind");
    }

    #[test]
    fn backoff_grows_to_a_cap_and_resets() {
        let mut backoff = AcceptBackoff::default();
        let err = std::io::Error::other("EMFILE");
        let delays: Vec<_> = (0..12).map(|_| backoff.failed(&err)).collect();
        assert_eq!(delays[0], AcceptBackoff::FIRST);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(delays[11], AcceptBackoff::MAX);
        backoff.succeeded();
        assert_eq!(backoff.failed(&err), AcceptBackoff::FIRST);
        // A success right after an error does not end the burst.
        backoff.succeeded();
        assert_eq!(backoff.errors_in_burst, 13);
    }
}
