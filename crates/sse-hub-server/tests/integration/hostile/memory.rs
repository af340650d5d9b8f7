//! Memory stays bounded whatever clients do: stalled replays, `/stats` with
//! many connections and topics.

use super::*;

#[tokio::test]
async fn stalled_replays_keep_memory_bounded() {
    let (child, port, _logs) = binary(
        &[
            "--replay-max-events",
            "10000",
            "--max-replay-bytes",
            "262144",
            "--max-body-bytes",
            "2097152",
            "--write-timeout-ms",
            "60000",
            "--log",
            "info",
        ],
        None,
    )
    .await;
    let pid = child.id().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    // 10,000 retained events of 1 KiB: 10 MB a full replay would carry.
    let event = json!({"topics": ["t"], "type": "e", "data": "r".repeat(1024)});
    let mut first = None;
    for _ in 0..10 {
        let response = client
            .post(format!("{base}/publish"))
            .json(&serde_json::Value::Array(vec![event.clone(); 1000]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let ids: serde_json::Value = response.json().await.unwrap();
        first.get_or_insert_with(|| ids["ids"][0].as_str().unwrap().to_owned());
    }
    let first = first.unwrap();
    let before = rss_kib(pid);
    // 20 clients reconnect from the first id and never read.
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut socket = socket
            .connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .unwrap();
        let request = format!(
            "GET /events?topic=t HTTP/1.1\r\nHost: localhost\r\nLast-Event-ID: {first}\r\n\r\n"
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        stalled.push(socket);
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let stats: serde_json::Value = json_of(client.get(format!("{base}/stats"))).await;
        if stats["connections"] == 20 && stats["replay"]["hits"] == 20 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = rss_kib(pid);
    let grown = after.saturating_sub(before);
    eprintln!("RSS {before} KiB -> {after} KiB with 20 stalled replays (+{grown} KiB)");
    // Unbounded, each would hold its 10 MB replay: 200 MB.
    assert!(grown < 40 * 1024, "RSS grew {grown} KiB");
    drop(stalled);
}

#[tokio::test]
async fn stats_stay_bounded_with_many_connections_and_topics() {
    let server = Server::start(&[]).await;
    let mut streams = Vec::new();
    for c in 0..120 {
        let topics: Vec<String> = (0..5).map(|t| format!("room.{c}.{t}")).collect();
        let mut topics = topics;
        topics.push("shared".into());
        streams.push(
            server
                .hub
                .subscribe(sse_hub::Connecting::new().with_topics(topics))
                .await
                .unwrap(),
        );
    }
    let get = |query: &'static str| {
        let request = server.client().get(server.url(&format!("/stats{query}")));
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };
    let (status, body) = get("").await;
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["connections"], 120);
    assert_eq!(stats["topics_total"], 601);
    let by_topic = stats["by_topic"].as_object().unwrap();
    assert_eq!(by_topic.len(), 100, "top 100 only");
    assert_eq!(by_topic["shared"], 120, "the most subscribed is listed");
    assert!(stats.get("connection_details").is_none());

    let (_, body) = get("?connections=true&limit=50&offset=100&topics=10").await;
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["connection_details"].as_array().unwrap().len(), 20);
    assert_eq!(page["by_topic"].as_object().unwrap().len(), 10);
    let (_, body) = get("?connections=true").await;
    let first: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(first["connection_details"].as_array().unwrap().len(), 100);
    assert!(body.len() < 64 * 1024, "{} bytes", body.len());
    for bad in [
        "?connections=true&limit=0",
        "?connections=true&limit=5000",
        "?topics=0",
    ] {
        let (status, body) = get(bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    drop(streams);
}
