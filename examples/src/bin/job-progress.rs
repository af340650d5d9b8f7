//! Job progress bars: `POST /jobs` starts a job that reports 100 steps as
//! fast as it can; each browser sees the latest percentage per flush window
//! (coalesced per job), and `complete` is never overtaken by a stale
//! progress update.
//!
//! ```text
//! cargo run -p sse-hub-examples --bin job-progress   # then open http://127.0.0.1:3000/
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use sse_hub::{Config, Hub};
use sse_hub_examples::{client_js, listen_addr, serve};

const PAGE: &str = include_str!("../../static/job-progress.html");
/// Steps of every job.
const STEPS: u64 = 100;

#[derive(Clone)]
struct App {
    hub: Hub,
    next_job: Arc<AtomicU64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = listen_addr("127.0.0.1:3000")?;
    // Coalesced events go out on each connection's flush tick.
    let (events, hub) =
        sse_hub::axum::new_with_hub(Config::new().flush_interval(Duration::from_millis(200)))?;
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/client.js", get(client_js))
        .route("/jobs", post(start_job))
        .with_state(App {
            hub: hub.clone(),
            next_job: Arc::new(AtomicU64::new(1)),
        })
        .route_service("/events", events);
    serve(app, hub, addr).await
}

/// Starts a job in the background: 100 progress updates, 5 ms apart, then
/// `complete`. Answers 202 `{"job": "job-N"}`.
async fn start_job(State(app): State<App>) -> (StatusCode, Json<Value>) {
    let job = format!("job-{}", app.next_job.fetch_add(1, Ordering::Relaxed));
    let id = job.clone();
    tokio::spawn(async move {
        for step in 1..=STEPS {
            if app
                .hub
                .progress("jobs", &id, None, step, STEPS, None)
                .is_err()
            {
                return; // draining
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = app.hub.complete("jobs", &id, None, true, None);
    });
    (StatusCode::ACCEPTED, Json(json!({ "job": job })))
}
