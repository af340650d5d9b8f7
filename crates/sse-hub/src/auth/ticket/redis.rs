//! Tickets in Redis, shared by every node: `SET NX PX` to issue, `GETDEL` to redeem.

use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{new_ticket, plausible, TicketError, TicketGrant, TicketStore};

/// How long connecting and each command may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Tickets in Redis, so a ticket issued by one node is honoured once by any
/// node sharing the server.
///
/// A ticket is the key `<key_prefix><ticket>` holding the grant as JSON,
/// written with `SET ... PX <ttl> NX` (Redis expires it) and consumed with
/// `GETDEL` (Redis ≥ 6.2), which is atomic: of two concurrent redeems on any
/// nodes, exactly one gets the grant.
#[derive(Clone)]
pub struct RedisTicketStore {
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisTicketStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTicketStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn backend(err: impl std::error::Error + Send + Sync + 'static) -> TicketError {
    TicketError::Backend(Box::new(err))
}

impl RedisTicketStore {
    /// Connects to `url` (`redis://host:port/db`); keys start with `key_prefix`
    /// (`sse-hub:ticket:` say). Connecting and each command time out after 5 s;
    /// the connection is re-established after failures.
    ///
    /// # Errors
    ///
    /// [`TicketError::Backend`] for a bad URL or an unreachable server.
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Self, TicketError> {
        let client = redis::Client::open(url).map_err(backend)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(2);
        let conn =
            tokio::time::timeout(TIMEOUT, ConnectionManager::new_with_config(client, config))
                .await
                .map_err(backend)?
                .map_err(backend)?;
        Ok(Self {
            conn,
            prefix: key_prefix.to_owned(),
        })
    }

    async fn issue_now(&self, grant: TicketGrant, ttl: Duration) -> Result<String, TicketError> {
        let value = serde_json::to_string(&grant).map_err(TicketError::Encoding)?;
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = self.conn.clone();
        // A collision of 192 random bits does not happen; NX makes sure a
        // ticket never silently replaces another.
        for _ in 0..2 {
            let ticket = new_ticket();
            let stored: Option<String> = redis::cmd("SET")
                .arg(format!("{}{ticket}", self.prefix))
                .arg(&value)
                .arg("PX")
                .arg(ttl_ms)
                .arg("NX")
                .query_async(&mut conn)
                .await
                .map_err(backend)?;
            if stored.is_some() {
                return Ok(ticket);
            }
        }
        Err(backend(std::io::Error::other("ticket key collision")))
    }

    async fn redeem_now(&self, ticket: &str) -> Result<Option<TicketGrant>, TicketError> {
        if !plausible(ticket) {
            return Ok(None);
        }
        let mut conn = self.conn.clone();
        let value: Option<String> = redis::cmd("GETDEL")
            .arg(format!("{}{ticket}", self.prefix))
            .query_async(&mut conn)
            .await
            .map_err(backend)?;
        value
            .map(|value| serde_json::from_str(&value).map_err(TicketError::Encoding))
            .transpose()
    }
}

impl TicketStore for RedisTicketStore {
    fn issue(
        &self,
        grant: TicketGrant,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<String, TicketError>> {
        Box::pin(self.issue_now(grant, ttl))
    }

    fn redeem<'a>(
        &'a self,
        ticket: &'a str,
    ) -> BoxFuture<'a, Result<Option<TicketGrant>, TicketError>> {
        Box::pin(self.redeem_now(ticket))
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::auth::{Claims, Grants};
    use crate::Pattern;

    const URL: &str = "redis://127.0.0.1:6379";

    fn prefix(test: &str) -> String {
        format!(
            "sse-hub-test:tickets:{test}:{:016x}:",
            rand::random::<u64>()
        )
    }

    fn grant() -> TicketGrant {
        let mut grants = Grants::default();
        grants.subscribe.push(Pattern::new("orders.>").unwrap());
        grants.tenant = Some("acme".into());
        let claims = Claims::new(
            Some("u1".into()),
            UNIX_EPOCH + Duration::from_secs(4_000_000_000),
            grants,
        );
        TicketGrant::new(claims, Some(vec!["orders.eu".into()]))
    }

    #[tokio::test]
    async fn a_ticket_round_trips_once() {
        let store = RedisTicketStore::connect(URL, &prefix("once"))
            .await
            .unwrap();
        let ticket = store.issue(grant(), Duration::from_secs(30)).await.unwrap();
        assert_eq!(store.redeem(&ticket).await.unwrap(), Some(grant()));
        assert_eq!(store.redeem(&ticket).await.unwrap(), None);
        assert_eq!(store.redeem("never-issued").await.unwrap(), None);
    }

    #[tokio::test]
    async fn another_node_redeems_and_redis_expires() {
        let prefix = prefix("nodes");
        let node_a = RedisTicketStore::connect(URL, &prefix).await.unwrap();
        let node_b = RedisTicketStore::connect(URL, &prefix).await.unwrap();
        let ticket = node_a
            .issue(grant(), Duration::from_secs(30))
            .await
            .unwrap();
        assert!(node_b.redeem(&ticket).await.unwrap().is_some());
        assert!(node_a.redeem(&ticket).await.unwrap().is_none());

        let short = node_a
            .issue(grant(), Duration::from_millis(1))
            .await
            .unwrap();
        let key = format!("{prefix}{short}");
        let mut conn = node_a.conn.clone();
        // Wait (bounded) until Redis itself reports the key gone.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let exists: bool = redis::cmd("EXISTS")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            if !exists {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "ticket never expired"
            );
            tokio::task::yield_now().await;
        }
        assert!(node_b.redeem(&short).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn concurrent_redeems_yield_exactly_one_grant() {
        let prefix = prefix("race");
        let node_a = RedisTicketStore::connect(URL, &prefix).await.unwrap();
        let node_b = RedisTicketStore::connect(URL, &prefix).await.unwrap();
        for _ in 0..20 {
            let ticket = node_a
                .issue(grant(), Duration::from_secs(30))
                .await
                .unwrap();
            let (a, b) = tokio::join!(node_a.redeem(&ticket), node_b.redeem(&ticket));
            let wins = [a.unwrap(), b.unwrap()]
                .iter()
                .filter(|g| g.is_some())
                .count();
            assert_eq!(wins, 1);
        }
    }
}
