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

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script, Value};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::{Replay, ReplayError, Replayer, StoredEvent};
use crate::event::{Metadata, Scope};

/// Appends written per pipeline at most.
const MAX_BATCH: usize = 512;
/// First retry delay of a failed batch; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How often the writer wakes up to trim by age or write a pending gap entry.
const TICK: Duration = Duration::from_secs(1);

/// Appends one event: idempotent per writer token, entry and mapping together.
///
/// KEYS: stream, id mapping. ARGV: max_events, max_age ms, writer token, fields...
const APPEND_LUA: &str = r"
local existing = redis.call('GET', KEYS[2])
if existing then
  local found = redis.call('XRANGE', KEYS[1], existing, existing)
  if #found == 1 then
    local fields = found[1][2]
    for i = 1, #fields, 2 do
      if fields[i] == 'w' and fields[i + 1] == ARGV[3] then return existing end
    end
  end
end
local entry = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'w', ARGV[3], unpack(ARGV, 4))
redis.call('SET', KEYS[2], entry, 'PX', ARGV[2])
return entry
";

/// Trims entries older than ARGV[1] ms by the server's clock.
const TRIM_LUA: &str = r"
local t = redis.call('TIME')
local min = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
if min <= 0 then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%d', min))
";

/// Settings of a [`RedisReplayer`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sse_hub::replay::RedisReplayOptions;
///
/// let options = RedisReplayOptions::new()
///     .key_prefix("myapp:sse")
///     .max_events(50_000)
///     .max_age(Duration::from_secs(15 * 60));
/// assert_eq!(options.get_max_events(), 50_000);
/// ```
#[derive(Debug, Clone)]
pub struct RedisReplayOptions {
    key_prefix: String,
    max_events: usize,
    max_age: Duration,
    write_timeout: Duration,
}

impl Default for RedisReplayOptions {
    fn default() -> Self {
        Self {
            key_prefix: "sse-hub".to_owned(),
            max_events: 10_000,
            max_age: Duration::from_secs(3600),
            write_timeout: Duration::from_secs(5),
        }
    }
}

impl RedisReplayOptions {
    /// The defaults: prefix `sse-hub`, 10,000 events, 1 h, 5 s write timeout.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Prefix of every key. Stores sharing a prefix share their events (that
    /// is how nodes and restarts find each other's). Default: `sse-hub`.
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Events kept at least (the stream is trimmed approximately, so up to
    /// about a hundred more may stay). At least 1. Default: 10,000.
    #[must_use]
    pub fn max_events(mut self, max_events: usize) -> Self {
        self.max_events = max_events.max(1);
        self
    }

    /// Age after which an event id is no longer replayable. At least 1 ms.
    /// Default: 1 hour.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age.max(Duration::from_millis(1));
        self
    }

    /// How long the writer retries a batch before dropping it (and marking a
    /// gap), how long `after` waits for pending writes, and the timeout of
    /// each Redis command and connection attempt. At least 1 ms. Default: 5 s.
    #[must_use]
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The key prefix.
    pub fn get_key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The count retention.
    pub fn get_max_events(&self) -> usize {
        self.max_events
    }

    /// The age retention.
    pub fn get_max_age(&self) -> Duration {
        self.max_age
    }

    /// The write timeout.
    pub fn get_write_timeout(&self) -> Duration {
        self.write_timeout
    }
}

/// Where the writer is, published to readers.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// Appends handled (written, or dropped after retries), in order.
    processed: u64,
    /// Events were dropped and the `gap` entry is not written yet.
    gap_pending: bool,
    /// The last write error, while the writer is failing.
    last_error: Option<Arc<str>>,
}

/// A queued append.
struct Pending {
    token: String,
    event: StoredEvent,
}

/// Ids this process appended within retention, for [`Replayer::contains`].
#[derive(Debug, Default)]
struct RecentIds {
    set: HashSet<Arc<str>>,
    order: VecDeque<(Instant, Arc<str>)>,
}

impl RecentIds {
    fn expire(&mut self, now: Instant, max_age: Duration, max_len: usize) {
        while let Some((at, id)) = self.order.front() {
            if self.order.len() <= max_len && now.saturating_duration_since(*at) <= max_age {
                break;
            }
            self.set.remove(id);
            self.order.pop_front();
        }
    }
}

#[derive(Debug, Clone)]
struct Keys {
    events: String,
    id_prefix: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        Self {
            events: format!("{prefix}:events"),
            id_prefix: format!("{prefix}:id:"),
        }
    }

    fn id(&self, event_id: &str) -> String {
        let mut key = String::with_capacity(self.id_prefix.len() + event_id.len());
        key.push_str(&self.id_prefix);
        key.push_str(event_id);
        key
    }
}

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

fn backend(err: RedisError) -> ReplayError {
    ReplayError::Backend(err.to_string())
}

/// A connection manager on the current runtime, with every script loaded.
async fn open(
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
        let (tx, rx) = mpsc::unbounded_channel();
        let (progress_tx, progress) = watch::channel(Progress::default());
        let (ready_tx, ready_rx) = oneshot::channel();
        let writer_options = options.clone();
        let writer_keys = keys.clone();
        // The writer gets its own thread and runtime: every replay waits for
        // it (read-your-writes), so it must not queue behind the
        // application's tasks when their runtime is saturated.
        std::thread::Builder::new()
            .name("sse-hub-replay-writer".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = ready_tx.send(Err(ReplayError::Backend(err.to_string())));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let conn = match open(client, &writer_options).await {
                        Ok(conn) => conn,
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                            return;
                        }
                    };
                    let writer = Writer {
                        conn,
                        keys: writer_keys,
                        max_events: writer_options.max_events,
                        max_age_ms: writer_options.max_age.as_millis().max(1) as u64,
                        write_timeout: writer_options.write_timeout,
                        append_script: Script::new(APPEND_LUA),
                        trim_script: Script::new(TRIM_LUA),
                        progress: progress_tx,
                    };
                    let _ = ready_tx.send(Ok(()));
                    writer.run(rx).await;
                });
            })
            .map_err(|err| ReplayError::Backend(format!("starting the replay writer: {err}")))?;
        ready_rx
            .await
            .map_err(|_| ReplayError::Backend("the replay writer did not start".into()))??;
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
}

/// What one pipeline achieved.
#[derive(Default)]
struct Outcome {
    gap_written: bool,
    /// Appends written, counted up to the first failure.
    written: usize,
    error: Option<RedisError>,
}

/// The single writer task.
struct Writer {
    conn: ConnectionManager,
    keys: Keys,
    max_events: usize,
    max_age_ms: u64,
    write_timeout: Duration,
    append_script: Script,
    trim_script: Script,
    progress: watch::Sender<Progress>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Pending>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Trim by age about 60 times per retention period, at most once a second.
        let trim_every = Duration::from_millis(self.max_age_ms / 60).max(TICK);
        let mut next_trim = Instant::now();
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            tokio::select! {
                first = rx.recv() => {
                    let Some(first) = first else { break };
                    batch.push(first);
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    self.write(&mut batch, &mut rx).await;
                }
                _ = tick.tick() => {
                    if self.progress.borrow().gap_pending {
                        self.write(&mut batch, &mut rx).await;
                    }
                    if Instant::now() >= next_trim {
                        next_trim = Instant::now() + trim_every;
                        self.trim().await;
                    }
                }
            }
        }
        tracing::debug!("replay writer stopped");
    }

    /// Writes `batch` (after a pending gap entry), retrying; empties it.
    async fn write(&mut self, batch: &mut Vec<Pending>, rx: &mut mpsc::UnboundedReceiver<Pending>) {
        let started = Instant::now();
        let mut backoff = MIN_BACKOFF;
        // Appends of `batch` known written: never sent again.
        let mut done = 0;
        loop {
            let gap = self.progress.borrow().gap_pending;
            let outcome = self.try_write(gap, &batch[done..]).await;
            if outcome.gap_written {
                self.progress.send_modify(|p| p.gap_pending = false);
            }
            done += outcome.written;
            match outcome.error {
                None => {
                    tracing::trace!(
                        events = batch.len(),
                        elapsed = ?started.elapsed(),
                        "replay batch written"
                    );
                    let handled = batch.len() as u64;
                    self.progress.send_modify(|p| {
                        p.processed += handled;
                        p.last_error = None;
                    });
                    batch.clear();
                    return;
                }
                Some(err) => {
                    tracing::warn!(
                        error = %err,
                        pending = batch.len() - done,
                        "replay write failed; retrying"
                    );
                    let err: Arc<str> = Arc::from(err.to_string());
                    self.progress.send_modify(|p| p.last_error = Some(err));
                }
            }
            if started.elapsed() >= self.write_timeout {
                break;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            // A restarted Redis has forgotten the script; reloading is cheap.
            let _ = self.append_script.load_async(&mut self.conn).await;
        }
        // Give up: drop what is left and what queued behind it, mark a gap,
        // so memory stays bounded while Redis is away.
        let mut dropped = batch.len() - done;
        let mut handled = batch.len() as u64;
        batch.clear();
        while rx.try_recv().is_ok() {
            dropped += 1;
            handled += 1;
        }
        if dropped == 0 {
            // Only a gap entry was outstanding; it stays pending.
            return;
        }
        tracing::error!(
            dropped,
            "replay store unreachable: events dropped; clients replaying across them get resync"
        );
        self.progress.send_modify(|p| {
            p.processed += handled;
            p.gap_pending = true;
        });
    }

    /// One pipeline: the gap entry if pending, then the appends, stopping
    /// the count at the first failure.
    async fn try_write(&mut self, gap: bool, pending: &[Pending]) -> Outcome {
        let mut outcome = Outcome::default();
        if !gap && pending.is_empty() {
            return outcome;
        }
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        if gap {
            pipe.cmd("XADD")
                .arg(&self.keys.events)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.max_events)
                .arg("*")
                .arg("gap")
                .arg("1");
        }
        for item in pending {
            let event = &item.event;
            let mut invocation = self.append_script.prepare_invoke();
            invocation
                .key(&self.keys.events)
                .key(self.keys.id(&event.id))
                .arg(self.max_events)
                .arg(self.max_age_ms)
                .arg(&item.token)
                .arg("id")
                .arg(&event.id);
            if let Some(event_type) = &event.event_type {
                invocation.arg("type").arg(event_type);
            }
            invocation
                .arg("data")
                .arg(&event.data)
                .arg("topics")
                .arg(serde_json::to_string(&event.topics).unwrap_or_else(|_| "[]".into()))
                .arg("group")
                .arg(serde_json::to_string(&event.group).unwrap_or_else(|_| "{}".into()))
                .arg("scope")
                .arg(scope_name(event.scope));
            pipe.invoke_script(&invocation);
        }
        let results: Vec<redis::RedisResult<Value>> = match pipe.query_async(&mut self.conn).await {
            Ok(results) => results,
            Err(err) => {
                outcome.error = Some(err);
                return outcome;
            }
        };
        let mut results = results.into_iter();
        if gap {
            match results.next() {
                Some(Ok(_)) => outcome.gap_written = true,
                Some(Err(err)) => {
                    outcome.error = Some(err);
                    return outcome;
                }
                None => {
                    outcome.error = Some(short_reply());
                    return outcome;
                }
            }
        }
        for result in results {
            match result {
                Ok(_) => outcome.written += 1,
                Err(err) => {
                    outcome.error = Some(err);
                    return outcome;
                }
            }
        }
        if outcome.written < pending.len() {
            outcome.error = Some(short_reply());
        }
        outcome
    }

    async fn trim(&mut self) {
        let trimmed: Result<Value, _> = self
            .trim_script
            .key(&self.keys.events)
            .arg(self.max_age_ms)
            .invoke_async(&mut self.conn)
            .await;
        if let Err(err) = trimmed {
            tracing::warn!(error = %err, "replay trim by age failed");
        }
    }
}

fn short_reply() -> RedisError {
    RedisError::from((redis::ErrorKind::Client, "short pipeline reply"))
}

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Union => "union",
        Scope::Intersect => "intersect",
    }
}

fn corrupt(what: impl fmt::Display) -> ReplayError {
    ReplayError::Corrupt(what.to_string())
}

fn text(value: Value) -> Result<String, ReplayError> {
    match value {
        Value::BulkString(bytes) => {
            String::from_utf8(bytes).map_err(|_| corrupt("field is not UTF-8"))
        }
        Value::SimpleString(s) => Ok(s),
        Value::VerbatimString { text, .. } => Ok(text),
        other => Err(corrupt(format_args!("expected a string, got {other:?}"))),
    }
}

fn array(value: Value) -> Result<Vec<Value>, ReplayError> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(corrupt(format_args!("expected an array, got {other:?}"))),
    }
}

/// Decodes `XRANGE <entry> + COUNT limit+2`: the entry itself, then what follows.
fn decode_after(entry: &str, reply: Value, limit: usize) -> Result<Replay, ReplayError> {
    let mut entries = array(reply)?.into_iter();
    let Some(first) = entries.next() else {
        return Ok(Replay::unknown());
    };
    let first_id = array(first)?
        .into_iter()
        .next()
        .ok_or_else(|| corrupt("stream entry without id"))?;
    if text(first_id)? != entry {
        // The entry was trimmed: the id is older than retention.
        return Ok(Replay::unknown());
    }
    let mut events = Vec::with_capacity(entries.len().min(limit));
    for item in entries {
        let mut item = array(item)?.into_iter();
        let (Some(_), Some(fields)) = (item.next(), item.next()) else {
            return Err(corrupt("stream entry without fields"));
        };
        match decode_event(fields)? {
            Decoded::Event(event) => {
                if events.len() == limit {
                    return Ok(Replay::found(events, true));
                }
                events.push(event);
            }
            Decoded::Gap => {
                tracing::debug!("replay reached a gap entry");
                return Ok(Replay::found(events, true));
            }
        }
    }
    Ok(Replay::found(events, false))
}

enum Decoded {
    Event(StoredEvent),
    Gap,
}

fn decode_event(fields: Value) -> Result<Decoded, ReplayError> {
    let mut id = None;
    let mut event_type = None;
    let mut data = None;
    let mut topics = None;
    let mut group = None;
    let mut scope = None;
    let mut fields = array(fields)?.into_iter();
    while let Some(name) = fields.next() {
        let name = text(name)?;
        let value = fields
            .next()
            .ok_or_else(|| corrupt("odd number of entry fields"))?;
        match name.as_str() {
            "gap" => return Ok(Decoded::Gap),
            "id" => id = Some(text(value)?),
            "type" => event_type = Some(text(value)?),
            "data" => data = Some(text(value)?),
            "topics" => {
                topics = Some(
                    serde_json::from_str::<Vec<String>>(&text(value)?)
                        .map_err(|err| corrupt(format_args!("topics: {err}")))?,
                );
            }
            "group" => {
                group = Some(
                    serde_json::from_str::<Metadata>(&text(value)?)
                        .map_err(|err| corrupt(format_args!("group: {err}")))?,
                );
            }
            "scope" => {
                scope = Some(match text(value)?.as_str() {
                    "union" => Scope::Union,
                    "intersect" => Scope::Intersect,
                    other => return Err(corrupt(format_args!("unknown scope {other:?}"))),
                });
            }
            _ => {}
        }
    }
    let (Some(id), Some(data), Some(topics), Some(group), Some(scope)) =
        (id, data, topics, group, scope)
    else {
        return Err(corrupt("stream entry is missing fields"));
    };
    Ok(Decoded::Event(StoredEvent::new(
        id, event_type, data, topics, group, scope,
    )))
}

#[cfg(test)]
mod tests;
