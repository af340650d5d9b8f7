//! Smoke test: the load generator against the in-process baseline and the
//! in-process sse-hub server, so neither the generator nor the suite's
//! assumptions about the servers can rot.

use sse_hub_bench::{baseline, load, suite};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_against_baseline_delivers_everything() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let server = tokio::spawn(baseline::serve(listener));

    let cfg = load::LoadConfig {
        url: format!("http://127.0.0.1:{port}"),
        clients: 5,
        events: 20,
        in_flight: 2,
        payload: 64,
        server_pid: Some(std::process::id()),
        settle_ms: 1000,
        timeout_s: 20.0,
        ..load::LoadConfig::default()
    };
    let rep = load::run(&cfg).await?;
    server.abort();
    assert_eq!(rep.clients_connected, 5, "{}", rep.to_text());
    assert_eq!(rep.events_published, 20, "{}", rep.to_text());
    assert_eq!(rep.deliveries_expected, 100);
    assert_eq!(rep.deliveries_distinct, rep.deliveries_expected);
    assert_eq!(rep.deliveries_received, rep.deliveries_expected);
    assert_eq!(rep.missing, 0);
    assert_eq!(rep.duplicated, 0);
    assert_eq!(rep.unknown_events, 0);
    assert!(!rep.timed_out);
    assert_eq!(rep.latency_us.map(|l| l.count), Some(100));
    // Every event's arrival in its socket is stamped by the kernel, and an
    // event cannot have arrived after it was read.
    let (read, arrival) = (rep.latency_us.unwrap_or_default(), rep.arrival_latency_us);
    let arrival = arrival.unwrap_or_default();
    assert_eq!(arrival.count, 100, "{}", rep.to_text());
    assert!(arrival.p50 <= read.p50 && arrival.p99 <= read.p99 && arrival.max <= read.max);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_publish_and_rate_mode() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let server = tokio::spawn(baseline::serve(listener));

    let cfg = load::LoadConfig {
        url: format!("http://127.0.0.1:{port}"),
        clients: 3,
        events: 0,
        rate: 200.0,
        duration_s: 0.5,
        batch: 10,
        in_flight: 1,
        settle_ms: 1000,
        timeout_s: 20.0,
        ..load::LoadConfig::default()
    };
    let rep = load::run(&cfg).await?;
    server.abort();
    assert_eq!(rep.events_planned, 100);
    assert_eq!(rep.events_published, 100, "{}", rep.to_text());
    assert_eq!(rep.publish_requests, 10);
    assert_eq!(rep.missing, 0, "{}", rep.to_text());
    assert_eq!(rep.duplicated, 0);
    Ok(())
}

#[test]
fn binary_runs_load_against_baseline_binary() -> anyhow::Result<()> {
    use std::process::{Command, Stdio};
    let exe = env!("CARGO_BIN_EXE_sse-hub-bench");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut server = Command::new(exe)
        .args(["baseline", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let t0 = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if t0.elapsed().as_secs() > 10 {
            let _ = server.kill();
            anyhow::bail!("baseline did not start");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = Command::new(exe)
        .args([
            "load",
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--clients",
            "5",
            "--events",
            "20",
            "--server-pid",
            &server.id().to_string(),
            "--settle-ms",
            "1000",
            "--timeout-s",
            "20",
            "--json",
        ])
        .output()?;
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Read back as the suite reads an isolated load generator's report.
    let rep: sse_hub_bench::report::LoadReport = serde_json::from_slice(&out.stdout)?;
    assert_eq!(rep.deliveries_expected, 100);
    assert_eq!(rep.deliveries_distinct, 100);
    assert_eq!(rep.missing, 0);
    assert_eq!(rep.duplicated, 0);
    assert!(rep.server_cpu_us.is_some());
    assert_eq!(rep.arrival_latency_us.map(|l| l.count), Some(100));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_against_sse_hub_delivers_everything() -> anyhow::Result<()> {
    use sse_hub_server::{app, config::Options};

    let settings = Options::load(
        [
            "sse-hub",
            "--listen",
            "127.0.0.1:0",
            "--flush-interval-ms",
            "100",
        ],
        std::iter::empty::<(std::ffi::OsString, std::ffi::OsString)>(),
    )?
    .resolve()?;
    let app = app::build(&settings, settings.hub_config()).await?;
    let listener = sse_hub::axum::DeadlineListener::bind(settings.listen, app.hub.config()).await?;
    let port = axum::serve::Listener::local_addr(&listener)?.port();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::serve(
        listener,
        app,
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(1),
        async move {
            let _ = stop_rx.await;
        },
    ));

    for (priority, events) in [(None, 20), (Some("batched"), 20)] {
        let cfg = load::LoadConfig {
            url: format!("http://127.0.0.1:{port}"),
            clients: 5,
            events,
            in_flight: 2,
            payload: 64,
            priority: priority.map(str::to_owned),
            settle_ms: 1000,
            timeout_s: 20.0,
            ..load::LoadConfig::default()
        };
        let rep = load::run(&cfg).await?;
        assert_eq!(rep.clients_connected, 5, "{}", rep.to_text());
        assert_eq!(rep.deliveries_received, 100, "{}", rep.to_text());
        assert_eq!(rep.missing, 0, "{}", rep.to_text());
        assert_eq!(rep.duplicated, 0, "{}", rep.to_text());
    }
    let _ = stop_tx.send(());
    server.await??;
    Ok(())
}

/// An in-process sse-hub server with `args`; returns its port, its hub and a
/// stop switch.
async fn start_hub(
    args: &[&str],
) -> anyhow::Result<(
    u16,
    sse_hub::Hub,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
)> {
    use sse_hub_server::{app, config::Options};
    let mut argv = vec!["sse-hub", "--listen", "127.0.0.1:0"];
    argv.extend_from_slice(args);
    let settings = Options::load(
        argv,
        std::iter::empty::<(std::ffi::OsString, std::ffi::OsString)>(),
    )?
    .resolve()?;
    let app = app::build(&settings, settings.hub_config()).await?;
    let hub = app.hub.clone();
    let listener = sse_hub::axum::DeadlineListener::bind(settings.listen, hub.config()).await?;
    let port = axum::serve::Listener::local_addr(&listener)?.port();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::serve(
        listener,
        app,
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(1),
        async move {
            let _ = stop_rx.await;
        },
    ));
    Ok((port, hub, stop_tx, server))
}

fn base(port: u16) -> load::LoadConfig {
    load::LoadConfig {
        url: format!("http://127.0.0.1:{port}"),
        timeout_s: 30.0,
        settle_ms: 1000,
        ..load::LoadConfig::default()
    }
}

/// S8 (high-rate feed) in a tiny form, against sse-hub with its defaults
/// and against the baseline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s8_high_rate_feed_tiny() -> anyhow::Result<()> {
    let (port, hub, stop, server) = start_hub(&[]).await?;
    let rep = load::run(&suite::s8_load(base(port), 3, 5000)).await?;
    assert_eq!(rep.events_published, 5000, "{}", rep.to_text());
    assert_eq!(rep.missing, 0, "{}", rep.to_text());
    assert_eq!(rep.clients_disconnected, 0, "{}", rep.to_text());
    assert!(rep.publish_rate_per_s > 0.0);
    assert_eq!(hub.stats(false).dropped.overflow_disconnects, 0);
    let _ = stop.send(());
    server.await??;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let baseline = tokio::spawn(baseline::serve(listener));
    let rep = load::run(&suite::s8_load(base(port), 3, 5000)).await?;
    baseline.abort();
    assert_eq!(rep.events_published, 5000, "{}", rep.to_text());
    Ok(())
}

/// S9 (one slow reader among fast ones) in a tiny form: under
/// `--overflow disconnect` only the slow reader is cut, under `drop` only it
/// misses events; the others lose nothing either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s9_one_slow_reader_tiny() -> anyhow::Result<()> {
    for policy in ["disconnect", "drop"] {
        let (port, hub, stop, server) =
            start_hub(&["--overflow", policy, "--send-buffer-size", "64"]).await?;
        // 4 KiB events: the slow reader's backlog must outgrow the kernel's
        // socket buffers (several MiB on loopback) within the run.
        let rep = load::run(&suite::s9_load(base(port), 4, 1000.0, 3.0, 4096)).await?;
        let text = rep.to_text();
        assert_eq!(rep.slow_clients, 1, "{text}");
        assert_eq!(rep.fast_missing, 0, "{policy}: {text}");
        assert_eq!(rep.fast_disconnected, 0, "{policy}: {text}");
        let dropped = hub.stats(false).dropped;
        if policy == "disconnect" {
            assert_eq!(rep.slow_disconnected, 1, "{text}");
            assert_eq!(dropped.overflow_disconnects, 1, "{text}");
        } else {
            assert_eq!(rep.slow_disconnected, 0, "{text}");
            assert!(dropped.queue_full > 0, "{text}");
            assert!(rep.slow_events < rep.events_published, "{text}");
            assert!(rep.events_published > 0, "{text}");
        }
        let _ = stop.send(());
        server.await??;
    }
    Ok(())
}
