//! End-to-end tests of the `sse-hub` server: real sockets, a real SSE client
//! (`reqwest` + `eventsource-stream`), the app built in-process by the same
//! functions the binary uses, and the binary itself for signal handling.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod access;
mod jwt;
mod readme;

mod connections;
mod hostile;
mod lifecycle;
mod publish;
mod replay;
mod routing;
