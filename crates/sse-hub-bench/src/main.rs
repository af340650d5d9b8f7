//! `sse-hub-bench`: baseline server, load generator and comparison suite.

use anyhow::Result;
use clap::{Parser, Subcommand};
use sse_hub_bench::{baseline, load, suite};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(version, about = "Load generator and peer baseline for sse-hub")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the hand-written axum + broadcast baseline SSE server.
    Baseline {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
    },
    /// Run one load test against a server.
    Load(LoadArgs),
    /// Run scenarios S1–S5 and S8–S10 against sse-hub and the baseline; print a table.
    Suite(SuiteArgs),
}

#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// Server base URL (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// SSE clients.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Events to publish (0 with --rate and --duration-s: rate × duration).
    #[arg(long, default_value_t = 1000)]
    events: u64,
    /// Events per second (0 = as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Publish requests in flight.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Events per publish request (JSON array when > 1).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Event data size in bytes.
    #[arg(long, default_value_t = 64)]
    payload: usize,
    /// Topic.
    #[arg(long, default_value = "bench")]
    topic: String,
    /// sse-hub priority lane: instant, batched or coalesced.
    #[arg(long)]
    priority: Option<String>,
    /// sse-hub coalesce key.
    #[arg(long)]
    coalesce_key: Option<String>,
    /// Publishing duration in seconds (rate mode).
    #[arg(long, default_value_t = 0.0)]
    duration_s: f64,
    /// Server pid for CPU / RSS figures.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Stop waiting this long after the last received event.
    #[arg(long, default_value_t = 2000)]
    settle_ms: u64,
    /// Hard stop for the whole run, seconds.
    #[arg(long, default_value_t = 60.0)]
    timeout_s: f64,
    /// Connections opened at once (above ~128 SYNs get dropped on loopback
    /// and retried after 1 s).
    #[arg(long, default_value_t = 128)]
    connect_concurrency: usize,
    /// Pause after all clients connected (ms).
    #[arg(long, default_value_t = 200)]
    ready_wait_ms: u64,
    /// Of the clients, how many read slowly (small receive buffer, at most
    /// --slow-read-bps).
    #[arg(long, default_value_t = 0)]
    slow_clients: usize,
    /// Read rate of each slow client, bytes per second.
    #[arg(long, default_value_t = 0)]
    slow_read_bps: u64,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

impl LoadArgs {
    fn into_config(self) -> load::LoadConfig {
        load::LoadConfig {
            url: self.url,
            clients: self.clients,
            events: self.events,
            rate: self.rate,
            in_flight: self.in_flight,
            batch: self.batch,
            payload: self.payload,
            topic: self.topic,
            priority: self.priority,
            coalesce_key: self.coalesce_key,
            duration_s: self.duration_s,
            server_pid: self.server_pid,
            settle_ms: self.settle_ms,
            timeout_s: self.timeout_s,
            connect_concurrency: self.connect_concurrency,
            ready_wait_ms: self.ready_wait_ms,
            slow_clients: self.slow_clients,
            slow_read_bps: self.slow_read_bps,
        }
    }
}

#[derive(Debug, clap::Args)]
struct SuiteArgs {
    /// sse-hub server binary.
    #[arg(long, env = "SSE_HUB_BIN", default_value = "target/release/sse-hub")]
    sse_hub_bin: PathBuf,
    /// Comma-separated scenarios to run, e.g. S1,S3.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Multiply client counts by this (e.g. 0.1 for a quick run).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// sse-hub --flush-interval-ms (coalesced lane flush period).
    #[arg(long, default_value_t = 2000)]
    flush_interval_ms: u64,
    /// sse-hub --max-connections.
    #[arg(long, default_value_t = 25_000)]
    max_connections: u64,
    /// Whole-suite time budget, seconds.
    #[arg(long, default_value_t = 570.0)]
    budget_s: f64,
    /// Directory for server logs.
    #[arg(long, default_value = "/tmp/sse-hub-bench-logs")]
    log_dir: PathBuf,
    /// Also write all reports as JSON to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Share every CPU between server and load generator in the latency
    /// scenario (S2) instead of giving the load generator its own CPU.
    #[arg(long)]
    no_isolate: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Baseline { listen } => {
            let _ = sse_hub_bench::procstat::raise_nofile_limit();
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            eprintln!("baseline listening on {}", listener.local_addr()?);
            baseline::serve(listener).await
        }
        Cmd::Load(a) => {
            let json = a.json;
            let cfg = a.into_config();
            let rep = load::run(&cfg).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rep)?);
            } else {
                print!("{}", rep.to_text());
            }
            Ok(())
        }
        Cmd::Suite(a) => {
            let cfg = suite::SuiteConfig {
                sse_hub_bin: a.sse_hub_bin,
                self_exe: std::env::current_exe()?,
                only: a.only,
                scale: a.scale,
                flush_interval_ms: a.flush_interval_ms,
                max_connections: a.max_connections,
                budget_s: a.budget_s,
                log_dir: a.log_dir,
                json_out: a.json_out,
                isolate: !a.no_isolate,
            };
            suite::run(&cfg).await.map(|_| ())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]
    use super::*;

    fn parsed(cfg: &load::LoadConfig) -> load::LoadConfig {
        let args = std::iter::once("sse-hub-bench".to_owned())
            .chain(std::iter::once("load".to_owned()))
            .chain(cfg.to_args());
        match Cli::parse_from(args).cmd {
            Cmd::Load(a) => a.into_config(),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn load_config_round_trips_through_its_arguments() {
        let plain = load::LoadConfig::default();
        assert_eq!(parsed(&plain), plain);
        let full = load::LoadConfig {
            url: "http://127.0.0.1:1234".into(),
            clients: 7,
            events: 0,
            rate: 12.5,
            in_flight: 3,
            batch: 9,
            payload: 100,
            topic: "a/b c".into(),
            priority: Some("coalesced".into()),
            coalesce_key: Some("progress".into()),
            duration_s: 1.25,
            server_pid: Some(42),
            settle_ms: 11,
            timeout_s: 3.5,
            connect_concurrency: 5,
            ready_wait_ms: 6,
            slow_clients: 2,
            slow_read_bps: 1000,
        };
        assert_eq!(parsed(&full), full);
    }
}
