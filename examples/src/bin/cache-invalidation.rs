//! Cache invalidation: the page keeps a cached copy of a product list and
//! refetches it when the server says it changed (`invalidate`), or when
//! replay cannot fill the gap since its last event (`resync`): a reloaded tab
//! resumes from the last event id it saw, and a tab away for longer than the
//! replay window (here 3 events, to see it happen) refetches.
//!
//! ```text
//! cargo run -p sse-hub-examples --bin cache-invalidation   # then open http://127.0.0.1:3001/
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sse_hub::replay::MemoryReplayer;
use sse_hub::{Config, Hub};
use sse_hub_examples::{client_js, listen_addr, serve};

const PAGE: &str = include_str!("../../static/cache-invalidation.html");

#[derive(Debug, Clone, Serialize)]
struct Product {
    id: String,
    name: String,
    price_cents: u64,
}

#[derive(Clone)]
struct App {
    hub: Hub,
    products: Arc<Mutex<Vec<Product>>>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = listen_addr("127.0.0.1:3001")?;
    let config =
        Config::new().replayer(Arc::new(MemoryReplayer::new(3, Duration::from_secs(3600))));
    let (events, hub) = sse_hub::axum::new_with_hub(config)?;
    let products = ["kettle", "toaster", "blender"]
        .iter()
        .enumerate()
        .map(|(i, name)| Product {
            id: format!("p{}", i + 1),
            name: (*name).to_owned(),
            price_cents: 1999 + 1000 * i as u64,
        })
        .collect();
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/client.js", get(client_js))
        .route("/api/products", get(list))
        .route("/api/products/{id}/price", post(set_price))
        .with_state(App {
            hub: hub.clone(),
            products: Arc::new(Mutex::new(products)),
        })
        .route_service("/events", events);
    serve(app, hub, addr).await
}

async fn list(State(app): State<App>) -> Json<Vec<Product>> {
    let products = app.products.lock().map(|p| p.clone()).unwrap_or_default();
    Json(products)
}

#[derive(Debug, Deserialize)]
struct Price {
    price_cents: u64,
}

/// Changes a price, then tells every page showing products to refetch.
async fn set_price(
    State(app): State<App>,
    Path(id): Path<String>,
    Json(price): Json<Price>,
) -> StatusCode {
    let found = match app.products.lock() {
        Ok(mut products) => products
            .iter_mut()
            .find(|p| p.id == id)
            .map(|p| p.price_cents = price.price_cents)
            .is_some(),
        Err(_) => false,
    };
    if !found {
        return StatusCode::NOT_FOUND;
    }
    match app.hub.invalidate("products", &id, "updated") {
        Ok(_) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}
