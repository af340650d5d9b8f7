//! Why the configuration could not be loaded ([`LoadError`]) or is not
//! valid ([`ConfigError`]).

use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// No one could publish: off loopback, publishing needs a token or a key.
    #[error(
        "refusing to listen on non-loopback address {listen} without --publish-token or a \
         JWT key (--jwt-secret, --jwt-public-key, --jwt-jwks): publishing is anonymous only \
         on loopback; set one or listen on 127.0.0.1"
    )]
    OpenPublish {
        /// The listen address.
        listen: SocketAddr,
    },
    /// Subscribing would be open to the network without saying so.
    #[error(
        "refusing to listen on non-loopback address {listen} without a JWT key \
         (--jwt-secret, --jwt-public-key, --jwt-jwks) or --anonymous-topics: say what the \
         public may read ('>' = everything) or listen on 127.0.0.1"
    )]
    OpenSubscribe {
        /// The listen address.
        listen: SocketAddr,
    },
    /// More than one JWT key source.
    #[error("set only one of --jwt-secret, --jwt-public-key, --jwt-jwks")]
    SeveralKeys,
    /// `--jwt-secret` too short.
    #[error("--jwt-secret must be at least {min} bytes")]
    ShortSecret {
        /// The minimum.
        min: usize,
    },
    /// A topic pattern option is invalid.
    #[error("--{name}: {message}")]
    Pattern {
        /// The option.
        name: &'static str,
        /// The validator's message.
        message: String,
    },
    /// A `--cors-origin` is not an exact origin.
    #[error(
        "--cors-origin must be an exact origin like https://app.example.com (no path, no wildcard)"
    )]
    CorsOrigin,
    /// An `--allowed-host` is not a host name.
    #[error("--allowed-host must be a host name or address, optionally with a port")]
    AllowedHost,
    /// A JWT option without a JWT key (it would be silently ignored).
    #[error("--{name} needs a JWT key (--jwt-secret, --jwt-public-key or --jwt-jwks)")]
    NeedsKey {
        /// The option.
        name: &'static str,
    },
    /// A JWT key file or JWKS could not be loaded.
    #[error("JWT key: {0}")]
    Key(String),
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
    /// A connection's byte bound could not hold the largest event beside
    /// what a reader that keeps up may have queued.
    #[error("--send-buffer-bytes must be at least twice --max-event-bytes")]
    SendBufferBytes,
    /// The log filter does not parse.
    #[error("--log: invalid filter {filter:?}: {message}")]
    Log {
        /// The filter.
        filter: String,
        /// The parser's message.
        message: String,
    },
}
