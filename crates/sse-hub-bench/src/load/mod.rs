//! The load generator: N raw-TCP SSE clients, a light keep-alive HTTP/1.1
//! publisher, and the measurements (deliveries, latency, server CPU and RSS).

mod arrival;
mod client;

use crate::procstat::{self, Proc};
use crate::report::{LatencySummary, LoadReport};
use crate::sse_parse::{parse_payload, ResponseParser, SseParser};
use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinSet;

use client::client;

/// Parameters of one load run.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadConfig {
    /// Server base URL, `http://127.0.0.1:PORT` (loopback only).
    pub url: String,
    /// Number of SSE clients.
    pub clients: usize,
    /// Events to publish; with `rate > 0` and `duration_s > 0` and
    /// `events == 0`, `rate × duration_s` is used.
    pub events: u64,
    /// Events per second; 0 = as fast as possible.
    pub rate: f64,
    /// Publish requests in flight (publisher connections).
    pub in_flight: usize,
    /// Events per publish request (> 1 sends a JSON array).
    pub batch: usize,
    /// Size of each event's data, in bytes.
    pub payload: usize,
    /// Topic to subscribe and publish to.
    pub topic: String,
    /// Optional sse-hub priority lane (`instant`, `batched`, `coalesced`).
    pub priority: Option<String>,
    /// Optional sse-hub coalesce key.
    pub coalesce_key: Option<String>,
    /// Publishing duration for rate mode (0 = not time bounded).
    pub duration_s: f64,
    /// Server pid, to read its CPU time and RSS from `/proc`.
    pub server_pid: Option<u32>,
    /// Stop waiting this long after the last received event.
    pub settle_ms: u64,
    /// Hard stop for the whole run, in seconds.
    pub timeout_s: f64,
    /// Connections being opened at once.
    pub connect_concurrency: usize,
    /// Pause after all clients connected, before measuring RSS and
    /// publishing, in milliseconds.
    pub ready_wait_ms: u64,
    /// Of `clients`, how many read slowly: at most `slow_read_bps` bytes per
    /// second, through a small socket receive buffer (so the server sees its
    /// socket fill instead of the kernel absorbing the backlog).
    pub slow_clients: usize,
    /// Read rate of a slow client, bytes per second.
    pub slow_read_bps: u64,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8080".into(),
            clients: 100,
            events: 1000,
            rate: 0.0,
            in_flight: 4,
            batch: 1,
            payload: 64,
            topic: "bench".into(),
            priority: None,
            coalesce_key: None,
            duration_s: 0.0,
            server_pid: None,
            settle_ms: 2000,
            timeout_s: 60.0,
            connect_concurrency: 128,
            ready_wait_ms: 200,
            slow_clients: 0,
            slow_read_bps: 0,
        }
    }
}

impl LoadConfig {
    /// Number of events this run plans to publish.
    pub fn planned_events(&self) -> u64 {
        if self.events == 0 && self.rate > 0.0 && self.duration_s > 0.0 {
            (self.rate * self.duration_s).round() as u64
        } else {
            self.events
        }
    }

    /// The `sse-hub-bench load` arguments that reproduce this configuration
    /// (the suite runs an isolated load generator as a child process).
    pub fn to_args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            ("--url", self.url.clone()),
            ("--clients", self.clients.to_string()),
            ("--events", self.events.to_string()),
            ("--rate", self.rate.to_string()),
            ("--in-flight", self.in_flight.to_string()),
            ("--batch", self.batch.to_string()),
            ("--payload", self.payload.to_string()),
            ("--topic", self.topic.clone()),
            ("--duration-s", self.duration_s.to_string()),
            ("--settle-ms", self.settle_ms.to_string()),
            ("--timeout-s", self.timeout_s.to_string()),
            (
                "--connect-concurrency",
                self.connect_concurrency.to_string(),
            ),
            ("--ready-wait-ms", self.ready_wait_ms.to_string()),
            ("--slow-clients", self.slow_clients.to_string()),
            ("--slow-read-bps", self.slow_read_bps.to_string()),
        ]
        .into_iter()
        .flat_map(|(k, v)| [k.to_owned(), v])
        .collect();
        let optional = [
            ("--priority", self.priority.clone()),
            ("--coalesce-key", self.coalesce_key.clone()),
            ("--server-pid", self.server_pid.map(|p| p.to_string())),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                args.extend([k.to_owned(), v]);
            }
        }
        args
    }
}

/// Parses `http://HOST:PORT[/...]` into a loopback socket address and the
/// `Host` header value. Anything but a loopback address is refused.
pub fn parse_url(url: &str) -> Result<(SocketAddr, String)> {
    let rest = url
        .strip_prefix("http://")
        .context("url must start with http://")?;
    let hostport = rest.split('/').next().unwrap_or_default();
    let hostport_resolved = match hostport.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => hostport.to_owned(),
    };
    let addr: SocketAddr = hostport_resolved
        .parse()
        .with_context(|| format!("url host must be IP:PORT, got {hostport:?}"))?;
    if !addr.ip().is_loopback() {
        bail!("refusing to target non-loopback address {addr}");
    }
    Ok((addr, hostport.to_owned()))
}

/// State shared by the clients and the coordinator.
#[derive(Debug)]
struct Shared {
    base: Instant,
    attempts_done: AtomicUsize,
    connected: AtomicUsize,
    /// Slow clients connected (they are left out of `distinct` and
    /// `last_recv_us`: the run settles on the others).
    slow_connected: AtomicUsize,
    distinct: AtomicU64,
    last_recv_us: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn now_us(&self) -> u64 {
        self.base.elapsed().as_micros() as u64
    }

    fn note_error(&self, e: String) {
        let mut g = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            *g = Some(e);
        }
    }
}

/// What one client saw.
#[derive(Debug, Default)]
struct ClientResult {
    connected: bool,
    /// A slow reader (see `LoadConfig::slow_clients`).
    slow: bool,
    received: u64,
    distinct: u64,
    duplicated: u64,
    unknown: u64,
    bytes: u64,
    ended_early: bool,
    /// Publish to read.
    hist: Option<Histogram<u64>>,
    /// Publish to arrival in the client's socket (kernel receive stamps).
    arrival_hist: Option<Histogram<u64>>,
}

fn read_server<T>(pid: Option<u32>, f: impl Fn(Proc) -> Result<T>) -> Option<T> {
    pid.and_then(|p| f(Proc::Pid(p)).ok())
}

/// Runs one load test and returns its report. Every phase is bounded by
/// `cfg.timeout_s`; on expiry the run stops and the report says so.
pub async fn run(cfg: &LoadConfig) -> Result<LoadReport> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(cfg.timeout_s.max(1.0));
    let _ = procstat::raise_nofile_limit();
    let (addr, host) = parse_url(&cfg.url)?;
    let events = cfg.planned_events();
    let bitset_bytes = events.div_ceil(64) * 8 * cfg.clients as u64;
    if bitset_bytes > 4 << 30 {
        bail!("events × clients too large ({bitset_bytes} bytes of bitsets)");
    }
    let tpl = Arc::new(Template::new(cfg, &host)?);

    let shared = Arc::new(Shared {
        base: Instant::now(),
        attempts_done: AtomicUsize::new(0),
        connected: AtomicUsize::new(0),
        slow_connected: AtomicUsize::new(0),
        distinct: AtomicU64::new(0),
        last_recv_us: AtomicU64::new(0),
        first_error: Mutex::new(None),
    });
    let rss_before = read_server(cfg.server_pid, procstat::rss_kib);

    // Clients.
    let topic_q = encode_query(&cfg.topic);
    let request = Arc::new(
        format!(
            "GET /events?topic={topic_q} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
        )
        .into_bytes(),
    );
    // One stop channel per client: a shared `watch` would put every read of
    // every client through one waiter list (a lock per delivery).
    let mut stops = Vec::with_capacity(cfg.clients);
    let sem = Arc::new(Semaphore::new(cfg.connect_concurrency.max(1)));
    let mut clients = JoinSet::new();
    for _ in 0..cfg.clients {
        let (stop_tx, stop_rx) = oneshot::channel();
        stops.push(stop_tx);
        clients.spawn(client(
            addr,
            request.clone(),
            shared.clone(),
            sem.clone(),
            stop_rx,
            events,
            (clients.len() < cfg.slow_clients).then_some(cfg.slow_read_bps),
        ));
    }
    let mut timed_out = false;
    while shared.attempts_done.load(Ordering::Relaxed) < cfg.clients {
        if Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let connect_time = started.elapsed();
    if !timed_out {
        tokio::time::sleep(Duration::from_millis(cfg.ready_wait_ms)).await;
    }
    let connected = shared.connected.load(Ordering::Relaxed);
    let rss_after = read_server(cfg.server_pid, procstat::rss_kib);

    // Publish.
    let cpu_before = read_server(cfg.server_pid, procstat::cpu_time_us);
    let self_cpu_before = procstat::cpu_time_us(Proc::Myself).ok();
    let pub_start = Instant::now();
    let pub_start_us = shared.now_us();
    let mut pub_deadline = deadline;
    if cfg.rate > 0.0 && cfg.duration_s > 0.0 {
        pub_deadline = pub_deadline.min(pub_start + Duration::from_secs_f64(cfg.duration_s + 2.0));
    }
    let plan = Arc::new(PubPlan {
        next_seq: AtomicU64::new(0),
        total: if timed_out { 0 } else { events },
        batch: cfg.batch.max(1) as u64,
        rate: cfg.rate,
        start: pub_start,
        deadline: pub_deadline,
    });
    let mut pubs = JoinSet::new();
    for _ in 0..cfg.in_flight.max(1) {
        let conn = PubConn {
            addr,
            stream: None,
            rbuf: vec![0u8; 4096],
            parser: ResponseParser::new(),
        };
        pubs.spawn(publisher(conn, tpl.clone(), plan.clone(), shared.clone()));
    }
    let mut ps = PubStats::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, pubs.join_next()).await {
            Ok(Some(Ok(s))) => {
                ps.events_ok += s.events_ok;
                ps.requests += s.requests;
                ps.errors += s.errors;
                ps.body_bytes += s.body_bytes;
            }
            Ok(Some(Err(e))) => shared.note_error(format!("publisher task: {e}")),
            Ok(None) => break,
            Err(_) => {
                timed_out = true;
                pubs.abort_all();
                break;
            }
        }
    }
    let pub_end_us = shared.now_us();
    let publish_duration = pub_start.elapsed();

    // Settle (on the clients that keep up).
    let expected = ps.events_ok * connected as u64;
    let fast = connected - shared.slow_connected.load(Ordering::Relaxed);
    let fast_expected = ps.events_ok * fast as u64;
    loop {
        if shared.distinct.load(Ordering::Relaxed) >= fast_expected {
            break;
        }
        let last = shared.last_recv_us.load(Ordering::Relaxed).max(pub_end_us);
        if shared.now_us().saturating_sub(last) > cfg.settle_ms * 1000 {
            break;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cpu_after = read_server(cfg.server_pid, procstat::cpu_time_us);
    let self_cpu_after = procstat::cpu_time_us(Proc::Myself).ok();
    let last_recv_us = shared.last_recv_us.load(Ordering::Relaxed);

    // Stop and collect.
    // Dropping the senders completes every client's stop receiver.
    drop(stops);
    let mut merged = Histogram::<u64>::new(2)?;
    let mut merged_arrival = Histogram::<u64>::new(2)?;
    let mut rep = LoadReport {
        url: cfg.url.clone(),
        clients_requested: cfg.clients,
        clients_connected: connected,
        connect_time_ms: connect_time.as_millis() as u64,
        events_planned: events,
        events_published: ps.events_ok,
        publish_requests: ps.requests,
        publish_errors: ps.errors,
        publish_body_bytes: ps.body_bytes,
        payload_bytes: cfg.payload as u64,
        publish_duration_ms: publish_duration.as_millis() as u64,
        publish_rate_per_s: ps.events_ok as f64 / publish_duration.as_secs_f64().max(1e-6),
        deliveries_expected: expected,
        timed_out,
        ..LoadReport::default()
    };
    let mut per_client: Vec<u64> = Vec::with_capacity(cfg.clients);
    let collect_deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(collect_deadline, clients.join_next()).await {
            Ok(Some(Ok(r))) => {
                if !r.connected {
                    continue;
                }
                rep.deliveries_received += r.received;
                rep.deliveries_distinct += r.distinct;
                rep.duplicated += r.duplicated;
                rep.unknown_events += r.unknown;
                rep.bytes_received += r.bytes;
                if r.ended_early {
                    rep.clients_disconnected += 1;
                }
                if r.slow {
                    rep.slow_clients += 1;
                    rep.slow_disconnected += u64::from(r.ended_early);
                    rep.slow_events += r.distinct;
                } else {
                    rep.fast_disconnected += u64::from(r.ended_early);
                    rep.fast_missing += ps.events_ok.saturating_sub(r.distinct);
                }
                per_client.push(r.distinct);
                if let Some(h) = &r.hist {
                    merged.add(h)?;
                }
                if let Some(h) = &r.arrival_hist {
                    merged_arrival.add(h)?;
                }
            }
            Ok(Some(Err(_))) => {}
            Ok(None) => break,
            Err(_) => {
                clients.abort_all();
                break;
            }
        }
    }
    rep.missing = expected.saturating_sub(rep.deliveries_distinct);
    if !per_client.is_empty() {
        rep.events_per_client_min = per_client.iter().copied().min().unwrap_or(0);
        rep.events_per_client_max = per_client.iter().copied().max().unwrap_or(0);
        rep.events_per_client_avg = per_client.iter().sum::<u64>() as f64 / per_client.len() as f64;
    }
    if last_recv_us > pub_start_us {
        let window = (last_recv_us - pub_start_us) as f64 / 1e6;
        rep.delivery_window_ms = (window * 1000.0) as u64;
        rep.throughput_per_s = rep.deliveries_distinct as f64 / window;
    }
    rep.latency_us = LatencySummary::of(&merged);
    rep.arrival_latency_us = LatencySummary::of(&merged_arrival);
    if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
        let cpu = b.saturating_sub(a);
        rep.server_cpu_us = Some(cpu);
        if rep.deliveries_distinct > 0 {
            rep.server_cpu_us_per_delivery = Some(cpu as f64 / rep.deliveries_distinct as f64);
        }
    }
    if let (Some(a), Some(b)) = (self_cpu_before, self_cpu_after) {
        rep.loadgen_cpu_us = Some(b.saturating_sub(a));
    }
    rep.server_rss_before_kib = rss_before;
    rep.server_rss_connected_kib = rss_after;
    if let (Some(a), Some(b)) = (rss_before, rss_after) {
        if connected > 0 {
            rep.rss_per_connection_kib = Some((b as f64 - a as f64) / connected as f64);
        }
    }
    rep.first_error = shared
        .first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(rep)
}

fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

mod publisher;
#[cfg(test)]
mod tests;

use publisher::{publisher, PubConn, PubPlan, PubStats, Template};
