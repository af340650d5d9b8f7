//! DESIGN §6 with real signed tokens, through real sockets: keys, claims,
//! 401 / 403 and their challenges, anonymous topics, tenancy (live, replay,
//! wildcards), publish grants, tenant-bound publishers, tickets (memory, and
//! Redis shared by two server processes), a rotating JWKS URL, expiry, and no
//! token, claim or tenant in any response.

mod echo;
mod keys;
mod publish;
mod subscribe;
mod tickets;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::common::{binary_command, error_of, free_port, json_of, raw, Raw, Server, Sse, WAIT};

/// HS256 secret of the test servers (test only).
const SECRET: &str = "0123456789abcdef0123456789abcdef-server-test";

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sse-hub/src/auth/testdata");

const RSA_PRIVATE: &[u8] = include_bytes!("../../../../sse-hub/src/auth/testdata/rsa_private.pem");

const RSA_PUBLIC: &[u8] = include_bytes!("../../../../sse-hub/src/auth/testdata/rsa_public.pem");

const RSA2_PRIVATE: &[u8] =
    include_bytes!("../../../../sse-hub/src/auth/testdata/rsa2_private.pem");

const EC256_PRIVATE: &[u8] =
    include_bytes!("../../../../sse-hub/src/auth/testdata/ec256_private.pem");

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims for `sub` valid for an hour with this `sse_hub` claim.
fn claims(sse_hub: Value) -> Value {
    json!({"sub": "user-1", "exp": now() + 3600, "sse_hub": sse_hub})
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// An HS256 token with the servers' secret.
fn hs(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
}

fn rs(claims: &Value) -> String {
    sign(
        Algorithm::RS256,
        None,
        claims,
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    )
}

/// `header.payload.` with `alg: none`.
fn unsigned(claims: &Value) -> String {
    use base64::Engine as _;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    )
}

async fn jwt_server(extra: &[&str]) -> Server {
    let mut args = vec![
        "--jwt-secret",
        SECRET,
        "--publish-token",
        "pub",
        "--admin-token",
        "adm",
    ];
    args.extend_from_slice(extra);
    Server::start(&args).await
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn ticket(server: &Server, token: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = server
        .client()
        .post(server.url("/tickets"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// A JWKS served over HTTP by the test, whose keys it can change.
async fn jwks_server(keys: Arc<Mutex<Vec<Jwk>>>) -> String {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/jwks.json",
        get(move || {
            let keys = keys.clone();
            async move {
                let keys = keys.lock().unwrap().clone();
                axum::Json(json!({ "keys": keys }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/jwks.json")
}

fn jwk(alg: Algorithm, private: &[u8], kid: &str) -> Jwk {
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(private).unwrap(),
        _ => EncodingKey::from_rsa_pem(private).unwrap(),
    };
    let mut jwk = Jwk::from_encoding_key(&key, alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

/// A server binary sharing Redis tickets; returns its base URL.
async fn binary_server(args: &[&str]) -> (tokio::process::Child, String) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = binary_command()
        .args(["--listen", &listen])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await {
            if response.status() == 200 {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "binary did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, base)
}
