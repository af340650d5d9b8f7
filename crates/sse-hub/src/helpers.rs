//! The seed's publishing helpers: invalidations, signals, progress, completion.
//!
//! Payload shapes follow the seed exactly, so front-end code written for it
//! works unchanged:
//!
//! | helper | type | lane | data |
//! | --- | --- | --- | --- |
//! | `invalidate*`, `domain_event` | `invalidate` | instant | `{"resource","action","resource_id"?,"hint"?}` |
//! | `signal*` | `signal` | coalesced (`signal:<topic>[:<tenant>]`) | `{"signal":"refresh"}` |
//! | `progress` | `progress` | coalesced (`progress:<topic>:<id>`) | `{"resource_id","current","total","pct",...hint}` |
//! | `complete` | `complete` | coalesced (same key as `progress`) | `{"resource_id","status":"completed"\|"failed",...hint}` |
//! | `batch_domain_events` | `batch` | instant | `[{"resource","action","resource_id"?,"hint"?},...]` |
//!
//! **Where we differ from the seed, on purpose:** every helper given a tenant
//! publishes with [`Scope::Intersect`]: the event reaches connections
//! subscribed to the topic *and* carrying `tenant = <tenant>` ([`TENANT_KEY`]). The seed
//! delivered to the union, so another tenant subscribed to the same topic
//! received it. `complete` shares its job's `progress` coalesce key, so it
//! replaces a progress update still waiting for the flush tick and can never
//! be overtaken by it (an instant `complete` would reach the client first,
//! then the stale progress). It therefore arrives on the connection's next
//! flush, like progress. Hint keys merged into `progress` / `complete` payloads never
//! overwrite the helper's own fields, and `pct` is clamped to 0–100.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::{Event, Priority, Receipt, Scope};
use crate::hub::{Hub, PublishError};

/// Free-form extra fields for a helper's payload.
pub type Hint = Map<String, Value>;

/// Metadata key of a connection's tenant: what the tenant helpers scope by,
/// what [`auth`](crate::auth) fills from a token's `tenant` grant and what the
/// server's `"tenant"` publish field requires.
pub const TENANT_KEY: &str = "tenant";

/// One entry of [`Hub::batch_domain_events`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEventSpec {
    /// The resource, also the topic the batch is published on.
    pub resource: String,
    /// What happened (`created`, `updated`, ...).
    pub action: String,
    /// Which resource, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_id: String,
    /// Extra fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<Hint>,
}

impl DomainEventSpec {
    fn new(resource: &str, action: &str, resource_id: &str, hint: Option<Hint>) -> Self {
        Self {
            resource: resource.to_owned(),
            action: action.to_owned(),
            resource_id: resource_id.to_owned(),
            hint: hint.filter(|h| !h.is_empty()),
        }
    }
}

fn scoped(event: Event, tenant: Option<&str>) -> Event {
    match tenant {
        Some(tenant) if !tenant.is_empty() => {
            event.group(TENANT_KEY, tenant).scope(Scope::Intersect)
        }
        _ => event,
    }
}

fn merge(mut data: Hint, hint: Option<Hint>) -> Hint {
    for (key, value) in hint.into_iter().flatten() {
        data.entry(key).or_insert(value);
    }
    data
}

impl Hub {
    /// Tells clients showing `topic` to refetch `resource_id` (instant).
    ///
    /// # Errors
    ///
    /// As [`Hub::publish`].
    pub fn invalidate(
        &self,
        topic: &str,
        resource_id: &str,
        action: &str,
    ) -> Result<Receipt, PublishError> {
        self.domain_event(topic, action, resource_id, None, None)
    }

    /// [`Hub::invalidate`] for one tenant's connections only.
    ///
    /// # Errors
    ///
    /// As [`Hub::publish`].
    pub fn invalidate_for_tenant(
        &self,
        tenant: &str,
        topic: &str,
        resource_id: &str,
        action: &str,
    ) -> Result<Receipt, PublishError> {
        self.domain_event(topic, action, resource_id, Some(tenant), None)
    }

    /// [`Hub::invalidate`] with a hint (changed fields, say) so clients may
    /// patch instead of refetching.
    ///
    /// # Errors
    ///
    /// As [`Hub::publish`].
    pub fn invalidate_with_hint(
        &self,
        topic: &str,
        resource_id: &str,
        action: &str,
        hint: Hint,
    ) -> Result<Receipt, PublishError> {
        self.domain_event(topic, action, resource_id, None, Some(hint))
    }

    /// [`Hub::invalidate_with_hint`] for one tenant.
    ///
    /// # Errors
    ///
    /// As [`Hub::publish`].
    pub fn invalidate_for_tenant_with_hint(
        &self,
        tenant: &str,
        topic: &str,
        resource_id: &str,
        action: &str,
        hint: Hint,
    ) -> Result<Receipt, PublishError> {
        self.domain_event(topic, action, resource_id, Some(tenant), Some(hint))
    }

    /// A domain event on topic `resource`: type `invalidate`, instant, scoped
    /// to `tenant` when given.
    ///
    /// # Examples
    ///
    /// ```
    /// use sse_hub::{Config, Hub};
    ///
    /// let hub = Hub::new(Config::new()).unwrap();
    /// hub.domain_event("orders", "created", "ord_1", Some("acme"), None).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Hub::publish`].
    pub fn domain_event(
        &self,
        resource: &str,
        action: &str,
        resource_id: &str,
        tenant: Option<&str>,
        hint: Option<Hint>,
    ) -> Result<Receipt, PublishError> {
        let spec = DomainEventSpec::new(resource, action, resource_id, hint);
        let event = Event::new("invalidate")
            .topic(resource)
            .json(&spec)
            .priority(Priority::Instant)
            .coalesce_key(format!("invalidate:{resource}:{resource_id}"));
        self.publish(scoped(event, tenant))
    }

    /// Tells clients showing `topic` to refresh (coalesced: a burst of
    /// signals in one flush window reaches each client once).
    ///
    /// # Errors
    ///
    /// As [`Hub::publish`].
    pub fn signal(&self, topic: &str) -> Result<Receipt, PublishError> {
        self.publish(signal(topic, format!("signal:{topic}")))
    }

    /// [`Hub::signal`] for one tenant.
    ///
    /// # Errors
    ///
    /// As [`Hub::publish`].
    pub fn signal_for_tenant(&self, tenant: &str, topic: &str) -> Result<Receipt, PublishError> {
        let event = signal(topic, format!("signal:{topic}:{tenant}"));
        self.publish(scoped(event, Some(tenant)))
    }

    /// [`Hub::signal`] that is dropped for connections that cannot receive it
    /// within `ttl` (stale refresh hints are worse than none).
    ///
    /// # Errors
    ///
    /// As [`Hub::publish`].
    pub fn signal_throttled(&self, topic: &str, ttl: Duration) -> Result<Receipt, PublishError> {
        self.publish(signal(topic, format!("signal:{topic}")).ttl(ttl))
    }

    /// Progress of a long task: coalesced per `(topic, resource_id)`, so a
    /// client sees the latest percentage per flush window, not every step.
    ///
    /// # Errors
    ///
    /// As [`Hub::publish`].
    pub fn progress(
        &self,
        topic: &str,
        resource_id: &str,
        tenant: Option<&str>,
        current: u64,
        total: u64,
        hint: Option<Hint>,
    ) -> Result<Receipt, PublishError> {
        let pct = current
            .saturating_mul(100)
            .checked_div(total)
            .map_or(0, |pct| pct.min(100));
        let mut data = Hint::new();
        data.insert("resource_id".into(), resource_id.into());
        data.insert("current".into(), current.into());
        data.insert("total".into(), total.into());
        data.insert("pct".into(), pct.into());
        let event = Event::new("progress")
            .topic(topic)
            .json(&merge(data, hint))
            .priority(Priority::Coalesced)
            .coalesce_key(format!("progress:{topic}:{resource_id}"));
        self.publish(scoped(event, tenant))
    }

    /// Completion of a long task: status `completed` or `failed`.
    ///
    /// Published in the coalesced lane under the same key as [`Hub::progress`]
    /// for this `(topic, resource_id)`: a progress update still held for the
    /// flush is replaced by the completion, so a client never sees progress
    /// after `complete`. It is delivered on the connection's next flush.
    ///
    /// # Errors
    ///
    /// As [`Hub::publish`].
    pub fn complete(
        &self,
        topic: &str,
        resource_id: &str,
        tenant: Option<&str>,
        success: bool,
        hint: Option<Hint>,
    ) -> Result<Receipt, PublishError> {
        let mut data = Hint::new();
        data.insert("resource_id".into(), resource_id.into());
        let status = if success { "completed" } else { "failed" };
        data.insert("status".into(), status.into());
        let event = Event::new("complete")
            .topic(topic)
            .json(&merge(data, hint))
            .priority(Priority::Coalesced)
            .coalesce_key(format!("progress:{topic}:{resource_id}"));
        self.publish(scoped(event, tenant))
    }

    /// Several domain events as one `batch` event on every resource's topic
    /// (clients filter the entries they care about). Does nothing for an
    /// empty list.
    ///
    /// # Errors
    ///
    /// As [`Hub::publish`].
    pub fn batch_domain_events(
        &self,
        tenant: Option<&str>,
        specs: &[DomainEventSpec],
    ) -> Result<Option<Receipt>, PublishError> {
        if specs.is_empty() {
            return Ok(None);
        }
        let topics: BTreeSet<&str> = specs.iter().map(|s| s.resource.as_str()).collect();
        let event = Event::new("batch")
            .topics(topics)
            .json(specs)
            .priority(Priority::Instant);
        self.publish(scoped(event, tenant)).map(Some)
    }
}

fn signal(topic: &str, key: String) -> Event {
    Event::new("signal")
        .topic(topic)
        .data(r#"{"signal":"refresh"}"#)
        .priority(Priority::Coalesced)
        .coalesce_key(key)
}
