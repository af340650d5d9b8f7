//! The single writer: its thread, batching, pipelined writes, retries with
//! backoff, gap entries and trimming by age.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{RedisError, Script, Value};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::codec::scope_name;
use super::connection::open;
use super::keys::Keys;
use super::scripts::{APPEND_LUA, TRIM_LUA};
use super::RedisReplayOptions;
use crate::replay::{ReplayError, StoredEvent};

/// Appends written per pipeline at most.
const MAX_BATCH: usize = 512;
/// First retry delay of a failed batch; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(20);
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How often the writer wakes up to trim by age or write a pending gap entry.
const TICK: Duration = Duration::from_secs(1);

/// Where the writer is, published to readers.
#[derive(Debug, Clone, Default)]
pub(super) struct Progress {
    /// Appends handled (written, or dropped after retries), in order.
    pub(super) processed: u64,
    /// Events were dropped and the `gap` entry is not written yet.
    pub(super) gap_pending: bool,
    /// The last write error, while the writer is failing.
    pub(super) last_error: Option<Arc<str>>,
}

/// A queued append.
pub(super) struct Pending {
    pub(super) token: String,
    pub(super) event: StoredEvent,
}

/// Starts the writer: its own thread, runtime and connection (every replay
/// waits for it, so it must not share the application's runtime). Returns
/// once it is connected; it stops when the sender is dropped, after
/// writing what was queued.
pub(super) async fn spawn(
    client: redis::Client,
    options: &RedisReplayOptions,
    writer_keys: Keys,
) -> Result<(mpsc::UnboundedSender<Pending>, watch::Receiver<Progress>), ReplayError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (progress_tx, progress) = watch::channel(Progress::default());
    let (ready_tx, ready_rx) = oneshot::channel();
    let writer_options = options.clone();
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
    Ok((tx, progress))
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
