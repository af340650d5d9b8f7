//! A listener whose connections enforce the hub's write deadline.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::time::Sleep;

use crate::Config;

/// A TCP listener for `axum::serve` whose connections fail a write that the
/// peer does not take within the hub's write timeout, so a client that
/// stopped reading is closed instead of holding its connection (and the
/// server's graceful shutdown) forever. Sets `TCP_NODELAY`: SSE frames are
/// small and latency-sensitive.
#[derive(Debug)]
pub struct DeadlineListener {
    inner: TcpListener,
    timeout: Duration,
}

impl DeadlineListener {
    /// Wraps a bound listener; `timeout` is the write deadline.
    pub fn new(inner: TcpListener, timeout: Duration) -> Self {
        Self { inner, timeout }
    }

    /// Binds `addr` with the write deadline of `config`.
    ///
    /// # Errors
    ///
    /// The bind error.
    pub async fn bind(addr: impl ToSocketAddrs, config: &Config) -> io::Result<Self> {
        Ok(Self::new(
            TcpListener::bind(addr).await?,
            config.write_timeout,
        ))
    }
}

impl axum::serve::Listener for DeadlineListener {
    type Io = DeadlineStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (DeadlineStream::new(stream, self.timeout), addr);
                }
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
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
}

impl DeadlineStream {
    /// Wraps `inner`.
    pub fn new(inner: TcpStream, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            blocked: None,
        }
    }

    /// The socket and the write deadline.
    pub(crate) fn into_parts(self) -> (TcpStream, Duration) {
        (self.inner, self.timeout)
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
