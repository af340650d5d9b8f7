//! Opening a connection with the scripts loaded, and mapping Redis errors.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};

use super::scripts::{APPEND_LUA, TRIM_LUA};
use super::writer::MAX_BACKOFF;
use super::RedisReplayOptions;
use crate::replay::ReplayError;

pub(super) fn backend(err: RedisError) -> ReplayError {
    ReplayError::Backend(err.to_string())
}

/// A connection manager on the current runtime, with every script loaded.
pub(super) async fn open(
    client: redis::Client,
    options: &RedisReplayOptions,
) -> Result<ConnectionManager, ReplayError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(options.write_timeout))
        .set_response_timeout(Some(options.write_timeout))
        .set_number_of_retries(3)
        .set_max_delay(MAX_BACKOFF);
    let mut conn = tokio::time::timeout(
        options.write_timeout,
        ConnectionManager::new_with_config(client, config),
    )
    .await
    .map_err(|_| ReplayError::Backend("connecting to redis timed out".into()))?
    .map_err(backend)?;
    for source in [APPEND_LUA, TRIM_LUA] {
        Script::new(source)
            .load_async(&mut conn)
            .await
            .map_err(backend)?;
    }
    Ok(conn)
}
