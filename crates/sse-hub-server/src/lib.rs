//! # sse-hub-server
//!
//! The `sse-hub` binary as a library: a ready-to-run Server-Sent Events
//! broker over the [`sse_hub`] crate, so that tests (and embedders) build
//! exactly what the binary runs.
//!
//! * [`config`]: one [`Options`](config::Options) struct read from a TOML file,
//!   `SSE_HUB_*` variables and flags, resolved into [`Settings`](config::Settings).
//! * [`app`]: [`build`](app::build) (the hub, the HTTP API and the SSE fast
//!   path's route) and [`serve`](app::serve) (serving with a graceful drain).
//! * [`error`]: the API's error table.
//!
//! ## HTTP API
//!
//! | route | what |
//! | --- | --- |
//! | `GET /events?topic=T` | subscribe; `topic` repeatable, wildcards allowed |
//! | `POST /publish` | publish one JSON event or an array; 202 `{"ids": [...]}` |
//! | `POST /connections/{id}/pause`, `/resume` | hold / release batched and coalesced events |
//! | `POST /connections/{id}/topics` | `{"add": [...], "remove": [...]}` without reconnecting |
//! | `GET /stats[?connections=true]` | counters as JSON |
//! | `GET /metrics` | Prometheus text exposition |
//! | `GET /healthz`, `GET /readyz` | liveness; readiness is 503 while draining |
//! | `GET /` | demo page |
//! | `GET /client.js` | the browser client `sse-hub-client` (ES module) |
//!
//! Errors are JSON: `{"error": {"code": "...", "message": "..."}}`.
//!
//! ## Replay
//!
//! A client reconnecting with `Last-Event-ID` gets what it missed from the
//! store chosen by `--replay`, or an explicit `resync` event:
//!
//! * `memory` (default): a ring in this process, lost on restart.
//! * `redis`: Redis Streams at `--redis-url` under `--redis-prefix`; it
//!   survives restarts and is shared by every server on the same prefix.
//!   The server refuses to start if Redis is unreachable, and on shutdown
//!   waits (briefly) for the store's pending writes after the drain.
//! * `none`.
//!
//! `--replay-max-events` and `--replay-max-age-s` bound both stores.
//!
//! ## Security
//!
//! With `--publish-token`, publishing, connection management and
//! per-connection stats require `Authorization: Bearer <token>`. Without one
//! the server only starts on a loopback address. Credentials in
//! `--redis-url` never appear in logs or error messages.
//!
//! ## Example
//!
//! ```no_run
//! use sse_hub_server::{app, config::Options};
//!
//! # #[tokio::main]
//! # async fn main() -> anyhow::Result<()> {
//! let settings = Options::load(["sse-hub", "--flush-interval-ms", "500"], std::env::vars_os())?
//!     .resolve()?;
//! let app = app::build(&settings, settings.hub_config()).await?;
//! let listener = sse_hub::axum::DeadlineListener::bind(settings.listen, app.hub.config()).await?;
//! app::serve(listener, app, settings.drain_timeout, settings.write_timeout, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(())
//! # }
//! ```

pub mod app;
mod auth;
pub mod config;
pub mod error;
mod routes;
