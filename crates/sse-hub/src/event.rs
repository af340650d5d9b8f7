//! Events: what publishers hand to the hub.
//!
//! An [`Event`] is built with chained setters and validated once, when it is
//! published: a bad type, id or topic is a [`PublishError`](crate::PublishError)
//! naming the field, never a panic (publishers are untrusted input in a broker).
//!
//! Routing is decided by two independent selectors:
//!
//! * **topics** — the event reaches connections holding a pattern that matches
//!   any of its topics;
//! * **group** — the event reaches connections whose metadata contains every
//!   key/value pair of the group.
//!
//! With both set, [`Scope`] decides how they combine. [`Scope::Intersect`],
//! the default, requires both: a group narrows the audience, so a
//! tenant-scoped event can never reach another tenant's connection just
//! because it shares a topic. [`Scope::Union`] (topic match OR group match) is
//! the seed's behaviour, available when asked for explicitly.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Delivery lane of an event.
///
/// | lane | behaviour |
/// | --- | --- |
/// | [`Instant`](Priority::Instant) | queued at once and written as soon as the socket takes it |
/// | [`Batched`](Priority::Batched) | held per connection, flushed on the connection's flush tick in publish order |
/// | [`Coalesced`](Priority::Coalesced) | last writer wins per coalesce key within a flush window; first-seen key order kept |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// P0: written immediately.
    #[default]
    Instant,
    /// P1: held until the connection's next flush, order kept.
    Batched,
    /// P2: only the latest event per coalesce key is flushed.
    Coalesced,
}

/// How an event's topics and group combine when both are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Topic match OR group match (the seed's behaviour): widens the audience
    /// to every connection of the group, whatever its topics. Explicit only.
    Union,
    /// Topic match AND group match (the default): a group narrows.
    #[default]
    Intersect,
}

/// Key/value pairs a connection carries (`tenant`, `user`, ...), and the
/// pairs an event's group requires.
pub type Metadata = BTreeMap<String, String>;

/// An event to publish.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sse_hub::{Event, Priority};
///
/// let event = Event::new("progress")
///     .data("42")
///     .topic("imports.7")
///     .group("tenant", "acme")
///     .priority(Priority::Coalesced)
///     .coalesce_key("import:7")
///     .ttl(Duration::from_secs(30));
/// assert_eq!(event.event_type(), Some("progress"));
/// ```
#[derive(Clone, Default)]
pub struct Event {
    pub(crate) event_type: Option<String>,
    pub(crate) data: Data,
    pub(crate) id: Option<String>,
    pub(crate) topics: Vec<String>,
    pub(crate) group: Metadata,
    pub(crate) scope: Scope,
    pub(crate) priority: Priority,
    pub(crate) coalesce_key: Option<String>,
    pub(crate) ttl: Option<Duration>,
}

/// An event's payload before encoding.
#[derive(Clone, Default)]
pub(crate) enum Data {
    #[default]
    Empty,
    Text(String),
    /// Serialisation failed; reported when the event is published.
    Invalid(Arc<str>),
}

impl Event {
    /// An event with SSE type `event_type` (the `event:` field) and no data.
    #[must_use]
    pub fn new(event_type: impl Into<String>) -> Self {
        Self {
            event_type: Some(event_type.into()),
            ..Self::default()
        }
    }

    /// An event without an `event:` field: clients see it as `message`.
    #[must_use]
    pub fn message() -> Self {
        Self::default()
    }

    /// Sets the data, sent verbatim (line breaks become several `data:` lines).
    #[must_use]
    pub fn data(mut self, data: impl Into<String>) -> Self {
        self.data = Data::Text(data.into());
        self
    }

    /// Sets the data to the JSON encoding of `value`.
    ///
    /// A value that fails to serialise makes the publish fail with
    /// [`PublishError::InvalidData`](crate::PublishError::InvalidData).
    #[must_use]
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.data = match serde_json::to_string(value) {
            Ok(text) => Data::Text(text),
            Err(err) => Data::Invalid(err.to_string().into()),
        };
        self
    }

    /// Sets the event id (`id:` field). Without one the hub assigns an ordered id.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Adds a topic the event is published on.
    #[must_use]
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topics.push(topic.into());
        self
    }

    /// Adds several topics.
    #[must_use]
    pub fn topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.topics.extend(topics.into_iter().map(Into::into));
        self
    }

    /// Requires connections to carry metadata `key = value`.
    #[must_use]
    pub fn group(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.group.insert(key.into(), value.into());
        self
    }

    /// Replaces the whole group.
    #[must_use]
    pub fn group_map(mut self, group: Metadata) -> Self {
        self.group = group;
        self
    }

    /// How topics and group combine. Default: [`Scope::Intersect`] (the group
    /// narrows the topics' audience).
    #[must_use]
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// Delivery lane. Default: [`Priority::Instant`].
    #[must_use]
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Key for last-writer-wins on the coalesced lane. Default: the event type.
    #[must_use]
    pub fn coalesce_key(mut self, key: impl Into<String>) -> Self {
        self.coalesce_key = Some(key.into());
        self
    }

    /// Drops the event for connections that would receive it later than `ttl`
    /// after publishing. Default: no expiry.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The SSE event type, if set.
    pub fn event_type(&self) -> Option<&str> {
        self.event_type.as_deref()
    }

    /// The explicit id, if set.
    pub fn event_id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The topics.
    pub fn topic_list(&self) -> &[String] {
        &self.topics
    }

    /// The group pairs.
    pub fn group_pairs(&self) -> &Metadata {
        &self.group
    }

    /// The lane.
    pub fn lane(&self) -> Priority {
        self.priority
    }

    pub(crate) fn data_text(&self) -> Result<&str, Arc<str>> {
        match &self.data {
            Data::Empty => Ok(""),
            Data::Text(text) => Ok(text),
            Data::Invalid(err) => Err(err.clone()),
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data_len = match &self.data {
            Data::Text(text) => text.len(),
            _ => 0,
        };
        // Payloads may be large or sensitive: show their size, not their content.
        f.debug_struct("Event")
            .field("event_type", &self.event_type)
            .field("id", &self.id)
            .field("topics", &self.topics)
            .field("group", &self.group)
            .field("scope", &self.scope)
            .field("priority", &self.priority)
            .field("coalesce_key", &self.coalesce_key)
            .field("ttl", &self.ttl)
            .field("data_len", &data_len)
            .finish()
    }
}

/// What [`Hub::publish`](crate::Hub::publish) did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receipt {
    /// The event's id (assigned by the hub unless the publisher gave one).
    pub id: String,
    /// Connections the event was queued to on this node.
    pub recipients: usize,
    /// Connections that matched but could not take it (queue full).
    pub dropped: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_data_is_encoded_and_errors_are_kept() {
        let event = Event::new("t").json(&serde_json::json!({"a": 1}));
        assert_eq!(event.data_text().ok(), Some(r#"{"a":1}"#));

        struct Broken;
        impl Serialize for Broken {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("nope"))
            }
        }
        let event = Event::new("t").json(&Broken);
        assert!(event.data_text().is_err());
    }

    #[test]
    fn debug_hides_payload() {
        let event = Event::new("t").data("secret-token");
        assert!(!format!("{event:?}").contains("secret-token"));
    }
}
