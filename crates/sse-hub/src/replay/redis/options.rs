//! [`RedisReplayOptions`]: key prefix, retention and write timeout.

use std::time::Duration;

#[cfg(doc)]
use super::RedisReplayer;

/// Settings of a [`RedisReplayer`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sse_hub::replay::RedisReplayOptions;
///
/// let options = RedisReplayOptions::new()
///     .key_prefix("myapp:sse")
///     .max_events(50_000)
///     .max_age(Duration::from_secs(15 * 60));
/// assert_eq!(options.get_max_events(), 50_000);
/// ```
#[derive(Debug, Clone)]
pub struct RedisReplayOptions {
    pub(super) key_prefix: String,
    pub(super) max_events: usize,
    pub(super) max_age: Duration,
    pub(super) write_timeout: Duration,
}

impl Default for RedisReplayOptions {
    fn default() -> Self {
        Self {
            key_prefix: "sse-hub".to_owned(),
            max_events: 10_000,
            max_age: Duration::from_secs(3600),
            write_timeout: Duration::from_secs(5),
        }
    }
}

impl RedisReplayOptions {
    /// The defaults: prefix `sse-hub`, 10,000 events, 1 h, 5 s write timeout.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Prefix of every key. Stores sharing a prefix share their events (that
    /// is how nodes and restarts find each other's). Default: `sse-hub`.
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Events kept at least (the stream is trimmed approximately, so up to
    /// about a hundred more may stay). At least 1. Default: 10,000.
    #[must_use]
    pub fn max_events(mut self, max_events: usize) -> Self {
        self.max_events = max_events.max(1);
        self
    }

    /// Age after which an event id is no longer replayable. At least 1 ms.
    /// Default: 1 hour.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age.max(Duration::from_millis(1));
        self
    }

    /// How long the writer retries a batch before dropping it (and marking a
    /// gap), how long `after` waits for pending writes, and the timeout of
    /// each Redis command and connection attempt. At least 1 ms. Default: 5 s.
    #[must_use]
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The key prefix.
    pub fn get_key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The count retention.
    pub fn get_max_events(&self) -> usize {
        self.max_events
    }

    /// The age retention.
    pub fn get_max_age(&self) -> Duration {
        self.max_age
    }

    /// The write timeout.
    pub fn get_write_timeout(&self) -> Duration {
        self.write_timeout
    }
}
