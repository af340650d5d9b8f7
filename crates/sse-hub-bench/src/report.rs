//! Reports: one load run's figures, and the suite's comparison table.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Latency percentiles, in µs (publish-time to client-read-time).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Maximum.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl LatencySummary {
    /// The summary of a histogram of µs values; `None` when it is empty.
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| Self {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
            mean: h.mean(),
        })
    }
}

/// Everything one load run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadReport {
    /// Server URL.
    pub url: String,
    /// SSE clients asked for.
    pub clients_requested: usize,
    /// SSE clients that got response headers.
    pub clients_connected: usize,
    /// Connected clients whose stream ended before the run stopped.
    pub clients_disconnected: u64,
    /// Time to open all clients, in ms.
    pub connect_time_ms: u64,
    /// Events the run planned to publish.
    pub events_planned: u64,
    /// Events accepted by the server (2xx).
    pub events_published: u64,
    /// Publish HTTP requests sent.
    pub publish_requests: u64,
    /// Publish requests that failed or got a non-2xx answer.
    pub publish_errors: u64,
    /// Total publish request body bytes.
    pub publish_body_bytes: u64,
    /// Data bytes per event.
    pub payload_bytes: u64,
    /// Time spent publishing, in ms.
    pub publish_duration_ms: u64,
    /// Events accepted per second of publishing (the ingestion rate).
    #[serde(default)]
    pub publish_rate_per_s: f64,
    /// Slow readers among the connected clients (see `LoadConfig::slow_clients`).
    #[serde(default)]
    pub slow_clients: u64,
    /// Slow readers whose stream ended before the run stopped.
    #[serde(default)]
    pub slow_disconnected: u64,
    /// Distinct events the slow readers received, together.
    #[serde(default)]
    pub slow_events: u64,
    /// The other clients' streams that ended before the run stopped.
    #[serde(default)]
    pub fast_disconnected: u64,
    /// Events the other clients never received, together.
    #[serde(default)]
    pub fast_missing: u64,
    /// `events_published × clients_connected`.
    pub deliveries_expected: u64,
    /// Bench events received, duplicates included.
    pub deliveries_received: u64,
    /// Distinct (client, event) deliveries.
    pub deliveries_distinct: u64,
    /// Expected deliveries never received.
    pub missing: u64,
    /// Events a client received more than once.
    pub duplicated: u64,
    /// Bench events whose payload could not be matched to a published event.
    pub unknown_events: u64,
    /// Bytes read by all clients (HTTP framing included).
    pub bytes_received: u64,
    /// Distinct events per connected client: minimum.
    pub events_per_client_min: u64,
    /// Distinct events per connected client: mean.
    pub events_per_client_avg: f64,
    /// Distinct events per connected client: maximum.
    pub events_per_client_max: u64,
    /// Publish start to last received event, in ms.
    pub delivery_window_ms: u64,
    /// Distinct deliveries per second over the delivery window.
    pub throughput_per_s: f64,
    /// Latency percentiles, publish to the client's read of the event.
    pub latency_us: Option<LatencySummary>,
    /// Latency percentiles, publish to the event's arrival in the client's
    /// socket (kernel receive timestamp): what a client on its own CPU sees,
    /// without the load generator's own read queue.
    pub arrival_latency_us: Option<LatencySummary>,
    /// Server CPU time (user + system) from publish start to the end of the
    /// settle phase, in µs.
    pub server_cpu_us: Option<u64>,
    /// `server_cpu_us / deliveries_distinct`.
    pub server_cpu_us_per_delivery: Option<f64>,
    /// Server RSS before the clients connected, KiB.
    pub server_rss_before_kib: Option<u64>,
    /// Server RSS after the clients connected, KiB.
    pub server_rss_connected_kib: Option<u64>,
    /// `(rss_connected − rss_before) / clients_connected`, KiB.
    pub rss_per_connection_kib: Option<f64>,
    /// The load generator's own CPU time over the same window, µs.
    pub loadgen_cpu_us: Option<u64>,
    /// The hard timeout cut the run short.
    pub timed_out: bool,
    /// The first error seen, if any.
    pub first_error: Option<String>,
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| v.to_string())
}

impl LoadReport {
    /// A human-readable multi-line summary.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "target                 {}", self.url);
        let _ = writeln!(
            s,
            "clients                {} connected / {} requested ({} ms), {} disconnected early",
            self.clients_connected,
            self.clients_requested,
            self.connect_time_ms,
            self.clients_disconnected
        );
        let _ = writeln!(
            s,
            "published              {} / {} events in {} requests ({} errors) in {} ms, {} body bytes",
            self.events_published,
            self.events_planned,
            self.publish_requests,
            self.publish_errors,
            self.publish_duration_ms,
            self.publish_body_bytes
        );
        if self.slow_clients > 0 {
            let _ = writeln!(
                s,
                "slow readers           {} ({} disconnected, {} events read); others: {} disconnected, {} missing",
                self.slow_clients,
                self.slow_disconnected,
                self.slow_events,
                self.fast_disconnected,
                self.fast_missing
            );
        }
        let _ = writeln!(
            s,
            "ingestion              {:.0} events/s accepted",
            self.publish_rate_per_s
        );
        let _ = writeln!(
            s,
            "deliveries             expected {} received {} distinct {} missing {} duplicated {} unknown {}",
            self.deliveries_expected,
            self.deliveries_received,
            self.deliveries_distinct,
            self.missing,
            self.duplicated,
            self.unknown_events
        );
        let _ = writeln!(
            s,
            "per client             min {} avg {:.1} max {}",
            self.events_per_client_min, self.events_per_client_avg, self.events_per_client_max
        );
        let _ = writeln!(
            s,
            "throughput             {:.0} deliveries/s over {} ms",
            self.throughput_per_s, self.delivery_window_ms
        );
        for (name, l) in [
            ("latency to read (µs) ", &self.latency_us),
            ("latency to arrival   ", &self.arrival_latency_us),
        ] {
            if let Some(l) = l {
                let _ = writeln!(
                    s,
                    "{name}  p50 {} p90 {} p99 {} max {} mean {:.0} (n={})",
                    l.p50, l.p90, l.p99, l.max, l.mean, l.count
                );
            }
        }
        let _ = writeln!(
            s,
            "server cpu             {} µs, {} µs/delivery",
            opt(self.server_cpu_us),
            opt(self.server_cpu_us_per_delivery.map(|v| format!("{v:.3}")))
        );
        let _ = writeln!(
            s,
            "server rss             before {} KiB, connected {} KiB, {} KiB/connection",
            opt(self.server_rss_before_kib),
            opt(self.server_rss_connected_kib),
            opt(self.rss_per_connection_kib.map(|v| format!("{v:.2}")))
        );
        let _ = writeln!(s, "loadgen cpu            {} µs", opt(self.loadgen_cpu_us));
        let _ = writeln!(s, "bytes received         {}", self.bytes_received);
        if self.timed_out {
            let _ = writeln!(s, "TIMED OUT (hard timeout reached)");
        }
        if let Some(e) = &self.first_error {
            let _ = writeln!(s, "first error            {e}");
        }
        s
    }
}

/// One row of the suite's comparison table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Scenario label, e.g. `S1 fan-out`.
    pub scenario: String,
    /// What is measured, with its unit.
    pub figure: String,
    /// Value for sse-hub (None = not run / not available).
    pub sse_hub: Cell,
    /// Value for the baseline.
    pub baseline: Cell,
}

/// A table cell: a number, or a reason why there is none.
#[derive(Debug, Clone, Serialize)]
pub enum Cell {
    /// A measured value.
    Value(f64),
    /// No value, with the reason (skipped, timed out, failed...).
    Note(String),
}

impl Cell {
    fn render(&self) -> String {
        match self {
            Cell::Value(v) => fmt_num(*v),
            Cell::Note(n) => n.clone(),
        }
    }
}

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if (v == v.trunc() && a < 1e15) || a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Renders the suite table as markdown: scenario, figure, sse-hub, baseline,
/// ratio (sse-hub / baseline).
pub fn markdown_table(rows: &[Row]) -> String {
    let mut s = String::new();
    s.push_str("| scenario | figure | sse-hub | baseline | ratio (sse-hub/baseline) |\n");
    s.push_str("|---|---|---:|---:|---:|\n");
    for r in rows {
        let ratio = match (&r.sse_hub, &r.baseline) {
            (Cell::Value(a), Cell::Value(b)) if *b != 0.0 => format!("{:.2}", a / b),
            (Cell::Value(a), Cell::Value(_)) if *a == 0.0 => "=".to_owned(),
            _ => "–".to_owned(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            r.scenario,
            r.figure,
            r.sse_hub.render(),
            r.baseline.render(),
            ratio
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let rows = vec![
            Row {
                scenario: "S1".into(),
                figure: "cpu µs/delivery".into(),
                sse_hub: Cell::Value(0.5),
                baseline: Cell::Value(2.0),
            },
            Row {
                scenario: "S4".into(),
                figure: "missing".into(),
                sse_hub: Cell::Note("skipped".into()),
                baseline: Cell::Value(0.0),
            },
        ];
        let t = markdown_table(&rows);
        assert!(t.contains("| S1 | cpu µs/delivery | 0.500 | 2 | 0.25 |"));
        assert!(t.contains("| S4 | missing | skipped | 0 | – |"));
    }
}
