//! Request heads and bodies: smuggling after `GET /events`, malformed and huge
//! heads, header and body timeouts, a readable 413.

use super::*;

#[tokio::test]
async fn no_smuggling_after_get_events_and_trailing_bytes_end_the_stream() {
    let server = Server::start(&[]).await;
    let smuggled = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let cases = [
        ("", smuggled.to_owned()),
        ("Content-Length: 5\r\n", format!("hello{smuggled}")),
        (
            "Transfer-Encoding: chunked\r\n",
            format!("0\r\n\r\n{smuggled}"),
        ),
        (
            "Content-Length: 40\r\nTransfer-Encoding: chunked\r\n",
            format!("0\r\n\r\n{smuggled}"),
        ),
        (
            "Content-Length: 0\r\nContent-Length: 40\r\n",
            smuggled.to_owned(),
        ),
    ];
    for (extra, after) in cases {
        let answer = events_then(&server, extra, after.as_bytes()).await;
        // One response at most, never the smuggled request's.
        assert!(
            answer.matches("HTTP/1.1").count() <= 1,
            "{extra:?}: {answer}"
        );
        assert!(!answer.contains("\"status\""), "{extra:?}: {answer}");
    }
    assert_eq!(server.hub.connection_count(), 0, "every such stream ended");
}

#[tokio::test]
async fn a_client_streaming_bytes_after_get_events_is_cut_at_once() {
    let server = Server::start(&[]).await;
    let mut socket = connect_from(&server, [127, 0, 0, 1]).await;
    socket.write_all(SUBSCRIBE.as_bytes()).await.unwrap();
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(WAIT, socket.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Keep sending; the server must close instead of reading for ever.
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0usize;
    let cut = tokio::time::timeout(WAIT, async {
        loop {
            match socket.write_all(&chunk).await {
                Ok(()) => sent += chunk.len(),
                Err(_) => return,
            }
        }
    })
    .await;
    assert!(cut.is_ok(), "still accepting bytes after {sent} sent");
    assert!(sent < 64 * 1024 * 1024, "cut only after {sent} bytes");
}

#[tokio::test]
async fn malformed_heads_get_400_and_huge_heads_431() {
    let server = Server::start(&[]).await;
    for bad in [
        "GET /events?topic=t HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n folded\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n\tfolded\r\n\r\n",
        "GET  /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "GET /healthz HTTP/9.9\r\nHost: localhost\r\n\r\n",
        "G\0T /healthz HTTP/1.1\r\n\r\n",
    ] {
        let answer = exchange(&server, [127, 0, 0, 1], bad).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{bad:?}: {answer}");
    }
    for path in ["/events?topic=t", "/healthz"] {
        let huge = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
            "a".repeat(64 * 1024)
        );
        let answer = exchange(&server, [127, 0, 0, 1], &huge).await;
        assert!(answer.starts_with("HTTP/1.1 431"), "{path}: {answer}");
    }
    assert_eq!(server.hub.connection_count(), 0);
}

#[tokio::test]
async fn idle_and_slow_heads_are_closed_at_the_header_timeout() {
    let server = Server::start(&["--header-timeout-ms", "300"]).await;
    let started = tokio::time::Instant::now();
    // Nothing sent at all, and half a head for each path.
    let mut idle = connect_from(&server, [127, 0, 0, 1]).await;
    let mut half_sse = connect_from(&server, [127, 0, 0, 1]).await;
    half_sse
        .write_all(b"GET /events?topic=t HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut half_api = connect_from(&server, [127, 0, 0, 1]).await;
    half_api
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    for socket in [&mut idle, &mut half_sse, &mut half_api] {
        let answer = read_to_close(socket).await;
        assert!(!answer.contains("200"), "{answer}");
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "closed too early: {took:?}"
    );
}

#[tokio::test]
async fn a_body_that_never_comes_gets_408() {
    let server = Server::start(&["--body-timeout-ms", "500"]).await;
    let started = tokio::time::Instant::now();
    let answer = exchange(&server, [127, 0, 0, 1], &publish_head(1000)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(450));
}

#[tokio::test]
async fn a_trickled_body_gets_408_at_the_minimum_rate() {
    // The whole-body deadline is far; the rate (after its 2 s grace) cuts it.
    let server = Server::start(&["--body-timeout-ms", "60000", "--min-body-rate", "100"]).await;
    let mut socket = connect_from(&server, [127, 0, 0, 1]).await;
    socket
        .write_all(publish_head(1000).as_bytes())
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        // One byte every 100 ms: 10 bytes/s.
        let _ = socket.write_all(b" ").await;
        match tokio::time::timeout(Duration::from_millis(100), socket.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still reading a trickle"
        );
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn a_16_mib_body_gets_a_readable_413() {
    let server = Server::start(&[]).await;
    // Through a real HTTP client that sends the whole body before reading.
    let body = format!(r#"{{"topics":["t"],"data":"{}"}}"#, "x".repeat(16 << 20));
    let response = server
        .client()
        .post(server.url("/publish"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("a response, not a connection reset");
    let (code, message) = error_of(response, 413).await;
    assert_eq!(code, "body_too_large");
    assert!(message.contains("8192"), "{message}");
    // And through a raw socket: the whole body first, then the answer.
    let mut socket = connect_from(&server, [127, 0, 0, 1]).await;
    socket
        .write_all(publish_head(body.len()).as_bytes())
        .await
        .unwrap();
    socket.write_all(body.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut socket).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // A refusal before the body is looked at (a foreign Host) is read too.
    let mut socket = connect_from(&server, [127, 0, 0, 1]).await;
    let head = publish_head(body.len()).replace("Host: localhost", "Host: evil.example");
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(body.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut socket).await;
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
}
