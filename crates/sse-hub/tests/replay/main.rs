//! Replay stores and the hub's replay path.
//!
//! * `suite`: one store test suite (deterministic cases and a proptest
//!   against a `Vec` model), run against every store.
//! * `hub`: replay through `Hub::subscribe` (tenant isolation, resync,
//!   the replay/live race, restarts), run against every store.
//!
//! With the `redis` feature the Redis cases use the real server at
//! `SSE_HUB_TEST_REDIS` (default `redis://127.0.0.1:6379/`) and fail if it
//! is unreachable. Every test uses its own random key prefix and deletes
//! its keys afterwards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod common;
mod hub;
mod memory;
#[cfg(feature = "redis")]
mod redis_store;
mod suite;
