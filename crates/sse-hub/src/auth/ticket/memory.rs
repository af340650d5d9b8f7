//! Tickets in this process's memory: bounded and expiring.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::{self, BoxFuture};
use parking_lot::Mutex;
use tokio::time::Instant;

use super::{new_ticket, plausible, TicketError, TicketGrant, TicketStore};

/// Tickets kept in memory: single-node servers, tests, development.
///
/// At most `max_tickets` live at once; issuing beyond that first drops the
/// expired ones, then fails with [`TicketError::Full`] (a client flooding
/// `issue` cannot grow memory). Nodes of a cluster need a shared store
/// (`RedisTicketStore`, feature `redis`).
#[derive(Debug)]
pub struct MemoryTicketStore {
    max_tickets: usize,
    tickets: Mutex<HashMap<String, (Instant, TicketGrant)>>,
}

impl MemoryTicketStore {
    /// A store holding at most `max_tickets` unexpired, unused tickets.
    #[must_use]
    pub fn new(max_tickets: usize) -> Self {
        Self {
            max_tickets,
            tickets: Mutex::new(HashMap::new()),
        }
    }

    /// How many tickets are stored (expired ones included until purged).
    pub fn len(&self) -> usize {
        self.tickets.lock().len()
    }

    /// Whether no ticket is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn issue_now(&self, grant: TicketGrant, ttl: Duration) -> Result<String, TicketError> {
        let now = Instant::now();
        let mut tickets = self.tickets.lock();
        if tickets.len() >= self.max_tickets {
            tickets.retain(|_, (expires, _)| *expires > now);
            if tickets.len() >= self.max_tickets {
                return Err(TicketError::Full);
            }
        }
        let ticket = new_ticket();
        tickets.insert(ticket.clone(), (now + ttl, grant));
        Ok(ticket)
    }

    fn redeem_now(&self, ticket: &str) -> Option<TicketGrant> {
        if !plausible(ticket) {
            return None;
        }
        let (expires, grant) = self.tickets.lock().remove(ticket)?;
        (expires > Instant::now()).then_some(grant)
    }
}

impl TicketStore for MemoryTicketStore {
    fn issue(
        &self,
        grant: TicketGrant,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<String, TicketError>> {
        Box::pin(future::ready(self.issue_now(grant, ttl)))
    }

    fn redeem<'a>(
        &'a self,
        ticket: &'a str,
    ) -> BoxFuture<'a, Result<Option<TicketGrant>, TicketError>> {
        Box::pin(future::ready(Ok(self.redeem_now(ticket))))
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::auth::{Claims, Grants};

    fn grant(subject: &str) -> TicketGrant {
        let claims = Claims::new(
            Some(subject.into()),
            UNIX_EPOCH + Duration::from_secs(4_000_000_000),
            Grants::default(),
        );
        TicketGrant::new(claims, Some(vec!["orders".into()]))
    }

    #[tokio::test]
    async fn a_ticket_is_redeemed_once() {
        let store = MemoryTicketStore::new(10);
        let ticket = store
            .issue(grant("u1"), Duration::from_secs(30))
            .await
            .unwrap();
        let redeemed = store.redeem(&ticket).await.unwrap().unwrap();
        assert_eq!(redeemed, grant("u1"));
        assert!(store.redeem(&ticket).await.unwrap().is_none());
        assert!(store.redeem("unknown").await.unwrap().is_none());
        assert!(store.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_ticket_is_refused() {
        let store = MemoryTicketStore::new(10);
        let ticket = store
            .issue(grant("u1"), Duration::from_secs(30))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(store.redeem(&ticket).await.unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn the_bound_holds_and_expired_tickets_make_room() {
        let store = MemoryTicketStore::new(2);
        let ttl = Duration::from_secs(30);
        let first = store.issue(grant("a"), ttl).await.unwrap();
        tokio::time::advance(Duration::from_secs(20)).await;
        store.issue(grant("b"), ttl).await.unwrap();
        assert!(matches!(
            store.issue(grant("c"), ttl).await,
            Err(TicketError::Full)
        ));
        assert_eq!(store.len(), 2, "a refused issue changes nothing");
        tokio::time::advance(Duration::from_secs(11)).await;
        let third = store.issue(grant("c"), ttl).await.unwrap();
        assert_eq!(store.len(), 2, "the expired first ticket was purged");
        assert!(store.redeem(&first).await.unwrap().is_none());
        assert!(store.redeem(&third).await.unwrap().is_some());
    }
}
