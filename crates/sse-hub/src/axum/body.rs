//! Request bodies read under limits: size, total time, minimum rate.
//!
//! hyper reads a request body only as fast as the handler asks and has no
//! deadline of its own, so `Content-Length: 1000` with no body, or a body
//! trickled a byte a second, would hold a connection (and its handler) open
//! for ever. [`BodyGuardLayer`] reads the whole body before the handler runs:
//!
//! * over `max_bytes` (by `Content-Length`, or as it arrives): 413, and the
//!   rest of the body is still read and discarded for up to `linger`, so a
//!   client that sends its whole body before reading (most do) reads the 413
//!   instead of a connection reset;
//! * not complete within `timeout`, or slower on average than `min_rate`
//!   bytes per second once `grace` has passed: 408;
//!
//! both with `Connection: close` and a JSON body
//! `{"error":{"code","message"}}`. The handler gets the body in memory.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::{header, HeaderValue, StatusCode};
use tokio::time::Instant;

/// The limits of [`BodyGuardLayer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// Largest body read. Default: 1 MiB.
    pub max_bytes: usize,
    /// Longest time to receive a whole body. Default: 30 s.
    pub timeout: Duration,
    /// Slowest average rate accepted once `grace` has passed, in bytes per
    /// second (0: none). Default: 1,024.
    pub min_rate: u64,
    /// Time before `min_rate` applies. Default: 2 s.
    pub grace: Duration,
    /// After a 413, how long the rest of the body is read and discarded so
    /// the client reads the answer. Default: 5 s.
    pub linger: Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            max_bytes: 1024 * 1024,
            timeout: Duration::from_secs(30),
            min_rate: 1024,
            grace: Duration::from_secs(2),
            linger: Duration::from_secs(5),
        }
    }
}

/// A layer reading request bodies under [`BodyLimits`] (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct BodyGuardLayer {
    limits: BodyLimits,
}

impl BodyGuardLayer {
    /// A layer enforcing `limits`.
    pub fn new(limits: BodyLimits) -> Self {
        Self { limits }
    }
}

impl<S> tower::Layer<S> for BodyGuardLayer {
    type Service = BodyGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BodyGuard {
            inner,
            limits: self.limits,
        }
    }
}

/// The service of [`BodyGuardLayer`].
#[derive(Debug, Clone)]
pub struct BodyGuard<S> {
    inner: S,
    limits: BodyLimits,
}

impl<S> tower::Service<Request> for BodyGuard<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone is ready-checked by nothing: take the ready one and
        // leave the clone for the next call (the usual tower idiom).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limits = self.limits;
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let declared = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let chunked = parts.headers.contains_key(header::TRANSFER_ENCODING);
            if declared == Some(0) || (declared.is_none() && !chunked) {
                return inner.call(Request::from_parts(parts, body)).await;
            }
            if declared.is_some_and(|len| len > limits.max_bytes as u64) {
                linger(body.into_data_stream(), limits.linger);
                return Ok(too_large(limits.max_bytes));
            }
            match read(body, &limits).await {
                Ok(bytes) => {
                    inner
                        .call(Request::from_parts(parts, Body::from(bytes)))
                        .await
                }
                Err(Refusal::TooLarge(rest)) => {
                    linger(rest, limits.linger);
                    Ok(too_large(limits.max_bytes))
                }
                Err(Refusal::TooSlow) => Ok(refusal(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "request body not received in time".to_owned(),
                )),
                Err(Refusal::Unreadable) => Ok(refusal(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "request body could not be read".to_owned(),
                )),
            }
        })
    }
}

type DataStream = axum::body::BodyDataStream;

enum Refusal {
    TooLarge(DataStream),
    TooSlow,
    Unreadable,
}

async fn read(body: Body, limits: &BodyLimits) -> Result<Bytes, Refusal> {
    let start = Instant::now();
    let deadline = start + limits.timeout;
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    loop {
        // Wake at least every second to check the rate.
        let wake = deadline.min(Instant::now() + Duration::from_secs(1));
        match tokio::time::timeout_at(wake, stream.next()).await {
            Ok(None) => return Ok(buf.freeze()),
            Ok(Some(Err(_))) => return Err(Refusal::Unreadable),
            Ok(Some(Ok(chunk))) => {
                if buf.len() + chunk.len() > limits.max_bytes {
                    return Err(Refusal::TooLarge(stream));
                }
                buf.extend_from_slice(&chunk);
            }
            Err(_) => {}
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Refusal::TooSlow);
        }
        let elapsed = now - start;
        if limits.min_rate > 0 && elapsed > limits.grace {
            let expected = limits.min_rate as f64 * elapsed.as_secs_f64();
            if (buf.len() as f64) < expected {
                return Err(Refusal::TooSlow);
            }
        }
    }
}

/// Reads and discards the rest of a refused body for up to `linger`, in the
/// background, so the connection is not reset under the client's feet.
fn linger(mut rest: DataStream, linger: Duration) {
    if linger.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let _ = tokio::time::timeout(linger, async {
            while let Some(Ok(_)) = rest.next().await {}
        })
        .await;
    });
}

fn too_large(max: usize) -> Response {
    refusal(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("request body is larger than {max} bytes"),
    )
}

fn refusal(status: StatusCode, code: &str, message: String) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
