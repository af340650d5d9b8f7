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

mod scenarios;

pub use scenarios::{s10_load, s8_load, s9_load, S9_PAYLOAD, S9_RATE};
use scenarios::{Scenario, SCENARIOS};

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
