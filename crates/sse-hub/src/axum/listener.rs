//! A listener whose connections enforce the hub's write deadline and count
//! against the socket limits from the moment of `accept` (see
//! [`admission`](super::admission)).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::time::Sleep;

use super::admission::{AcceptBackoff, Admission, SocketCounters, SocketLimits, Ticket};
use crate::Config;

/// See [`DeadlineListener::with_header_timeout`].
const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP listener for `axum::serve` whose connections fail a write that the
/// peer does not take within the hub's write timeout, so a client that
/// stopped reading is closed instead of holding its connection (and the
/// server's graceful shutdown) forever. Sets `TCP_NODELAY`: SSE frames are
/// small and latency-sensitive.
///
/// Every accepted socket counts against [`SocketLimits`] until it closes; a
/// socket past them is closed at once (a browser's EventSource retries after
/// a network error, it would not after a 503). A failing `accept` (out of
/// descriptors) backs off, from 5 ms doubling to 1 s, and is logged once
/// when the burst starts and once when it ends.
#[derive(Debug)]
pub struct DeadlineListener {
    inner: TcpListener,
    timeout: Duration,
    admission: Arc<Admission>,
    backoff: AcceptBackoff,
    header_timeout: Duration,
}

impl DeadlineListener {
    /// Wraps a bound listener; `timeout` is the write deadline. No socket
    /// limits: see [`with_limits`](Self::with_limits).
    pub fn new(inner: TcpListener, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            admission: Admission::new(SocketLimits::UNLIMITED),
            backoff: AcceptBackoff::default(),
            header_timeout: DEFAULT_HEADER_TIMEOUT,
        }
    }

    /// Longest a client may take to send a request head (the serve loops of
    /// [`crate::axum::serve`] close the socket then). Default: 10 s.
    #[must_use]
    pub fn with_header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// See [`with_header_timeout`](Self::with_header_timeout).
    pub fn header_timeout(&self) -> Duration {
        self.header_timeout
    }

    /// Admits sockets by `limits` from now on.
    #[must_use]
    pub fn with_limits(mut self, limits: SocketLimits) -> Self {
        self.admission = Admission::new(limits);
        self
    }

    /// Binds `addr` with the write deadline and socket limits of `config`.
    ///
    /// # Errors
    ///
    /// The bind error.
    pub async fn bind(addr: impl ToSocketAddrs, config: &Config) -> io::Result<Self> {
        Ok(
            Self::new(TcpListener::bind(addr).await?, config.write_timeout)
                .with_limits(SocketLimits::from_config(config))
                .with_header_timeout(config.header_timeout),
        )
    }

    /// The admission counters (open sockets, refusals, accept errors); take
    /// it before handing the listener to a serve loop.
    pub fn counters(&self) -> SocketCounters {
        SocketCounters(self.admission.clone())
    }
}

impl axum::serve::Listener for DeadlineListener {
    type Io = DeadlineStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    self.backoff.succeeded();
                    let Some(ticket) = self.admission.admit(addr.ip()) else {
                        // Closed at once, before any byte is read: counted
                        // in the admission counters, not logged per socket.
                        drop(stream);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let mut stream = DeadlineStream::new(stream, self.timeout);
                    stream.ticket = Some(ticket);
                    stream.header_timeout = self.header_timeout;
                    return (stream, addr);
                }
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    self.admission
                        .accept_errors
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let delay = self.backoff.failed(&err);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The peer address of a connection accepted by [`DeadlineListener`]: use
/// `into_make_service_with_connect_info::<PeerAddr>()` so `on_connect` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, DeadlineListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, DeadlineListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// A TCP stream whose writes time out (see [`DeadlineListener`]).
#[derive(Debug)]
pub struct DeadlineStream {
    inner: TcpStream,
    timeout: Duration,
    /// Armed while a write is blocked.
    blocked: Option<Pin<Box<Sleep>>>,
    /// The socket's place under the listener's limits, released on drop.
    ticket: Option<Ticket>,
    header_timeout: Duration,
}

impl DeadlineStream {
    /// Wraps `inner`.
    pub fn new(inner: TcpStream, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            blocked: None,
            ticket: None,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
        }
    }

    /// Longest the client may take to send its request head.
    pub(crate) fn header_timeout(&self) -> Duration {
        self.header_timeout
    }

    /// Whether this socket was admitted from the reserve past the socket
    /// limit: it may carry one short request, never an event stream.
    pub fn is_reserve(&self) -> bool {
        self.ticket.as_ref().is_some_and(|ticket| ticket.reserve)
    }

    /// The socket, the write deadline and the admission ticket (keep it as
    /// long as the socket).
    pub(crate) fn into_parts(self) -> (TcpStream, Duration, Option<Ticket>) {
        (self.inner, self.timeout, self.ticket)
    }

    fn poll_deadline<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if result.is_ready() {
            self.blocked = None;
            return result;
        }
        let timeout = self.timeout;
        let sleep = self
            .blocked
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "client did not take data within the write timeout",
            )));
        }
        Poll::Pending
    }
}

impl AsyncRead for DeadlineStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for DeadlineStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.poll_deadline(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.poll_deadline(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.poll_deadline(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
