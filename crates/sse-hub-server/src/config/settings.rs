//! [`Settings`]: the validated configuration, from [`Options::resolve`], and
//! its conversion to the library's [`sse_hub::Config`].

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::{AuthSettings, ConfigError, Options, OverflowPolicy, RedisUrl, ReplayMode, Secret};

/// Default `--min-write-interval-ms`.
const DEFAULT_MIN_WRITE_INTERVAL_MS: u64 = 20;

/// Default `--redis-prefix`.
pub const DEFAULT_REDIS_PREFIX: &str = "sse-hub";

/// The longest duration any setting accepts.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The replay store the server runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Replay {
    /// No replay.
    None,
    /// In-memory ring.
    Memory {
        /// Events kept.
        max_events: usize,
        /// Oldest event kept.
        max_age: Duration,
    },
    /// Redis Streams ([`sse_hub::replay::RedisReplayer`]).
    Redis {
        /// The server.
        url: RedisUrl,
        /// Key prefix.
        prefix: String,
        /// Events kept at least.
        max_events: usize,
        /// Oldest event kept.
        max_age: Duration,
    },
}

impl fmt::Display for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Memory {
                max_events,
                max_age,
            } => write!(
                f,
                "memory (max {max_events} events, {} s)",
                max_age.as_secs()
            ),
            Self::Redis {
                url,
                prefix,
                max_events,
                max_age,
            } => write!(
                f,
                "redis {url} prefix {prefix:?} (max {max_events} events, {} s)",
                max_age.as_secs()
            ),
        }
    }
}

/// Validated settings, every default applied.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Settings {
    /// Listen address.
    pub listen: SocketAddr,
    /// Static token allowed to publish (and administer without an admin token).
    pub publish_token: Option<Secret>,
    /// Who may subscribe, publish and administer.
    pub auth: AuthSettings,
    /// Base flush interval.
    pub flush_interval: Duration,
    /// Heartbeat interval.
    pub heartbeat_interval: Duration,
    /// Longest connection lifetime (`None` = unlimited).
    pub max_lifetime: Option<Duration>,
    /// Per-connection queue size, in events.
    pub send_buffer_size: usize,
    /// Per-connection queue size, in bytes.
    pub send_buffer_bytes: usize,
    /// Base `retry:` hint.
    pub retry: Duration,
    /// Write deadline.
    pub write_timeout: Duration,
    /// Shortest time between two event writes to one connection.
    pub min_write_interval: Duration,
    /// Direct writes for quiet connections (`None`: off).
    pub direct_write_gap: Option<Duration>,
    /// Full-queue policy.
    pub overflow: OverflowPolicy,
    /// Longest `retry:` of a client cut again and again for overflow.
    pub overflow_retry_max: Duration,
    /// Connection cap.
    pub max_connections: usize,
    /// Patterns per connection.
    pub max_topics_per_connection: usize,
    /// Topics per event.
    pub max_topics_per_event: usize,
    /// Bytes per encoded event.
    pub max_event_bytes: usize,
    /// Bytes per request body.
    pub max_body_bytes: usize,
    /// Events per publish request.
    pub max_batch: usize,
    /// Sockets open at once.
    pub max_sockets: usize,
    /// Sockets per IP address (`None`: no per-IP limit).
    pub max_sockets_per_ip: Option<usize>,
    /// Reserve sockets past `max_sockets`.
    pub socket_reserve: usize,
    /// Time allowed for a request head.
    pub header_timeout: Duration,
    /// Time allowed for a request body.
    pub body_timeout: Duration,
    /// Slowest average body rate, bytes/s (0: none).
    pub min_body_rate: u64,
    /// Replay bytes per reconnect.
    pub max_replay_bytes: usize,
    /// Drain window on shutdown.
    pub drain_timeout: Duration,
    /// Replay store.
    pub replay: Replay,
    /// Log filter.
    pub log: String,
}

impl Settings {
    /// The library configuration (without the replay store: see
    /// [`crate::app::build`]).
    pub fn hub_config(&self) -> sse_hub::Config {
        sse_hub::Config::new()
            .flush_interval(self.flush_interval)
            .heartbeat_interval(self.heartbeat_interval)
            .max_lifetime(self.max_lifetime)
            .send_buffer_size(self.send_buffer_size)
            .send_buffer_bytes(self.send_buffer_bytes)
            .retry(self.retry)
            .write_timeout(self.write_timeout)
            .min_write_interval(self.min_write_interval)
            .direct_write_gap(self.direct_write_gap)
            .overflow(match self.overflow {
                OverflowPolicy::Drop => sse_hub::Overflow::DropNewest,
                OverflowPolicy::Disconnect => sse_hub::Overflow::Disconnect,
            })
            .overflow_retry_max(self.overflow_retry_max)
            .max_connections(self.max_connections)
            .max_topics_per_connection(self.max_topics_per_connection)
            .max_topics_per_event(self.max_topics_per_event)
            .max_event_bytes(self.max_event_bytes)
            .max_sockets(self.max_sockets)
            .max_sockets_per_ip(self.max_sockets_per_ip)
            .socket_reserve(self.socket_reserve)
            .header_timeout(self.header_timeout)
            .max_replay_bytes(self.max_replay_bytes)
    }

    /// The HTTP API's options.
    pub fn api_options(&self) -> crate::app::ApiOptions {
        crate::app::ApiOptions {
            auth: self.auth.clone(),
            max_body_bytes: self.max_body_bytes,
            max_batch: self.max_batch,
            body: sse_hub::axum::BodyLimits {
                max_bytes: self.max_body_bytes,
                timeout: self.body_timeout,
                min_rate: self.min_body_rate,
                ..sse_hub::axum::BodyLimits::default()
            },
        }
    }
}

impl Options {
    /// Applies the defaults and validates.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an out-of-range value, an empty token, an invalid
    /// log filter, or a non-loopback listen address without a publish token.
    pub fn resolve(self) -> Result<Settings, ConfigError> {
        fn positive<T: PartialEq + Default>(
            name: &'static str,
            value: T,
        ) -> Result<T, ConfigError> {
            if value == T::default() {
                Err(ConfigError::Zero { name })
            } else {
                Ok(value)
            }
        }
        fn bounded(name: &'static str, value: Duration) -> Result<Duration, ConfigError> {
            if value > MAX_DURATION {
                Err(ConfigError::TooLong { name })
            } else {
                Ok(value)
            }
        }
        let ms = |name, value: Option<u64>, default| {
            bounded(
                name,
                Duration::from_millis(positive(name, value.unwrap_or(default))?),
            )
        };
        let secs = |name, value: Option<u64>, default| {
            bounded(name, Duration::from_secs(value.unwrap_or(default)))
        };
        let count = |name, value: Option<usize>, default| positive(name, value.unwrap_or(default));
        // Sub-second knobs where 0 means off: at most a second.
        let up_to_a_second = |name, value: Option<u64>, default| match value.unwrap_or(default) {
            ms @ 0..=1000 => Ok(Duration::from_millis(ms)),
            _ => Err(ConfigError::TooLongMs { name, max: 1000 }),
        };

        let listen = self
            .listen
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
        let auth = AuthSettings::resolve(
            &self,
            listen,
            ms("ticket-ttl-ms", self.ticket_ttl_ms, 30_000)?,
            count("max-tickets", self.max_tickets, 100_000)?,
            self.redis_prefix.as_deref().unwrap_or(DEFAULT_REDIS_PREFIX),
        )?;
        let log = self.log.unwrap_or_else(|| "info".to_owned());
        if let Err(err) = tracing_subscriber::EnvFilter::try_new(&log) {
            return Err(ConfigError::Log {
                filter: log,
                message: err.to_string(),
            });
        }
        let replay_max_events = || count("replay-max-events", self.replay_max_events, 10_000);
        let replay_max_age = || {
            positive(
                "replay-max-age-s",
                secs("replay-max-age-s", self.replay_max_age_s, 3600)?,
            )
        };
        let replay = match self.replay.unwrap_or(ReplayMode::Memory) {
            ReplayMode::None => Replay::None,
            ReplayMode::Memory => Replay::Memory {
                max_events: replay_max_events()?,
                max_age: replay_max_age()?,
            },
            ReplayMode::Redis => {
                let url = self.redis_url.clone().unwrap_or_default();
                url.validate()?;
                let prefix = self
                    .redis_prefix
                    .clone()
                    .unwrap_or_else(|| DEFAULT_REDIS_PREFIX.to_owned());
                if prefix.is_empty() {
                    return Err(ConfigError::Empty {
                        name: "redis-prefix",
                    });
                }
                Replay::Redis {
                    url,
                    prefix,
                    max_events: replay_max_events()?,
                    max_age: replay_max_age()?,
                }
            }
        };
        let max_connections = count("max-connections", self.max_connections, 10_000)?;
        let max_event_bytes = count("max-event-bytes", self.max_event_bytes, 256 * 1024)?;
        let send_buffer_bytes = count(
            "send-buffer-bytes",
            self.send_buffer_bytes,
            sse_hub::config::DEFAULT_SEND_BUFFER_BYTES,
        )?;
        if send_buffer_bytes / 2 < max_event_bytes {
            return Err(ConfigError::SendBufferBytes);
        }
        Ok(Settings {
            listen,
            publish_token: self.publish_token,
            auth,
            flush_interval: ms("flush-interval-ms", self.flush_interval_ms, 2000)?,
            heartbeat_interval: ms("heartbeat-interval-ms", self.heartbeat_interval_ms, 30_000)?,
            max_lifetime: match secs("max-lifetime-s", self.max_lifetime_s, 1800)? {
                Duration::ZERO => None,
                lifetime => Some(lifetime),
            },
            send_buffer_size: count(
                "send-buffer-size",
                self.send_buffer_size,
                sse_hub::config::DEFAULT_SEND_BUFFER_SIZE,
            )?,
            send_buffer_bytes,
            retry: ms("retry-ms", self.retry_ms, 3000)?,
            write_timeout: ms("write-timeout-ms", self.write_timeout_ms, 10_000)?,
            min_write_interval: up_to_a_second(
                "min-write-interval-ms",
                self.min_write_interval_ms,
                DEFAULT_MIN_WRITE_INTERVAL_MS,
            )?,
            direct_write_gap: Some(up_to_a_second(
                "direct-write-gap-ms",
                self.direct_write_gap_ms,
                2,
            )?)
            .filter(|gap| !gap.is_zero()),
            overflow: self.overflow.unwrap_or(OverflowPolicy::Disconnect),
            max_connections,
            overflow_retry_max: ms("overflow-retry-max-ms", self.overflow_retry_max_ms, 60_000)?,
            max_topics_per_connection: count(
                "max-topics-per-connection",
                self.max_topics_per_connection,
                64,
            )?,
            max_topics_per_event: count("max-topics-per-event", self.max_topics_per_event, 16)?,
            max_event_bytes,
            max_body_bytes: count("max-body-bytes", self.max_body_bytes, 1024 * 1024)?,
            max_batch: count("max-batch", self.max_batch, 1000)?,
            max_sockets: match self.max_sockets {
                Some(n) => positive("max-sockets", n)?,
                None => max_connections.saturating_add(1024),
            },
            max_sockets_per_ip: self.max_sockets_per_ip.filter(|n| *n > 0),
            socket_reserve: self.socket_reserve.unwrap_or(32),
            header_timeout: ms("header-timeout-ms", self.header_timeout_ms, 10_000)?,
            body_timeout: ms("body-timeout-ms", self.body_timeout_ms, 30_000)?,
            min_body_rate: self.min_body_rate.unwrap_or(1024),
            max_replay_bytes: count("max-replay-bytes", self.max_replay_bytes, 4 * 1024 * 1024)?,
            drain_timeout: secs("drain-timeout-s", self.drain_timeout_s, 10)?,
            replay,
            log,
        })
    }
}
