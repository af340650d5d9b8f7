use super::*;

#[test]
fn defaults_are_the_seeds_and_valid() {
    let config = Config::new();
    assert_eq!(config.flush_interval, Duration::from_secs(2));
    assert_eq!(config.heartbeat_interval, Duration::from_secs(30));
    assert_eq!(config.max_lifetime, Some(Duration::from_secs(1800)));
    assert_eq!(config.send_buffer_size, 4096);
    assert_eq!(config.send_buffer_bytes, 4 << 20);
    assert_eq!(config.retry, Duration::from_millis(3000));
    assert_eq!(config.validate(), Ok(()));
}

#[tokio::test]
async fn on_connect_first_runs_before_the_configured_hook() {
    let config = Config::new()
        .on_connect(|mut c: Connecting| async move {
            c.topics.push("second".into());
            Ok(c)
        })
        .on_connect_first(|mut c: Connecting| async move {
            if c.topics.is_empty() {
                return Err(Rejection::Unauthorized("no topic".into()));
            }
            c.topics.push("first".into());
            Ok(c)
        });
    let out = config
        .run_on_connect(Connecting::new().with_topics(["t"]))
        .await
        .unwrap();
    assert_eq!(out.topics, ["t", "first", "second"]);
    assert!(config.run_on_connect(Connecting::new()).await.is_err());
    let alone = Config::new().on_connect_first(|c: Connecting| async move { Ok(c) });
    assert!(alone.run_on_connect(Connecting::new()).await.is_ok());
}

#[test]
fn invalid_values_are_rejected() {
    assert_eq!(
        Config::new().retry(Duration::ZERO).validate(),
        Err(ConfigError::TooShort { name: "retry" })
    );
    assert_eq!(
        Config::new().send_buffer_size(0).validate(),
        Err(ConfigError::Zero {
            name: "send_buffer_size"
        })
    );
    assert_eq!(
        Config::new().retry_jitter(1.5).validate(),
        Err(ConfigError::Fraction {
            name: "retry_jitter"
        })
    );
    assert!(Config::new()
        .max_lifetime(Some(Duration::ZERO))
        .validate()
        .is_err());
    assert!(Config::new().max_lifetime(None).validate().is_ok());
    assert_eq!(
        Config::new()
            .max_event_bytes(1000)
            .send_buffer_bytes(1999)
            .validate(),
        Err(ConfigError::SendBufferBytes)
    );
    assert!(Config::new()
        .max_event_bytes(1000)
        .send_buffer_bytes(2000)
        .validate()
        .is_ok());
}
