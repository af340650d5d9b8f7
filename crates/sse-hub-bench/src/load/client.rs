//! One SSE client of the load generator: connects over raw TCP, reads the
//! stream, and records what it received and how late (read and arrival).

use super::*;

const READ_BUF: usize = 8 * 1024;
/// Socket receive buffer of a slow client.
const SLOW_RCVBUF: u32 = 4 * 1024;
/// How long a slow client reads what is left after the run stops.
const SLOW_DRAIN: Duration = Duration::from_secs(3);
/// Latencies a client buffers before recording into its histogram directly.
const LATENCY_BUF: u64 = 4096;

/// Runs one client until `stop` fires or its stream ends and returns what it
/// saw (`events` sizes its bookkeeping of distinct ids); errors are noted in
/// `shared`, never raised.
pub(super) async fn client(
    addr: SocketAddr,
    request: Arc<Vec<u8>>,
    shared: Arc<Shared>,
    connect_sem: Arc<Semaphore>,
    mut stop: oneshot::Receiver<()>,
    events: u64,
    slow_bps: Option<u64>,
) -> ClientResult {
    let mut res = ClientResult {
        slow: slow_bps.is_some(),
        ..ClientResult::default()
    };
    let mut http = ResponseParser::new();
    let mut sse = SseParser::new("bench");
    let mut buf = vec![0u8; READ_BUF];
    // Events that arrived together with the response head.
    let mut early: Vec<u8> = Vec::new();

    let connect = async {
        let _permit = connect_sem.acquire().await?;
        let socket = tokio::net::TcpSocket::new_v4()?;
        if slow_bps.is_some() {
            socket.set_recv_buffer_size(SLOW_RCVBUF)?;
        }
        let mut s = tokio::time::timeout(Duration::from_secs(10), socket.connect(addr))
            .await
            .context("connect timed out")??;
        s.set_nodelay(true)?;
        s.write_all(&request).await?;
        while !http.head_done() {
            let n = tokio::time::timeout(Duration::from_secs(15), s.read(&mut buf))
                .await
                .context("response head timed out")??;
            if n == 0 {
                bail!("connection closed before response head");
            }
            res.bytes += n as u64;
            http.feed(&buf[..n], &mut |b| early.extend_from_slice(b))?;
        }
        if http.status() != 200 {
            bail!("GET /events answered {}", http.status());
        }
        anyhow::Ok(s)
    };
    let outcome = tokio::select! {
        biased;
        _ = &mut stop => Err(anyhow::anyhow!("stopped while connecting")),
        r = connect => r,
    };
    shared.attempts_done.fetch_add(1, Ordering::Relaxed);
    let stream = match outcome {
        Ok(s) => s,
        Err(e) => {
            shared.note_error(format!("{e:#}"));
            return res;
        }
    };
    let mut stream = match arrival::StampedStream::new(stream) {
        Ok(s) => s,
        Err(e) => {
            shared.note_error(format!("client socket: {e}"));
            return res;
        }
    };
    res.connected = true;
    shared.connected.fetch_add(1, Ordering::Relaxed);
    if res.slow {
        shared.slow_connected.fetch_add(1, Ordering::Relaxed);
    }

    let words = events.div_ceil(64) as usize;
    let mut seen = vec![0u64; words];
    let (mut hist, mut arrival_hist) = match (Histogram::<u64>::new(2), Histogram::<u64>::new(2)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            shared.note_error(format!("histogram: {e}"));
            return res;
        }
    };

    // Latencies go to a small preallocated buffer first and into the
    // histogram after the run: a thousand clients' histograms do not fit in
    // the cache, and a miss per delivery is a visible share of the load
    // generator's CPU (which, on a small machine, is in the figures).
    let mut lats: Vec<u32> = Vec::with_capacity(events.min(LATENCY_BUF) as usize);
    let mut arrivals: Vec<u32> = Vec::with_capacity(events.min(LATENCY_BUF) as usize);
    let mut process = |data: &[u8], at: Stamp, res: &mut ClientResult, new: &mut u64| {
        res.received += 1;
        let Some((seq, sent_us)) = parse_payload(data) else {
            res.unknown += 1;
            return;
        };
        if seq >= events {
            res.unknown += 1;
            return;
        }
        let (w, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if seen[w] & bit != 0 {
            res.duplicated += 1;
            return;
        }
        seen[w] |= bit;
        *new += 1;
        buffer(
            &mut lats,
            &mut hist,
            at.read_us.saturating_sub(sent_us).max(1),
        );
        if let Some(arrived_us) = at.arrived_us {
            let lat = arrived_us.saturating_sub(sent_us).max(1);
            buffer(&mut arrivals, &mut arrival_hist, lat);
        }
    };

    let mut new = 0u64;
    if !early.is_empty() {
        let at = Stamp {
            read_us: shared.now_us(),
            arrived_us: None,
        };
        sse.feed(&early, &mut |d| process(d, at, &mut res, &mut new));
    }
    let mut last_read_us = shared.now_us();
    // A slow reader, once the run stops, reads what is left at full speed
    // until this deadline: a stream the server ended (cut for overflow)
    // reaches its end, one still open does not. Until then the data the
    // server wrote before cutting it sits in the kernel's buffers.
    let mut draining_until: Option<tokio::time::Instant> = None;
    let drain_deadline = || tokio::time::Instant::now() + SLOW_DRAIN;
    loop {
        if new > 0 {
            res.distinct += new;
            if !res.slow {
                shared.distinct.fetch_add(new, Ordering::Relaxed);
                shared
                    .last_recv_us
                    .fetch_max(last_read_us, Ordering::Relaxed);
            }
            new = 0;
        }
        let read = if let Some(until) = draining_until {
            match tokio::time::timeout_at(until, stream.read(&mut buf)).await {
                Ok(Ok(r)) if r.n > 0 => r,
                Ok(_) => {
                    res.ended_early = true;
                    break;
                }
                Err(_) => break,
            }
        } else {
            tokio::select! {
                biased;
                _ = &mut stop => {
                    if res.slow {
                        draining_until = Some(drain_deadline());
                        continue;
                    }
                    break;
                }
                r = stream.read(&mut buf) => match r {
                    Ok(r) if r.n > 0 => r,
                    _ => {
                        res.ended_early = true;
                        break;
                    }
                },
            }
        };
        let n = read.n;
        if let Some(bps) = slow_bps.filter(|&bps| bps > 0 && draining_until.is_none()) {
            // Read no faster than `bps`: pause as long as these bytes take.
            let pause = Duration::from_secs_f64(n as f64 / bps as f64);
            tokio::select! {
                biased;
                _ = &mut stop => draining_until = Some(drain_deadline()),
                () = tokio::time::sleep(pause) => {}
            }
        }
        res.bytes += n as u64;
        let now = shared.now_us();
        last_read_us = now;
        let at = Stamp {
            read_us: now,
            arrived_us: read
                .age
                .map(|age| now.saturating_sub(age.as_micros() as u64)),
        };
        let fed = http.feed(&buf[..n], &mut |body| {
            sse.feed(body, &mut |d| process(d, at, &mut res, &mut new))
        });
        if let Err(e) = fed {
            shared.note_error(format!("stream: {e:#}"));
            res.ended_early = true;
            break;
        }
        if http.done() {
            res.ended_early = true;
            break;
        }
    }
    if new > 0 {
        res.distinct += new;
        if !res.slow {
            shared.distinct.fetch_add(new, Ordering::Relaxed);
        }
    }
    for &l in &lats {
        record(&mut hist, u64::from(l));
    }
    for &l in &arrivals {
        record(&mut arrival_hist, u64::from(l));
    }
    res.hist = Some(hist);
    res.arrival_hist = Some(arrival_hist);
    res
}

/// When one read happened and when its bytes arrived, µs since the run's
/// base instant.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    read_us: u64,
    arrived_us: Option<u64>,
}

/// Keeps `v` in the preallocated buffer while it has room, else records it.
fn buffer(buf: &mut Vec<u32>, hist: &mut Histogram<u64>, v: u64) {
    match u32::try_from(v) {
        Ok(v) if buf.len() < buf.capacity() => buf.push(v),
        _ => record(hist, v),
    }
}

fn record(hist: &mut Histogram<u64>, v: u64) {
    // Auto-resizing histogram: `record` grows it; only clamp on failure.
    if hist.record(v).is_err() {
        hist.saturating_record(v);
    }
}
