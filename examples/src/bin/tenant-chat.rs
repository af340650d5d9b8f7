//! Tenant chat: `POST /login` sets an HttpOnly cookie holding a signed token
//! (HS256) with the user, the tenant and a grant for `chat.>`; the page's
//! stream is authorized by that cookie, rooms are topics (`chat.<room>`) and
//! every message is scoped to the sender's tenant, so two companies chatting
//! in a room of the same name never see each other's messages.
//!
//! ```text
//! cargo run -p sse-hub-examples --bin tenant-chat   # then open http://127.0.0.1:3002/
//! ```

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::{EncodingKey, Header};
use serde::Deserialize;
use serde_json::json;
use sse_hub::auth::{JwtVerifier, SubscribePolicy, DEFAULT_COOKIE, TENANT_META_KEY};
use sse_hub::{Config, Event, Hub};
use sse_hub_examples::{client_js, control_routes, listen_addr, serve};

const PAGE: &str = include_str!("../../static/tenant-chat.html");
/// How long a login lasts.
const SESSION: Duration = Duration::from_secs(3600);

#[derive(Clone)]
struct App {
    hub: Hub,
    verifier: JwtVerifier,
    signing: Arc<EncodingKey>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = listen_addr("127.0.0.1:3002")?;
    // A fresh secret per process: restarting the example logs everyone out.
    let secret: [u8; 32] = rand::random();
    let verifier = JwtVerifier::builder().hmac_secret(secret).build().await?;
    let policy = SubscribePolicy::new().verifier(verifier.clone());
    let (events, hub) = sse_hub::axum::new_with_hub(Config::new().on_connect(move |connecting| {
        let policy = policy.clone();
        async move { policy.authorize(connecting).await }
    }))?;
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/client.js", get(client_js))
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/rooms/{room}/messages", post(send))
        .with_state(App {
            hub: hub.clone(),
            verifier,
            signing: Arc::new(EncodingKey::from_secret(&secret)),
        })
        .merge(control_routes(hub.clone()))
        .route_service("/events", events);
    serve(app, hub, addr).await
}

/// A user or tenant name: 1 to 32 of `a-z`, `0-9`, `-`.
fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[derive(Debug, Deserialize)]
struct Login {
    user: String,
    tenant: String,
}

/// Signs a token for the user (a real app checks a password first) and sets
/// it as the subscriber cookie: HttpOnly (page scripts never see it),
/// SameSite=Strict, for this origin.
async fn login(State(app): State<App>, Json(login): Json<Login>) -> Response {
    if !valid_name(&login.user) || !valid_name(&login.tenant) {
        return (
            StatusCode::BAD_REQUEST,
            "user and tenant: 1-32 of a-z 0-9 -",
        )
            .into_response();
    }
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_add(SESSION)
        .as_secs();
    let claims = json!({
        "sub": login.user,
        "exp": exp,
        "sse_hub": {"subscribe": ["chat.>"], "tenant": login.tenant},
    });
    let Ok(token) = jsonwebtoken::encode(&Header::default(), &claims, &app.signing) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let cookie = format!(
        "{DEFAULT_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION.as_secs()
    );
    (
        [(header::SET_COOKIE, cookie)],
        Json(json!({"user": login.user, "tenant": login.tenant})),
    )
        .into_response()
}

/// The user and tenant of the request's cookie, verified.
async fn session(app: &App, headers: &HeaderMap) -> Option<(String, String)> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    let token = cookies.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == DEFAULT_COOKIE).then_some(value)
    })?;
    let claims = app.verifier.verify(token).await.ok()?;
    let metadata = claims.metadata();
    let tenant = metadata.get(TENANT_META_KEY)?.clone();
    Some((claims.subject?, tenant))
}

async fn me(State(app): State<App>, headers: HeaderMap) -> Response {
    match session(&app, &headers).await {
        Some((user, tenant)) => Json(json!({"user": user, "tenant": tenant})).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct Message {
    text: String,
}

/// Publishes a message to the room, for the sender's tenant only.
async fn send(
    State(app): State<App>,
    Path(room): Path<String>,
    headers: HeaderMap,
    Json(message): Json<Message>,
) -> StatusCode {
    let Some((user, tenant)) = session(&app, &headers).await else {
        return StatusCode::UNAUTHORIZED;
    };
    if !valid_name(&room) || message.text.is_empty() || message.text.len() > 2000 {
        return StatusCode::BAD_REQUEST;
    }
    let event = Event::new("message")
        .topic(format!("chat.{room}"))
        .json(&json!({"room": room, "user": user, "text": message.text}))
        // Only connections whose token carries this tenant (intersected
        // with the room's topic).
        .group(TENANT_META_KEY, tenant);
    match app.hub.publish(event) {
        Ok(_) => StatusCode::ACCEPTED,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}
