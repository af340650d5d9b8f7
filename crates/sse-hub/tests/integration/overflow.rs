//! Overflow under `Overflow::Disconnect`: a reader that keeps up is never
//! cut, a reader that does not is cut with a `slow-consumer` goodbye, and a
//! client cut again during its replay backs off instead of looping.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use sse_hub::replay::MemoryReplayer;
use sse_hub::{Config, Connecting, Event, EventStream, Hub, Overflow, Priority};

use crate::common::hub;

fn config() -> Config {
    Config::new()
        .send_buffer_size(2)
        .overflow(Overflow::Disconnect)
        .retry(Duration::from_secs(1))
        .retry_jitter(0.0)
        .overflow_retry_max(Duration::from_secs(5))
        .replayer(Arc::new(MemoryReplayer::new(
            1000,
            Duration::from_secs(600),
        )))
}

fn publish(hub: &Hub, data: &str) -> String {
    hub.publish(Event::new("update").data(data).topic("t"))
        .unwrap()
        .id
        .to_string()
}

/// Reads the stream to its end; returns what it carried.
async fn read_to_end(mut stream: EventStream) -> String {
    let mut text = Vec::new();
    while let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
        text.extend_from_slice(&chunk);
    }
    String::from_utf8(text).unwrap()
}

/// The `strikes` and `retry_ms` of the stream's `slow-consumer` goodbye, and
/// the `retry:` line before it.
fn goodbye(text: &str) -> (u64, u64, u64) {
    let at = text
        .find("event: slow-consumer")
        .expect("a slow-consumer event");
    let retry: u64 = text[..at]
        .rsplit("retry: ")
        .next()
        .and_then(|rest| rest.lines().next())
        .unwrap()
        .parse()
        .unwrap();
    let data = text[at..]
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .unwrap();
    let data: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(data["reason"], "queue_full");
    (
        data["strikes"].as_u64().unwrap(),
        data["retry_ms"].as_u64().unwrap(),
        retry,
    )
}

#[tokio::test(start_paused = true)]
async fn a_client_cut_again_during_its_replay_backs_off() {
    let hub = hub(config());
    let mut stream = hub
        .subscribe(Connecting::new().with_topics(["t"]))
        .await
        .unwrap();
    let _preamble: Bytes = stream.next().await.unwrap();
    let mut resume = publish(&hub, "first");
    let first = stream.next().await.unwrap();
    assert!(String::from_utf8_lossy(&first).contains(&resume));
    // The client stops reading: three events overflow a queue of two.
    let mut retries = Vec::new();
    for round in 1..=5u64 {
        for n in 0..3 {
            publish(&hub, &format!("r{round}-{n}"));
        }
        let text = read_to_end(stream).await;
        let (strikes, retry_ms, retry) = goodbye(&text);
        assert_eq!(strikes, round, "{text}");
        assert_eq!(retry_ms, retry);
        retries.push(retry);
        // Reconnect where the client stands; the replay carries what the cut
        // dropped, and the client falls behind again right away.
        stream = hub
            .subscribe(
                Connecting::new()
                    .with_topics(["t"])
                    .with_last_event_id(resume.clone()),
            )
            .await
            .unwrap();
        let preamble = stream.next().await.unwrap();
        let preamble = String::from_utf8(preamble.to_vec()).unwrap();
        for n in 0..3 {
            assert!(preamble.contains(&format!("r{round}-{n}")), "{preamble}");
        }
        resume = preamble
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix("id: "))
            .unwrap()
            .to_owned();
    }
    // 1 s, doubling, capped at 5 s.
    assert_eq!(retries, [1000, 2000, 4000, 5000, 5000]);
    let stats = hub.stats(false);
    assert_eq!(stats.dropped.overflow_disconnects, 5);
    assert_eq!(stats.dropped.overflow_repeats, 4);
}

#[tokio::test(start_paused = true)]
async fn a_new_series_starts_after_the_client_stayed_connected() {
    let hub = hub(config());
    let mut stream = hub
        .subscribe(Connecting::new().with_topics(["t"]))
        .await
        .unwrap();
    stream.next().await.unwrap();
    let resume = publish(&hub, "first");
    stream.next().await.unwrap();
    for n in 0..3 {
        publish(&hub, &n.to_string());
    }
    assert_eq!(goodbye(&read_to_end(stream).await).0, 1);
    let mut stream = hub
        .subscribe(
            Connecting::new()
                .with_topics(["t"])
                .with_last_event_id(resume),
        )
        .await
        .unwrap();
    stream.next().await.unwrap();
    // Connected longer than `overflow_retry_max`: it had caught up.
    tokio::time::sleep(Duration::from_secs(6)).await;
    for n in 0..3 {
        publish(&hub, &format!("later-{n}"));
    }
    let (strikes, _, retry) = goodbye(&read_to_end(stream).await);
    assert_eq!((strikes, retry), (1, 1000));
    assert_eq!(hub.stats(false).dropped.overflow_repeats, 0);
}

#[tokio::test(start_paused = true)]
async fn batched_and_held_writes_are_released_before_the_queue_fills() {
    // A long write hold and flush interval; the stream is polled whenever it
    // is woken (as a transport with a reading client does). Quarter of 64 =
    // 16 events releases the hold; 1,000 events never fill the queue.
    for priority in [Priority::Instant, Priority::Batched] {
        let hub = hub(Config::new()
            .send_buffer_size(64)
            .min_write_interval(Duration::from_millis(500))
            .flush_interval(Duration::from_secs(10))
            .overflow(Overflow::Disconnect));
        let stream = hub
            .subscribe(Connecting::new().with_topics(["t"]))
            .await
            .unwrap();
        let reader = tokio::spawn(read_to_end(stream));
        for n in 0..1000 {
            hub.publish(
                Event::new("update")
                    .data(n.to_string())
                    .topic("t")
                    .priority(priority),
            )
            .unwrap();
            if n % 8 == 7 {
                // Let the reader run, as a runtime would between requests.
                tokio::task::yield_now().await;
            }
        }
        let stats = hub.stats(false);
        assert_eq!(stats.dropped.overflow_disconnects, 0, "{priority:?}");
        assert_eq!(hub.connection_count(), 1);
        hub.shutdown(Duration::from_secs(1)).await;
        let text = reader.await.unwrap();
        assert_eq!(
            text.matches("\nid: ").count() + usize::from(text.starts_with("id: ")),
            1000,
            "{priority:?}"
        );
    }
}
