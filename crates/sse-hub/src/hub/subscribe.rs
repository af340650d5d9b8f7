//! Subscribing: handshake, registration, replay, preamble; live topic changes.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use serde::Serialize;
use tokio::time::Instant;

use super::errors::excerpt;
use super::registry::reaches;
use super::{jittered, millis, Hub, SubscribeError, TopicsError};
use crate::connect::Connecting;
use crate::connection::{EventStream, Shared};
use crate::control::{self, ResyncReason};
use crate::event::Metadata;
use crate::replay::StoredEvent;
use crate::topic::{Pattern, Topic};
use crate::wire;

/// Most events one replay carries; beyond it the client gets `resync`.
pub(crate) const MAX_REPLAY_EVENTS: usize = 10_000;

impl Hub {
    /// Subscribes a client and returns its outgoing byte stream.
    ///
    /// Runs `on_connect`, validates the topics and metadata, registers the
    /// connection (it starts queueing live events), replays what it missed
    /// after `last_event_id`, and returns a stream starting with `retry:`,
    /// the replayed events and a `connected` event.
    ///
    /// While draining or at the connection cap, the stream instead says
    /// `server-shutdown` / `overloaded` with a jittered `retry:` and ends:
    /// see [`EventStream::is_turned_away`].
    ///
    /// # Errors
    ///
    /// [`SubscribeError`] when `on_connect` rejects the client or the request
    /// is invalid. Nothing is registered then.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future at any point leaves nothing registered.
    pub async fn subscribe(&self, connecting: Connecting) -> Result<EventStream, SubscribeError> {
        if let Some(turned_away) = self.turn_away() {
            return Ok(turned_away);
        }
        let connecting = match self.inner.config.run_on_connect(connecting).await {
            Ok(connecting) => connecting,
            Err(rejection) => {
                self.inner.stats.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(rejection.into());
            }
        };
        let (topics, allowed) = match self.validate(&connecting) {
            Ok(valid) => valid,
            Err(err) => {
                self.inner.stats.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(err);
            }
        };
        let config = &self.inner.config;
        let shared = {
            let mut registry = self.inner.registry.write();
            if registry.len() >= config.max_connections || self.is_draining() {
                drop(registry);
                return Ok(self
                    .turn_away()
                    .unwrap_or_else(|| self.goodbye_overloaded()));
            }
            let key = registry.next_key();
            let shared = Arc::new(Shared::new(
                key,
                connecting.metadata.clone(),
                topics,
                allowed,
                config.send_buffer_size,
                config.send_buffer_bytes,
            ));
            registry.insert(shared.clone());
            shared
        };
        if let Some(last_id) = connecting
            .last_event_id
            .as_deref()
            .filter(|id| id.len() <= config.max_id_len)
        {
            // Where this client resumes from, and whether it was cut for
            // overflow there (see `hub::strikes`).
            let strikes = self.inner.strikes.get(last_id, Instant::now());
            let mut state = shared.state.lock();
            state.strikes = strikes;
            state.last_id = Some(Arc::from(last_id));
        }
        self.inner.stats.connects.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let lifetime_end = self.lifetime_end(now);
        let expires_at = connecting
            .expires_at
            .map(|at| now + at.duration_since(SystemTime::now()).unwrap_or_default());
        // The stream exists from here on, so dropping this future unregisters.
        let mut stream = EventStream::live(
            self.inner.clone(),
            shared.clone(),
            Bytes::new(),
            lifetime_end,
            expires_at,
        );

        let mut preamble = BytesMut::new();
        wire::encode_retry(
            &mut preamble,
            millis(jittered(config.retry, config.retry_jitter)),
        );
        if let Some(last_id) = &connecting.last_event_id {
            self.replay(&shared, last_id, &mut preamble).await;
        }
        #[derive(Serialize)]
        struct Connected<'a> {
            connection_id: String,
            topics: &'a [String],
            /// Proves control of this connection (pause, resume, topics):
            /// sent on this stream only.
            control_token: String,
        }
        let topic_names = crate::Connection(shared.clone()).topics();
        control::event(
            &mut preamble,
            control::CONNECTED,
            &Connected {
                connection_id: shared.id.to_string(),
                topics: &topic_names,
                control_token: shared.control_token.to_hex(),
            },
        );
        stream.set_preamble(preamble.freeze());
        tracing::debug!(connection = %shared.id, topics = ?topic_names, "subscribed");
        Ok(stream)
    }

    /// Adds and removes topic patterns on an open connection, authorised
    /// like the initial ones. All-or-nothing: on error nothing changes.
    /// Returns the connection's topics afterwards.
    ///
    /// # Errors
    ///
    /// [`TopicsError`] for an unknown connection, an invalid or disallowed
    /// pattern, or exceeding `max_topics_per_connection`.
    pub fn update_topics(
        &self,
        id: crate::ConnectionId,
        add: &[String],
        remove: &[String],
    ) -> Result<Vec<String>, TopicsError> {
        let shared = self.shared(id)?;
        let config = &self.inner.config;
        let add = add
            .iter()
            .map(|p| self.parse_pattern(p, shared.allowed.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        let remove = remove
            .iter()
            .map(|p| Pattern::new(p).map_err(|source| invalid(p, source)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut registry = self.inner.registry.write();
        let mut topics = shared.topics.lock();
        let mut next: Vec<Pattern> = topics
            .iter()
            .filter(|p| !remove.contains(p))
            .cloned()
            .collect();
        for pattern in add {
            if !next.contains(&pattern) {
                next.push(pattern);
            }
        }
        if next.len() > config.max_topics_per_connection {
            return Err(TopicsError::TooMany {
                count: next.len(),
                max: config.max_topics_per_connection,
            });
        }
        if registry.get(id).is_none() {
            return Err(TopicsError::UnknownConnection(super::UnknownConnection));
        }
        for old in topics.iter().filter(|p| !next.contains(p)) {
            registry.unsubscribe(&shared, old);
        }
        for new in next.iter().filter(|p| !topics.contains(p)) {
            registry.subscribe(&shared, new);
        }
        *topics = next;
        Ok(topics.iter().map(|p| p.as_str().to_owned()).collect())
    }

    fn turn_away(&self) -> Option<EventStream> {
        if !self.is_draining() {
            return None;
        }
        Some(self.goodbye(control::SERVER_SHUTDOWN, "draining"))
    }

    fn goodbye_overloaded(&self) -> EventStream {
        self.goodbye(control::OVERLOADED, "connection limit reached")
    }

    fn goodbye(&self, event_type: &str, reason: &str) -> EventStream {
        self.inner.stats.turned_away.fetch_add(1, Ordering::Relaxed);
        // Jittered between 1× and 2× the base so turned-away clients spread out.
        let retry = millis(jittered(self.inner.config.turn_away_retry, 1.0));
        EventStream::once(control::goodbye(event_type, reason, retry))
    }

    fn validate(
        &self,
        connecting: &Connecting,
    ) -> Result<(Vec<Pattern>, Option<Vec<Pattern>>), SubscribeError> {
        let config = &self.inner.config;
        let metadata_bytes: usize = connecting
            .metadata
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum();
        if connecting.metadata.len() > config.max_metadata_pairs
            || metadata_bytes > config.max_metadata_bytes
        {
            return Err(SubscribeError::MetadataTooLarge);
        }
        if connecting.topics.is_empty() && connecting.metadata.is_empty() {
            return Err(SubscribeError::NoTopics);
        }
        if connecting.topics.len() > config.max_topics_per_connection {
            return Err(TopicsError::TooMany {
                count: connecting.topics.len(),
                max: config.max_topics_per_connection,
            }
            .into());
        }
        let allowed = match &connecting.allowed {
            None => None,
            Some(list) => Some(
                list.iter()
                    .map(|p| Pattern::new(p).map_err(|source| invalid(p, source)))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let mut topics: Vec<Pattern> = Vec::with_capacity(connecting.topics.len());
        for requested in &connecting.topics {
            let pattern = self.parse_pattern(requested, allowed.as_deref())?;
            if !topics.contains(&pattern) {
                topics.push(pattern);
            }
        }
        Ok((topics, allowed))
    }

    fn parse_pattern(
        &self,
        text: &str,
        allowed: Option<&[Pattern]>,
    ) -> Result<Pattern, TopicsError> {
        let max = self.inner.config.max_pattern_len;
        if text.len() > max {
            return Err(TopicsError::TooLong { max });
        }
        let pattern = Pattern::new(text).map_err(|source| invalid(text, source))?;
        if let Some(allowed) = allowed {
            if !allowed.iter().any(|a| a.covers(&pattern)) {
                return Err(TopicsError::NotAllowed {
                    pattern: excerpt(text),
                });
            }
        }
        Ok(pattern)
    }

    /// The jittered max-lifetime end (the credential's expiry is separate:
    /// it ends the stream with `auth-expired`).
    fn lifetime_end(&self, now: Instant) -> Option<Instant> {
        let config = &self.inner.config;
        config.max_lifetime.map(|lifetime| {
            let cut = rand::random::<f64>() * config.lifetime_jitter;
            now + lifetime.mul_f64(1.0 - cut)
        })
    }

    /// Appends replayed events (and `resync` on a gap) to the preamble and
    /// removes from the live queue what the replay carried.
    async fn replay(&self, shared: &Arc<Shared>, last_id: &str, preamble: &mut BytesMut) {
        let inner = &self.inner;
        let Some(replayer) = &inner.config.replayer else {
            // Nothing is kept: a client that brings an id may have missed
            // events, so it is told to refetch rather than left guessing.
            inner.stats.gaps.fetch_add(1, Ordering::Relaxed);
            preamble.extend_from_slice(&control::resync(ResyncReason::NoReplay));
            return;
        };
        inner.stats.replay_requests.fetch_add(1, Ordering::Relaxed);
        let gap = if last_id.len() > inner.config.max_id_len {
            Some(ResyncReason::UnknownId)
        } else {
            self.replay_pages(replayer.as_ref(), shared, last_id, preamble)
                .await
        };
        if let Some(reason) = gap {
            inner.stats.gaps.fetch_add(1, Ordering::Relaxed);
            preamble.extend_from_slice(&control::resync(reason));
        }
    }
}

impl Hub {
    /// Replays the events after `last_id` into `preamble`, fetched from the
    /// store [`REPLAY_PAGE`] at a time (so no more than a page of stored
    /// events is held besides the encoded preamble), up to
    /// `max_replay_bytes` of encoded events and [`MAX_REPLAY_EVENTS`];
    /// returns the gap to report, if any. Live events the replay carried
    /// are removed from the connection's queue.
    async fn replay_pages(
        &self,
        replayer: &dyn crate::replay::Replayer,
        shared: &Arc<Shared>,
        last_id: &str,
        preamble: &mut BytesMut,
    ) -> Option<ResyncReason> {
        let inner = &self.inner;
        let deadline = tokio::time::Instant::now() + inner.config.replay_timeout;
        let max_bytes = inner.config.max_replay_bytes;
        let start_len = preamble.len();
        let patterns = shared.topics.lock().clone();
        let mut ids: HashSet<Arc<str>> = HashSet::new();
        let mut sent = 0u64;
        let mut last_sent: Option<Arc<str>> = None;
        let mut seen = 0usize;
        let mut cursor = last_id.to_owned();
        let gap = loop {
            let limit = REPLAY_PAGE.min(MAX_REPLAY_EVENTS - seen);
            let page = match tokio::time::timeout_at(
                deadline,
                if seen == 0 {
                    replayer.after(&cursor, limit)
                } else {
                    replayer.after_next(&cursor, limit)
                },
            )
            .await
            {
                Ok(Ok(page)) => page,
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "replay failed; sending resync");
                    break Some(ResyncReason::ReplayFailed);
                }
                Err(_) => {
                    tracing::warn!("replay timed out; sending resync");
                    break Some(ResyncReason::ReplayFailed);
                }
            };
            if !page.found {
                // Unknown at first; later, the cursor aged out mid-replay.
                break Some(if seen == 0 {
                    ResyncReason::UnknownId
                } else {
                    ResyncReason::ReplayTruncated
                });
            }
            if seen == 0 {
                inner.stats.replay_hits.fetch_add(1, Ordering::Relaxed);
            }
            let mut full = false;
            for event in &page.events {
                if preamble.len() - start_len >= max_bytes {
                    full = true;
                    break;
                }
                if visible(event, &patterns, &shared.metadata) {
                    wire::encode_event(
                        preamble,
                        event.event_type.as_deref(),
                        Some(&event.id),
                        &event.data,
                    );
                    sent += 1;
                    // Where the client will resume from if it is cut (see
                    // `hub::strikes`).
                    last_sent = Some(Arc::<str>::from(event.id.as_str()));
                }
                ids.insert(Arc::from(event.id.as_str()));
                seen += 1;
            }
            if full {
                break Some(ResyncReason::ReplayTruncated);
            }
            if !page.truncated {
                break None;
            }
            match page.events.last() {
                Some(last) if seen < MAX_REPLAY_EVENTS => last.id.clone_into(&mut cursor),
                _ => break Some(ResyncReason::ReplayTruncated),
            }
        };
        if last_sent.is_some() {
            shared.state.lock().last_id = last_sent;
        }
        if !ids.is_empty() {
            // A publisher may have appended a replayed event and not yet
            // offered it to this (already registered) connection: it
            // appends and offers under one registry read lock, so taking
            // the write lock once waits for every such publish to finish
            // before the live queue is deduplicated.
            drop(inner.registry.write());
            shared.state.lock().lanes.remove_ids(&ids);
        }
        inner.stats.replayed.fetch_add(sent, Ordering::Relaxed);
        inner.stats.delivered.fetch_add(sent, Ordering::Relaxed);
        gap
    }
}

/// Stored events fetched per replay page.
const REPLAY_PAGE: usize = 256;

/// Whether a stored event would have reached this connection live. Events
/// whose stored fields no longer validate are skipped.
fn visible(event: &StoredEvent, patterns: &[Pattern], metadata: &Metadata) -> bool {
    if event
        .event_type
        .as_deref()
        .is_some_and(|t| wire::validate_field(t).is_err())
        || wire::validate_field(&event.id).is_err()
    {
        return false;
    }
    let Ok(topics) = event
        .topics
        .iter()
        .map(|t| Topic::new(t))
        .collect::<Result<Vec<_>, _>>()
    else {
        return false;
    };
    reaches(patterns, metadata, &topics, &event.group, event.scope)
}

fn invalid(pattern: &str, source: crate::topic::TopicError) -> TopicsError {
    TopicsError::Invalid {
        pattern: excerpt(pattern),
        source,
    }
}
