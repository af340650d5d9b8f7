//! The publisher side of the load generator: a keep-alive HTTP/1.1 client
//! that reuses its request buffer, so per-event work allocates nothing.

use super::*;

/// What one publisher connection did.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct PubStats {
    pub(super) events_ok: u64,
    pub(super) requests: u64,
    pub(super) errors: u64,
    pub(super) body_bytes: u64,
}

/// A keep-alive HTTP/1.1 connection for `POST /publish`.
#[derive(Debug)]
pub(super) struct PubConn {
    pub(super) addr: SocketAddr,
    pub(super) stream: Option<TcpStream>,
    pub(super) rbuf: Vec<u8>,
    pub(super) parser: ResponseParser,
}

impl PubConn {
    pub(super) async fn send(&mut self, req: &[u8]) -> Result<u16> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        let r = self.round_trip(req).await;
        if r.is_err() {
            self.stream = None;
        }
        r
    }

    pub(super) async fn round_trip(&mut self, req: &[u8]) -> Result<u16> {
        let Some(s) = self.stream.as_mut() else {
            bail!("not connected");
        };
        s.write_all(req).await?;
        self.parser.reset();
        while !self.parser.done() {
            let n = s.read(&mut self.rbuf).await?;
            if n == 0 {
                bail!("publish connection closed");
            }
            self.parser.feed(&self.rbuf[..n], &mut |_| {})?;
        }
        Ok(self.parser.status())
    }
}

/// Request bytes that do not change between events.
#[derive(Debug)]
pub(super) struct Template {
    pub(super) head_prefix: Vec<u8>,
    pub(super) event_prefix: Vec<u8>,
    pub(super) event_suffix: Vec<u8>,
    pub(super) payload: usize,
}

impl Template {
    pub(super) fn new(cfg: &LoadConfig, host: &str) -> Result<Self> {
        let mut event_prefix = Vec::new();
        write!(
            event_prefix,
            "{{\"topics\":[{}],\"type\":\"bench\",",
            serde_json::to_string(&cfg.topic)?
        )?;
        if let Some(p) = &cfg.priority {
            write!(event_prefix, "\"priority\":{},", serde_json::to_string(p)?)?;
        }
        if let Some(k) = &cfg.coalesce_key {
            write!(
                event_prefix,
                "\"coalesce_key\":{},",
                serde_json::to_string(k)?
            )?;
        }
        event_prefix.extend_from_slice(b"\"data\":\"");
        let head_prefix = format!(
            "POST /publish HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: "
        )
        .into_bytes();
        Ok(Self {
            head_prefix,
            event_prefix,
            event_suffix: b"\"}".to_vec(),
            payload: cfg.payload,
        })
    }

    /// Appends one event object with payload `"<seq>:<us>:<padding>"`.
    pub(super) fn push_event(&self, body: &mut Vec<u8>, seq: u64, us: u64) {
        body.extend_from_slice(&self.event_prefix);
        let start = body.len();
        // Writing into a Vec cannot fail.
        let _ = write!(body, "{seq}:{us}:");
        let written = body.len() - start;
        if written < self.payload {
            body.resize(body.len() + self.payload - written, b'x');
        }
        body.extend_from_slice(&self.event_suffix);
    }
}

pub(super) struct PubPlan {
    pub(super) next_seq: AtomicU64,
    pub(super) total: u64,
    pub(super) batch: u64,
    pub(super) rate: f64,
    pub(super) start: Instant,
    pub(super) deadline: Instant,
}

pub(super) async fn publisher(
    mut conn: PubConn,
    tpl: Arc<Template>,
    plan: Arc<PubPlan>,
    shared: Arc<Shared>,
) -> PubStats {
    let mut st = PubStats::default();
    let mut body = Vec::with_capacity(plan.batch as usize * (tpl.payload + 128) + 2);
    let mut req = Vec::with_capacity(body.capacity() + 256);
    loop {
        let seq0 = plan.next_seq.fetch_add(plan.batch, Ordering::Relaxed);
        if seq0 >= plan.total {
            break;
        }
        let n = plan.batch.min(plan.total - seq0);
        if plan.rate > 0.0 {
            let due = plan.start + Duration::from_secs_f64((seq0 + n - 1) as f64 / plan.rate);
            if due > plan.deadline {
                break;
            }
            tokio::time::sleep_until(due.into()).await;
        }
        if Instant::now() >= plan.deadline {
            break;
        }
        body.clear();
        let us = shared.now_us();
        if plan.batch > 1 {
            body.push(b'[');
        }
        for i in 0..n {
            if i > 0 {
                body.push(b',');
            }
            tpl.push_event(&mut body, seq0 + i, us);
        }
        if plan.batch > 1 {
            body.push(b']');
        }
        req.clear();
        req.extend_from_slice(&tpl.head_prefix);
        let _ = write!(req, "{}\r\n\r\n", body.len());
        req.extend_from_slice(&body);
        st.requests += 1;
        st.body_bytes += body.len() as u64;
        let left = plan.deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, conn.send(&req)).await {
            Ok(Ok(code)) if (200..300).contains(&code) => st.events_ok += n,
            Ok(Ok(code)) => {
                st.errors += 1;
                shared.note_error(format!("POST /publish answered {code}"));
            }
            Ok(Err(e)) => {
                st.errors += 1;
                shared.note_error(format!("publish: {e:#}"));
            }
            Err(_) => {
                st.errors += 1;
                break;
            }
        }
    }
    st
}
