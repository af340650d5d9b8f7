//! Mints an HS256 token for a server started with `--jwt-secret`.
//!
//! ```sh
//! cargo run -p sse-hub-server --example mint_token -- \
//!     "$SECRET" '{"subscribe":["orders.>"],"tenant":"acme"}' 3600 user-42
//! ```
//!
//! Arguments: the secret, the `sse_hub` claim as JSON (`subscribe`,
//! `publish`, `tenant`, `meta`, `admin`), the lifetime in seconds (default
//! 3600) and the subject (default none). Prints the token. Your own issuer
//! does the same with any JWT library; the server needs `exp` and, when
//! `--jwt-audience` / `--jwt-issuer` are set, `aud` / `iss`.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: mint_token SECRET SSE_HUB_CLAIM_JSON [TTL_S] [SUB]";
    let secret = args.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let grants: Value = serde_json::from_str(&args.next().ok_or_else(|| anyhow::anyhow!(usage))?)?;
    let ttl: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3600);
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut claims = json!({"exp": now + ttl, "iat": now, "sse_hub": grants});
    if let Some(sub) = args.next() {
        claims["sub"] = json!(sub);
    }
    let token = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?;
    println!("{token}");
    Ok(())
}
