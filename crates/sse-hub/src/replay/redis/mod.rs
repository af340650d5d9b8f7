//! A replay store on Redis Streams: survives restarts, shared by nodes.
//!
//! ## Storage layout
//!
//! With the key prefix `P` (default `sse-hub`):
//!
//! | key | type | content |
//! | --- | --- | --- |
//! | `P:events` | stream | one entry per event, fields `id`, `type` (absent when the event has none), `data`, `topics` (JSON array), `group` (JSON object), `scope` (`union` / `intersect`), plus `w` (a writer token that makes retries idempotent) |
//! | `P:id:<event id>` | string | the stream entry id of that event, expiring after `max_age` |
//! | `P:events` entry with a `gap` field | stream entry | written after this process had to drop events (see failures) |
//!
//! Entries get Redis' own ids (`XADD ... *`), never the event id: several
//! nodes, or a restarted node, may append to one stream. The entry and its
//! `P:id:` mapping are written together by one Lua script, so a reader never
//! sees one without the other.
//!
//! ## Retention
//!
//! * **Count**: every `XADD` carries `MAXLEN ~ max_events` (default 10,000).
//!   `~` lets Redis trim whole internal nodes only, so the stream keeps *at
//!   least* `max_events` entries and up to about a hundred more.
//! * **Age**: the id mapping expires after `max_age` (default 1 h), which
//!   makes older ids unknown at once; the writer also runs
//!   `XTRIM P:events MINID ~ <now − max_age>` periodically, with `now` taken
//!   from the Redis server's clock so node clock skew does not matter.
//!
//! An id whose mapping expired, or whose entry was trimmed, is unknown: the
//! hub then sends `resync`.
//!
//! ## Ordering and read-your-writes
//!
//! [`append`](Replayer::append) never blocks: it hands the event to one
//! writer per store, which writes batches in append order, pipelined. The
//! writer runs on its own thread (with a single-threaded tokio runtime and
//! its own connection), so a saturated application runtime cannot starve
//! it; reads use a second connection on the caller's runtime.
//! [`after`](Replayer::after) first waits until every append that returned
//! before it was called has been written (at most `write_timeout`), then
//! looks the entry up and reads `XRANGE P:events <entry> + COUNT limit+2`,
//! *including* the entry: trimming only removes the oldest entries, so if
//! the entry is still there, everything after it is too (no script, no
//! hole). That is the read-your-writes guarantee the hub's replay/live
//! dedup relies on.
//! Events appended by *other* nodes are seen once they are written there;
//! in a cluster they reach this node's clients live through the backplane.
//!
//! ## Failures
//!
//! * The writer retries a failed batch with exponential backoff for up to
//!   `write_timeout`; retries are idempotent (a written entry is recognised
//!   by its writer token), so a lost reply never duplicates an event.
//! * If Redis stays unreachable, the writer drops the batch and what is
//!   queued behind it (memory stays bounded), logs an error, and writes a
//!   `gap` entry as soon as Redis is back. A replay that reaches a gap entry
//!   stops there and is marked truncated, so the client gets `resync`, never
//!   a silent hole. Until the gap entry is written, `after` fails.
//! * `after` fails with [`ReplayError::Backend`] when Redis is unreachable
//!   or the writes it must wait for are still pending after `write_timeout`;
//!   a record it cannot decode gives [`ReplayError::Corrupt`]. The hub turns
//!   both into a `resync` event. Nothing here panics on backend errors.
//! * [`contains`](Replayer::contains) only knows the ids *this process*
//!   appended within retention: duplicate ids published on another node are
//!   not detected.

mod codec;
mod connection;
mod keys;
mod options;
mod recent_ids;
mod scripts;
mod writer;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use redis::aio::ConnectionManager;
use redis::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use options::RedisReplayOptions;

use super::{Replay, ReplayError, Replayer, StoredEvent};
use codec::decode_after;
use connection::{backend, open};
use keys::Keys;
use recent_ids::RecentIds;
use writer::{Pending, Progress};

/// Redis Streams replay store; see the [module docs](self).
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use sse_hub::replay::{RedisReplayOptions, RedisReplayer};
/// use sse_hub::{Config, Hub};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisReplayer::connect(
///     "redis://127.0.0.1:6379/",
///     RedisReplayOptions::new().key_prefix("myapp:sse").max_age(Duration::from_secs(600)),
/// )
/// .await?;
/// let hub = Hub::new(Config::new().replayer(Arc::new(store)))?;
/// # drop(hub);
/// # Ok(())
/// # }
/// ```
pub struct RedisReplayer {
    options: RedisReplayOptions,
    keys: Keys,
    conn: ConnectionManager,
    /// Appends handed to the writer so far.
    appended: AtomicU64,
    tx: mpsc::UnboundedSender<Pending>,
    progress: watch::Receiver<Progress>,
    recent: Mutex<RecentIds>,
    /// Random per store instance: with the sequence, the writer token.
    instance: String,
}

impl fmt::Debug for RedisReplayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let progress = self.progress.borrow().clone();
        f.debug_struct("RedisReplayer")
            .field("options", &self.options)
            .field("appended", &self.appended.load(Ordering::Relaxed))
            .field("written", &progress.processed)
            .field("gap_pending", &progress.gap_pending)
            .field("last_error", &progress.last_error)
            .finish_non_exhaustive()
    }
}

impl RedisReplayer {
    /// Connects to Redis at `url` (`redis://host:port/db`), checks it answers,
    /// loads the scripts, and starts the writer thread (it stops when the
    /// store is dropped, after writing what was queued).
    ///
    /// # Errors
    ///
    /// [`ReplayError::Backend`] if the url is invalid or Redis does not
    /// answer within the write timeout.
    pub async fn connect(url: &str, options: RedisReplayOptions) -> Result<Self, ReplayError> {
        let client = redis::Client::open(url).map_err(backend)?;
        let conn = open(client.clone(), &options).await?;
        let keys = Keys::new(&options.key_prefix);
        let (tx, progress) = writer::spawn(client, &options, keys.clone()).await?;
        Ok(Self {
            instance: format!("{:016x}", rand::random::<u64>()),
            options,
            keys,
            conn,
            appended: AtomicU64::new(0),
            tx,
            progress,
            recent: Mutex::new(RecentIds::default()),
        })
    }

    /// The settings.
    pub fn options(&self) -> &RedisReplayOptions {
        &self.options
    }

    /// Waits until every append made so far is written (or dropped after
    /// retries). Call it before shutting down so a restart finds everything.
    ///
    /// # Errors
    ///
    /// [`ReplayError::Backend`] if the writes are still pending after the
    /// write timeout, events were dropped and the gap is not recorded yet,
    /// or the writer stopped.
    pub async fn flush(&self) -> Result<(), ReplayError> {
        let target = self.appended.load(Ordering::SeqCst);
        let mut progress = self.progress.clone();
        let wait = async {
            loop {
                {
                    let now = progress.borrow_and_update();
                    if now.processed >= target {
                        if now.gap_pending {
                            return Err(ReplayError::Backend(
                                "events were dropped and the gap is not recorded yet".into(),
                            ));
                        }
                        return Ok(());
                    }
                }
                if progress.changed().await.is_err() {
                    return Err(ReplayError::Backend("replay writer stopped".into()));
                }
            }
        };
        match tokio::time::timeout(self.options.write_timeout, wait).await {
            Ok(result) => result,
            Err(_) => {
                let last = self.progress.borrow().last_error.clone();
                Err(ReplayError::Backend(match last {
                    Some(err) => format!("replay writes pending: {err}"),
                    None => "replay writes pending".into(),
                }))
            }
        }
    }

    async fn read_after(&self, id: &str, limit: usize) -> Result<Replay, ReplayError> {
        self.flush().await?;
        self.read_stored_after(id, limit).await
    }

    /// [`Self::read_after`] without waiting for pending writes.
    async fn read_stored_after(&self, id: &str, limit: usize) -> Result<Replay, ReplayError> {
        let mut conn = self.conn.clone();
        let entry: Option<String> = redis::cmd("GET")
            .arg(self.keys.id(id))
            .query_async(&mut conn)
            .await
            .map_err(backend)?;
        let Some(entry) = entry else {
            return Ok(Replay::unknown());
        };
        // From the entry itself, inclusive: if it is still there, nothing
        // after it has been trimmed (trimming only removes the oldest), so
        // this one read is consistent without a script.
        let reply: Value = redis::cmd("XRANGE")
            .arg(&self.keys.events)
            .arg(&entry)
            .arg("+")
            .arg("COUNT")
            .arg(limit.saturating_add(2))
            .query_async(&mut conn)
            .await
            .map_err(backend)?;
        decode_after(&entry, reply, limit)
    }
}

impl Replayer for RedisReplayer {
    fn append(&self, event: StoredEvent) {
        {
            let mut recent = self.recent.lock();
            let id: Arc<str> = Arc::from(event.id.as_str());
            if recent.set.insert(id.clone()) {
                recent.order.push_back((Instant::now(), id));
            }
            recent.expire(
                Instant::now(),
                self.options.max_age,
                self.options.max_events,
            );
        }
        // Counted before it is queued: a reader that sees the count waits for it.
        let seq = self.appended.fetch_add(1, Ordering::SeqCst);
        let token = format!("{}/{seq}", self.instance);
        if self.tx.send(Pending { token, event }).is_err() {
            // The writer is gone (runtime shut down): nothing can be stored,
            // and readers will report it.
            tracing::error!("replay writer stopped; event not stored");
        }
    }

    fn contains(&self, id: &str) -> bool {
        let mut recent = self.recent.lock();
        recent.expire(
            Instant::now(),
            self.options.max_age,
            self.options.max_events,
        );
        recent.set.contains(id)
    }

    fn after<'a>(
        &'a self,
        id: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Replay, ReplayError>> {
        Box::pin(self.read_after(id, limit))
    }

    fn after_next<'a>(
        &'a self,
        id: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Replay, ReplayError>> {
        Box::pin(self.read_stored_after(id, limit))
    }
}

#[cfg(test)]
mod tests;
