//! # sse-hub
//!
//! A Server-Sent Events broker: publishers push events into a [`Hub`], the
//! hub routes each to the browsers subscribed to it, over one long-lived
//! `text/event-stream` response per browser tab.
//!
//! ## The model
//!
//! * An [`Event`] has an SSE type, data, an id, **topics** and an optional
//!   **group** (metadata pairs such as `tenant = acme`), a delivery lane
//!   ([`Priority`]), a coalesce key and a TTL.
//! * A connection subscribes to topic **patterns** with NATS wildcards:
//!   `*` is one token, `>` one or more trailing tokens (`orders.*`,
//!   `chat.>`). It carries **metadata** set by the `on_connect` hook.
//! * An event reaches connections whose patterns match one of its topics,
//!   and/or whose metadata contains its group. With both set,
//!   [`Scope::Intersect`] (the default) requires both, so a group narrows and
//!   an event never leaks across tenants; [`Scope::Union`] (the seed's rule)
//!   takes either and must be asked for.
//! * Each connection has three lanes: **instant** events go out at once,
//!   **batched** ones on the connection's flush tick in order, **coalesced**
//!   ones keep only the latest per key per window. The flush interval adapts
//!   to each connection's queue saturation; hidden tabs can be **paused**.
//! * An event is encoded to wire bytes once per publish; every recipient
//!   shares those bytes. Publishing never waits on a client: it queues the
//!   event for each recipient and wakes the connection's stream, which packs
//!   everything queued into one write (and, once a connection falls behind,
//!   writes at most once per [`Config::min_write_interval`]). On the SSE fast
//!   path of [`axum::serve_with_sse`], an event for a quiet connection whose
//!   stream is idle is written to its socket by a runtime worker instead,
//!   without waking the connection's task ([`Config::direct_write_gap`]).
//! * With a [`Replayer`](replay::Replayer), a reconnecting client sending
//!   `Last-Event-ID` gets what it missed, filtered by the same routing rules,
//!   or an explicit `resync` event when that is impossible.
//!
//! ## Example
//!
//! ```
//! use futures_util::StreamExt;
//! use sse_hub::{Config, Connecting, Event, Hub};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let hub = Hub::new(Config::new()).unwrap();
//!
//! // An HTTP layer (see the `axum` feature) does this per request.
//! let mut stream = hub
//!     .subscribe(Connecting::new().with_topics(["orders.*"]))
//!     .await
//!     .unwrap();
//! let preamble = stream.next().await.unwrap(); // retry + `connected` event
//! assert!(preamble.starts_with(b"retry: "));
//!
//! // From any thread or task:
//! hub.publish(Event::new("created").data(r#"{"id":42}"#).topic("orders.eu"))
//!     .unwrap();
//! let frame = stream.next().await.unwrap();
//! assert!(std::str::from_utf8(&frame).unwrap().contains("data: {\"id\":42}"));
//! # }
//! ```
//!
//! ## Cargo features
//!
//! | feature | what it adds |
//! | --- | --- |
//! | `axum` (default) | [`axum`] handler, layer, write-deadline listener, lean serve loop with an SSE fast path |
//! | `jwt` | `auth`: JWT verifier (HS*/RS*/PS*/ES256/ES384/EdDSA, PEM or JWKS), credentials, grants, one-time tickets, a subscribe policy for `on_connect` |
//! | `redis` | Redis Streams replay store; with `jwt`, the Redis ticket store |
//! | `prometheus` | `metrics::HubCollector` for a `prometheus-client` registry |
//!
//! ## Where to look
//!
//! * [`event`]: events, lanes, scope.
//! * [`topic`]: topic and pattern rules.
//! * [`connection`]: lanes, throttle, pause, timers, closing.
//! * [`replay`]: replay semantics and stores.
//! * [`helpers`]: the seed's publishing helpers and their payload shapes
//!   (`invalidate`, `signal`, `progress`, `complete`, `batch`).
//! * `auth` (feature `jwt`): who may read and publish what.
//! * [`wire`]: the encoding and why it is injection-proof.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]
// docs.rs builds with every feature and `--cfg docsrs` (see Cargo.toml):
// feature-gated items are shown with the feature they need.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "jwt")]
pub mod auth;
pub mod config;
pub mod connect;
pub mod connection;
pub mod control;
pub mod event;
pub mod helpers;
pub mod hub;
mod query;
pub mod replay;
pub mod topic;
pub mod wire;

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "prometheus")]
pub mod metrics;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod test_parser;

pub use config::{Config, ConfigError, Overflow};
pub use connect::{Connecting, Rejection};
pub use connection::{CloseReason, Connection, ConnectionId, ConnectionStats, EventStream};
pub use control::ResyncReason;
pub use event::{Event, Metadata, Priority, Receipt, Scope};
pub use helpers::{DomainEventSpec, Hint, TENANT_KEY};
pub use hub::{
    Hub, PublishError, ShutdownReport, Stats, StatsOptions, SubscribeError, TopicsError,
    UnknownConnection,
};
pub use topic::{Pattern, Topic, TopicError};
pub use wire::FieldError;
