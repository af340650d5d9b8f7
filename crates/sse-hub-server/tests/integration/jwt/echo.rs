//! No response quotes a token, a claim or a tenant.

use super::*;

#[tokio::test]
async fn no_response_echoes_a_token_a_claim_or_a_tenant() {
    let server = jwt_server(&["--anonymous-topics", "public"]).await;
    let addr = server.addr();
    let secret_claims = |extra: Value| {
        let mut grants = json!({"subscribe": ["orders.>"], "publish": ["orders.>"],
                                "tenant": "tnt-zq81", "meta": {"plan": "meta-zq81"}});
        grants
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let mut claims = claims(grants);
        claims["sub"] = json!("sub-zq81");
        claims
    };
    let good = hs(&secret_claims(json!({})));
    let mut expired = secret_claims(json!({}));
    expired["exp"] = json!(now() - 100);
    let expired = hs(&expired);
    let forged = unsigned(&secret_claims(json!({"admin": true})));
    let tokens = [good.clone(), expired.clone(), forged.clone()];
    let mut seen: Vec<Raw> = Vec::new();
    for token in &tokens {
        for head in [
            format!("GET /events?topic=orders.eu HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"),
            format!("GET /events?topic=billing HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"),
            format!("GET /events?topic=public HTTP/1.1\r\nHost: localhost\r\nCookie: sse_hub_token={token}"),
            format!("GET /stats?connections=true HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"),
            format!("GET /stats HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"),
            format!("GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"),
            format!("POST /connections/0123456789abcdef0123456789abcdef/pause HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"),
        ] {
            seen.push(raw(addr, &head, "").await);
        }
        for body in [
            r#"{"topics":["orders.x"],"data":"d"}"#,
            r#"{"topics":["orders.x"],"tenant":"tnt-other-zq81"}"#,
            r#"{"topics":["billing"],"data":"d"}"#,
            r#"{"topics":["orders.x"],"tenant":"tnt-zq81","scope":"union"}"#,
        ] {
            seen.push(
                raw(
                    addr,
                    &format!("POST /publish HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"),
                    body,
                )
                .await,
            );
        }
        for body in [
            "",
            r#"{"topics":["billing"]}"#,
            r#"{"topics":["orders.eu"]}"#,
        ] {
            seen.push(
                raw(
                    addr,
                    &format!("POST /tickets HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}"),
                    body,
                )
                .await,
            );
        }
    }
    // Every route and outcome was exercised.
    let statuses: std::collections::BTreeSet<u16> = seen.iter().map(|r| r.status).collect();
    for status in [200, 201, 202, 400, 401, 403] {
        assert!(
            statuses.contains(&status),
            "{status} not seen: {statuses:?}"
        );
    }
    // Tickets are redeemed, used twice, and their streams read too.
    let tickets: Vec<String> = seen
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["ticket"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for ticket in &tickets {
        for _ in 0..2 {
            seen.push(
                raw(
                    addr,
                    &format!("GET /events?ticket={ticket} HTTP/1.1\r\nHost: localhost"),
                    "",
                )
                .await,
            );
        }
    }
    let forbidden: Vec<&str> = tokens
        .iter()
        .map(String::as_str)
        .chain([
            "sub-zq81",
            "tnt-zq81",
            "tnt-other-zq81",
            "meta-zq81",
            SECRET,
            "adm",
        ])
        .collect();
    for response in &seen {
        let text = format!("{:?}\n{}", response.headers, response.body);
        for needle in &forbidden {
            // "adm" is short: only as a whole header value or word.
            let found = if *needle == "adm" {
                text.split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|w| w == "adm")
            } else {
                text.contains(needle)
            };
            assert!(!found, "{needle} in {response:?}");
        }
    }
}
