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

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Default `--min-write-interval-ms`.
const DEFAULT_MIN_WRITE_INTERVAL_MS: u64 = 20;

/// Default `--redis-url`.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/";

/// Default `--redis-prefix`.
pub const DEFAULT_REDIS_PREFIX: &str = "sse-hub";

use clap::builder::Resettable;
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use serde::Deserialize;

/// Command-line options, environment variables and file keys of `sse-hub`.
///
/// Unset fields take the default written in their help text.
#[derive(Debug, Default, Clone, PartialEq, Parser, Deserialize)]
#[command(
    name = "sse-hub",
    version,
    about = "A Server-Sent Events broker: subscribe over GET /events, publish over POST /publish.",
    long_about = "A Server-Sent Events broker: subscribe over GET /events, publish over POST /publish.\n\n\
                  Settings come from a TOML file (--config), then SSE_HUB_* environment variables, \
                  then flags; later ones win. File keys are the option names with '_' for '-'."
)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// TOML file with any of these settings (keys like `flush_interval_ms`) [default: none]
    #[arg(long, env = "SSE_HUB_CONFIG", value_name = "PATH")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address to listen on, IP:port; a non-loopback address requires --publish-token [default: 127.0.0.1:8080]
    #[arg(long, env = "SSE_HUB_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Bearer token required on /publish, /connections/* and /stats?connections=true
    /// [default: none, allowed only on loopback]
    #[arg(
        long,
        env = "SSE_HUB_PUBLISH_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub publish_token: Option<Secret>,

    /// Base flush interval of the batched and coalesced lanes, in ms [default: 2000]
    #[arg(long, env = "SSE_HUB_FLUSH_INTERVAL_MS", value_name = "MS")]
    pub flush_interval_ms: Option<u64>,

    /// A `: ping` comment is sent on a connection idle this long, in ms [default: 30000]
    #[arg(long, env = "SSE_HUB_HEARTBEAT_INTERVAL_MS", value_name = "MS")]
    pub heartbeat_interval_ms: Option<u64>,

    /// Longest a connection stays open, in seconds; 0 = unlimited [default: 1800]
    #[arg(long, env = "SSE_HUB_MAX_LIFETIME_S", value_name = "S")]
    pub max_lifetime_s: Option<u64>,

    /// Events a connection may have queued [default: 256]
    #[arg(long, env = "SSE_HUB_SEND_BUFFER_SIZE", value_name = "N")]
    pub send_buffer_size: Option<usize>,

    /// Reconnect delay sent to clients as `retry:` (jittered), in ms [default: 3000]
    #[arg(long, env = "SSE_HUB_RETRY_MS", value_name = "MS")]
    pub retry_ms: Option<u64>,

    /// A client not taking data for this long is disconnected, in ms [default: 10000]
    #[arg(long, env = "SSE_HUB_WRITE_TIMEOUT_MS", value_name = "MS")]
    pub write_timeout_ms: Option<u64>,

    /// Under load, a connection writes at most once per this interval so each
    /// write carries many events (the first event after a quiet period still
    /// goes out at once); 0 writes every event immediately, in ms, at most 1000 [default: 20]
    #[arg(long, env = "SSE_HUB_MIN_WRITE_INTERVAL_MS", value_name = "MS")]
    pub min_write_interval_ms: Option<u64>,

    /// What to do when a connection's queue is full: drop the event for it, or
    /// disconnect it so it reconnects and replays (lossless with replay on) [default: disconnect]
    #[arg(long, env = "SSE_HUB_OVERFLOW", value_name = "POLICY")]
    pub overflow: Option<OverflowPolicy>,

    /// Open connections accepted at once; more are told to retry later [default: 10000]
    #[arg(long, env = "SSE_HUB_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Topic patterns per connection [default: 64]
    #[arg(long, env = "SSE_HUB_MAX_TOPICS_PER_CONNECTION", value_name = "N")]
    pub max_topics_per_connection: Option<usize>,

    /// Topics per published event [default: 16]
    #[arg(long, env = "SSE_HUB_MAX_TOPICS_PER_EVENT", value_name = "N")]
    pub max_topics_per_event: Option<usize>,

    /// Bytes of one encoded event [default: 65536]
    #[arg(long, env = "SSE_HUB_MAX_EVENT_BYTES", value_name = "BYTES")]
    pub max_event_bytes: Option<usize>,

    /// Bytes of a request body (POST /publish, topic changes) [default: 1048576]
    #[arg(long, env = "SSE_HUB_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,

    /// Events in one POST /publish request [default: 1000]
    #[arg(long, env = "SSE_HUB_MAX_BATCH", value_name = "N")]
    pub max_batch: Option<usize>,

    /// On SIGTERM/SIGINT, connections are closed spread over this window, in seconds [default: 10]
    #[arg(long, env = "SSE_HUB_DRAIN_TIMEOUT_S", value_name = "S")]
    pub drain_timeout_s: Option<u64>,

    /// Where events are kept for Last-Event-ID replay: none, memory (lost on
    /// restart) or redis (survives restarts, shared by servers) [default: memory]
    #[arg(long, env = "SSE_HUB_REPLAY", value_name = "STORE")]
    pub replay: Option<ReplayMode>,

    /// Events the replay store keeps (redis: at least this many, trimmed
    /// approximately) [default: 10000]
    #[arg(long, env = "SSE_HUB_REPLAY_MAX_EVENTS", value_name = "N")]
    pub replay_max_events: Option<usize>,

    /// Oldest event the replay store keeps, in seconds [default: 3600]
    #[arg(long, env = "SSE_HUB_REPLAY_MAX_AGE_S", value_name = "S")]
    pub replay_max_age_s: Option<u64>,

    /// Redis server of --replay redis, `redis://[user:password@]host:port/db`
    /// (also rediss://, redis+unix://); credentials are never logged
    /// [default: redis://127.0.0.1:6379/]
    #[arg(
        long,
        env = "SSE_HUB_REDIS_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub redis_url: Option<RedisUrl>,

    /// Key prefix of --replay redis; servers sharing a prefix (and Redis)
    /// share their events [default: sse-hub]
    #[arg(long, env = "SSE_HUB_REDIS_PREFIX", value_name = "PREFIX")]
    pub redis_prefix: Option<String>,

    /// Log filter, `tracing` syntax (e.g. `info,sse_hub=debug`) [default: info]
    #[arg(long, env = "SSE_HUB_LOG", value_name = "FILTER")]
    pub log: Option<String>,
}

/// A secret string (the publish token): compared in constant time, never
/// printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret's text.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` equals the secret. The time taken depends on the
    /// length of `presented` only, not on where it differs.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        let mut diff = expected.len() ^ presented.len();
        for (i, byte) in presented.iter().enumerate() {
            let other = expected.get(i).copied().unwrap_or(0);
            diff |= usize::from(byte ^ other);
        }
        std::hint::black_box(diff) == 0
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A Redis URL (`--redis-url`). It may carry a password: `Debug` and
/// `Display` show it [redacted](RedisUrl::redacted), without credentials.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// A URL holding `url` (validated by [`Options::resolve`]).
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The full URL, credentials included: only for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL without credentials, query or fragment, for messages:
    /// `redis://user:pw@host:6379/0?x=y` shows as `redis://host:6379/0`.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return "<invalid url>".to_owned();
        };
        // Everything up to the last `@` is (or may be) userinfo; a query may
        // carry `pass=`, so it is cut too. A malformed URL can only lose
        // more, never show a secret.
        let rest = rest.rfind('@').map_or(rest, |at| &rest[at + 1..]);
        let end = rest.find(['?', '#', '&', '=', ';']).unwrap_or(rest.len());
        format!("{scheme}://{}", &rest[..end])
    }

    /// `text` (an error message, say) with every occurrence of this URL and
    /// of its password replaced by the redacted form / `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.replace(&self.0, &self.redacted());
        if let Some(password) = self.password().filter(|p| p.len() >= 3) {
            text = text.replace(password, "***");
        }
        text
    }

    /// The password of the userinfo, if any.
    fn password(&self) -> Option<&str> {
        let (_, rest) = self.0.split_once("://")?;
        let userinfo = &rest[..rest.rfind('@')?];
        userinfo.split_once(':').map(|(_, pw)| pw)
    }

    /// Checks the scheme and that something follows it.
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| ConfigError::RedisUrl {
            url: self.redacted(),
            message: message.to_owned(),
        };
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return Err(invalid("expected redis://host:port/db"));
        };
        if !["redis", "rediss", "redis+unix", "unix"].contains(&scheme) {
            return Err(invalid(
                "the scheme must be redis, rediss, redis+unix or unix",
            ));
        }
        if rest.is_empty() {
            return Err(invalid("no host"));
        }
        Ok(())
    }
}

impl Default for RedisUrl {
    fn default() -> Self {
        Self::new(DEFAULT_REDIS_URL)
    }
}

impl FromStr for RedisUrl {
    // Infallible so that clap never echoes a URL (with its password) in an
    // error: `resolve` validates it and names it redacted.
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({:?})", self.redacted())
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `--overflow`: what happens when a connection's send queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverflowPolicy {
    /// Drop the event for that connection (counted in `/stats`).
    Drop,
    /// Disconnect the lagging connection; it reconnects with `Last-Event-ID`
    /// and replays what it missed.
    Disconnect,
}

/// `--replay`: where events are kept for `Last-Event-ID` replay.
///
/// Adding a store: add a variant here, its options to [`Options`], its
/// settings to [`Replay`] in [`Options::resolve`], and build it in
/// [`crate::app::build_hub`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplayMode {
    /// No replay: a reconnecting client gets `resync`.
    None,
    /// A bounded in-process ring (lost on restart).
    Memory,
    /// Redis Streams (survives restarts, shared by servers on one prefix).
    Redis,
}

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
    /// Token required to publish and manage connections; `None` only on loopback.
    pub publish_token: Option<Secret>,
    /// Base flush interval.
    pub flush_interval: Duration,
    /// Heartbeat interval.
    pub heartbeat_interval: Duration,
    /// Longest connection lifetime (`None` = unlimited).
    pub max_lifetime: Option<Duration>,
    /// Per-connection queue size.
    pub send_buffer_size: usize,
    /// Base `retry:` hint.
    pub retry: Duration,
    /// Write deadline.
    pub write_timeout: Duration,
    /// Shortest time between two event writes to one connection.
    pub min_write_interval: Duration,
    /// Full-queue policy.
    pub overflow: OverflowPolicy,
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
    /// Drain window on shutdown.
    pub drain_timeout: Duration,
    /// Replay store.
    pub replay: Replay,
    /// Log filter.
    pub log: String,
}

impl Settings {
    /// The library configuration (without the replay store: see
    /// [`crate::app::build_hub`]).
    pub fn hub_config(&self) -> sse_hub::Config {
        sse_hub::Config::new()
            .flush_interval(self.flush_interval)
            .heartbeat_interval(self.heartbeat_interval)
            .max_lifetime(self.max_lifetime)
            .send_buffer_size(self.send_buffer_size)
            .retry(self.retry)
            .write_timeout(self.write_timeout)
            .min_write_interval(self.min_write_interval)
            .overflow(match self.overflow {
                OverflowPolicy::Drop => sse_hub::Overflow::DropNewest,
                OverflowPolicy::Disconnect => sse_hub::Overflow::Disconnect,
            })
            .max_connections(self.max_connections)
            .max_topics_per_connection(self.max_topics_per_connection)
            .max_topics_per_event(self.max_topics_per_event)
            .max_event_bytes(self.max_event_bytes)
    }

    /// The HTTP API's options.
    pub fn api_options(&self) -> crate::app::ApiOptions {
        crate::app::ApiOptions {
            publish_token: self.publish_token.clone(),
            max_body_bytes: self.max_body_bytes,
            max_batch: self.max_batch,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Bad command line, or `--help` / `--version`: print it with
    /// [`clap::Error::exit`].
    #[error(transparent)]
    Cli(#[from] clap::Error),
    /// An environment variable holds an invalid value.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// The configuration file could not be read.
    #[error("reading config file {path}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid.
    #[error("config file {path}")]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// The TOML error (it names the key and line).
        #[source]
        source: toml::de::Error,
    },
}

/// A setting is out of range, or the settings are unsafe together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value that must be positive is zero.
    #[error("--{name} must be at least 1")]
    Zero {
        /// The option.
        name: &'static str,
    },
    /// A duration is longer than a year (timers that far out are a typo and
    /// would overflow the clock).
    #[error("--{name} must be at most one year")]
    TooLong {
        /// The option.
        name: &'static str,
    },
    /// A millisecond option above its limit.
    #[error("--{name} must be at most {max}")]
    TooLongMs {
        /// The option.
        name: &'static str,
        /// The limit in ms.
        max: u64,
    },
    /// Publishing would be open to the network.
    #[error(
        "refusing to listen on non-loopback address {listen} without --publish-token \
         (anyone could publish); set a token or listen on 127.0.0.1"
    )]
    OpenPublish {
        /// The listen address.
        listen: SocketAddr,
    },
    /// The publish token is empty.
    #[error("--publish-token must not be empty")]
    EmptyToken,
    /// A string option is empty.
    #[error("--{name} must not be empty")]
    Empty {
        /// The option.
        name: &'static str,
    },
    /// The Redis URL is not valid (shown without credentials).
    #[error("--redis-url {url}: {message}")]
    RedisUrl {
        /// The URL, redacted.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The log filter does not parse.
    #[error("--log: invalid filter {filter:?}: {message}")]
    Log {
        /// The filter.
        filter: String,
        /// The parser's message.
        message: String,
    },
}

impl Options {
    /// Reads the three layers: `args` (starting with the program name), the
    /// `SSE_HUB_*` variables among `env`, and the file named by either.
    ///
    /// Pass `std::env::args_os()` and `std::env::vars_os()` in production,
    /// explicit lists in tests.
    ///
    /// # Errors
    ///
    /// [`LoadError`] naming the flag, variable or file at fault.
    pub fn load<A, E, K, V>(args: A, env: E) -> Result<Self, LoadError>
    where
        A: IntoIterator,
        A::Item: Into<OsString> + Clone,
        E: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let flags = Self::from_flags(args)?;
        let env = Self::from_env(env)?;
        let file = match flags.config.as_ref().or(env.config.as_ref()) {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        Ok(flags.or(env).or(file))
    }

    /// The flags layer. The process environment is not read.
    ///
    /// # Errors
    ///
    /// The clap error (also for `--help` and `--version`).
    pub fn from_flags<A>(args: A) -> Result<Self, clap::Error>
    where
        A: IntoIterator,
        A::Item: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let command = Self::command().mut_args(|arg| arg.env(Resettable::Reset));
        match command.try_get_matches_from(&args) {
            Ok(matches) => Self::from_arg_matches(&matches),
            // Render help from the full command so it lists the variables too.
            Err(err) if err.kind() == clap::error::ErrorKind::DisplayHelp => {
                Err(match Self::command().try_get_matches_from(&args) {
                    Err(full) => full,
                    Ok(_) => err,
                })
            }
            Err(err) => Err(err),
        }
    }

    /// The environment layer: the `SSE_HUB_*` variables among `env`.
    ///
    /// # Errors
    ///
    /// [`LoadError::Env`] for an invalid value.
    pub fn from_env<E, K, V>(env: E) -> Result<Self, LoadError>
    where
        E: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let env: HashMap<OsString, OsString> =
            env.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let command = Self::command();
        let mut merged = Self::default();
        for arg in command.get_arguments() {
            let (Some(var), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            let Some(value) = env.get(var) else {
                continue;
            };
            let mut flag = OsString::from("--");
            flag.push(long);
            flag.push("=");
            flag.push(value);
            let one = Self::from_flags([OsString::from("sse-hub"), flag]).map_err(|err| {
                LoadError::Env {
                    var: var.to_string_lossy().into_owned(),
                    message: clap_message(&err),
                }
            })?;
            merged = merged.or(one);
        }
        Ok(merged)
    }

    /// The file layer.
    ///
    /// # Errors
    ///
    /// [`LoadError::ReadFile`] or [`LoadError::ParseFile`].
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| LoadError::ParseFile {
            path: path.to_owned(),
            source,
        })
    }

    /// Field by field, `self` where set, else `lower`.
    #[must_use]
    pub fn or(self, lower: Self) -> Self {
        macro_rules! merge {
            ($($field:ident),* $(,)?) => {
                Self { $($field: self.$field.or(lower.$field)),* }
            };
        }
        merge!(
            config,
            listen,
            publish_token,
            flush_interval_ms,
            heartbeat_interval_ms,
            max_lifetime_s,
            send_buffer_size,
            retry_ms,
            write_timeout_ms,
            min_write_interval_ms,
            overflow,
            max_connections,
            max_topics_per_connection,
            max_topics_per_event,
            max_event_bytes,
            max_body_bytes,
            max_batch,
            drain_timeout_s,
            replay,
            replay_max_events,
            replay_max_age_s,
            redis_url,
            redis_prefix,
            log,
        )
    }

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

        let listen = self
            .listen
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
        if self
            .publish_token
            .as_ref()
            .is_some_and(|t| t.expose().is_empty())
        {
            return Err(ConfigError::EmptyToken);
        }
        if self.publish_token.is_none() && !listen.ip().is_loopback() {
            return Err(ConfigError::OpenPublish { listen });
        }
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
        Ok(Settings {
            listen,
            publish_token: self.publish_token,
            flush_interval: ms("flush-interval-ms", self.flush_interval_ms, 2000)?,
            heartbeat_interval: ms("heartbeat-interval-ms", self.heartbeat_interval_ms, 30_000)?,
            max_lifetime: match secs("max-lifetime-s", self.max_lifetime_s, 1800)? {
                Duration::ZERO => None,
                lifetime => Some(lifetime),
            },
            send_buffer_size: count("send-buffer-size", self.send_buffer_size, 256)?,
            retry: ms("retry-ms", self.retry_ms, 3000)?,
            write_timeout: ms("write-timeout-ms", self.write_timeout_ms, 10_000)?,
            min_write_interval: match self
                .min_write_interval_ms
                .unwrap_or(DEFAULT_MIN_WRITE_INTERVAL_MS)
            {
                ms @ 0..=1000 => Duration::from_millis(ms),
                _ => {
                    return Err(ConfigError::TooLongMs {
                        name: "min-write-interval-ms",
                        max: 1000,
                    })
                }
            },
            overflow: self.overflow.unwrap_or(OverflowPolicy::Disconnect),
            max_connections: count("max-connections", self.max_connections, 10_000)?,
            max_topics_per_connection: count(
                "max-topics-per-connection",
                self.max_topics_per_connection,
                64,
            )?,
            max_topics_per_event: count("max-topics-per-event", self.max_topics_per_event, 16)?,
            max_event_bytes: count("max-event-bytes", self.max_event_bytes, 64 * 1024)?,
            max_body_bytes: count("max-body-bytes", self.max_body_bytes, 1024 * 1024)?,
            max_batch: count("max-batch", self.max_batch, 1000)?,
            drain_timeout: secs("drain-timeout-s", self.drain_timeout_s, 10)?,
            replay,
            log,
        })
    }
}

/// The longest duration any setting accepts.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The first line of a clap error, without its `error: ` prefix.
fn clap_message(err: &clap::Error) -> String {
    let text = err.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

#[cfg(test)]
mod tests;
