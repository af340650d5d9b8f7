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
