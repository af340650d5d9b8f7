//! A lean HTTP/1.1 server loop for SSE-heavy apps.
//!
//! `axum::serve` is general: it sniffs the protocol (HTTP/1 or 2) per
//! connection and keeps that machinery in every connection's task for the
//! connection's whole life. An SSE connection lives for minutes and mostly
//! idles, so per-connection memory is what matters. [`serve`] runs the same
//! axum `Router` on hyper's HTTP/1.1 connection directly, with a bounded
//! read buffer, `TCP_NODELAY` and the write deadline of
//! [`DeadlineListener`], and shuts down gracefully: when `signal` resolves
//! (run [`Hub::shutdown`](crate::Hub::shutdown) in it) accepting stops, idle
//! keep-alive connections close, and it returns once open responses end or
//! `grace` passes.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;
use tower::ServiceExt;

use super::{DeadlineListener, PeerAddr};

/// Longest a client may take to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `signal` resolves and open responses
/// end (or `grace` passes after the signal). Handlers see
/// `ConnectInfo<PeerAddr>`.
///
/// # Errors
///
/// Never returns an accept error (they are logged and retried); the `Result`
/// leaves room for future ones.
pub async fn serve<F>(
    mut listener: DeadlineListener,
    router: Router,
    signal: F,
    grace: Duration,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(16 * 1024);
    let builder = std::sync::Arc::new(builder);
    // Every connection task holds a receiver; `closed()` tells us when all ended.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut signal = std::pin::pin!(signal);
    loop {
        let (io, peer) = tokio::select! {
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            () = &mut signal => break,
        };
        let service = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(PeerAddr(peer)));
                request.map(Body::new)
            });
        let service = TowerToHyperService::new(service);
        let builder = builder.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let connection = builder.serve_connection(TokioIo::new(io), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => log_end(result),
                _ = async { stop.wait_for(|stop| *stop).await.is_ok() } => {
                    connection.as_mut().graceful_shutdown();
                    log_end(connection.await);
                }
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

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(err) = result {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}
