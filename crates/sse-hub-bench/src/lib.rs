//! End-to-end load generator and peer baseline for sse-hub.
//!
//! * [`baseline`] — the hand-written axum + `tokio::sync::broadcast` SSE
//!   server sse-hub is compared with;
//! * [`load`] — the load generator (raw-TCP SSE clients, keep-alive
//!   publisher, measurements);
//! * [`sse_parse`] — incremental HTTP response / chunked / SSE parsers;
//! * [`isolate`] — the CPU split between server and load generator for
//!   latency scenarios;
//! * [`procstat`] — server CPU time and RSS from `/proc`;
//! * [`report`] — load reports and the suite's markdown table;
//! * [`suite`] — scenarios S1–S5 against both servers.

pub mod baseline;
pub mod isolate;
pub mod load;
pub mod procstat;
pub mod report;
pub mod sse_parse;
pub mod suite;
