//! `SubscribePolicy` as the `on_connect` hook, through real sockets and a real
//! SSE client, with real HS256 tokens: 401 / `invalid_token` / 403 challenges,
//! cookie, bearer and one-time ticket credentials, tenant isolation, and no
//! response echoing a token or a tenant.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use sse_hub::auth::{JwtVerifier, MemoryTicketStore, SubscribePolicy, TicketGrant, TicketStore};
use sse_hub::{Config, Event, Hub, Pattern};

const SECRET: &[u8] = b"integration-test-secret-of-32-bytes-or-more";

fn token(exp_from_now: i64, sse_hub: serde_json::Value) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({"sub": "user-7", "exp": now + exp_from_now, "sse_hub": sse_hub});
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

struct Server {
    addr: SocketAddr,
    hub: Hub,
    tickets: Arc<MemoryTicketStore>,
    verifier: JwtVerifier,
    _task: tokio::task::JoinHandle<()>,
}

async fn server() -> Server {
    let verifier = JwtVerifier::builder()
        .hmac_secret(SECRET)
        .build()
        .await
        .unwrap();
    let tickets = Arc::new(MemoryTicketStore::new(100));
    let policy = SubscribePolicy::new()
        .verifier(verifier.clone())
        .tickets(tickets.clone())
        .anonymous([Pattern::new("public.>").unwrap()]);
    let hub = Hub::new(Config::new().on_connect(move |connecting| {
        let policy = policy.clone();
        async move { policy.authorize(connecting).await }
    }))
    .unwrap();
    let app = Router::new().route_service("/events", sse_hub::axum::SseService::new(hub.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server {
        addr,
        hub,
        tickets,
        verifier,
        _task: task,
    }
}

async fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(format!("http://{}{path}", server.addr))
        .header("host", "localhost");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// Status, `WWW-Authenticate` and body of a refused subscribe.
async fn refused(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let headers = format!("{:?}", response.headers());
    let body = response.text().await.unwrap();
    (status, challenge, format!("{headers}\n{body}"))
}

fn events(response: reqwest::Response) -> impl Stream<Item = eventsource_stream::Event> + Unpin {
    response
        .bytes_stream()
        .eventsource()
        .filter_map(|e| async move { e.ok() })
        .boxed()
}

async fn next(
    events: &mut (impl Stream<Item = eventsource_stream::Event> + Unpin),
) -> eventsource_stream::Event {
    tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("event within 5 s")
        .expect("stream open")
}

#[tokio::test]
async fn challenges_follow_rfc_6750_and_echo_nothing() {
    let server = server().await;
    let (status, challenge, _) = refused(get(&server, "/events?topic=orders.eu", &[]).await).await;
    assert_eq!(status, 401);
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(!challenge.contains("invalid_token"), "{challenge}");

    let expired = token(
        -3600,
        json!({"subscribe": [">"], "tenant": "acme-secret-tenant"}),
    );
    let auth = format!("Bearer {expired}");
    let (status, challenge, text) = refused(
        get(
            &server,
            "/events?topic=public.news",
            &[("authorization", &auth)],
        )
        .await,
    )
    .await;
    assert_eq!(
        status, 401,
        "a failed credential is not downgraded to anonymous"
    );
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(
        !text.contains(&expired) && !text.contains("acme-secret-tenant"),
        "{text}"
    );

    let narrow = token(
        3600,
        json!({"subscribe": ["orders.eu"], "tenant": "acme-secret-tenant"}),
    );
    let auth = format!("Bearer {narrow}");
    let (status, challenge, text) = refused(
        get(
            &server,
            "/events?topic=orders.us",
            &[("authorization", &auth)],
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert!(
        !text.contains(&narrow)
            && !text.contains("acme-secret-tenant")
            && !text.contains("orders.us"),
        "{text}"
    );

    let public = get(&server, "/events?topic=public.news", &[]).await;
    assert_eq!(public.status(), 200);
}

#[tokio::test]
async fn a_cookie_subscriber_gets_its_grants_and_only_its_tenant() {
    let server = server().await;
    let jwt = token(3600, json!({"subscribe": ["orders.>"], "tenant": "acme"}));
    let cookie = format!("theme=dark; sse_hub_token={jwt}");
    // No topic: every granted pattern.
    let response = get(&server, "/events", &[("cookie", &cookie)]).await;
    assert_eq!(response.status(), 200);
    let mut stream = events(response);
    assert_eq!(next(&mut stream).await.event, "connected");
    let tenant_event = |tenant: &str, data: &str| {
        Event::new("order")
            .data(data)
            .topic("orders.eu")
            .group("tenant", tenant)
    };
    server
        .hub
        .publish(tenant_event("globex", "for-globex"))
        .unwrap();
    server
        .hub
        .publish(Event::new("order").data("for-all").topic("orders.eu"))
        .unwrap();
    server
        .hub
        .publish(tenant_event("acme", "for-acme"))
        .unwrap();
    assert_eq!(next(&mut stream).await.data, "for-all");
    assert_eq!(next(&mut stream).await.data, "for-acme");
}

#[tokio::test]
async fn a_ticket_opens_one_stream_with_exactly_its_topics() {
    let server = server().await;
    let jwt = token(3600, json!({"subscribe": ["orders.>"]}));
    let claims = server.verifier.verify(&jwt).await.unwrap();
    let ticket = server
        .tickets
        .issue(
            TicketGrant::new(claims, Some(vec!["orders.eu".into()])),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let path = format!("/events?ticket={ticket}");
    let response = get(&server, &path, &[]).await;
    assert_eq!(response.status(), 200);
    let mut stream = events(response);
    assert_eq!(next(&mut stream).await.event, "connected");
    server
        .hub
        .publish(Event::new("o").data("us").topic("orders.us"))
        .unwrap();
    server
        .hub
        .publish(Event::new("o").data("eu").topic("orders.eu"))
        .unwrap();
    assert_eq!(next(&mut stream).await.data, "eu");

    let (status, challenge, text) = refused(get(&server, &path, &[]).await).await;
    assert_eq!(status, 401, "second use");
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert!(!text.contains(&ticket), "{text}");
}
