//! The scenarios: what each one loads, for how long, and the figures it
//! reports (S1–S5, S8–S10).

use super::{Server, SuiteConfig};
use crate::load::LoadConfig;
use crate::report::LoadReport;

/// One figure extracted from a load report.
pub(super) type Figure = (&'static str, fn(&LoadReport, &SuiteConfig) -> Option<f64>);

/// A scenario: its load, its time bound and the figures it reports.
#[derive(Debug)]
pub(super) struct Scenario {
    pub(super) id: &'static str,
    pub(super) title: &'static str,
    pub(super) timeout_s: f64,
    /// Runs per server, alternating which server goes first; each figure is
    /// the median over the rounds. More than one where a figure is a tail
    /// (p99) that moves ±30 % between single runs on this shared machine.
    pub(super) rounds: usize,
    /// A latency scenario: the load generator runs on its own CPU and the
    /// server on the others, when the machine allows it.
    pub(super) isolated: bool,
    /// Extra sse-hub arguments for this scenario.
    pub(super) hub_args: &'static [&'static str],
    pub(super) figures: &'static [Figure],
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
    pub(super) fn load(
        &self,
        cfg: &SuiteConfig,
        server: Server,
        url: String,
        pid: u32,
    ) -> LoadConfig {
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

pub(super) const SCENARIOS: &[Scenario] = &[
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
