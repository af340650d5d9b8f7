//! The server's configuration: one struct, three layers.
//!
//! [`Options`] is read from a TOML file (`--config PATH` / `SSE_HUB_CONFIG`),
//! the environment (`SSE_HUB_*`) and the command line, in increasing order of
//! precedence. Every field is an `Option` so that the layers merge in memory
//! (the process environment is never modified); the documented defaults are
//! applied last, by [`Options::resolve`], which also validates everything and
//! returns the [`Settings`] the server runs with.
//!
//! File keys are the long option names with `_` instead of `-`:
//!
//! ```toml
//! listen = "0.0.0.0:8080"
//! publish_token = "change-me"
//! flush_interval_ms = 500
//! replay = "redis"
//! redis_url = "redis://127.0.0.1:6379/"
//! redis_prefix = "myapp:sse"
//! ```

mod auth;
mod error;
mod options;
mod redis_url;
mod secret;
mod settings;

pub(crate) use auth::strip_port;
pub use auth::{AuthSettings, KeySource, DEFAULT_AUTH_COOKIE, LOOPBACK_HOSTS, MIN_SECRET_BYTES};
pub use error::{ConfigError, LoadError};
pub use options::{Options, OverflowPolicy, ReplayMode};
pub use redis_url::{RedisUrl, DEFAULT_REDIS_URL};
pub use secret::Secret;
pub use settings::{Replay, Settings, DEFAULT_REDIS_PREFIX};

#[cfg(test)]
mod tests;
