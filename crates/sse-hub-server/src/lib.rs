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
//! | `POST /publish` | publish one JSON event or an array; 202 `{"ids": [...], "events": [{"id", "recipients", "dropped"}]}` |
//! | `POST /tickets` | a one-time ticket for `GET /events?ticket=` (JWT); 201 |
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
//! DESIGN §6, implemented in `auth` (private) on [`sse_hub::auth`]:
//! subscribing needs a JWT grant (bearer, cookie or one-time ticket) or an
//! `--anonymous-topics` pattern; publishing the static `--publish-token` or
//! JWT `publish` grants covering every topic; administration `--admin-token`
//! (else the publish token) or a JWT with `admin: true`; a connection's own
//! `control_token` controls it. On a loopback address with no key and no
//! token everything is open (development); elsewhere the server refuses to
//! start without a way to publish and a statement of what is public.
//! `--allowed-host` and `--cors-origin` protect browsers. Credentials in
//! `--redis-url` never appear in logs or error messages; no response quotes
//! a token, a claim or a tenant.
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
