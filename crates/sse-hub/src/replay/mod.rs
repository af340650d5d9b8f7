//! `Last-Event-ID` replay: the store behind lossless reconnects.
//!
//! Every published event is appended to the configured [`Replayer`]. When a
//! client reconnects with the id of the last event it saw, the hub asks the
//! store for everything after it and filters it with the *same* routing rule
//! as live delivery (topics, group, scope, the connection's metadata), so
//! replay never crosses a tenant boundary.
//!
//! If the id is unknown or older than retention, or the store fails, the
//! client receives an explicit `resync` event before live events: never a
//! silent gap.
//!
//! ## The replay/live race
//!
//! The hub registers a reconnecting connection (so it starts queueing live
//! events) *before* it asks the store, and appends every event to the store
//! *before* fanning it out. An event is therefore either in the replay, in
//! the live queue, or in both; the hub removes from the live queue what the
//! replay already carried, so each event arrives exactly once, in order.
//! A publisher appends and fans out under one registry read lock, and the
//! hub takes the write lock once after the replay read, before removing
//! duplicates: an event appended (so replayed) but not yet offered to the
//! new connection cannot slip into its live queue afterwards.
//! That requires read-your-writes from the store: an `after` call issued
//! after `append` returned must see that event.
//!
//! ## Stores
//!
//! * [`MemoryReplayer`]: a bounded ring in this process.
//! * `RedisReplayer` (feature `redis`): Redis Streams, survives restarts and
//!   is shared by nodes; see the `redis` module for layout and failures.

mod memory;
#[cfg(feature = "redis")]
pub mod redis;

use std::fmt;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use memory::MemoryReplayer;
#[cfg(feature = "redis")]
pub use redis::{RedisReplayOptions, RedisReplayer};

use crate::event::{Metadata, Scope};

/// An event as the replay store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredEvent {
    /// The event id.
    pub id: String,
    /// The SSE type, if any.
    pub event_type: Option<String>,
    /// The data as published.
    pub data: String,
    /// Topics it was published on.
    pub topics: Vec<String>,
    /// Group pairs it was scoped to.
    pub group: Metadata,
    /// How topics and group combine.
    pub scope: Scope,
}

impl StoredEvent {
    /// A stored event; used by store implementations decoding their records.
    pub fn new(
        id: String,
        event_type: Option<String>,
        data: String,
        topics: Vec<String>,
        group: Metadata,
        scope: Scope,
    ) -> Self {
        Self {
            id,
            event_type,
            data,
            topics,
            group,
            scope,
        }
    }
}

/// What a store returns for "everything after this id".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Replay {
    /// Whether the id was found within retention. `false` means the client
    /// must resynchronise.
    pub found: bool,
    /// Events after the id, oldest first, at most the requested limit.
    pub events: Vec<StoredEvent>,
    /// More events followed than the limit allowed.
    pub truncated: bool,
}

impl Replay {
    /// The id was not found.
    pub fn unknown() -> Self {
        Self::default()
    }

    /// The id was found; these events follow it.
    pub fn found(events: Vec<StoredEvent>, truncated: bool) -> Self {
        Self {
            found: true,
            events,
            truncated,
        }
    }
}

/// A replay store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The backend (Redis, ...) returned an error or was unreachable.
    #[error("replay store unavailable: {0}")]
    Backend(String),
    /// A stored record could not be decoded.
    #[error("replay store record is corrupt: {0}")]
    Corrupt(String),
}

/// A store of recent events for `Last-Event-ID` replay.
pub trait Replayer: Send + Sync + fmt::Debug + 'static {
    /// Appends an event. Called on the publish path: must not block (queue
    /// the write internally if the backend is remote). Appends are ordered.
    fn append(&self, event: StoredEvent);

    /// Whether `id` is still within retention; used to reject a publisher
    /// reusing an id. Stores that cannot tell cheaply return `false`.
    fn contains(&self, id: &str) -> bool {
        let _ = id;
        false
    }

    /// Events after `id`, oldest first, at most `limit`. Must see every
    /// `append` that returned before this call (see the module docs).
    fn after<'a>(&'a self, id: &'a str, limit: usize)
        -> BoxFuture<'a, Result<Replay, ReplayError>>;

    /// The next page of a replay that [`after`](Self::after) started: events
    /// after `id` (the last id of the previous page), at most `limit`.
    ///
    /// It need only see the appends the first page saw: whatever was appended
    /// since reaches the (already registered) connection live. A remote store
    /// therefore need not wait for its pending writes again, which keeps a
    /// long replay to one wait however many pages it takes. The default calls
    /// [`after`](Self::after).
    fn after_next<'a>(
        &'a self,
        id: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Replay, ReplayError>> {
        self.after(id, limit)
    }
}
