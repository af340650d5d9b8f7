//! Sockets: admission from `accept`, per-IP limits, the health-check reserve,
//! accept-error backoff, and every disconnect counted under its reason.

use super::*;

#[tokio::test]
async fn sockets_count_from_accept_with_a_reserve_for_health_checks() {
    let server = Server::start(&["--max-sockets", "3", "--socket-reserve", "1"]).await;
    // Three sockets that never send a request fill the limit.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(connect_from(&server, [127, 0, 0, 1]).await);
    }
    // The reserve answers a health check, once, then closes.
    let answer = exchange(&server, [127, 0, 0, 1], HEALTH).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A subscribe on a reserve socket is turned away the way browsers retry.
    let answer = exchange(&server, [127, 0, 0, 1], SUBSCRIBE).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("retry: ") && answer.contains("event: overloaded"),
        "{answer}"
    );
    assert!(answer.contains("socket limit"), "{answer}");
    assert_eq!(server.hub.connection_count(), 0);
    // With the reserve held too, a new socket is closed without an answer.
    let mut held = connect_from(&server, [127, 0, 0, 1]).await;
    let refused = exchange(&server, [127, 0, 0, 1], HEALTH).await;
    assert_eq!(refused, "", "closed at accept");
    // Freeing the sockets frees their places: a stream opens again.
    drop(idle);
    held.write_all(HEALTH.as_bytes()).await.unwrap();
    assert!(read_to_close(&mut held).await.starts_with("HTTP/1.1 200"));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut socket = connect_from(&server, [127, 0, 0, 1]).await;
        socket.write_all(SUBSCRIBE.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(WAIT, socket.read(&mut buf))
            .await
            .unwrap()
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.contains("event: connected") || n > 0 && !text.contains("overloaded") {
            // The head and the preamble may arrive in two reads.
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no stream after the sockets closed: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sockets_per_ip_are_limited() {
    let server = Server::start(&["--max-sockets-per-ip", "2"]).await;
    let _a = connect_from(&server, [127, 0, 0, 2]).await;
    let _b = connect_from(&server, [127, 0, 0, 2]).await;
    assert_eq!(
        exchange(&server, [127, 0, 0, 2], HEALTH).await,
        "",
        "third socket of 127.0.0.2"
    );
    let other = exchange(&server, [127, 0, 0, 3], HEALTH_CLOSE).await;
    assert!(
        other.starts_with("HTTP/1.1 200"),
        "another address is not limited: {other}"
    );
}

#[tokio::test]
async fn every_disconnect_is_counted_under_its_reason() {
    let server = Server::start(&[
        "--write-timeout-ms",
        "500",
        "--overflow",
        "drop",
        "--max-body-bytes",
        "1048576",
    ])
    .await;
    // A client that stops reading, with a small receive buffer.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(addr(&server)).await.unwrap();
    stalled.write_all(SUBSCRIBE.as_bytes()).await.unwrap();
    // A client that sends bytes after its request, and one that leaves.
    let mut chatty = connect_from(&server, [127, 0, 0, 1]).await;
    chatty.write_all(SUBSCRIBE.as_bytes()).await.unwrap();
    let leaving = server.subscribe(&["t"]).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.hub.connection_count() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "subscribers did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    chatty.write_all(b"more bytes").await.unwrap();
    drop(leaving);
    let event = json!({"topics": ["t"], "type": "fill", "data": "x".repeat(60_000)});
    let batch = serde_json::Value::Array(vec![event; 10]);
    let stats = loop {
        // Keep publishing until the stalled client's socket is full and
        // its write deadline passes.
        server.publish(batch.clone()).await;
        let stats = server.hub.stats(false);
        let reasons = stats.disconnects_by_reason;
        if reasons.write_timeout >= 1 && reasons.unexpected_input >= 1 && reasons.client_closed >= 1
        {
            break stats;
        }
        assert!(
            tokio::time::Instant::now() < deadline + WAIT,
            "reasons so far: {reasons:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        stats.dropped.write_timeouts, 1,
        "the fast path counts write timeouts"
    );
    assert_eq!(stats.disconnects, 3);
    let json: serde_json::Value =
        crate::common::json_of(server.client().get(server.url("/stats"))).await;
    assert_eq!(json["disconnects_by_reason"]["write_timeout"], 1, "{json}");
    assert_eq!(
        json["disconnects_by_reason"]["unexpected_input"], 1,
        "{json}"
    );
    let metrics = server
        .client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sse_hub_disconnects_by_reason_total{reason=\"write_timeout\"} 1"),
        "{metrics}"
    );
    drop(stalled);
}

#[tokio::test]
async fn accept_errors_back_off_and_log_once_per_burst() {
    let (child, port, mut logs) = binary(&["--log", "info"], Some("ulimit -n 48")).await;
    // More sockets than descriptors: accept fails with EMFILE.
    let mut sockets = Vec::new();
    for _ in 0..80 {
        if let Ok(Ok(socket)) = tokio::time::timeout(
            Duration::from_millis(200),
            TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))),
        )
        .await
        {
            sockets.push(socket);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(sockets);
    // Once descriptors are free again the server answers.
    let base = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let answered = reqwest::get(format!("{base}/healthz")).await;
        if answered.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no answer after the burst"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The burst ends with the first accept a quiet second after its last error.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        reqwest::get(format!("{base}/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    let mut lines = Vec::new();
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_millis(300), logs.recv()).await {
        lines.push(line);
    }
    let failed = lines.iter().filter(|l| l.contains("accept failed")).count();
    let recovered = lines
        .iter()
        .filter(|l| l.contains("accept recovered"))
        .count();
    assert_eq!((failed, recovered), (1, 1), "{lines:#?}");
    drop(child);
}
