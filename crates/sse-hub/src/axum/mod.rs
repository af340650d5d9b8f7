//! axum integration: the seed's `New` / `NewWithHub`, a layer honouring its
//! `Next`, and a listener enforcing the write deadline.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use sse_hub::{Config, Event};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (events, hub) = sse_hub::axum::new_with_hub(Config::new().on_connect(
//!     |mut connecting| async move {
//!         connecting.topics.push("notifications".into());
//!         Ok(connecting)
//!     },
//! ))?;
//! let app = Router::new().route_service("/events", events);
//!
//! let publisher = hub.clone();
//! tokio::spawn(async move {
//!     publisher.publish(Event::new("update").data("hello").topic("notifications"))
//! });
//!
//! let listener = sse_hub::axum::DeadlineListener::bind("127.0.0.1:8080", hub.config()).await?;
//! let drain = hub.clone();
//! axum::serve(listener, app.into_make_service_with_connect_info::<sse_hub::axum::PeerAddr>())
//!     .with_graceful_shutdown(async move {
//!         let _ = tokio::signal::ctrl_c().await;
//!         drain.shutdown(std::time::Duration::from_secs(10)).await;
//!     })
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Requests
//!
//! `GET /events?topic=a&topic=b.*`: topics from the repeatable `topic`
//! parameter (the `on_connect` hook may change them), `Last-Event-ID` from the
//! header, or else the `lastEventID` query parameter (which closes the gap
//! between rendering a page and opening its stream). The header is read as
//! bytes: browsers send non-ASCII ids UTF-8 encoded.
//!
//! `HEAD /events` answers 200 with the SSE headers below and no body, without
//! subscribing (and so without checking topics or credentials: it tells only
//! that this is an event stream), on the router path ([`subscribe`],
//! [`SseService`], [`SseLayer`]) and on the fast path of [`serve_with_sse`],
//! which hands every method but `GET` to the router.
//!
//! ## Responses
//!
//! 200 `text/event-stream` with `Cache-Control: no-cache` and
//! `X-Accel-Buffering: no` (also when turning a subscriber away: see
//! [`EventStream::is_turned_away`]); 400, 401 or 403 with a JSON body
//! `{"error":{"code","message"}}` otherwise, 401 and 403 with their RFC 6750
//! `WWW-Authenticate` challenge ([`subscribe_error_response`]).

mod admission;
mod body;
mod listener;
pub(crate) mod serve;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use admission::{SocketCounters, SocketLimits, SocketStats};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
pub use body::{BodyGuard, BodyGuardLayer, BodyLimits};
use bytes::Bytes;
use futures_core::Stream;
use http::{header, HeaderValue, StatusCode};
pub use listener::{DeadlineListener, DeadlineStream, PeerAddr};
pub use serve::{serve, serve_with_sse, serve_with_sse_route, SseRoute};

use crate::{Config, ConfigError, Connecting, EventStream, Hub, SubscribeError, TopicsError};

/// The subscribe route's conventional path: the server mounts `GET /events`
/// here and hands it to the fast path ([`serve_with_sse`]); use it so that a
/// router and its fast path agree from one place.
pub const EVENTS_PATH: &str = "/events";

/// Subscribes the request's client to `hub` and returns the SSE response.
/// A `HEAD` request gets the response's headers without subscribing (see
/// [`head_response`]).
///
/// Use it from your own handler when you need to run code around it.
pub async fn subscribe(hub: &Hub, request: Request) -> Response {
    if request.method() == http::Method::HEAD {
        return head_response();
    }
    let (parts, _body) = request.into_parts();
    let subscribed = match connecting_from(parts) {
        Ok(connecting) => hub.subscribe(connecting).await,
        Err(err) => Err(err),
    };
    match subscribed {
        Ok(stream) => sse_response(stream),
        Err(err) => subscribe_error_response(&err),
    }
}

/// The response for a refused subscribe: [`subscribe_error`]'s JSON body,
/// plus the RFC 6750 challenge on 401 and 403 — `WWW-Authenticate: Bearer`
/// when no credential was presented, `Bearer error="invalid_token"` when one
/// failed, `Bearer error="insufficient_scope"` when it does not cover the
/// topics.
pub fn subscribe_error_response(err: &SubscribeError) -> Response {
    use crate::Rejection;
    let challenge = match err {
        SubscribeError::Rejected(Rejection::Unauthorized(_)) => Some("Bearer"),
        SubscribeError::Rejected(Rejection::InvalidToken(_)) => {
            Some("Bearer error=\"invalid_token\"")
        }
        SubscribeError::Rejected(_) | SubscribeError::Topics(TopicsError::NotAllowed { .. }) => {
            Some("Bearer error=\"insufficient_scope\"")
        }
        _ => None,
    };
    let mut response = subscribe_error(err).into_response();
    if let Some(challenge) = challenge {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    response
}

/// The handshake for a subscribe request: topics from `topic` parameters,
/// `Last-Event-ID` (header first, read as bytes; else `lastEventID`), peer.
///
/// # Errors
///
/// [`SubscribeError::InvalidEncoding`] for a `topic` or `lastEventID` that
/// is not UTF-8 once percent-decoded (read as U+FFFD it would name another
/// topic or id than the client meant).
pub(crate) fn connecting_from(parts: http::request::Parts) -> Result<Connecting, SubscribeError> {
    let mut connecting = Connecting::new();
    if let Some(query) = parts.uri.query() {
        for (key, value) in crate::query::strict_params(query) {
            let parameter = match key.as_str() {
                "topic" => "topic",
                "lastEventID" => "lastEventID",
                _ => continue,
            };
            let Ok(value) = value else {
                return Err(SubscribeError::InvalidEncoding { parameter });
            };
            match parameter {
                "topic" => connecting.topics.push(value),
                _ => connecting.last_event_id = Some(value),
            }
        }
    }
    if let Some(header) = parts.headers.get("last-event-id") {
        connecting.last_event_id = Some(String::from_utf8_lossy(header.as_bytes()).into_owned());
    }
    connecting.peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
        .or_else(|| {
            parts
                .extensions
                .get::<ConnectInfo<PeerAddr>>()
                .map(|info| info.0 .0)
        });
    connecting.request = Some(Arc::new(parts));
    Ok(connecting)
}

/// A 200 `text/event-stream` response streaming `stream`.
pub fn sse_response(stream: EventStream) -> Response {
    with_sse_headers(Response::new(Body::new(stream)))
}

/// The answer to `HEAD` on the subscribe route: 200 with the headers of an
/// event stream and no body. Nothing is subscribed, and neither topics nor
/// credentials are checked (a `GET` decides those).
pub fn head_response() -> Response {
    with_sse_headers(Response::new(Body::empty()))
}

fn with_sse_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// An error as the JSON body every sse-hub endpoint uses.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable message (never secrets).
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// Maps a [`SubscribeError`] to its HTTP error.
pub fn subscribe_error(err: &SubscribeError) -> ApiError {
    use crate::Rejection;
    match err {
        SubscribeError::Rejected(Rejection::Unauthorized(msg)) => {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", msg.clone())
        }
        SubscribeError::Rejected(Rejection::InvalidToken(msg)) => {
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", msg.clone())
        }
        SubscribeError::Rejected(rejection) => {
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", rejection.message())
        }
        SubscribeError::Topics(TopicsError::NotAllowed { .. }) => {
            ApiError::new(StatusCode::FORBIDDEN, "topic_not_allowed", err.to_string())
        }
        SubscribeError::NoTopics => {
            ApiError::new(StatusCode::BAD_REQUEST, "missing_topic", err.to_string())
        }
        SubscribeError::Topics(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_topic", err.to_string())
        }
        _ => ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", err.to_string()),
    }
}

/// The seed's `New`: a service serving SSE subscriptions on a fresh hub.
///
/// # Errors
///
/// [`ConfigError`] for an invalid configuration.
pub fn new(config: Config) -> Result<SseService, ConfigError> {
    new_with_hub(config).map(|(service, _)| service)
}

/// The seed's `NewWithHub`: the service and the hub to publish into.
///
/// # Errors
///
/// [`ConfigError`] for an invalid configuration.
pub fn new_with_hub(config: Config) -> Result<(SseService, Hub), ConfigError> {
    let hub = Hub::new(config)?;
    Ok((SseService::new(hub.clone()), hub))
}

/// A tower service subscribing every request to its hub. Mount it with
/// `Router::route_service("/events", service)`.
#[derive(Debug, Clone)]
pub struct SseService {
    hub: Hub,
}

impl SseService {
    /// A service for `hub`.
    pub fn new(hub: Hub) -> Self {
        Self { hub }
    }

    /// The hub.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }
}

type BoxResponseFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl tower::Service<Request> for SseService {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let hub = self.hub.clone();
        Box::pin(async move { Ok(subscribe(&hub, request).await) })
    }
}

/// A layer serving SSE subscriptions, except for requests where `next`
/// returns true: those go to the inner service (the seed's `Next`).
///
/// # Examples
///
/// ```
/// use axum::{routing::get, Router};
/// use sse_hub::{axum::SseLayer, Config, Hub};
///
/// let hub = Hub::new(Config::new()).unwrap();
/// // Plain (non-SSE) requests to /events fall through to the route.
/// let app: Router = Router::new()
///     .route("/events", get(|| async { "use an EventSource" }))
///     .layer(SseLayer::new(hub).next(|req: &axum::extract::Request| {
///         req.headers().get("accept").and_then(|v| v.to_str().ok()) != Some("text/event-stream")
///     }));
/// ```
#[derive(Clone)]
pub struct SseLayer<P = fn(&Request) -> bool> {
    hub: Hub,
    next: P,
}

impl SseLayer {
    /// A layer for `hub` that handles every request.
    pub fn new(hub: Hub) -> Self {
        Self {
            hub,
            next: |_| false,
        }
    }
}

impl<P> SseLayer<P> {
    /// Passes requests for which `next` returns true to the inner service.
    /// Default: none.
    #[must_use]
    pub fn next<Q: Fn(&Request) -> bool + Clone>(self, next: Q) -> SseLayer<Q> {
        SseLayer {
            hub: self.hub,
            next,
        }
    }
}

impl<P> std::fmt::Debug for SseLayer<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseLayer").field("hub", &self.hub).finish()
    }
}

impl<S, P: Clone> tower::Layer<S> for SseLayer<P> {
    type Service = SseMiddleware<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        SseMiddleware {
            inner,
            hub: self.hub.clone(),
            next: self.next.clone(),
        }
    }
}

/// The service [`SseLayer`] produces.
#[derive(Clone)]
pub struct SseMiddleware<S, P> {
    inner: S,
    hub: Hub,
    next: P,
}

impl<S, P> std::fmt::Debug for SseMiddleware<S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseMiddleware")
            .field("hub", &self.hub)
            .finish()
    }
}

impl<S, P> tower::Service<Request> for SseMiddleware<S, P>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    P: Fn(&Request) -> bool,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if (self.next)(&request) {
            let future = self.inner.call(request);
            return Box::pin(future);
        }
        let hub = self.hub.clone();
        Box::pin(async move { Ok(subscribe(&hub, request).await) })
    }
}

impl http_body::Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        Stream::poll_next(self, cx)
            .map(|chunk| chunk.map(|bytes| Ok(http_body::Frame::data(bytes))))
    }
}

impl Stream for EventStreamBody {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0).poll_next(cx).map(|item| item.map(Ok))
    }
}

/// An [`EventStream`] as a `TryStream` of `Result<Bytes, Infallible>`, for
/// frameworks that take one (`axum::body::Body::from_stream`, say).
#[derive(Debug)]
pub struct EventStreamBody(pub EventStream);
