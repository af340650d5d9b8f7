//! [`Options`]: the clap and serde struct, and its three layers (file <
//! environment < flags), merged in memory.

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::builder::Resettable;
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use serde::Deserialize;

#[cfg(doc)]
use super::Replay;
use super::{LoadError, RedisUrl, Secret};

/// The `--help` heading of the authentication options.
const AUTH: &str = "Authentication (see README: Authentication)";

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

    /// Address to listen on, IP:port; a non-loopback address requires a way to
    /// publish (--publish-token or a JWT key) and to subscribe (a JWT key or
    /// --anonymous-topics) [default: 127.0.0.1:8080]
    #[arg(long, env = "SSE_HUB_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Static bearer token allowed to publish any event (and to administer
    /// when no --admin-token is set) [default: none]
    #[arg(
        long,
        env = "SSE_HUB_PUBLISH_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        help_heading = AUTH
    )]
    pub publish_token: Option<Secret>,

    /// Static bearer token for /stats detail, /metrics and any connection's
    /// /connections/* [default: none]
    #[arg(
        long,
        env = "SSE_HUB_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        help_heading = AUTH
    )]
    pub admin_token: Option<Secret>,

    /// HMAC secret verifying HS256/384/512 JWTs, raw bytes, at least 32
    /// [default: none]
    #[arg(
        long,
        env = "SSE_HUB_JWT_SECRET",
        value_name = "SECRET",
        hide_env_values = true,
        help_heading = AUTH
    )]
    pub jwt_secret: Option<Secret>,

    /// PEM public key verifying JWTs: RSA (RS*, PS*), EC P-256 (ES256),
    /// P-384 (ES384) or Ed25519 (EdDSA) [default: none]
    #[arg(
        long,
        env = "SSE_HUB_JWT_PUBLIC_KEY",
        value_name = "FILE",
        help_heading = AUTH
    )]
    pub jwt_public_key: Option<PathBuf>,

    /// JWKS file or http(s) URL; keys chosen by `kid`, re-read on an unknown
    /// `kid` at most once per 30 s [default: none]
    #[arg(
        long,
        env = "SSE_HUB_JWT_JWKS",
        value_name = "FILE|URL",
        help_heading = AUTH
    )]
    pub jwt_jwks: Option<String>,

    /// Required JWT `aud` (an array matches if it contains it) [default: none]
    #[arg(
        long,
        env = "SSE_HUB_JWT_AUDIENCE",
        value_name = "AUD",
        help_heading = AUTH
    )]
    pub jwt_audience: Option<String>,

    /// Required JWT `iss` [default: none]
    #[arg(long, env = "SSE_HUB_JWT_ISSUER", value_name = "ISS", help_heading = AUTH)]
    pub jwt_issuer: Option<String>,

    /// Clock skew allowed on JWT `exp` and `nbf`, in seconds, at most 300 [default: 5]
    #[arg(long, env = "SSE_HUB_JWT_LEEWAY_S", value_name = "S", help_heading = AUTH)]
    pub jwt_leeway_s: Option<u64>,

    /// Cookie holding a subscriber's JWT (browsers) [default: sse_hub_token]
    #[arg(long, env = "SSE_HUB_AUTH_COOKIE", value_name = "NAME", help_heading = AUTH)]
    pub auth_cookie: Option<String>,

    /// Topic pattern anyone may subscribe to without a credential; repeatable
    /// or comma-separated; '>' = everything. Without a JWT key on a loopback
    /// address everything is anonymous unless this is given [default: none]
    #[arg(
        long,
        env = "SSE_HUB_ANONYMOUS_TOPICS",
        value_name = "PATTERN",
        value_delimiter = ',',
        help_heading = AUTH
    )]
    pub anonymous_topics: Option<Vec<String>>,

    /// Lifetime of a one-time ticket from POST /tickets, in ms [default: 30000]
    #[arg(long, env = "SSE_HUB_TICKET_TTL_MS", value_name = "MS", help_heading = AUTH)]
    pub ticket_ttl_ms: Option<u64>,

    /// One-time tickets held at once in memory (without --redis-url); more are
    /// refused (503) until some are redeemed or expire. About 1 KiB each [default: 100000]
    #[arg(long, env = "SSE_HUB_MAX_TICKETS", value_name = "N", help_heading = AUTH)]
    pub max_tickets: Option<usize>,

    /// Origin allowed cross-origin requests with credentials, exact (e.g.
    /// `https://app.example.com`); repeatable or comma-separated [default: none]
    #[arg(
        long,
        env = "SSE_HUB_CORS_ORIGIN",
        value_name = "ORIGIN",
        value_delimiter = ',',
        help_heading = AUTH
    )]
    pub cors_origin: Option<Vec<String>>,

    /// Host header accepted (any port); others get 403 (DNS rebinding);
    /// repeatable or comma-separated. When none is given: on a loopback
    /// address localhost, 127.0.0.1 and `[::1]`; elsewhere any [default: none]
    #[arg(
        long,
        env = "SSE_HUB_ALLOWED_HOST",
        value_name = "HOST",
        value_delimiter = ',',
        help_heading = AUTH
    )]
    pub allowed_host: Option<Vec<String>>,

    /// Base flush interval of the batched and coalesced lanes, in ms [default: 2000]
    #[arg(long, env = "SSE_HUB_FLUSH_INTERVAL_MS", value_name = "MS")]
    pub flush_interval_ms: Option<u64>,

    /// A `: ping` comment is sent on a connection idle this long, in ms [default: 30000]
    #[arg(long, env = "SSE_HUB_HEARTBEAT_INTERVAL_MS", value_name = "MS")]
    pub heartbeat_interval_ms: Option<u64>,

    /// Longest a connection stays open, in seconds; 0 = unlimited [default: 1800]
    #[arg(long, env = "SSE_HUB_MAX_LIFETIME_S", value_name = "S")]
    pub max_lifetime_s: Option<u64>,

    /// Events a connection may have queued before --overflow applies; the
    /// hub writes at once past a quarter of it (or of --send-buffer-bytes),
    /// so only a client not reading fills it. 8 bytes per queued event,
    /// allocated on demand [default: 4096]
    #[arg(long, env = "SSE_HUB_SEND_BUFFER_SIZE", value_name = "N")]
    pub send_buffer_size: Option<usize>,

    /// Bytes of events a connection may have queued before --overflow
    /// applies; at least twice --max-event-bytes. The most a lagging client
    /// can keep in memory (events are shared with their other recipients);
    /// an idle connection holds none [default: 4194304]
    #[arg(long, env = "SSE_HUB_SEND_BUFFER_BYTES", value_name = "BYTES")]
    pub send_buffer_bytes: Option<usize>,

    /// Reconnect delay sent to clients as `retry:` (jittered), in ms [default: 3000]
    #[arg(long, env = "SSE_HUB_RETRY_MS", value_name = "MS")]
    pub retry_ms: Option<u64>,

    /// A client not taking data for this long is disconnected, in ms [default: 10000]
    #[arg(long, env = "SSE_HUB_WRITE_TIMEOUT_MS", value_name = "MS")]
    pub write_timeout_ms: Option<u64>,

    /// Once a connection falls behind (a write finds 4+ queued events), it writes
    /// at most once per this interval so each write carries many events; otherwise
    /// every event goes out at once; 0 never holds, in ms, at most 1000 [default: 20]
    #[arg(long, env = "SSE_HUB_MIN_WRITE_INTERVAL_MS", value_name = "MS")]
    pub min_write_interval_ms: Option<u64>,

    /// Direct writes: an event for a quiet connection (average gap between its
    /// events at least this long) whose stream is idle is written to its socket
    /// without waking the connection's task: less CPU and a lower p99 at
    /// moderate rates (see BENCHMARKS.md); 0 = off, in ms, at most 1000 [default: 2]
    #[arg(long, env = "SSE_HUB_DIRECT_WRITE_GAP_MS", value_name = "MS")]
    pub direct_write_gap_ms: Option<u64>,

    /// What to do when a connection's queue is full: drop the event for it, or
    /// disconnect it so it reconnects and replays (lossless with replay on) [default: disconnect]
    #[arg(long, env = "SSE_HUB_OVERFLOW", value_name = "POLICY")]
    pub overflow: Option<OverflowPolicy>,

    /// Longest `retry:` for a client cut by --overflow disconnect: each time
    /// in a row it is cut again before catching up, its `retry:` doubles from
    /// --retry-ms up to this, in ms [default: 60000]
    #[arg(long, env = "SSE_HUB_OVERFLOW_RETRY_MAX_MS", value_name = "MS")]
    pub overflow_retry_max_ms: Option<u64>,

    /// Open connections accepted at once; more are told to retry later [default: 10000]
    #[arg(long, env = "SSE_HUB_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Topic patterns per connection [default: 64]
    #[arg(long, env = "SSE_HUB_MAX_TOPICS_PER_CONNECTION", value_name = "N")]
    pub max_topics_per_connection: Option<usize>,

    /// Topics per published event [default: 16]
    #[arg(long, env = "SSE_HUB_MAX_TOPICS_PER_EVENT", value_name = "N")]
    pub max_topics_per_event: Option<usize>,

    /// Bytes of one encoded event (comfortably above a 64 KiB payload) [default: 262144]
    #[arg(long, env = "SSE_HUB_MAX_EVENT_BYTES", value_name = "BYTES")]
    pub max_event_bytes: Option<usize>,

    /// Bytes of a request body (POST /publish, topic changes) [default: 1048576]
    #[arg(long, env = "SSE_HUB_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,

    /// Events in one POST /publish request [default: 1000]
    #[arg(long, env = "SSE_HUB_MAX_BATCH", value_name = "N")]
    pub max_batch: Option<usize>,

    /// TCP connections open at once, counted from accept (idle ones too);
    /// past it and the reserve a new socket is closed at once [default: none,
    /// that is max-connections + 1024]
    #[arg(long, env = "SSE_HUB_MAX_SOCKETS", value_name = "N")]
    pub max_sockets: Option<usize>,

    /// TCP connections one IP address may hold open; 0 = no per-IP limit
    /// (behind a reverse proxy every client shares its address) [default: 0]
    #[arg(long, env = "SSE_HUB_MAX_SOCKETS_PER_IP", value_name = "N")]
    pub max_sockets_per_ip: Option<usize>,

    /// Sockets accepted past --max-sockets for one short request each (health
    /// checks); a subscribe on one gets 200 + `overloaded` [default: 32]
    #[arg(long, env = "SSE_HUB_SOCKET_RESERVE", value_name = "N")]
    pub socket_reserve: Option<usize>,

    /// A client must send its request head within this; the socket is closed
    /// then, in ms [default: 10000]
    #[arg(long, env = "SSE_HUB_HEADER_TIMEOUT_MS", value_name = "MS")]
    pub header_timeout_ms: Option<u64>,

    /// A request body must arrive whole within this, or the answer is 408, in
    /// ms [default: 30000]
    #[arg(long, env = "SSE_HUB_BODY_TIMEOUT_MS", value_name = "MS")]
    pub body_timeout_ms: Option<u64>,

    /// Slowest average rate a request body may arrive at after its first 2 s,
    /// in bytes/s, or the answer is 408; 0 = none [default: 1024]
    #[arg(long, env = "SSE_HUB_MIN_BODY_RATE", value_name = "BYTES_PER_S")]
    pub min_body_rate: Option<u64>,

    /// Encoded bytes of replay one reconnecting client gets; past it the
    /// replay ends with `resync` (memory per reconnect independent of
    /// retention) [default: 4194304]
    #[arg(long, env = "SSE_HUB_MAX_REPLAY_BYTES", value_name = "BYTES")]
    pub max_replay_bytes: Option<usize>,

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
    /// (also rediss://, redis+unix://); credentials are never logged. When
    /// set, one-time tickets are stored there too (any server sharing it
    /// honours a ticket once); left unset, tickets stay in memory
    /// [default: none, redis://127.0.0.1:6379/ for --replay redis]
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
/// [`crate::app::build`].
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

    /// The names among `env` that start with `SSE_HUB_` but are no setting
    /// (a misspelling would otherwise be ignored silently), sorted. The
    /// server logs a warning for each at startup.
    pub fn unknown_env_vars<E, K, V>(env: E) -> Vec<String>
    where
        E: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let command = Self::command();
        let known: Vec<&std::ffi::OsStr> = command
            .get_arguments()
            .filter_map(|arg| arg.get_env())
            .collect();
        let mut unknown: Vec<String> = env
            .into_iter()
            .map(|(key, _)| key.into())
            .filter(|key| {
                key.to_str().is_some_and(|k| k.starts_with("SSE_HUB_"))
                    && !known.contains(&key.as_os_str())
            })
            .map(|key| key.to_string_lossy().into_owned())
            .collect();
        unknown.sort();
        unknown
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
            admin_token,
            jwt_secret,
            jwt_public_key,
            jwt_jwks,
            jwt_audience,
            jwt_issuer,
            jwt_leeway_s,
            auth_cookie,
            anonymous_topics,
            ticket_ttl_ms,
            max_tickets,
            cors_origin,
            allowed_host,
            flush_interval_ms,
            heartbeat_interval_ms,
            max_lifetime_s,
            send_buffer_size,
            send_buffer_bytes,
            retry_ms,
            write_timeout_ms,
            min_write_interval_ms,
            direct_write_gap_ms,
            overflow,
            overflow_retry_max_ms,
            max_connections,
            max_topics_per_connection,
            max_topics_per_event,
            max_event_bytes,
            max_body_bytes,
            max_batch,
            max_sockets,
            max_sockets_per_ip,
            socket_reserve,
            header_timeout_ms,
            body_timeout_ms,
            min_body_rate,
            max_replay_bytes,
            drain_timeout_s,
            replay,
            replay_max_events,
            replay_max_age_s,
            redis_url,
            redis_prefix,
            log,
        )
    }
}

/// The first line of a clap error, without its `error: ` prefix.
fn clap_message(err: &clap::Error) -> String {
    let text = err.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}
