//! A lean HTTP/1.1 server loop for SSE-heavy apps.
//!
//! `axum::serve` is general: it sniffs the protocol (HTTP/1 or 2) per
//! connection and keeps that machinery in every connection's task for the
//! connection's whole life. An SSE connection lives for minutes and mostly
//! idles, so per-connection memory and per-event overhead are what matter.
//!
//! [`serve`] runs an axum `Router` on hyper's HTTP/1.1 connection directly,
//! with a bounded read buffer, `TCP_NODELAY` and the write deadline of
//! [`DeadlineListener`]. [`serve_with_sse`] goes one step further for the
//! subscribe route: it reads the request head itself and, for `GET <path>`,
//! subscribes the client to the hub and writes the event stream straight to
//! the socket (`Connection: close`, no chunked framing, one `write` per
//! packed chunk, no HTTP state kept per connection); every other request goes
//! to the router through hyper, unchanged.
//!
//! Both shut down gracefully: when `signal` resolves (run
//! [`Hub::shutdown`](crate::Hub::shutdown) in it) accepting stops, idle
//! keep-alive connections close, and they return once open responses end or
//! `grace` passes.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::Router;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::ServiceExt;

use super::{
    connecting_from, subscribe_error_response, DeadlineListener, DeadlineStream, PeerAddr,
};
use crate::connection::{CloseReason, DirectWrite};
use crate::Hub;

/// Largest request head read by the SSE fast path; larger ones go to hyper,
/// which answers 431.
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

/// Serves `router` on `listener` until `signal` resolves and open responses
/// end (or `grace` passes after the signal). Handlers see
/// `ConnectInfo<PeerAddr>`.
///
/// # Errors
///
/// Never returns an accept error (they are logged and retried); the `Result`
/// leaves room for future ones.
pub async fn serve<F>(
    listener: DeadlineListener,
    router: Router,
    signal: F,
    grace: Duration,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    run(listener, router, None, signal, grace).await
}

/// [`serve`], with `GET <path>` served by the SSE fast path on `hub` (see the
/// module docs): the router's own route for `path`, if any, only sees other
/// methods (`HEAD` included). `on_connect` sees the request head and
/// `ConnectInfo<PeerAddr>` as through [`subscribe`](super::subscribe).
///
/// **The fast path skips every tower layer of `router`**: a `GET <path>` it
/// takes never enters the router, so no `.layer(...)` runs for it (request
/// ids, tracing, CORS, host checks, body limits, timeouts, compression,
/// auth middleware). Checks belong in the hub's `on_connect` hook, which
/// runs on both paths; what a layer would refuse can be sent to the router
/// instead with [`SseRoute::take`], and headers a layer would add can be
/// added with [`SseRoute::headers`].
///
/// # Errors
///
/// As [`serve`].
pub async fn serve_with_sse<F>(
    listener: DeadlineListener,
    router: Router,
    hub: Hub,
    path: &str,
    signal: F,
    grace: Duration,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_with_sse_route(listener, router, hub, SseRoute::new(path), signal, grace).await
}

/// [`serve_with_sse`] with a configured [`SseRoute`]: which requests the fast
/// path takes and which headers it adds.
///
/// # Errors
///
/// As [`serve`].
pub async fn serve_with_sse_route<F>(
    listener: DeadlineListener,
    router: Router,
    hub: Hub,
    route: SseRoute,
    signal: F,
    grace: Duration,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let sse = Arc::new(SsePath { hub, route });
    run(listener, router, Some(sse), signal, grace).await
}

type Filter = Arc<dyn Fn(&http::request::Parts) -> bool + Send + Sync>;
type HeadersFn = Arc<dyn Fn(&http::request::Parts) -> http::HeaderMap + Send + Sync>;

/// The subscribe route of the SSE fast path: its path, which of its `GET`
/// requests the fast path serves, and headers it adds to its responses.
///
/// The fast path writes responses itself, so the router's layers (CORS, a
/// `Host` check, ...) never see its requests. [`take`](Self::take) sends the
/// requests such a layer would refuse to the router instead (which must then
/// route `GET <path>` too, e.g. to [`subscribe`](super::subscribe)), so every
/// refusal is decided in one place; [`headers`](Self::headers) adds what a
/// layer would have added to the responses it does serve.
///
/// # Examples
///
/// ```
/// use sse_hub::axum::SseRoute;
///
/// let route = SseRoute::new("/events")
///     // Requests for other hosts go to the router, which refuses them.
///     .take(|parts| parts.headers.get("host").is_some_and(|h| h == "example.com"))
///     .headers(|_parts| {
///         let mut headers = http::HeaderMap::new();
///         headers.insert("x-frame-options", http::HeaderValue::from_static("deny"));
///         headers
///     });
/// # let _ = route;
/// ```
#[derive(Clone)]
pub struct SseRoute {
    path: String,
    take: Option<Filter>,
    headers: Option<HeadersFn>,
}

impl SseRoute {
    /// The route at `path`, taking every `GET` request for it, adding no
    /// headers.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            take: None,
            headers: None,
        }
    }

    /// Serves on the fast path only the requests for which `take` returns
    /// true; the others go to the router. Default: all.
    #[must_use]
    pub fn take(
        mut self,
        take: impl Fn(&http::request::Parts) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.take = Some(Arc::new(take));
        self
    }

    /// Headers added to every response of the fast path (the stream, a
    /// refusal, a subscriber turned away), computed from the request head.
    /// Default: none.
    #[must_use]
    pub fn headers(
        mut self,
        headers: impl Fn(&http::request::Parts) -> http::HeaderMap + Send + Sync + 'static,
    ) -> Self {
        self.headers = Some(Arc::new(headers));
        self
    }
}

impl std::fmt::Debug for SseRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseRoute")
            .field("path", &self.path)
            .field("take", &self.take.is_some())
            .field("headers", &self.headers.is_some())
            .finish()
    }
}

#[derive(Debug)]
struct SsePath {
    hub: Hub,
    route: SseRoute,
}

async fn run<F>(
    mut listener: DeadlineListener,
    router: Router,
    sse: Option<Arc<SsePath>>,
    signal: F,
    grace: Duration,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(listener.header_timeout())
        .max_buf_size(MAX_HEAD);
    // A reserve socket (past the socket limit) carries one request.
    let mut reserve = builder.clone();
    reserve.keep_alive(false);
    let builder = Arc::new(builder);
    let reserve = Arc::new(reserve);
    // Every connection task holds a receiver; `closed()` tells us when all ended.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut signal = std::pin::pin!(signal);
    loop {
        let (io, peer) = tokio::select! {
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            () = &mut signal => break,
        };
        let task = Connection {
            router: router.clone(),
            builder: if io.is_reserve() {
                reserve.clone()
            } else {
                builder.clone()
            },
            stop: stop_rx.clone(),
            peer,
        };
        let sse = sse.clone();
        tokio::spawn(async move {
            match sse {
                Some(sse) => task.sniff(io, &sse).await,
                None => task.http(Rewind::new(Bytes::new(), io)).await,
            }
        });
    }
    drop(listener);
    drop(stop_rx);
    stop_tx.send_replace(true);
    if tokio::time::timeout(grace, stop_tx.closed()).await.is_err() {
        tracing::warn!(
            ?grace,
            "connections still open after the grace period; returning"
        );
    }
    Ok(())
}

struct Connection {
    router: Router,
    builder: Arc<hyper::server::conn::http1::Builder>,
    stop: watch::Receiver<bool>,
    peer: SocketAddr,
}

impl Connection {
    /// Reads the request head; `GET <sse path>` is served here, anything
    /// else (or anything we cannot parse) goes to hyper with the bytes read.
    async fn sniff(self, mut io: DeadlineStream, sse: &SsePath) {
        let mut head = BytesMut::with_capacity(1024);
        let parsed = tokio::time::timeout(io.header_timeout(), async {
            loop {
                match io.read_buf(&mut head).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
                match parse_head(&head, &sse.route.path) {
                    Head::Partial if head.len() < MAX_HEAD => continue,
                    Head::Sse(parts, len)
                        if sse.route.take.as_ref().is_none_or(|take| take(&parts)) =>
                    {
                        return Some(Some((parts, len)))
                    }
                    _ => return Some(None),
                }
            }
        })
        .await;
        match parsed {
            Ok(Some(Some((parts, len)))) => {
                head.advance(len);
                if head.is_empty() {
                    // The buffer would otherwise stay allocated for the
                    // stream's whole life (1 KiB per idle connection).
                    drop(head);
                    let extra = sse
                        .route
                        .headers
                        .as_ref()
                        .map(|headers| headers(&parts))
                        .unwrap_or_default();
                    self.sse(io, *parts, &sse.hub, extra).await;
                } else {
                    // A body or a pipelined request after `GET <sse path>`:
                    // the stream never ends, so nothing after it could be
                    // answered; close (see `sse` for bytes arriving later).
                    tracing::debug!("bytes after an event-stream request; closing");
                }
            }
            Ok(Some(None)) => self.http(Rewind::new(head.freeze(), io)).await,
            // Timed out or closed before a full head: nothing to answer.
            Ok(None) | Err(_) => {}
        }
    }

    async fn http(self, io: Rewind) {
        let peer = self.peer;
        let service = self
            .router
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
                request.map(Body::new)
            });
        let service = TowerToHyperService::new(service);
        let connection = self.builder.serve_connection(TokioIo::new(io), service);
        let mut connection = std::pin::pin!(connection);
        let mut stop = self.stop;
        tokio::select! {
            result = connection.as_mut() => log_end(result),
            _ = async { stop.wait_for(|stop| *stop).await.is_ok() } => {
                connection.as_mut().graceful_shutdown();
                log_end(connection.await);
            }
        }
    }

    /// Subscribes and writes the stream until it ends, the client goes away
    /// or a write misses the deadline. The hub's drain ends the stream, so
    /// graceful shutdown needs nothing more here.
    ///
    /// With direct writes on, the socket is shared with the hub: while the
    /// stream is parked, runtime workers write events to it without waking
    /// this task (`connection::direct`).
    /// This loop keeps the contract that makes that safe: it writes what the
    /// stream yields, in order, and polls the stream again only when that
    /// write is done.
    async fn sse(
        self,
        io: DeadlineStream,
        mut parts: http::request::Parts,
        hub: &Hub,
        extra: http::HeaderMap,
    ) {
        // The ticket keeps the socket counted until this function returns.
        let reserve = io.is_reserve();
        let (socket, timeout, _ticket) = io.into_parts();
        let socket = Arc::new(socket);
        parts.extensions.insert(ConnectInfo(PeerAddr(self.peer)));
        let subscribed = if reserve {
            // Past the socket limit: no event stream, but a 200 the client's
            // EventSource retries after (it would give up on a 503).
            Ok(hub.turn_away_at_socket_limit())
        } else {
            match connecting_from(parts) {
                Ok(connecting) => hub.subscribe(connecting).await,
                Err(err) => Err(err),
            }
        };
        let mut stream = match subscribed {
            Ok(stream) => stream,
            Err(err) => {
                let response = subscribe_error_response(&err);
                let status = response.status();
                let mut headers = response.headers().clone();
                let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
                    .await
                    .unwrap_or_default();
                headers.extend(extra);
                let mut head = format!(
                    "HTTP/1.1 {} {}\r\n",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                )
                .into_bytes();
                headers.remove(http::header::CONTENT_LENGTH);
                write_headers(&mut head, &headers);
                head.extend_from_slice(
                    format!(
                        "content-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    )
                    .as_bytes(),
                );
                if write_all(&socket, &head, timeout).await.is_ok() {
                    let _ = write_all(&socket, &body, timeout).await;
                }
                close(socket).await;
                return;
            }
        };
        const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nx-accel-buffering: no\r\nconnection: close\r\n";
        let mut head = Vec::with_capacity(HEAD.len() + 2);
        head.extend_from_slice(HEAD);
        write_headers(&mut head, &extra);
        head.extend_from_slice(b"\r\n");
        if write_all(&socket, &head, timeout).await.is_err() {
            return;
        }
        // Not needed past the head: free them before the long-lived loop.
        drop((head, extra));
        if hub.config().direct_write_gap.is_some() {
            stream.lend_writer(Arc::new(SocketWriter(socket.clone())));
        }
        let mut probe = [0u8; 64];
        loop {
            // The readiness slot of `poll_read_ready` instead of a
            // `readable()` future per event: no waiter list to lock.
            let next = std::future::poll_fn(|cx| {
                if let Poll::Ready(chunk) = stream.poll_next_unpin(cx) {
                    return Poll::Ready(Next::Chunk(chunk));
                }
                socket.poll_read_ready(cx).map(Next::Readable)
            })
            .await;
            match next {
                Next::Chunk(Some(chunk)) => {
                    if let Err(err) = write_all(&socket, &chunk, timeout).await {
                        // Counted once: the hub may have seen the stuck
                        // client first (and counted it then).
                        if err.kind() == io::ErrorKind::TimedOut
                            && stream.ended_by(CloseReason::WriteTimeout)
                        {
                            hub.inner
                                .stats
                                .write_timeouts
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        return;
                    }
                }
                Next::Chunk(None) => break,
                // The client sends nothing after its request: readable means
                // it closed (or misbehaves); either way this stream is done.
                Next::Readable(Err(_)) => return,
                // Bytes after the request (a pipelined request, a body on
                // a GET) end the stream: reading and discarding them for as
                // long as the client sends would burn CPU for nothing.
                Next::Readable(Ok(())) => match socket.try_read(&mut probe) {
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        tracing::debug!("bytes after an event-stream request; closing");
                        let _ = stream.ended_by(CloseReason::UnexpectedInput);
                        return;
                    }
                },
            }
        }
        // Dropping the stream takes the writer back from the hub, so the
        // socket is ours alone again.
        drop(stream);
        close(socket).await;
    }
}

/// What woke the SSE loop.
enum Next {
    Chunk(Option<Bytes>),
    Readable(io::Result<()>),
}

/// The fast path's socket, lent to the hub for direct writes.
struct SocketWriter(Arc<TcpStream>);

impl DirectWrite for SocketWriter {
    fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        self.0.try_write(bytes)
    }
}

/// Appends `name: value\r\n` for each header (names and values are valid
/// header text: `HeaderMap` only holds those).
fn write_headers(head: &mut Vec<u8>, headers: &http::HeaderMap) {
    for (name, value) in headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
}

/// Writes all of `bytes`, failing if the socket takes nothing for `timeout`
/// (a client that stopped reading).
async fn write_all(socket: &TcpStream, mut bytes: &[u8], timeout: Duration) -> io::Result<()> {
    while !bytes.is_empty() {
        match socket.try_write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                match tokio::time::timeout(timeout, socket.writable()).await {
                    Ok(ready) => ready?,
                    Err(_) => {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "client did not take data within the write timeout",
                        ))
                    }
                }
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Shuts the write side down (a FIN after everything written) when no one
/// else holds the socket; dropping it closes it either way.
async fn close(socket: Arc<TcpStream>) {
    if let Ok(mut socket) = Arc::try_unwrap(socket) {
        let _ = socket.shutdown().await;
    }
}

pub(crate) enum Head {
    Partial,
    Sse(Box<http::request::Parts>, usize),
    Other,
}

pub(crate) fn parse_head(buf: &[u8], sse_path: &str) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::Other,
    };
    let (Some("GET"), Some(target)) = (request.method, request.path) else {
        return Head::Other;
    };
    if target.split('?').next() != Some(sse_path) {
        return Head::Other;
    }
    let mut builder = http::Request::builder()
        .method(http::Method::GET)
        .uri(target);
    for header in request.headers.iter() {
        builder = builder.header(header.name, header.value);
    }
    match builder.body(()) {
        Ok(request) => Head::Sse(Box::new(request.into_parts().0), len),
        // An invalid header name or value: let hyper answer 400.
        Err(_) => Head::Other,
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(err) = result {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}

/// A stream that first yields bytes already read from it.
struct Rewind {
    pre: Bytes,
    io: DeadlineStream,
}

impl Rewind {
    fn new(pre: Bytes, io: DeadlineStream) -> Self {
        Self { pre, io }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.pre.is_empty() {
            let n = self.pre.len().min(buf.remaining());
            buf.put_slice(&self.pre[..n]);
            self.pre.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_get_heads_for_the_sse_path_take_the_fast_path() {
        let get =
            b"GET /events?topic=a&topic=b.* HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1-2\r\n\r\n";
        match parse_head(get, "/events") {
            Head::Sse(parts, len) => {
                assert_eq!(len, get.len());
                assert_eq!(parts.uri.query(), Some("topic=a&topic=b.*"));
                assert_eq!(parts.headers["last-event-id"], "1-2");
            }
            _ => panic!("expected the fast path"),
        }
        assert!(matches!(parse_head(&get[..20], "/events"), Head::Partial));
        assert!(matches!(
            parse_head(b"POST /events HTTP/1.1\r\n\r\n", "/events"),
            Head::Other
        ));
        assert!(matches!(
            parse_head(b"GET /events2 HTTP/1.1\r\n\r\n", "/events"),
            Head::Other
        ));
        assert!(matches!(
            parse_head(b"\x16\x03\x01garbage\r\n\r\n", "/events"),
            Head::Other
        ));
    }
}
