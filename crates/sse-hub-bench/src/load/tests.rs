#![allow(clippy::unwrap_used)]
use super::*;

#[test]
fn url() {
    let (a, h) = parse_url("http://127.0.0.1:9000").unwrap();
    assert_eq!(a.port(), 9000);
    assert_eq!(h, "127.0.0.1:9000");
    assert!(parse_url("http://10.0.0.1:80").is_err());
    assert!(parse_url("http://example.com:80").is_err());
    assert!(parse_url("http://localhost:81/x").is_ok());
}

#[test]
fn template_payload() {
    let cfg = LoadConfig {
        payload: 64,
        priority: Some("coalesced".into()),
        coalesce_key: Some("progress".into()),
        ..LoadConfig::default()
    };
    let t = Template::new(&cfg, "h").unwrap();
    let mut body = Vec::new();
    t.push_event(&mut body, 7, 1234);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let data = v["data"].as_str().unwrap();
    assert_eq!(data.len(), 64);
    assert!(data.starts_with("7:1234:x"));
    assert_eq!(v["priority"], "coalesced");
    assert_eq!(v["coalesce_key"], "progress");
    assert_eq!(parse_payload(data.as_bytes()), Some((7, 1234)));
}

#[test]
fn query_encoding() {
    assert_eq!(encode_query("a b/c"), "a%20b%2Fc");
}
