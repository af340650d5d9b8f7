//! Behaviour of the hub through its public API and, for the axum
//! integration, through real sockets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

#[cfg(feature = "jwt")]
mod auth;
mod common;
mod direct;
mod drain;
mod helpers;
mod high_rate;
mod http;
mod lanes;
mod lifecycle;
mod overflow;
