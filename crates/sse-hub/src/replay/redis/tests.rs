use std::time::Duration;

use super::*;

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn entry(fields: &[&str]) -> Value {
    Value::Array(vec![
        bulk("2-0"),
        Value::Array(fields.iter().map(|f| bulk(f)).collect()),
    ])
}

/// The looked-up entry `1-0`, then `rest`.
fn reply(rest: Vec<Value>) -> Value {
    let mut all = vec![Value::Array(vec![bulk("1-0"), Value::Array(vec![])])];
    all.extend(rest);
    Value::Array(all)
}

const GOOD: [&str; 12] = [
    "w", "x/0", "id", "a", "data", "d", "topics", "[\"t\"]", "group", "{}", "scope", "union",
];

#[test]
fn decodes_events_and_stops_at_gaps() {
    let got = reply(vec![entry(&GOOD), entry(&["gap", "1"]), entry(&GOOD)]);
    let replay = decode_after("1-0", got, 10).unwrap();
    assert!(replay.found && replay.truncated);
    assert_eq!(replay.events.len(), 1);
    assert_eq!(replay.events[0].topics, vec!["t".to_owned()]);
    assert_eq!(replay.events[0].event_type, None);
}

#[test]
fn unknown_and_limit() {
    // Trimmed: the range starts at a later entry, or is empty.
    let trimmed = decode_after("0-1", reply(vec![entry(&GOOD)]), 10).unwrap();
    assert!(!trimmed.found && trimmed.events.is_empty());
    assert!(!decode_after("1-0", Value::Array(vec![]), 10).unwrap().found);
    let replay = decode_after("1-0", reply(vec![entry(&GOOD), entry(&GOOD)]), 1).unwrap();
    assert!(replay.found && replay.truncated && replay.events.len() == 1);
}

#[test]
fn corrupt_records_are_errors_not_panics() {
    for bad in [
        Value::Okay,
        Value::Array(vec![Value::Int(7)]),
        Value::Array(vec![Value::Array(vec![])]),
        reply(vec![entry(&["id", "a"])]),
        reply(vec![entry(&["id"])]),
        reply(vec![entry(&[
            "id", "a", "data", "d", "topics", "nope", "group", "{}", "scope", "union",
        ])]),
        reply(vec![entry(&[
            "id", "a", "data", "d", "topics", "[]", "group", "{}", "scope", "both",
        ])]),
        reply(vec![Value::Array(vec![bulk("2-0")])]),
        reply(vec![entry(&[
            "id", "a", "data", "d", "topics", "[1]", "group", "{}", "scope", "union",
        ])]),
    ] {
        assert!(
            matches!(
                decode_after("1-0", bad.clone(), 10),
                Err(ReplayError::Corrupt(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn recent_ids_are_bounded() {
    let mut recent = RecentIds::default();
    let now = Instant::now();
    for i in 0..10 {
        let id: Arc<str> = Arc::from(i.to_string().as_str());
        recent.set.insert(id.clone());
        recent.order.push_back((now, id));
    }
    recent.expire(now, Duration::from_secs(1), 3);
    assert_eq!(recent.order.len(), 3);
    assert!(recent.set.contains("9") && !recent.set.contains("6"));
}
