//! Publishing: validate, encode once, store for replay, fan out.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::time::Instant;

use super::errors::excerpt;
use super::fanout::{direct_allowed, write_direct, Tally, DIRECT_BATCH};
use super::ids::is_hub_form;
use super::{Hub, PublishError};
use crate::connection::Frame;
use crate::control::RESERVED_TYPES;
use crate::event::{Event, Metadata, Priority, Receipt, Scope};
use crate::replay::StoredEvent;
use crate::topic::Topic;
use crate::wire;

/// An event that passed validation, encoded and ready to fan out.
pub(crate) struct Prepared {
    frame: Arc<Frame>,
    topics: Vec<Topic>,
    group: Metadata,
    scope: Scope,
    stored: Option<StoredEvent>,
    event_type: Option<String>,
}

/// Coalesce keys every hub shares: `""` for frames off the coalesced lane
/// (the lane never reads it) and `"message"` for untyped coalesced events.
pub(crate) struct SharedKeys {
    none: Arc<str>,
    message: Arc<str>,
}

impl Default for SharedKeys {
    fn default() -> Self {
        Self {
            none: Arc::from(""),
            message: Arc::from("message"),
        }
    }
}

/// A publisher's event type: one non-empty line, bounded, not the hub's own.
fn check_type(event_type: &str, max: usize) -> Result<(), PublishError> {
    if event_type.is_empty() {
        return Err(PublishError::EmptyType);
    }
    if event_type.len() > max {
        return Err(PublishError::TypeLength { max });
    }
    wire::validate_field(event_type).map_err(PublishError::InvalidType)?;
    match RESERVED_TYPES
        .iter()
        .find(|reserved| **reserved == event_type)
    {
        Some(reserved) => Err(PublishError::ReservedType(reserved)),
        None => Ok(()),
    }
}

impl Hub {
    /// Publishes an event to every matching connection on this node.
    ///
    /// Synchronous and non-blocking: it never waits on a slow client (a full
    /// queue is handled by the overflow policy and counted in the receipt).
    ///
    /// # Errors
    ///
    /// [`PublishError`] for invalid input (naming the field) or while
    /// draining. Nothing is delivered or stored then.
    ///
    /// # Examples
    ///
    /// ```
    /// use sse_hub::{Event, Hub, Config, PublishError};
    ///
    /// let hub = Hub::new(Config::new()).unwrap();
    /// let bad = hub.publish(Event::new("bad\ntype").topic("t"));
    /// assert!(matches!(bad, Err(PublishError::InvalidType(_))));
    /// ```
    pub fn publish(&self, event: Event) -> Result<Receipt, PublishError> {
        self.check_open()?;
        let prepared = self.prepare(event)?;
        Ok(self.dispatch(prepared))
    }

    /// Publishes several events: all are validated first, and if any is
    /// invalid none is published (the error carries its index).
    ///
    /// # Errors
    ///
    /// `(index, error)` of the first invalid event.
    pub fn publish_all(&self, events: Vec<Event>) -> Result<Vec<Receipt>, (usize, PublishError)> {
        self.check_open().map_err(|err| (0, err))?;
        let mut prepared = Vec::with_capacity(events.len());
        let mut batch_ids = std::collections::HashSet::new();
        for (index, event) in events.into_iter().enumerate() {
            let event = self.prepare(event).map_err(|err| (index, err))?;
            if let Some(id) = &event.frame.id {
                if !batch_ids.insert(id.clone()) {
                    return Err((index, PublishError::DuplicateId));
                }
            }
            prepared.push(event);
        }
        Ok(prepared.into_iter().map(|p| self.dispatch(p)).collect())
    }

    fn check_open(&self) -> Result<(), PublishError> {
        if self.is_draining() {
            Err(PublishError::Draining)
        } else {
            Ok(())
        }
    }

    pub(crate) fn prepare(&self, event: Event) -> Result<Prepared, PublishError> {
        let config = &self.inner.config;
        if let Some(event_type) = &event.event_type {
            check_type(event_type, config.max_type_len)?;
        }
        if event.topics.len() > config.max_topics_per_event {
            return Err(PublishError::TooManyTopics {
                count: event.topics.len(),
                max: config.max_topics_per_event,
            });
        }
        let mut topics = Vec::with_capacity(event.topics.len());
        for (index, topic) in event.topics.iter().enumerate() {
            if topic.len() > config.max_pattern_len {
                return Err(PublishError::TopicTooLong {
                    index,
                    max: config.max_pattern_len,
                });
            }
            let topic =
                Topic::new(topic).map_err(|source| PublishError::InvalidTopic { index, source })?;
            topics.push(topic);
        }
        if event.group.len() > config.max_metadata_pairs {
            return Err(PublishError::TooManyGroupPairs {
                count: event.group.len(),
                max: config.max_metadata_pairs,
            });
        }
        if topics.is_empty() && event.group.is_empty() {
            return Err(PublishError::NoTarget);
        }
        let data = event
            .data_text()
            .map_err(|err| PublishError::InvalidData(excerpt(&err)))?;
        let id: Arc<str> = match &event.id {
            Some(id) => {
                if id.is_empty() || id.len() > config.max_id_len {
                    return Err(PublishError::IdLength {
                        max: config.max_id_len,
                    });
                }
                wire::validate_field(id).map_err(PublishError::InvalidId)?;
                if is_hub_form(id) {
                    return Err(PublishError::ReservedId);
                }
                if config.replayer.as_ref().is_some_and(|r| r.contains(id)) {
                    return Err(PublishError::DuplicateId);
                }
                Arc::from(id.as_str())
            }
            None => Arc::from(self.inner.ids.next().as_str()),
        };
        let event_type = event.event_type.as_deref();
        let size = wire::encoded_len(event_type, Some(&id), data);
        if size > config.max_event_bytes {
            return Err(PublishError::TooLarge {
                size,
                max: config.max_event_bytes,
            });
        }
        let mut buf = BytesMut::with_capacity(size);
        wire::encode_event(&mut buf, event_type, Some(&id), data);
        let keys = &self.inner.keys;
        let coalesce_key: Arc<str> = match (event.priority, &event.coalesce_key, event_type) {
            (Priority::Coalesced, Some(key), _) => Arc::from(key.as_str()),
            (Priority::Coalesced, None, Some(event_type)) => Arc::from(event_type),
            (Priority::Coalesced, None, None) => keys.message.clone(),
            _ => keys.none.clone(),
        };
        let now = Instant::now();
        let stored = config.replayer.as_ref().map(|_| {
            StoredEvent::new(
                id.to_string(),
                event.event_type.clone(),
                data.to_owned(),
                event.topics.clone(),
                event.group.clone(),
                event.scope,
            )
        });
        Ok(Prepared {
            frame: Arc::new(Frame {
                bytes: buf.freeze(),
                id: Some(id),
                priority: event.priority,
                coalesce_key,
                published_at: now,
                expires_at: event.ttl.map(|ttl| now + ttl),
            }),
            topics,
            group: event.group,
            scope: event.scope,
            stored,
            event_type: event.event_type,
        })
    }

    pub(crate) fn dispatch(&self, prepared: Prepared) -> Receipt {
        let inner = &self.inner;
        let stats = &inner.stats;
        let frame = prepared.frame;
        let mut tally = Tally::default();
        // Only direct writes need the runtime (asked once per publish).
        let runtime = inner
            .config
            .direct_write_gap
            .and_then(|_| tokio::runtime::Handle::try_current().ok());
        {
            let mut keys = Vec::new();
            let registry = inner.registry.read();
            // Stored before fan-out and under the same read lock: see the
            // replay/live race in `crate::replay` and `Hub::replay`.
            if let (Some(replayer), Some(stored)) = (&inner.config.replayer, prepared.stored) {
                replayer.append(stored);
            }
            registry.route(&prepared.topics, &prepared.group, prepared.scope, &mut keys);
            let now = frame.published_at;
            let direct = direct_allowed(inner, runtime.as_ref());
            for key in keys {
                if let Some(conn) = registry.conns.get(&key) {
                    tally.offer(inner, conn, &frame, now, direct);
                    if tally.direct.len() >= DIRECT_BATCH && runtime.is_some() {
                        // Start writing while the fan-out goes on: other
                        // workers pick the job up at once. (Outside a
                        // runtime the writes would run here, under the lock.)
                        let batch = std::mem::take(&mut tally.direct);
                        write_direct(inner, runtime.as_ref(), batch);
                    }
                }
            }
        }
        let Tally {
            recipients,
            dropped,
            direct,
        } = tally;
        write_direct(inner, runtime.as_ref(), direct);
        stats.published.fetch_add(1, Ordering::Relaxed);
        stats.count_type(prepared.event_type.as_deref());
        let id = frame.id.as_deref().unwrap_or_default();
        tracing::trace!(id, recipients, dropped, "published");
        let id = id.to_owned();
        Receipt {
            id,
            recipients,
            dropped,
        }
    }
}
