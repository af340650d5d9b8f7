//! Graceful drain: flush, `server-shutdown`, spread closes, deadline.

use std::time::Duration;

use futures_util::StreamExt;
use sse_hub::{Config, Connecting, Event, Hub, Priority, PublishError};
use tokio::time::Instant;

use crate::common::{hub, Client};

fn panicking_hub() -> Hub {
    hub(Config::new()
        .flush_interval(Duration::from_secs(10))
        .on_disconnect(|_| panic!("user callback bug")))
}

#[tokio::test(start_paused = true)]
async fn drain_flushes_says_goodbye_and_finishes_within_its_deadline_despite_a_panicking_callback()
{
    let hub = panicking_hub();
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(Client::topics(&hub, &["t"]).await);
    }
    // A client that never reads again: its stream is not polled after subscribe.
    let stuck = hub
        .subscribe(Connecting::new().with_topics(["t"]))
        .await
        .unwrap();
    hub.publish(
        Event::new("held")
            .data("batched")
            .topic("t")
            .priority(Priority::Batched),
    )
    .unwrap();

    let start = Instant::now();
    let deadline = Duration::from_secs(4);
    let drain = tokio::spawn({
        let hub = hub.clone();
        async move { hub.shutdown(deadline).await }
    });
    let mut closes = Vec::new();
    for client in &mut clients {
        let events = client.drain(Duration::from_secs(10)).await;
        closes.push(start.elapsed());
        let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(
            kinds,
            ["held", "server-shutdown"],
            "held events flushed first"
        );
    }
    let report = drain.await.unwrap();
    assert!(
        start.elapsed() <= deadline,
        "drain took {:?}",
        start.elapsed()
    );
    assert_eq!(report.connections, 6);
    assert_eq!(
        report.forced, 1,
        "the stuck client is dropped at the deadline"
    );
    assert!(
        closes.iter().all(|at| *at <= deadline / 2),
        "closes within the spread: {closes:?}"
    );
    assert_eq!(hub.connection_count(), 0);
    assert!(matches!(
        hub.publish(Event::new("x").topic("t")),
        Err(PublishError::Draining)
    ));
    assert_eq!(
        hub.stats(false).published,
        1,
        "a refused publish is not counted"
    );
    let mut late = hub
        .subscribe(Connecting::new().with_topics(["t"]))
        .await
        .unwrap();
    assert!(late.is_turned_away());
    let body = late.next().await.unwrap();
    assert!(std::str::from_utf8(&body)
        .unwrap()
        .contains("event: server-shutdown"));
    drop(stuck);
}

#[tokio::test(start_paused = true)]
async fn drain_with_no_connections_returns_at_once_and_stops_bridges() {
    let hub = hub(Config::new());
    let mut stopping = hub.stopping();
    let start = Instant::now();
    let report = hub.shutdown(Duration::from_secs(30)).await;
    assert_eq!((report.connections, report.forced), (0, 0));
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(*stopping.borrow_and_update());
    assert!(hub.is_draining());
}
