//! Building and serving the application: the hub, the router, the drain.
//!
//! Tests call these too: [`build`] then [`serve`] is
//! exactly what the binary does, minus flags and signals.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use sse_hub::axum::{DeadlineListener, SseRoute, EVENTS_PATH};
use sse_hub::replay::{MemoryReplayer, RedisReplayOptions, RedisReplayer};
use sse_hub::Hub;

use crate::auth::{cors, host, Auth};
use crate::config::{AuthSettings, Replay, Settings};
use crate::error::Error;
use crate::routes;

/// Options of the HTTP API (the hub has its own [`sse_hub::Config`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiOptions {
    /// Who may subscribe, publish and administer.
    pub auth: AuthSettings,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most events in one publish request.
    pub max_batch: usize,
    /// How request bodies are read: size, deadline, minimum rate, linger
    /// after a 413 (see [`sse_hub::axum::BodyLimits`]).
    pub body: sse_hub::axum::BodyLimits,
}

/// What every handler gets.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) hub: Hub,
    pub(crate) api: Arc<ApiOptions>,
    pub(crate) auth: Arc<Auth>,
}

/// The application: the hub, the HTTP API over it, and the SSE fast path's
/// route.
///
/// `GET /events` on the fast path skips all of the router's tower layers:
/// `BodyGuardLayer` (the fast path reads only the request head and closes
/// the connection after the stream), the `Host` check (replaced by
/// [`SseRoute::take`]: a foreign `Host` goes to the router, which refuses
/// it with 403), the CORS layer (replaced by [`SseRoute::headers`], which
/// adds the same headers) and `DefaultBodyLimit` (no body is read).
/// Authentication runs in the hub's `on_connect` hook on both paths. Other
/// methods on `/events` (`HEAD`: 200 with the SSE headers, nothing
/// subscribed; `OPTIONS` preflight) go through the router and its layers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct App {
    /// The hub (publish into it, drain it).
    pub hub: Hub,
    /// The HTTP API.
    pub router: Router,
    /// `GET /events` on the fast path.
    pub sse: SseRoute,
    /// The Redis replay store, flushed by [`serve`] once every request has
    /// finished (see [`with_replayer`]).
    redis: Option<Arc<RedisReplayer>>,
}

/// Builds the [`App`] for `settings`: the hub from `config` (usually
/// [`Settings::hub_config`], possibly with hooks added: they run after the
/// server's subscribe policy) and the configured replay store, and the API.
///
/// # Errors
///
/// An invalid configuration, a replay store, JWT key or ticket store that
/// cannot be set up (Redis unreachable: the message names the URL without
/// credentials; a key file unreadable).
pub async fn build(settings: &Settings, config: sse_hub::Config) -> anyhow::Result<App> {
    // The replay store first: its errors are the likelier ones to report.
    let (config, redis) = with_replayer(settings, config).await?;
    let auth = Arc::new(Auth::build(settings.auth.clone()).await?);
    let policy = auth.clone();
    let config = config.on_connect_first(move |connecting| {
        let policy = policy.clone();
        async move { policy.on_connect(connecting).await }
    });
    let hub = Hub::new(config).context("invalid hub configuration")?;
    let options = settings.api_options();
    let sse = sse_route(&auth);
    let router = router(hub.clone(), options, auth);
    Ok(App {
        hub,
        router,
        sse,
        redis,
    })
}

/// The fast path's route: requests with a foreign `Host` go to the router
/// (whose layer refuses them), the others get the CORS headers.
fn sse_route(auth: &Arc<Auth>) -> SseRoute {
    let for_take = auth.clone();
    let for_headers = auth.clone();
    SseRoute::new(EVENTS_PATH)
        .take(move |parts| host::allowed(&for_take.settings, &parts.headers))
        .headers(move |parts| cors::headers(&for_headers.settings, &parts.headers))
}

/// `config` with the configured replay store.
///
/// With `--replay redis` it connects to Redis first and also returns the
/// store: [`serve`], once the drain is over and every request has finished
/// (no publish can be accepted any more), awaits the store's pending writes
/// for up to [`REDIS_FLUSH_TIMEOUT`] so that a restarted server replays every
/// event this one accepted.
///
/// # Errors
///
/// An invalid configuration, or a replay store that cannot be set up (Redis
/// unreachable: the message names the URL without credentials).
async fn with_replayer(
    settings: &Settings,
    config: sse_hub::Config,
) -> anyhow::Result<(sse_hub::Config, Option<Arc<RedisReplayer>>)> {
    let config = match &settings.replay {
        Replay::None => (config, None),
        Replay::Memory {
            max_events,
            max_age,
        } => (
            config.replayer(Arc::new(MemoryReplayer::new(*max_events, *max_age))),
            None,
        ),
        Replay::Redis {
            url,
            prefix,
            max_events,
            max_age,
        } => {
            let options = RedisReplayOptions::new()
                .key_prefix(prefix.as_str())
                .max_events(*max_events)
                .max_age(*max_age);
            let store = RedisReplayer::connect(url.expose(), options)
                .await
                // The driver's message could quote the URL: scrub it.
                .map_err(|err| anyhow::anyhow!(url.scrub(&err.to_string())))
                .with_context(|| {
                    format!(
                        "cannot connect the Redis replay store at {}",
                        url.redacted()
                    )
                })?;
            tracing::debug!(url = %url, prefix, "Redis replay store connected");
            let store = Arc::new(store);
            (config.replayer(store.clone()), Some(store))
        }
    };
    Ok(config)
}

/// Longest wait for the Redis replay store's pending writes on shutdown.
pub const REDIS_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Awaits the Redis store's pending writes (at most [`REDIS_FLUSH_TIMEOUT`]),
/// logging the outcome: called by [`serve`] after the last request.
async fn flush_replay(store: &RedisReplayer) {
    match tokio::time::timeout(REDIS_FLUSH_TIMEOUT, store.flush()).await {
        Ok(Ok(())) => tracing::info!("Redis replay store flushed"),
        Ok(Err(err)) => tracing::error!(
            error = %err,
            "Redis replay store not flushed on shutdown; a restarted server may resync clients"
        ),
        Err(_) => tracing::error!(
            timeout = ?REDIS_FLUSH_TIMEOUT,
            "Redis replay store not flushed on shutdown (timed out); a restarted server may resync clients"
        ),
    }
}

/// The HTTP API over `hub`.
///
/// | route | what |
/// | --- | --- |
/// | `GET /events?topic=T` | subscribe (SSE) |
/// | `POST /publish` | publish one event or an array (token or JWT publish grants) |
/// | `POST /tickets` | a one-time ticket for `GET /events?ticket=` (JWT) |
/// | `POST /connections/{id}/pause`, `/resume`, `/topics` | manage a connection (its control token, or admin) |
/// | `GET /stats[?connections=true]` | counters (names and detail for admin only) |
/// | `GET /metrics` | Prometheus (admin once any token or key is set) |
/// | `GET /healthz`, `GET /readyz` | liveness, readiness (503 while draining) |
/// | `GET /` | demo page |
/// | `GET /client.js` | the browser client (ES module) |
///
/// Every route refuses a foreign `Host` (403) and answers CORS for the
/// listed origins.
fn router(hub: Hub, options: ApiOptions, auth: Arc<Auth>) -> Router {
    let max_body = options.max_body_bytes;
    let body_guard = sse_hub::axum::BodyGuardLayer::new(options.body);
    let state = AppState {
        hub,
        api: Arc::new(options),
        auth,
    };
    Router::new()
        .route("/", get(routes::demo::index))
        .route("/client.js", get(routes::client::client_js))
        .route(EVENTS_PATH, get(routes::events::subscribe))
        .route("/stats", get(routes::stats::stats))
        .route("/metrics", get(routes::metrics::metrics))
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/publish", post(routes::publish::publish))
        .route("/tickets", post(routes::tickets::issue))
        .route("/connections/{id}/pause", post(routes::connections::pause))
        .route(
            "/connections/{id}/resume",
            post(routes::connections::resume),
        )
        .route(
            "/connections/{id}/topics",
            post(routes::connections::topics),
        )
        .fallback(|| async { Error::NotFound })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(state.clone(), cors::layer))
        .layer(middleware::from_fn_with_state(state.clone(), host::check))
        // Outermost: every refusal, a foreign Host's 403 included, is read
        // by the client instead of reset by an unread body.
        .layer(body_guard)
        .with_state(state)
}

/// Serves `app` on `listener` until `signal` resolves, then drains `hub`
/// within `drain_timeout` while the server keeps
/// accepting (and turning subscribers away); then it stops accepting and
/// waits for open requests. Subscribers arriving during the drain are told to
/// come back later.
///
/// Returns once every connection has closed, or `grace` after the drain if
/// some client still holds one (it would be cut by the write deadline anyway).
/// With the Redis replay store it then awaits the store's pending writes
/// (see [`REDIS_FLUSH_TIMEOUT`]): an explicit flush after the drain, so that
/// a restarted server replays every event this one accepted. (An [`App`]
/// dropped without being served is not flushed.)
///
/// # Errors
///
/// The server's I/O error.
pub async fn serve<F>(
    listener: DeadlineListener,
    app: App,
    drain_timeout: Duration,
    grace: Duration,
    signal: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let App {
        hub,
        router,
        sse,
        redis,
    } = app;
    let hub_for_sse = hub.clone();
    let drain = async move {
        signal.await;
        tracing::info!(?drain_timeout, "shutdown requested; draining");
        let report = hub.shutdown(drain_timeout).await;
        tracing::info!(
            connections = report.connections,
            forced = report.forced,
            "drained"
        );
    };
    // The lean HTTP/1.1 loop, with `GET /events` written straight to the
    // socket (see `sse_hub::axum::serve_with_sse`).
    let served =
        sse_hub::axum::serve_with_sse_route(listener, router, hub_for_sse, sse, drain, grace).await;
    if let Some(store) = redis {
        flush_replay(&store).await;
    }
    served
}
