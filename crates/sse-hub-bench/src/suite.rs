//! The comparison suite: runs the scenarios S1–S5 and S8–S10 against sse-hub
//! and the baseline (each as a fresh child process per scenario) and prints
//! one markdown table.

use crate::isolate::CpuSplit;
use crate::load::{self, LoadConfig};
use crate::procstat;
use crate::report::{markdown_table, Cell, LoadReport, Row};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Suite options.
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    /// Path of the sse-hub server binary.
    pub sse_hub_bin: PathBuf,
    /// Path of this binary (runs the baseline via `baseline --listen`).
    pub self_exe: PathBuf,
    /// Scenario ids to run (`S1`…`S5`, `S8`, `S9`, `S9d`, `S10`, `S10b`);
    /// empty = all.
    pub only: Vec<String>,
    /// Multiplier applied to client counts.
    pub scale: f64,
    /// sse-hub `--flush-interval-ms` (the coalesced lane flush period).
    pub flush_interval_ms: u64,
    /// sse-hub `--max-connections`.
    pub max_connections: u64,
    /// Whole-suite time budget in seconds; scenarios that would not fit are
    /// skipped.
    pub budget_s: f64,
    /// Directory for server logs.
    pub log_dir: PathBuf,
    /// Write every load report as JSON to this file.
    pub json_out: Option<PathBuf>,
    /// Run latency scenarios with the load generator on its own CPU (see
    /// [`crate::isolate`]); `false` shares every CPU between both.
    pub isolate: bool,
}

/// Which server a run targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// The sse-hub server binary.
    SseHub,
    /// This crate's hand-written axum baseline.
    Baseline,
}

impl Server {
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Server::SseHub => "sse-hub",
            Server::Baseline => "baseline",
        }
    }
}

/// One figure extracted from a load report.
type Figure = (&'static str, fn(&LoadReport, &SuiteConfig) -> Option<f64>);

/// A scenario: its load, its time bound and the figures it reports.
#[derive(Debug)]
struct Scenario {
    id: &'static str,
    title: &'static str,
    timeout_s: f64,
    /// Runs per server, alternating which server goes first; each figure is
    /// the median over the rounds. More than one where a figure is a tail
    /// (p99) that moves ±30 % between single runs on this shared machine.
    rounds: usize,
    /// A latency scenario: the load generator runs on its own CPU and the
    /// server on the others, when the machine allows it.
    isolated: bool,
    /// Extra sse-hub arguments for this scenario.
    hub_args: &'static [&'static str],
    figures: &'static [Figure],
}

/// Publish rate of S9, events per second.
pub const S9_RATE: f64 = 2000.0;

/// Data bytes per S9 event: large enough that the slow reader's backlog
/// outgrows what the kernel's socket buffers absorb on loopback (several
/// MiB) within the run.
pub const S9_PAYLOAD: usize = 1024;

/// Bytes an event adds on the wire beyond its data (`event:`, `id:`,
/// `data:` lines, chunk framing), about.
const EVENT_WIRE_OVERHEAD: f64 = 50.0;

/// The load of S8 (high-rate feed: `clients` clients, `events` events at
/// maximum speed, 8 publish requests in flight).
pub fn s8_load(base: LoadConfig, clients: usize, events: u64) -> LoadConfig {
    LoadConfig {
        clients,
        events,
        rate: 0.0,
        in_flight: 8,
        payload: 64,
        settle_ms: 2000,
        ..base
    }
}

/// The load of S9 (one slow reader among fast ones: `clients` clients, one
/// of which reads at a tenth of the publish rate, `rate` events/s of
/// `payload` bytes for `duration_s`).
pub fn s9_load(
    base: LoadConfig,
    clients: usize,
    rate: f64,
    duration_s: f64,
    payload: usize,
) -> LoadConfig {
    LoadConfig {
        clients,
        events: 0,
        rate,
        duration_s,
        in_flight: 4,
        payload,
        settle_ms: 2000,
        slow_clients: 1,
        slow_read_bps: (rate / 10.0 * (payload as f64 + EVENT_WIRE_OVERHEAD)) as u64,
        ..base
    }
}

/// The load of S10 (publish ingestion: `events` events in requests of
/// `batch`, 8 in flight, one subscriber).
pub fn s10_load(base: LoadConfig, events: u64, batch: usize) -> LoadConfig {
    LoadConfig {
        clients: 1,
        events,
        rate: 0.0,
        batch,
        in_flight: 8,
        payload: 64,
        settle_ms: 1000,
        ..base
    }
}

fn scaled(n: usize, scale: f64) -> usize {
    ((n as f64 * scale).round() as usize).max(1)
}

impl Scenario {
    fn load(&self, cfg: &SuiteConfig, server: Server, url: String, pid: u32) -> LoadConfig {
        let base = LoadConfig {
            url,
            server_pid: Some(pid),
            timeout_s: self.timeout_s,
            topic: "bench".into(),
            ..LoadConfig::default()
        };
        match self.id {
            "S1" => LoadConfig {
                clients: scaled(1000, cfg.scale),
                events: 2000,
                payload: 64,
                rate: 0.0,
                in_flight: 4,
                settle_ms: 2000,
                ..base
            },
            "S2" => LoadConfig {
                clients: scaled(1000, cfg.scale),
                events: 0,
                rate: 100.0,
                duration_s: 10.0,
                payload: 64,
                in_flight: 2,
                settle_ms: 2000,
                ..base
            },
            "S3" => LoadConfig {
                clients: scaled(10_000, cfg.scale),
                events: 0,
                ready_wait_ms: 1000,
                settle_ms: 0,
                ..base
            },
            "S4" => LoadConfig {
                clients: scaled(19_000, cfg.scale),
                events: 100,
                rate: 20.0,
                payload: 64,
                in_flight: 1,
                settle_ms: 3000,
                ..base
            },
            "S8" => s8_load(base, scaled(10, cfg.scale), 100_000),
            "S9" | "S9d" => s9_load(base, scaled(100, cfg.scale), S9_RATE, 4.0, S9_PAYLOAD),
            "S10" => s10_load(base, 100_000, 1),
            "S10b" => s10_load(base, 1_000_000, 100),
            _ => LoadConfig {
                clients: scaled(1000, cfg.scale),
                events: 0,
                rate: 50_000.0,
                duration_s: 5.0,
                batch: 500,
                in_flight: 2,
                payload: 64,
                priority: Some("coalesced".into()),
                coalesce_key: Some("progress".into()),
                settle_ms: match server {
                    Server::SseHub => cfg.flush_interval_ms + 1500,
                    Server::Baseline => 2000,
                },
                ..base
            },
        }
    }
}

fn per_client_bytes(r: &LoadReport) -> Option<f64> {
    (r.clients_connected > 0).then(|| r.bytes_received as f64 / r.clients_connected as f64)
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        id: "S1",
        title: "S1 fan-out (1k clients × 2k events, 64 B, max rate)",
        timeout_s: 60.0,
        rounds: 1,
        isolated: false,
        hub_args: &[],
        figures: &[
            ("server CPU µs / delivery", |r, _| {
                r.server_cpu_us_per_delivery
            }),
            ("throughput (deliveries/s)", |r, _| Some(r.throughput_per_s)),
            ("deliveries missing", |r, _| Some(r.missing as f64)),
        ],
    },
    Scenario {
        id: "S2",
        title: "S2 latency (1k clients, 100 ev/s, 10 s, median of 5 alternating runs)",
        timeout_s: 25.0,
        rounds: 5,
        isolated: true,
        hub_args: &[],
        figures: &[
            ("latency to arrival p50 (ms)", |r, _| {
                r.arrival_latency_us.map(|l| l.p50 as f64 / 1000.0)
            }),
            ("latency to arrival p99 (ms)", |r, _| {
                r.arrival_latency_us.map(|l| l.p99 as f64 / 1000.0)
            }),
            ("latency to read p99 (ms)", |r, _| {
                r.latency_us.map(|l| l.p99 as f64 / 1000.0)
            }),
            ("server CPU µs / delivery", |r, _| {
                r.server_cpu_us_per_delivery
            }),
            ("deliveries missing", |r, _| Some(r.missing as f64)),
        ],
    },
    Scenario {
        id: "S3",
        title: "S3 idle memory (10k connections)",
        timeout_s: 45.0,
        rounds: 1,
        isolated: false,
        hub_args: &[],
        figures: &[
            ("RSS per idle connection (KiB)", |r, _| {
                r.rss_per_connection_kib
            }),
            ("connections open", |r, _| Some(r.clients_connected as f64)),
        ],
    },
    Scenario {
        id: "S4",
        title: "S4 scale (19k connections, 100 events at 20/s)",
        timeout_s: 90.0,
        rounds: 1,
        isolated: false,
        hub_args: &[],
        figures: &[
            ("connections open", |r, _| Some(r.clients_connected as f64)),
            ("deliveries missing (must be 0)", |r, _| {
                Some(r.missing as f64)
            }),
            ("latency p99 (ms)", |r, _| {
                r.latency_us.map(|l| l.p99 as f64 / 1000.0)
            }),
        ],
    },
    Scenario {
        id: "S5",
        title: "S5 coalescing (1k clients, 1 key, 50k updates/s, 5 s)",
        timeout_s: 35.0,
        rounds: 1,
        isolated: false,
        hub_args: &[],
        figures: &[
            ("updates published", |r, _| Some(r.events_published as f64)),
            ("events delivered per client", |r, _| {
                Some(r.events_per_client_avg)
            }),
            ("sse-hub budget per client (5 s / flush + 2)", |_, c| {
                Some(5000.0 / c.flush_interval_ms as f64 + 2.0)
            }),
            ("KiB delivered per client", |r, _| {
                per_client_bytes(r).map(|b| b / 1024.0)
            }),
            ("KiB published", |r, _| {
                Some(r.publish_body_bytes as f64 / 1024.0)
            }),
            ("delivered / published bytes (per client)", |r, _| {
                per_client_bytes(r)
                    .filter(|_| r.publish_body_bytes > 0)
                    .map(|b| b / r.publish_body_bytes as f64)
            }),
        ],
    },
    Scenario {
        id: "S8",
        title: "S8 high-rate feed (10 clients, 100k events, max speed, median of 3)",
        timeout_s: 60.0,
        rounds: 3,
        isolated: false,
        hub_args: &[],
        figures: &[
            ("deliveries missing (must be 0)", |r, _| Some(r.missing as f64)),
            ("clients disconnected (must be 0)", |r, _| {
                Some(r.clients_disconnected as f64)
            }),
            ("throughput (deliveries/s)", |r, _| Some(r.throughput_per_s)),
            ("events accepted/s", |r, _| Some(r.publish_rate_per_s)),
            ("server CPU µs / delivery", |r, _| {
                r.server_cpu_us_per_delivery
            }),
        ],
    },
    Scenario {
        id: "S9",
        title: "S9 one slow reader (100 clients, 2k events/s of 1 KiB, 4 s, one reads at 1/10; --overflow disconnect)",
        timeout_s: 30.0,
        rounds: 1,
        isolated: false,
        hub_args: &["--overflow", "disconnect"],
        figures: S9_FIGURES,
    },
    Scenario {
        id: "S9d",
        title: "S9d one slow reader, --overflow drop",
        timeout_s: 30.0,
        rounds: 1,
        isolated: false,
        hub_args: &["--overflow", "drop"],
        figures: S9_FIGURES,
    },
    Scenario {
        id: "S10",
        title: "S10 publish ingestion, single events (100k, 8 in flight, median of 3)",
        timeout_s: 60.0,
        rounds: 3,
        isolated: false,
        hub_args: &[],
        figures: &[
            ("events accepted/s", |r, _| Some(r.publish_rate_per_s)),
            ("publish errors", |r, _| Some(r.publish_errors as f64)),
        ],
    },
    Scenario {
        id: "S10b",
        title: "S10b publish ingestion, arrays of 100 (1M events, 8 in flight, median of 3)",
        timeout_s: 60.0,
        rounds: 3,
        isolated: false,
        hub_args: &[],
        figures: &[
            ("events accepted/s", |r, _| Some(r.publish_rate_per_s)),
            ("publish errors", |r, _| Some(r.publish_errors as f64)),
        ],
    },
];

const S9_FIGURES: &[Figure] = &[
    ("other clients: events missing (must be 0)", |r, _| {
        Some(r.fast_missing as f64)
    }),
    ("other clients: disconnected (must be 0)", |r, _| {
        Some(r.fast_disconnected as f64)
    }),
    ("slow reader: disconnected", |r, _| {
        Some(r.slow_disconnected as f64)
    }),
    ("slow reader: events read", |r, _| {
        Some(r.slow_events as f64)
    }),
    ("events published", |r, _| Some(r.events_published as f64)),
];

/// Outcome of one (scenario, server) run.
#[derive(Debug)]
enum Outcome {
    Done(Box<LoadReport>),
    Failed(String),
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn log_tail(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// A command for `program`, confined to `cpus` through `taskset` when given
/// (`taskset` execs the program, so the child's pid is the program's).
fn command_on(cpus: Option<&str>, program: &Path) -> Command {
    match cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpus).arg(program);
            c
        }
        None => Command::new(program),
    }
}

async fn start_server(
    cfg: &SuiteConfig,
    server: Server,
    scenario: &str,
    cpus: Option<&str>,
) -> Result<(Child, u16)> {
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let hub_args = SCENARIOS
        .iter()
        .find(|s| s.id == scenario)
        .map_or(&[][..], |s| s.hub_args);
    let mut cmd = match server {
        Server::SseHub => {
            let mut c = command_on(cpus, &cfg.sse_hub_bin);
            c.args(hub_args)
                .arg("--listen")
                .arg(&listen)
                .arg("--flush-interval-ms")
                .arg(cfg.flush_interval_ms.to_string())
                .arg("--max-connections")
                .arg(cfg.max_connections.to_string());
            c
        }
        Server::Baseline => {
            let mut c = command_on(cpus, &cfg.self_exe);
            c.arg("baseline").arg("--listen").arg(&listen);
            c
        }
    };
    std::fs::create_dir_all(&cfg.log_dir)?;
    let log_path = cfg
        .log_dir
        .join(format!("{}-{}.log", server.name(), scenario));
    let log = std::fs::File::create(&log_path)?;
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", server.name()))?;
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait()? {
            bail!(
                "{} exited at start ({st}); log {}:\n{}",
                server.name(),
                log_path.display(),
                log_tail(&log_path)
            );
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok((child, port));
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = child.kill().await;
            bail!(
                "{} did not accept connections within 10 s; log {}:\n{}",
                server.name(),
                log_path.display(),
                log_tail(&log_path)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run_one(
    cfg: &SuiteConfig,
    sc: &Scenario,
    server: Server,
    split: Option<&CpuSplit>,
) -> Outcome {
    let (mut child, port) =
        match start_server(cfg, server, sc.id, split.map(|s| s.server.as_str())).await {
            Ok(x) => x,
            Err(e) => return Outcome::Failed(format!("{e:#}")),
        };
    let Some(pid) = child.id() else {
        return Outcome::Failed("server has no pid".into());
    };
    let lc = sc.load(cfg, server, format!("http://127.0.0.1:{port}"), pid);
    // The load run bounds itself; this outer bound catches a hang anyway.
    let hard = Duration::from_secs_f64(sc.timeout_s + 15.0);
    let run = async {
        match split {
            Some(split) => load_on_cpu(cfg, &lc, &split.loadgen, sc.id, server).await,
            None => load::run(&lc).await,
        }
    };
    let out = match tokio::time::timeout(hard, run).await {
        Ok(Ok(r)) => Outcome::Done(Box::new(r)),
        Ok(Err(e)) => Outcome::Failed(format!("{e:#}")),
        Err(_) => Outcome::Failed("hung (cut off)".into()),
    };
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    out
}

/// Runs the load generator as a child process confined to `cpu` and reads
/// its JSON report.
async fn load_on_cpu(
    cfg: &SuiteConfig,
    lc: &LoadConfig,
    cpu: &str,
    scenario: &str,
    server: Server,
) -> Result<LoadReport> {
    let log_path = cfg
        .log_dir
        .join(format!("loadgen-{}-{}.log", server.name(), scenario));
    let log = std::fs::File::create(&log_path)?;
    let out = command_on(Some(cpu), &cfg.self_exe)
        .arg("load")
        .args(lc.to_args())
        .arg("--json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .output()
        .await
        .context("starting the load generator")?;
    if !out.status.success() {
        bail!(
            "load generator exited with {}; log {}:\n{}",
            out.status,
            log_path.display(),
            log_tail(&log_path)
        );
    }
    serde_json::from_slice(&out.stdout).context("reading the load generator's JSON report")
}

/// The median of a figure over a server's runs, or why there is none.
fn cell(
    outs: Option<&[Outcome]>,
    f: fn(&LoadReport, &SuiteConfig) -> Option<f64>,
    cfg: &SuiteConfig,
) -> Cell {
    let Some(outs) = outs.filter(|o| !o.is_empty()) else {
        return Cell::Note("not run".into());
    };
    let mut values = Vec::with_capacity(outs.len());
    let mut timed_out = false;
    for out in outs {
        match out {
            Outcome::Failed(_) => return Cell::Note("failed".into()),
            Outcome::Done(r) => match f(r, cfg) {
                Some(v) => {
                    timed_out |= r.timed_out;
                    values.push(v);
                }
                None => return Cell::Note("n/a".into()),
            },
        }
    }
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    if timed_out {
        Cell::Note(format!("{median:.2} (timed out)"))
    } else {
        Cell::Value(median)
    }
}

/// Runs the suite and returns the markdown table (also printed to stdout).
pub async fn run(cfg: &SuiteConfig) -> Result<String> {
    let t0 = Instant::now();
    let nofile = procstat::raise_nofile_limit().unwrap_or(0);
    eprintln!("[suite] RLIMIT_NOFILE soft limit now {nofile}");
    let mut have_hub = cfg.sse_hub_bin.is_file();
    let mut hub_note = "no binary";
    if !have_hub {
        eprintln!(
            "[suite] sse-hub binary {} not found: skipping sse-hub (build it with `cargo build --release -p sse-hub-server`)",
            cfg.sse_hub_bin.display()
        );
    } else {
        // Probe once, so a binary that cannot serve is reported once.
        match start_server(cfg, Server::SseHub, "probe", None).await {
            Ok((mut child, _)) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
            Err(e) => {
                eprintln!("[suite] sse-hub unusable, skipping it: {e:#}");
                have_hub = false;
                hub_note = "unavailable";
            }
        }
    }
    let mut servers = Vec::new();
    if have_hub {
        servers.push(Server::SseHub);
    }
    servers.push(Server::Baseline);

    let wanted: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| cfg.only.is_empty() || cfg.only.iter().any(|o| o.eq_ignore_ascii_case(s.id)))
        .collect();
    let split = if cfg.isolate && wanted.iter().any(|s| s.isolated) {
        match CpuSplit::detect() {
            Ok(split) => {
                eprintln!(
                    "[suite] latency scenarios: server on CPU(s) {}, load generator on CPU {}",
                    split.server, split.loadgen
                );
                Some(split)
            }
            Err(why) => {
                eprintln!("[suite] latency scenarios share all CPUs (no split: {why})");
                None
            }
        }
    } else {
        None
    };
    let mut rows = Vec::new();
    let mut all_json = Vec::new();
    for sc in wanted {
        let sc_split = split.as_ref().filter(|_| sc.isolated);
        let mut outs: Vec<(Server, Vec<Outcome>)> =
            servers.iter().map(|&server| (server, Vec::new())).collect();
        for round in 0..sc.rounds {
            // Alternate who goes first so drift on the machine hits both.
            let order: Vec<usize> = if round % 2 == 0 {
                (0..outs.len()).collect()
            } else {
                (0..outs.len()).rev().collect()
            };
            for i in order {
                let server = outs[i].0;
                let left = cfg.budget_s - t0.elapsed().as_secs_f64();
                if left < sc.timeout_s + 20.0 {
                    eprintln!(
                        "[suite] {} on {}: skipped, {left:.0} s left of the suite budget",
                        sc.id,
                        server.name()
                    );
                    outs[i].1.push(Outcome::Failed("skipped (budget)".into()));
                    continue;
                }
                eprintln!(
                    "[suite] {} on {} (run {}) ...",
                    sc.title,
                    server.name(),
                    round + 1
                );
                let o = run_one(cfg, sc, server, sc_split).await;
                match &o {
                    Outcome::Done(r) => {
                        eprintln!("{}", indent(&r.to_text()));
                        all_json.push(serde_json::json!({
                            "scenario": sc.id, "server": server.name(), "round": round + 1, "report": r
                        }));
                    }
                    Outcome::Failed(e) => {
                        eprintln!("[suite] {} on {} FAILED: {e}", sc.id, server.name());
                        all_json.push(serde_json::json!({
                            "scenario": sc.id, "server": server.name(), "round": round + 1, "error": e
                        }));
                    }
                }
                outs[i].1.push(o);
            }
        }
        let get = |s: Server| {
            outs.iter()
                .find(|(k, _)| *k == s)
                .map(|(_, o)| o.as_slice())
        };
        if sc.rounds > 1 {
            for (figure, f) in sc.figures {
                let values = |s: Server| -> Vec<String> {
                    get(s)
                        .unwrap_or_default()
                        .iter()
                        .map(|o| match o {
                            Outcome::Done(r) => {
                                f(r, cfg).map_or("n/a".into(), |v| format!("{v:.2}"))
                            }
                            Outcome::Failed(_) => "failed".into(),
                        })
                        .collect()
                };
                eprintln!(
                    "[suite] {} {figure} per run: sse-hub {:?}, baseline {:?}",
                    sc.id,
                    values(Server::SseHub),
                    values(Server::Baseline)
                );
            }
        }
        for (figure, f) in sc.figures {
            let hub = if have_hub {
                match get(Server::SseHub) {
                    Some(o) if skipped(o) => Cell::Note("skipped".into()),
                    o => cell(o, *f, cfg),
                }
            } else {
                Cell::Note(hub_note.into())
            };
            let base = match get(Server::Baseline) {
                Some(o) if skipped(o) => Cell::Note("skipped".into()),
                o => cell(o, *f, cfg),
            };
            let base = if sc.id == "S5" && figure.starts_with("sse-hub budget") {
                Cell::Note("n/a".into())
            } else {
                base
            };
            rows.push(Row {
                scenario: sc.id.to_string(),
                figure: (*figure).to_string(),
                sse_hub: hub,
                baseline: base,
            });
        }
    }
    if let Some(p) = &cfg.json_out {
        std::fs::write(p, serde_json::to_string_pretty(&all_json)?)?;
    }
    let mut table = markdown_table(&rows);
    if let Some(split) = &split {
        table.push_str(&format!(
            "\nLatency scenarios ran with the server on CPU(s) {} and the load generator on CPU {}.\n",
            split.server, split.loadgen
        ));
    }
    eprintln!(
        "[suite] done in {:.0} s (scale {}, flush interval {} ms)",
        t0.elapsed().as_secs_f64(),
        cfg.scale,
        cfg.flush_interval_ms
    );
    println!("{table}");
    Ok(table)
}

fn skipped(outs: &[Outcome]) -> bool {
    outs.iter()
        .any(|o| matches!(o, Outcome::Failed(e) if e.starts_with("skipped")))
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn commands_run_on_the_cpus_they_are_given() {
        let Ok(split) = CpuSplit::detect() else {
            return; // one CPU or no taskset: nothing is confined
        };
        for cpus in [&split.loadgen, &split.server] {
            let out = command_on(Some(cpus), Path::new("sh"))
                .args(["-c", "grep Cpus_allowed_list /proc/self/status"])
                .output()
                .await
                .unwrap();
            let line = String::from_utf8_lossy(&out.stdout);
            let allowed = line.split(':').nth(1).map(str::trim).unwrap_or_default();
            assert_eq!(
                crate::isolate::parse_cpu_list(allowed),
                crate::isolate::parse_cpu_list(cpus),
                "{line}"
            );
        }
    }
}
