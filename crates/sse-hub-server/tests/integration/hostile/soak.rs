//! The soak (ignored; `scripts/soak`).

use super::*;

/// The soak: connection churn, reconnects with `Last-Event-ID`, slow and
/// stalled readers and publish bursts against the binary for
/// `SSE_HUB_SOAK_SECS` (default 600), then SIGTERM. Well-behaved clients
/// must receive every published event exactly once, in order; RSS must come
/// back within 64 MB of its start. Not in the default run: `scripts/soak`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run with scripts/soak"]
async fn soak() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use eventsource_stream::Eventsource;
    use futures_util::StreamExt;

    let secs: u64 = std::env::var("SSE_HUB_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let (mut child, port, _logs) = binary(
        &[
            "--max-body-bytes",
            "1048576",
            "--write-timeout-ms",
            "2000",
            "--drain-timeout-s",
            "2",
            "--log",
            "info",
        ],
        None,
    )
    .await;
    let pid = child.id().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let client = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let rss_start = rss_kib(pid);

    // Well-behaved clients: read everything, reconnect now and then with
    // the last id they saw, until they have the publisher's last id.
    let (last_tx, last_rx) = tokio::sync::watch::channel(None::<String>);
    let mut readers = Vec::new();
    for _ in 0..8 {
        let (client, base) = (client.clone(), base.clone());
        let last_rx = last_rx.clone();
        readers.push(tokio::spawn(async move {
            let mut ids: Vec<String> = Vec::new();
            let mut control = Vec::new();
            let mut reconnects = 0u32;
            loop {
                let mut request = client.get(format!("{base}/events?topic=soak"));
                if let Some(last) = ids.last() {
                    request = request.header("last-event-id", last.clone());
                }
                let Ok(response) = request.send().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let mut events = response.bytes_stream().eventsource();
                let hold = Duration::from_millis(500 + rand_ms() % 2500);
                let until = tokio::time::Instant::now() + hold;
                while let Ok(next) = tokio::time::timeout_at(until, events.next()).await {
                    match next {
                        Some(Ok(event)) if event.event == "tick" => ids.push(event.id),
                        Some(Ok(event)) if event.event == "connected" => {}
                        Some(Ok(event)) => control.push(event.event),
                        _ => break,
                    }
                    let last = last_rx.borrow().clone();
                    if last.is_some() && ids.last() == last.as_ref() {
                        return (ids, control, reconnects);
                    }
                }
                reconnects += 1;
            }
        }));
    }
    // Churn: connect, read the head, leave.
    let churn = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut opened = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(mut socket) = TcpStream::connect(addr).await {
                    let _ = socket.write_all(SUBSCRIBE.as_bytes()).await;
                    let mut buf = [0u8; 512];
                    let _ = tokio::time::timeout(WAIT, socket.read(&mut buf)).await;
                    opened += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            opened
        })
    };
    // Stalled readers: subscribe and never read; replaced every 5 s.
    let stalled = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                held.clear();
                for _ in 0..20 {
                    let socket = TcpSocket::new_v4().unwrap();
                    let _ = socket.set_recv_buffer_size(4096);
                    if let Ok(mut socket) = socket.connect(addr).await {
                        let _ = socket.write_all(SUBSCRIBE.as_bytes()).await;
                        held.push(socket);
                    }
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        })
    };
    // The publisher: a steady trickle and a burst every 10 s.
    let started = tokio::time::Instant::now();
    let mut published: Vec<String> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut last_burst = started;
    while started.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        let count = if last_burst.elapsed() >= Duration::from_secs(10) {
            last_burst = tokio::time::Instant::now();
            500
        } else {
            5
        };
        let batch: Vec<serde_json::Value> = (0..count)
            .map(|i| json!({"topics": ["soak"], "type": "tick", "data": format!("{}-{i}", published.len())}))
            .collect();
        let response = client
            .post(format!("{base}/publish"))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let answer: serde_json::Value = response.json().await.unwrap();
        for id in answer["ids"].as_array().unwrap() {
            published.push(id.as_str().unwrap().to_owned());
        }
    }
    stop.store(true, Ordering::Relaxed);
    last_tx.send_replace(published.last().cloned());
    let opened = churn.await.unwrap();
    stalled.await.unwrap();
    for (index, reader) in readers.into_iter().enumerate() {
        let (ids, control, reconnects) = tokio::time::timeout(Duration::from_secs(60), reader)
            .await
            .unwrap_or_else(|_| panic!("reader {index} never got the last event"))
            .unwrap();
        assert!(
            control.is_empty(),
            "reader {index}: control events {control:?}"
        );
        assert_eq!(
            ids.len(),
            published.len(),
            "reader {index} ({reconnects} reconnects)"
        );
        assert!(
            ids == published,
            "reader {index}: order or duplicates differ"
        );
        eprintln!(
            "reader {index}: {} events, {reconnects} reconnects",
            ids.len()
        );
    }
    // Idle again: memory back near where it started.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let rss_end = loop {
        let stats: serde_json::Value = json_of(client.get(format!("{base}/stats"))).await;
        let rss = rss_kib(pid);
        if stats["connections"] == 0 && rss <= rss_start + 64 * 1024 {
            break rss;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "RSS {rss} KiB (start {rss_start}), {stats}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let stats: serde_json::Value = json_of(client.get(format!("{base}/stats"))).await;
    eprintln!(
        "soak {secs} s: {} events published, {opened} churned connections, RSS {rss_start} -> {rss_end} KiB, disconnects {}",
        published.len(),
        stats["disconnects_by_reason"]
    );
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exited after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}
