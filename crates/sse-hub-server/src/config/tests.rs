#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::CommandFactory;

use super::*;

const NO_ENV: [(&str, &str); 0] = [];

fn temp_file(name: &str, text: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("sse-hub-config-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn file_then_env_then_flags() {
    let path = temp_file(
        "layers",
        "listen = \"127.0.0.1:1001\"\nretry_ms = 1\nflush_interval_ms = 1\nmax_batch = 7\n",
    );
    let options = Options::load(
        [
            "sse-hub",
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:1003",
        ],
        [
            ("SSE_HUB_LISTEN", "127.0.0.1:1002"),
            ("SSE_HUB_RETRY_MS", "2"),
            ("UNRELATED", "x"),
        ],
    )
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    let settings = options.resolve().unwrap();
    assert_eq!(settings.listen, SocketAddr::from(([127, 0, 0, 1], 1003)));
    assert_eq!(settings.retry, Duration::from_millis(2));
    assert_eq!(settings.flush_interval, Duration::from_millis(1));
    assert_eq!(settings.max_batch, 7);
    assert_eq!(settings.max_body_bytes, 1024 * 1024);
}

#[test]
fn config_path_from_env() {
    let path = temp_file("env-path", "overflow = \"drop\"\n");
    let options = Options::load(["sse-hub"], [("SSE_HUB_CONFIG", path.as_os_str())]).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(options.overflow, Some(OverflowPolicy::Drop));
}

#[test]
fn defaults_match_help() {
    let defaults = Options::default().resolve().unwrap();
    assert_eq!(defaults.overflow, OverflowPolicy::Disconnect);
    assert_eq!(defaults.max_lifetime, Some(Duration::from_secs(1800)));
    // Every option documents its default; passing each documented value
    // explicitly resolves to the same settings.
    let mut args = vec!["sse-hub".to_owned()];
    for arg in Options::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "help" | "version") {
            continue;
        }
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        let start = help
            .find("[default: ")
            .unwrap_or_else(|| panic!("--{long} documents no default: {help}"));
        let value = help[start + 10..].split([']', ',']).next().unwrap();
        if value != "none" {
            args.extend([format!("--{long}"), value.to_owned()]);
        }
    }
    let explicit = Options::from_flags(&args).unwrap().resolve().unwrap();
    assert_eq!(explicit, defaults);
}

#[test]
fn auth_options_from_file_env_and_flags() {
    let path = temp_file(
        "auth",
        "anonymous_topics = [\"news.>\", \"status\"]\ncors_origin = [\"https://a.example\"]\n\
         allowed_host = [\"example.com:8080\"]\nadmin_token = \"adm\"\n",
    );
    let options = Options::load(
        [
            "sse-hub",
            "--config",
            path.to_str().unwrap(),
            "--cors-origin",
            "https://b.example",
            "--cors-origin",
            "https://c.example",
        ],
        [
            ("SSE_HUB_ALLOWED_HOST", "one.example,two.example"),
            ("SSE_HUB_REDIS_URL", "redis://127.0.0.1:6379/3"),
        ],
    )
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    let auth = options.resolve().unwrap().auth;
    assert_eq!(auth.anonymous_topics, ["news.>", "status"]);
    assert_eq!(
        auth.cors_origins,
        ["https://b.example", "https://c.example"],
        "flags win whole"
    );
    assert_eq!(
        auth.allowed_hosts.as_deref(),
        Some(&["one.example".to_owned(), "two.example".into()][..])
    );
    assert_eq!(
        auth.ticket_redis,
        Some(RedisUrl::new("redis://127.0.0.1:6379/3"))
    );
    assert!(auth.admin_token.is_some());
    assert!(!auth.open_admin());
    let help = Options::from_flags(["sse-hub", "--help"])
        .unwrap_err()
        .to_string();
    let heading = help.find("Authentication").expect("an auth heading");
    for flag in [
        "--jwt-secret",
        "--jwt-jwks",
        "--anonymous-topics",
        "--cors-origin",
        "--allowed-host",
        "--admin-token",
    ] {
        assert!(
            help[heading..].contains(flag),
            "{flag} under the heading: {help}"
        );
    }
}

#[test]
fn help_lists_environment_variables() {
    let err = Options::from_flags(["sse-hub", "--help"]).unwrap_err();
    assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
    let help = err.to_string();
    assert!(help.contains("SSE_HUB_FLUSH_INTERVAL_MS"), "{help}");
    assert!(help.contains("[default: 2000]"), "{help}");
}

#[test]
fn bad_values_name_their_source() {
    let err = Options::from_env([("SSE_HUB_FLUSH_INTERVAL_MS", "soon")]).unwrap_err();
    assert!(
        err.to_string().contains("SSE_HUB_FLUSH_INTERVAL_MS"),
        "{err}"
    );
    let path = temp_file("unknown-key", "flush_interval = 5\n");
    let err = Options::load(["sse-hub", "--config", path.to_str().unwrap()], NO_ENV).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("flush_interval"), "{chain}");
    assert!(Options::from_flags(["sse-hub", "--overflow", "maybe"]).is_err());
    let zero = Options::from_flags(["sse-hub", "--retry-ms", "0"])
        .unwrap()
        .resolve();
    assert_eq!(zero, Err(ConfigError::Zero { name: "retry-ms" }));
    let huge = Options::from_flags(["sse-hub", "--drain-timeout-s", &u64::MAX.to_string()])
        .unwrap()
        .resolve();
    assert_eq!(
        huge,
        Err(ConfigError::TooLong {
            name: "drain-timeout-s"
        })
    );
    let huge = Options::from_flags(["sse-hub", "--flush-interval-ms", &u64::MAX.to_string()])
        .unwrap()
        .resolve();
    assert_eq!(
        huge,
        Err(ConfigError::TooLong {
            name: "flush-interval-ms"
        })
    );
    let small = Options::from_flags([
        "sse-hub",
        "--max-event-bytes",
        "1000",
        "--send-buffer-bytes",
        "1999",
    ])
    .unwrap()
    .resolve();
    assert_eq!(small, Err(ConfigError::SendBufferBytes));
    let defaults = Options::default().resolve().unwrap();
    assert_eq!(defaults.send_buffer_size, 4096);
    assert_eq!(defaults.send_buffer_bytes, 4 << 20);
    assert!(sse_hub::Hub::new(defaults.hub_config()).is_ok());
    let log = Options::from_flags(["sse-hub", "--log", "info,[[["])
        .unwrap()
        .resolve();
    assert!(matches!(log, Err(ConfigError::Log { .. })), "{log:?}");
}

#[test]
fn non_loopback_requires_a_token() {
    let resolve = |args: &[&str]| {
        Options::from_flags(["sse-hub", "--listen", "0.0.0.0:8080"].iter().chain(args))
            .unwrap()
            .resolve()
    };
    // Subscribing: a key, or saying what is public.
    assert!(matches!(
        resolve(&[]),
        Err(ConfigError::OpenSubscribe { .. })
    ));
    assert!(matches!(
        resolve(&["--publish-token", "t"]),
        Err(ConfigError::OpenSubscribe { .. })
    ));
    // Publishing: a token or a key.
    assert!(matches!(
        resolve(&["--anonymous-topics", ">"]),
        Err(ConfigError::OpenPublish { .. })
    ));
    let with_token = resolve(&[
        "--publish-token",
        "t",
        "--anonymous-topics",
        "news.>,status",
    ])
    .unwrap();
    assert!(with_token.publish_token.is_some());
    assert_eq!(with_token.auth.anonymous_topics, ["news.>", "status"]);
    assert_eq!(with_token.auth.allowed_hosts, None, "any Host off loopback");
    let secret = "0123456789abcdef0123456789abcdef";
    let with_key = resolve(&["--jwt-secret", secret]).unwrap();
    assert!(
        with_key.auth.anonymous_topics.is_empty(),
        "nothing anonymous"
    );
    assert!(!with_key.auth.open_publish());
    assert_eq!(
        resolve(&["--jwt-secret", "short"]),
        Err(ConfigError::ShortSecret { min: 32 })
    );
    assert_eq!(
        resolve(&["--jwt-secret", secret, "--jwt-jwks", "keys.json"]),
        Err(ConfigError::SeveralKeys)
    );
    assert!(matches!(
        resolve(&["--jwt-secret", secret, "--anonymous-topics", "a..b"]),
        Err(ConfigError::Pattern { .. })
    ));
    assert_eq!(
        resolve(&["--jwt-secret", secret, "--cors-origin", "*"]),
        Err(ConfigError::CorsOrigin)
    );
    assert_eq!(
        resolve(&[
            "--publish-token",
            "t",
            "--anonymous-topics",
            ">",
            "--jwt-audience",
            "a"
        ]),
        Err(ConfigError::NeedsKey {
            name: "jwt-audience"
        })
    );
    assert_eq!(
        resolve(&["--jwt-secret", secret, "--jwt-leeway-s", "301"]),
        Err(ConfigError::TooLongMs {
            name: "jwt-leeway-s",
            max: 300
        })
    );
    // Development: loopback, no key, no token.
    let dev = Options::default().resolve().unwrap();
    assert_eq!(dev.auth.anonymous_topics, [">"]);
    assert!(dev.auth.open_publish() && dev.auth.open_admin());
    assert_eq!(
        dev.auth.allowed_hosts.as_deref(),
        Some(&["localhost".to_owned(), "127.0.0.1".into(), "[::1]".into()][..])
    );
    assert_eq!(
        dev.auth.ticket_redis, None,
        "no Redis unless --redis-url is set"
    );
    let loopback_v6 = Options::from_flags(["sse-hub", "--listen", "[::1]:8080"])
        .unwrap()
        .resolve();
    assert!(loopback_v6.is_ok());
    let empty = Options::from_flags(["sse-hub", "--publish-token", ""])
        .unwrap()
        .resolve();
    assert_eq!(empty, Err(ConfigError::EmptyToken));
}

#[test]
fn max_lifetime_zero_is_unlimited_and_replay_none() {
    let settings = Options::from_flags(["sse-hub", "--max-lifetime-s", "0", "--replay", "none"])
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(settings.max_lifetime, None);
    assert_eq!(settings.replay, Replay::None);
}

#[test]
fn direct_writes_are_on_by_default_and_bounded() {
    assert_eq!(
        Options::default().resolve().unwrap().direct_write_gap,
        Some(Duration::from_millis(2))
    );
    let off = Options::from_flags(["sse-hub", "--direct-write-gap-ms", "0"])
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(off.direct_write_gap, None);
    let on = Options::from_flags(["sse-hub", "--direct-write-gap-ms", "5"])
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(on.direct_write_gap, Some(Duration::from_millis(5)));
    let huge = Options::from_flags(["sse-hub", "--direct-write-gap-ms", "1001"])
        .unwrap()
        .resolve();
    assert_eq!(
        huge,
        Err(ConfigError::TooLongMs {
            name: "direct-write-gap-ms",
            max: 1000
        })
    );
}

#[test]
fn replay_redis_defaults() {
    let settings = Options::from_flags(["sse-hub", "--replay", "redis"])
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(
        settings.replay,
        Replay::Redis {
            url: RedisUrl::new("redis://127.0.0.1:6379/"),
            prefix: "sse-hub".to_owned(),
            max_events: 10_000,
            max_age: Duration::from_secs(3600),
        }
    );
    // The memory store is still the default, and keeps its retention.
    let default = Options::default().resolve().unwrap();
    assert_eq!(
        default.replay,
        Replay::Memory {
            max_events: 10_000,
            max_age: Duration::from_secs(3600),
        }
    );
}

#[test]
fn replay_redis_layers_and_retention() {
    let path = temp_file(
        "redis",
        "replay = \"redis\"\nredis_url = \"redis://file:6379/\"\nredis_prefix = \"from-file\"\n\
         replay_max_events = 5\n",
    );
    let options = Options::load(
        [
            "sse-hub",
            "--config",
            path.to_str().unwrap(),
            "--redis-prefix",
            "from-flag",
            "--replay-max-age-s",
            "60",
        ],
        [("SSE_HUB_REDIS_URL", "redis://env:6380/2")],
    )
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        options.resolve().unwrap().replay,
        Replay::Redis {
            url: RedisUrl::new("redis://env:6380/2"),
            prefix: "from-flag".to_owned(),
            max_events: 5,
            max_age: Duration::from_secs(60),
        }
    );
    let memory = Options::from_flags([
        "sse-hub",
        "--replay",
        "memory",
        "--replay-max-events",
        "7",
        "--redis-prefix",
        "ignored",
    ])
    .unwrap()
    .resolve()
    .unwrap();
    assert_eq!(
        memory.replay,
        Replay::Memory {
            max_events: 7,
            max_age: Duration::from_secs(3600),
        }
    );
}

#[test]
fn replay_redis_invalid_values() {
    let resolve = |args: &[&str]| {
        Options::from_flags(["sse-hub", "--replay", "redis"].iter().chain(args))
            .unwrap()
            .resolve()
    };
    assert_eq!(
        resolve(&["--redis-prefix", ""]),
        Err(ConfigError::Empty {
            name: "redis-prefix"
        })
    );
    assert_eq!(
        resolve(&["--replay-max-events", "0"]),
        Err(ConfigError::Zero {
            name: "replay-max-events"
        })
    );
    assert_eq!(
        resolve(&["--replay-max-age-s", "0"]),
        Err(ConfigError::Zero {
            name: "replay-max-age-s"
        })
    );
    let bad_scheme = resolve(&["--redis-url", "http://bob:hunter2@example.com/"]);
    let Err(err @ ConfigError::RedisUrl { .. }) = bad_scheme else {
        panic!("{bad_scheme:?}");
    };
    let message = err.to_string();
    assert!(message.contains("http://example.com/"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(matches!(
        resolve(&["--redis-url", "127.0.0.1:6379"]),
        Err(ConfigError::RedisUrl { .. })
    ));
    // The URL is only checked when it is used.
    let unused = Options::from_flags(["sse-hub", "--redis-url", "nonsense"])
        .unwrap()
        .resolve();
    assert!(unused.is_ok(), "{unused:?}");
}

#[test]
fn redis_url_never_shows_credentials() {
    for (url, shown) in [
        ("redis://127.0.0.1:6379/", "redis://127.0.0.1:6379/"),
        ("redis://:hunter2@host:6379/0", "redis://host:6379/0"),
        ("rediss://bob:hunter2@host/1?insecure", "rediss://host/1"),
        ("redis://bob:hun@ter2@host/", "redis://host/"),
        (
            "redis+unix:///tmp/r.sock?db=1&pass=hunter2",
            "redis+unix:///tmp/r.sock",
        ),
        ("no-scheme-hunter2", "<invalid url>"),
    ] {
        let url = RedisUrl::new(url);
        assert_eq!(url.redacted(), shown);
        assert_eq!(url.to_string(), shown);
        assert!(!format!("{url:?}").contains("hunter2"), "{url:?}");
    }
    let url = RedisUrl::new("redis://bob:hunter2@host:6379/");
    assert_eq!(
        url.scrub("failed at redis://bob:hunter2@host:6379/: auth hunter2 refused"),
        "failed at redis://host:6379/: auth *** refused"
    );
    let options = Options::from_env([("SSE_HUB_REDIS_URL", url.expose())]).unwrap();
    assert_eq!(options.redis_url.as_ref(), Some(&url));
    assert!(!format!("{options:?}").contains("hunter2"));
    let settings = Options {
        replay: Some(ReplayMode::Redis),
        ..options
    }
    .resolve()
    .unwrap();
    assert!(!format!("{settings:?}").contains("hunter2"));
    assert_eq!(
        settings.replay.to_string(),
        "redis redis://host:6379/ prefix \"sse-hub\" (max 10000 events, 3600 s)"
    );
}

#[test]
fn help_documents_redis_options() {
    let help = Options::from_flags(["sse-hub", "--help"])
        .unwrap_err()
        .to_string();
    for needle in [
        "--replay <STORE>",
        "redis:",
        "--redis-url <URL>",
        "[default: none, redis://127.0.0.1:6379/ for --replay redis]",
        "SSE_HUB_REDIS_URL",
        "--redis-prefix <PREFIX>",
        "[default: sse-hub]",
        "SSE_HUB_REDIS_PREFIX",
    ] {
        assert!(help.contains(needle), "help lacks {needle}: {help}");
    }
}

#[test]
fn secret_compare_and_debug() {
    let secret = Secret::new("s3cret");
    assert!(secret.matches(b"s3cret"));
    assert!(!secret.matches(b"s3cre"));
    assert!(!secret.matches(b"s3cret!"));
    assert!(!secret.matches(b"S3cret"));
    assert!(!secret.matches(b""));
    assert!(!format!("{secret:?}").contains("s3cret"));
}

/// The repository's commented `sse-hub.toml`: it loads as is, and with every
/// `# key = value` line uncommented it still loads and resolves to exactly
/// the defaults it claims.
#[test]
fn sample_config_file_documents_the_defaults() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sse-hub.toml");
    let as_is = Options::from_file(Path::new(sample)).unwrap();
    assert_eq!(as_is, Options::default(), "the sample sets nothing");

    let text = std::fs::read_to_string(sample).unwrap();
    let mut keys = 0;
    let uncommented: String = text
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest.split_once(" = ").is_some_and(|(key, _)| {
                    !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                }) =>
            {
                keys += 1;
                format!("{rest}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect();
    assert!(keys >= 25, "only {keys} settings in the sample");
    let path = temp_file("sample", &uncommented);
    let options = Options::from_file(&path).unwrap();
    assert_eq!(
        options.clone().resolve().unwrap(),
        Options::default().resolve().unwrap(),
        "the sample's values are the defaults"
    );
    assert_ne!(options, Options::default(), "the sample's keys were read");

    // `## key = value` lines are examples of non-default values: they parse too.
    let examples: String = uncommented
        .lines()
        .map(|line| format!("{}\n", line.strip_prefix("## ").unwrap_or(line)))
        .collect();
    let path = temp_file("sample-examples", &examples);
    let with_examples = Options::from_file(&path).unwrap();
    assert!(with_examples.jwt_secret.is_some() && with_examples.admin_token.is_some());
}

#[test]
fn unknown_sse_hub_variables_are_reported() {
    let unknown = Options::unknown_env_vars([
        ("SSE_HUB_LISTEN", "127.0.0.1:1"),
        ("SSE_HUB_LISTNE", "127.0.0.1:1"),
        ("SSE_HUB_FLUSH_INTERVAL", "5"),
        ("HOME", "/root"),
        ("SSE_HUB_BIN", "/x"),
    ]);
    assert_eq!(
        unknown,
        ["SSE_HUB_BIN", "SSE_HUB_FLUSH_INTERVAL", "SSE_HUB_LISTNE"]
    );
}
