//! Fuzz targets: property tests over arbitrary bytes for every parser and
//! encoder that sees untrusted input.
//!
//! No coverage-guided fuzzer runs on the stable toolchain here (`cargo fuzz`
//! needs nightly), so these are `proptest` targets fed raw bytes, and raw
//! bytes mixed with the tokens each parser cares about (CR, LF, NUL, `:`,
//! `%`, `.`, `*`, `>`, header syntax) so that the interesting branches are
//! reached far more often than by uniform bytes alone:
//!
//! * [`wire`](crate::wire) through [`Hub::publish`]: any type, id and data
//!   bytes are either refused with the right field named, or the strict spec
//!   parser ([`crate::test_parser`]) reads back exactly what was published.
//! * The SSE fast path's request-head parser (`axum::serve::parse_head`)
//!   and the subscribe handshake built from it (query parameters,
//!   `Last-Event-ID` as bytes).
//! * `Last-Event-ID` against a replay store: any id gives either the
//!   replay after it or a `resync`, never a panic or a silent gap.
//! * Topic and pattern parsing, and the query-string decoder.
//!
//! The default test run tries each target `PROPTEST_CASES` times (proptest's
//! default, 256). A long run, as documented in RELIABILITY.md:
//!
//! ```text
//! PROPTEST_CASES=100000 cargo test --release -p sse-hub --all-features --lib fuzz::
//! ```
#![cfg(test)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use proptest::prelude::*;

use crate::replay::MemoryReplayer;
use crate::test_parser::parse_bytes;
use crate::{Config, Connecting, Event, Hub, Pattern, PublishError, Topic};

/// Bytes biased towards `tokens`: each element is a random byte or one of
/// the tokens, so both the bulk and the edge cases are exercised.
fn bytes_with(tokens: &'static [&'static [u8]], max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            3 => any::<u8>().prop_map(|b| vec![b]),
            2 => prop::sample::select(tokens).prop_map(<[u8]>::to_vec),
            1 => "[a-z0-9]{1,8}".prop_map(String::into_bytes),
        ],
        0..max,
    )
    .prop_map(|pieces| pieces.concat())
}

const WIRE_TOKENS: &[&[u8]] = &[
    b"\r",
    b"\n",
    b"\r\n",
    b"\0",
    b":",
    b" ",
    b"data:",
    b"event:",
    b"id:",
    b"retry:",
    b"\xEF\xBB\xBF",
    b"\xFF",
    b"\xC3",
    b"connected",
];

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What a client receives for published data: line breaks become LF.
fn normalise(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The next chunk the stream yields within a short wait.
async fn next_chunk(stream: &mut crate::EventStream) -> Option<Bytes> {
    tokio::time::timeout(Duration::from_secs(2), stream.next())
        .await
        .ok()
        .flatten()
}

#[test]
fn fuzz_publish_then_parse_reads_back_exactly_what_was_published() {
    let rt = runtime();
    let hub = Hub::new(Config::new().direct_write_gap(None)).unwrap();
    let mut stream = rt
        .block_on(hub.subscribe(Connecting::new().with_topics(["t"])))
        .unwrap();
    // The preamble: retry and `connected`.
    rt.block_on(next_chunk(&mut stream)).unwrap();
    // proptest's closure is `Fn`.
    let stream = std::cell::RefCell::new(stream);
    proptest!(|(
        event_type in proptest::option::of(bytes_with(WIRE_TOKENS, 24)),
        id in proptest::option::of(bytes_with(WIRE_TOKENS, 24)),
        data in bytes_with(WIRE_TOKENS, 256),
    )| {
        let event_type = event_type.as_deref().map(lossy);
        let id = id.as_deref().map(lossy);
        let data = lossy(&data);
        let mut event = match &event_type {
            Some(t) => Event::new(t.clone()),
            None => Event::message(),
        };
        event = event.topic("t").data(data.clone());
        if let Some(id) = &id {
            event = event.id(id.clone());
        }
        match hub.publish(event) {
            Err(err) => {
                // Refused for a reason that holds, with the field named.
                let field = err.field();
                let bad_type = event_type.as_deref().is_some_and(|t| {
                    t.is_empty()
                        || t.len() > 256
                        || t.contains(['\r', '\n', '\0'])
                        || crate::control::RESERVED_TYPES.contains(&t)
                });
                let bad_id = id.as_deref().is_some_and(|i| {
                    i.is_empty()
                        || i.len() > 256
                        || i.contains(['\r', '\n', '\0'])
                        || crate::hub::ids::is_hub_form(i)
                });
                match err {
                    PublishError::EmptyType
                    | PublishError::TypeLength { .. }
                    | PublishError::InvalidType(_)
                    | PublishError::ReservedType(_) => {
                        prop_assert!(bad_type && field == Some("type"), "{err}");
                    }
                    PublishError::InvalidId(_)
                    | PublishError::IdLength { .. }
                    | PublishError::ReservedId
                    | PublishError::DuplicateId => {
                        prop_assert!(!bad_type && field == Some("id"), "{err}");
                    }
                    other => prop_assert!(false, "unexpected refusal: {other}"),
                }
                let _ = bad_id;
            }
            Ok(receipt) => {
                prop_assert_eq!(receipt.recipients, 1);
                let chunk = rt.block_on(next_chunk(&mut stream.borrow_mut()));
                prop_assert!(chunk.is_some(), "the event reached the subscriber");
                let parsed = parse_bytes(&chunk.unwrap_or_default());
                prop_assert_eq!(parsed.events.len(), 1, "exactly one event");
                let got = &parsed.events[0];
                prop_assert_eq!(
                    got.event_type.as_str(),
                    event_type.as_deref().unwrap_or("message")
                );
                prop_assert_eq!(&got.data, &normalise(&data));
                prop_assert_eq!(&got.last_event_id, &receipt.id);
                if let Some(id) = &id {
                    prop_assert_eq!(&receipt.id, id);
                }
                prop_assert!(parsed
                    .fields_seen
                    .iter()
                    .all(|f| f == "event" || f == "id" || f == "data"));
                prop_assert!(!parsed.pending_discarded);
                prop_assert_eq!(parsed.unterminated_tail, 0);
                prop_assert_eq!(parsed.retry, None);
            }
        }
    });
}

const HEAD_TOKENS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"/events",
    b"/events?topic=a.b&topic=c.*&lastEventID=1-2",
    b"?",
    b"&",
    b"=",
    b"%",
    b"%FF",
    b"%0A",
    b"topic=",
    b"lastEventID=",
    b" HTTP/1.1\r\n",
    b" HTTP/1.0\r\n",
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b"Host: x\r\n",
    b"Last-Event-ID: ",
    b"Content-Length: 5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b" folded\r\n",
    b": ",
    b"\0",
    b"\xFF",
];

/// A head that starts as a valid fast-path request and continues with
/// arbitrary bytes, or arbitrary bytes throughout.
fn head() -> impl Strategy<Value = Vec<u8>> {
    // A well-formed head with arbitrary query, header values and trailing
    // bytes (a pipelined request, a body): the branch that subscribes.
    let query = "([a-zA-Z]{1,6}=[a-zA-Z0-9.*>%-]{0,8}&?){0,4}";
    let value = prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')], 0..24);
    let well_formed = (
        query,
        prop::collection::vec(("[A-Za-z-]{1,12}", value), 0..4),
        bytes_with(HEAD_TOKENS, 8),
    )
        .prop_map(|(query, headers, tail)| {
            let mut head = format!("GET /events?{query} HTTP/1.1\r\n").into_bytes();
            for (name, value) in headers {
                head.extend_from_slice(name.as_bytes());
                head.extend_from_slice(b": ");
                head.extend_from_slice(&value);
                head.extend_from_slice(b"\r\n");
            }
            head.extend_from_slice(b"\r\n");
            head.extend_from_slice(&tail);
            head
        });
    prop_oneof![
        3 => well_formed,
        1 => bytes_with(HEAD_TOKENS, 48),
        1 => bytes_with(HEAD_TOKENS, 24).prop_map(|tail| {
            let mut head = b"GET /events?".to_vec();
            head.extend_from_slice(&tail);
            head
        }),
        1 => (bytes_with(HEAD_TOKENS, 12), bytes_with(HEAD_TOKENS, 12)).prop_map(|(query, header)| {
            let mut head = b"GET /events?".to_vec();
            head.extend_from_slice(&query);
            head.extend_from_slice(b" HTTP/1.1\r\nLast-Event-ID: ");
            head.extend_from_slice(&header);
            head.extend_from_slice(b"\r\n\r\n");
            head
        }),
    ]
}

#[cfg(feature = "axum")]
#[test]
fn fuzz_fast_path_head_parser() {
    use crate::axum::serve::{parse_head, Head};
    proptest!(|(buf in head())| {
        match parse_head(&buf, "/events") {
            Head::Sse(parts, len) => {
                prop_assert!(len <= buf.len());
                // A head ends with an empty line (httparse also takes bare LF).
                prop_assert!(buf[..len].ends_with(b"\n"));
                prop_assert_eq!(&parts.method, &http::Method::GET);
                prop_assert_eq!(parts.uri.path(), "/events");
                // The head alone parses the same: nothing after it was used.
                prop_assert!(matches!(parse_head(&buf[..len], "/events"), Head::Sse(_, l) if l == len));
                // Every strict prefix is incomplete, never another answer.
                for cut in [0, len / 2, len.saturating_sub(1)] {
                    if cut < len {
                        prop_assert!(matches!(parse_head(&buf[..cut], "/events"), Head::Partial));
                    }
                }
                let topics_asked = parts
                    .uri
                    .query()
                    .map_or(0, |q| crate::query::params(q).filter(|(k, _)| k == "topic").count());
                let strict = parts.uri.query().is_none_or(|q| {
                    crate::query::strict_params(q).all(|(k, v)| v.is_ok() || (k != "topic" && k != "lastEventID"))
                });
                let Ok(connecting) = crate::axum::connecting_from(*parts) else {
                    prop_assert!(!strict, "refused only for invalid UTF-8");
                    return Ok(());
                };
                prop_assert!(strict);
                prop_assert_eq!(connecting.topics.len(), topics_asked);
                if let Some(id) = &connecting.last_event_id {
                    // An id is text the hub can compare; bounded by the head.
                    prop_assert!(id.len() <= 3 * buf.len());
                }
            }
            Head::Partial => {
                // Only a head that is still incomplete waits for more bytes.
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut request = httparse::Request::new(&mut headers);
                prop_assert!(matches!(request.parse(&buf), Ok(httparse::Status::Partial)));
            }
            Head::Other => {}
        }
    });
}

const ID_TOKENS: &[&[u8]] = &[b"-", b"0", b"9", b"\xFF", b"\xC3\xA9", b" ", b"\t", b"e1-"];

#[cfg(feature = "axum")]
#[test]
fn fuzz_last_event_id_replays_or_resyncs() {
    let rt = runtime();
    let ring = Arc::new(MemoryReplayer::new(8, Duration::from_secs(3600)));
    let hub = Hub::new(Config::new().max_id_len(64).replayer(ring)).unwrap();
    let ids: Vec<String> = (0..6)
        .map(|n| {
            let event = Event::new("e").topic("t").data(n.to_string());
            let event = if n % 2 == 0 {
                event.id(format!("e{n}-x"))
            } else {
                event
            };
            hub.publish(event).unwrap().id
        })
        .collect();
    let ids = Arc::new(ids);
    proptest!(|(
        raw in prop_oneof![
            bytes_with(ID_TOKENS, 80),
            prop::sample::select((*ids).clone()).prop_map(String::into_bytes),
        ],
        in_query in any::<bool>(),
    )| {
        let mut request = http::Request::builder().uri("/events?topic=t");
        if in_query {
            let escaped: String = raw.iter().map(|b| format!("%{b:02X}")).collect();
            request = http::Request::builder().uri(format!("/events?topic=t&lastEventID={escaped}"));
        } else {
            match http::HeaderValue::from_bytes(&raw) {
                Ok(value) => request = request.header("last-event-id", value),
                // Not a header value hyper would hand us either.
                Err(_) => return Ok(()),
            }
        }
        let Ok(request) = request.body(()) else { return Ok(()) };
        let Ok(connecting) = crate::axum::connecting_from(request.into_parts().0) else {
            // lastEventID bytes that are not UTF-8: refused (400), tested
            // through the server.
            prop_assert!(in_query && std::str::from_utf8(&raw).is_err());
            return Ok(());
        };
        let asked = connecting.last_event_id.clone().unwrap_or_default();
        let preamble = rt.block_on(async {
            let mut stream = hub.subscribe(connecting).await.unwrap();
            next_chunk(&mut stream).await.unwrap_or_default()
        });
        let parsed = parse_bytes(&preamble);
        let types: Vec<&str> = parsed.events.iter().map(|e| e.event_type.as_str()).collect();
        prop_assert_eq!(types.last().copied(), Some("connected"));
        match ids.iter().position(|id| *id == asked) {
            Some(at) => {
                // Exactly the retained events after it, in order, no resync.
                let replayed: Vec<&str> =
                    parsed.events.iter().filter(|e| e.event_type == "e").map(|e| e.last_event_id.as_str()).collect();
                let expected: Vec<&str> = ids[at + 1..].iter().map(String::as_str).collect();
                prop_assert_eq!(replayed, expected);
                prop_assert!(!types.contains(&"resync"));
            }
            None => prop_assert_eq!(types, vec!["resync", "connected"]),
        }
    });
}

const TOPIC_TOKENS: &[&[u8]] = &[
    b".",
    b"*",
    b">",
    b"..",
    b".*",
    b".>",
    b"\0",
    b" ",
    b"\xC3\xA9",
    b"a",
    b"\x7F",
    b"%",
];

#[test]
fn fuzz_topics_and_patterns() {
    proptest!(|(raw in bytes_with(TOPIC_TOKENS, 40))| {
        let text = lossy(&raw);
        let topic = Topic::new(&text);
        let pattern = Pattern::new(&text);
        if let Ok(topic) = &topic {
            prop_assert_eq!(topic.as_str(), text.as_str());
            prop_assert!(!text.contains(['*', '>']));
            let as_pattern = Pattern::new(&text);
            prop_assert!(as_pattern.is_ok(), "every topic is a literal pattern");
            prop_assert!(as_pattern.as_ref().is_ok_and(|p| p.is_literal() && p.matches(topic)));
        }
        match &pattern {
            Ok(pattern) => {
                prop_assert_eq!(pattern.as_str(), text.as_str());
                prop_assert!(!text.is_empty());
                prop_assert!(text.split('.').all(|t| !t.is_empty()));
            }
            Err(err) => {
                // Errors describe, never echo: a marker in the input never
                // shows up in the message.
                let marked = format!("{text}QQmarkerQQ");
                if let Err(err) = Pattern::new(&marked) {
                    prop_assert!(!err.to_string().contains("QQmarkerQQ"));
                }
                prop_assert!(topic.is_err(), "a topic is always a valid pattern: {err}");
            }
        }
        // The query decoder never fails and never grows the pair count.
        let pairs = crate::query::params(&text).count();
        prop_assert!(pairs <= text.matches('&').count() + 1);
    });
}
