//! Prometheus exposition of a hub's counters (feature `prometheus`).
//!
//! The hub keeps plain atomic counters and forces no global registry on
//! library users: [`HubCollector`] reads them at scrape time and encodes them
//! through `prometheus-client`, which escapes label values. Label cardinality
//! is bounded: no per-connection or per-topic labels, only fixed reasons.
//!
//! ```
//! use prometheus_client::registry::Registry;
//! use sse_hub::{metrics::HubCollector, Config, Hub};
//!
//! let hub = Hub::new(Config::new()).unwrap();
//! let mut registry = Registry::default();
//! registry.register_collector(Box::new(HubCollector::new(hub)));
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
//! assert!(text.contains("sse_hub_connections 0"));
//! ```

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::hub::LATENCY_BUCKETS_US;
use crate::Hub;

/// Reads a hub's counters on every scrape.
#[derive(Debug, Clone)]
pub struct HubCollector {
    hub: Hub,
}

impl HubCollector {
    /// A collector for `hub`.
    pub fn new(hub: Hub) -> Self {
        Self { hub }
    }
}

fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    encoder
        .encode_descriptor(name, help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&value, None)
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: i64,
) -> std::fmt::Result {
    encoder
        .encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&value)
}

impl Collector for HubCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let stats = self.hub.stats(false);
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        gauge(
            &mut encoder,
            "sse_hub_connections",
            "Open SSE connections.",
            as_i64(stats.connections),
        )?;
        gauge(
            &mut encoder,
            "sse_hub_connections_paused",
            "Paused connections.",
            as_i64(stats.paused),
        )?;
        gauge(
            &mut encoder,
            "sse_hub_draining",
            "1 while the hub drains.",
            i64::from(stats.draining),
        )?;
        encoder
            .encode_descriptor(
                "sse_hub_queue_saturation",
                "Connection queue saturation (0..1) across connections.",
                None,
                MetricType::Gauge,
            )
            .and_then(|mut metric| {
                metric
                    .encode_family(&[("stat", "avg")])?
                    .encode_gauge(&stats.queue_saturation_avg)?;
                metric
                    .encode_family(&[("stat", "max")])?
                    .encode_gauge(&stats.queue_saturation_max)
            })?;
        counter(
            &mut encoder,
            "sse_hub_events_published",
            "Events published.",
            stats.published,
        )?;
        counter(
            &mut encoder,
            "sse_hub_events_delivered",
            "Events written to connections.",
            stats.delivered,
        )?;
        counter(
            &mut encoder,
            "sse_hub_writes",
            "Chunks written to connections (events per write = delivered / writes).",
            stats.writes,
        )?;
        counter(
            &mut encoder,
            "sse_hub_direct_writes",
            "Writes made for a parked stream without waking its task.",
            stats.direct_writes,
        )?;
        counter(
            &mut encoder,
            "sse_hub_events_expired",
            "Events dropped because their TTL passed.",
            stats.expired,
        )?;
        let mut dropped = encoder.encode_descriptor(
            "sse_hub_events_dropped",
            "Events not delivered, by reason.",
            None,
            MetricType::Counter,
        )?;
        for (reason, value) in [
            ("queue_full", stats.dropped.queue_full),
            ("paused_overflow", stats.dropped.paused_overflow),
            ("overflow_disconnect", stats.dropped.overflow_disconnects),
            ("write_timeout", stats.dropped.write_timeouts),
        ] {
            dropped
                .encode_family(&[("reason", reason)])?
                .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
        }
        counter(
            &mut encoder,
            "sse_hub_overflow_repeats",
            "Connections cut for overflow again after reconnecting, before catching up (their retry grew).",
            stats.dropped.overflow_repeats,
        )?;
        counter(
            &mut encoder,
            "sse_hub_connects",
            "Connections accepted.",
            stats.connects,
        )?;
        counter(
            &mut encoder,
            "sse_hub_disconnects",
            "Connections closed.",
            stats.disconnects,
        )?;
        let mut by_reason = encoder.encode_descriptor(
            "sse_hub_disconnects_by_reason",
            "Connections closed, by reason.",
            None,
            MetricType::Counter,
        )?;
        for (reason, value) in stats.disconnects_by_reason.pairs() {
            by_reason
                .encode_family(&[("reason", reason)])?
                .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
        }
        counter(
            &mut encoder,
            "sse_hub_turned_away",
            "Subscribers turned away (draining or at the cap).",
            stats.turned_away,
        )?;
        counter(
            &mut encoder,
            "sse_hub_rejected",
            "Subscribers rejected (auth or invalid request).",
            stats.rejected,
        )?;
        counter(
            &mut encoder,
            "sse_hub_auth_expired",
            "Connections closed because their credential expired.",
            stats.auth_expired,
        )?;
        counter(
            &mut encoder,
            "sse_hub_replay_requests",
            "Reconnects asking for replay.",
            stats.replay.requests,
        )?;
        counter(
            &mut encoder,
            "sse_hub_replay_hits",
            "Replays whose id was found.",
            stats.replay.hits,
        )?;
        counter(
            &mut encoder,
            "sse_hub_replay_events",
            "Events sent by replay.",
            stats.replay.events,
        )?;
        counter(
            &mut encoder,
            "sse_hub_replay_gaps",
            "resync events sent.",
            stats.replay.gaps,
        )?;

        let (buckets, sum_us) = self.hub.latency().snapshot();
        let count: u64 = buckets.iter().map(|(_, n)| n).sum();
        let buckets: Vec<(f64, u64)> = buckets
            .iter()
            .map(|(bound, n)| (bound.map_or(f64::INFINITY, |us| us as f64 / 1e6), *n))
            .collect();
        debug_assert_eq!(buckets.len(), LATENCY_BUCKETS_US.len() + 1);
        encoder
            .encode_descriptor(
                "sse_hub_publish_to_write_seconds",
                "Time from publish to the event being handed to the connection's writer.",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabelSet>(sum_us as f64 / 1e6, count, &buckets, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Connecting, Event};
    use futures_util::StreamExt;
    use prometheus_client::registry::Registry;

    #[tokio::test]
    async fn exposes_counters_and_latency() {
        let hub = Hub::new(Config::new()).unwrap();
        let mut stream = hub
            .subscribe(Connecting::new().with_topics(["t"]))
            .await
            .unwrap();
        stream.next().await.unwrap();
        hub.publish(Event::new("x").topic("t")).unwrap();
        stream.next().await.unwrap();
        let mut registry = Registry::default();
        registry.register_collector(Box::new(HubCollector::new(hub)));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "sse_hub_connections 1",
            "sse_hub_events_published_total 1",
            "sse_hub_events_delivered_total 1",
            "sse_hub_events_dropped_total{reason=\"queue_full\"} 0",
            "sse_hub_publish_to_write_seconds_count 1",
            "sse_hub_queue_saturation{stat=\"max\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}
