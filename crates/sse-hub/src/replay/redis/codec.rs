//! Stream entries: the `scope` field's encoding, and decoding `XRANGE`
//! replies into events (a record that does not decode is
//! [`ReplayError::Corrupt`], never a panic).

use std::fmt;

use redis::Value;

use crate::event::{Metadata, Scope};
use crate::replay::{Replay, ReplayError, StoredEvent};

pub(super) fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Union => "union",
        Scope::Intersect => "intersect",
    }
}

fn corrupt(what: impl fmt::Display) -> ReplayError {
    ReplayError::Corrupt(what.to_string())
}

fn text(value: Value) -> Result<String, ReplayError> {
    match value {
        Value::BulkString(bytes) => {
            String::from_utf8(bytes).map_err(|_| corrupt("field is not UTF-8"))
        }
        Value::SimpleString(s) => Ok(s),
        Value::VerbatimString { text, .. } => Ok(text),
        other => Err(corrupt(format_args!("expected a string, got {other:?}"))),
    }
}

fn array(value: Value) -> Result<Vec<Value>, ReplayError> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(corrupt(format_args!("expected an array, got {other:?}"))),
    }
}

/// Decodes `XRANGE <entry> + COUNT limit+2`: the entry itself, then what follows.
pub(super) fn decode_after(entry: &str, reply: Value, limit: usize) -> Result<Replay, ReplayError> {
    let mut entries = array(reply)?.into_iter();
    let Some(first) = entries.next() else {
        return Ok(Replay::unknown());
    };
    let first_id = array(first)?
        .into_iter()
        .next()
        .ok_or_else(|| corrupt("stream entry without id"))?;
    if text(first_id)? != entry {
        // The entry was trimmed: the id is older than retention.
        return Ok(Replay::unknown());
    }
    let mut events = Vec::with_capacity(entries.len().min(limit));
    for item in entries {
        let mut item = array(item)?.into_iter();
        let (Some(_), Some(fields)) = (item.next(), item.next()) else {
            return Err(corrupt("stream entry without fields"));
        };
        match decode_event(fields)? {
            Decoded::Event(event) => {
                if events.len() == limit {
                    return Ok(Replay::found(events, true));
                }
                events.push(event);
            }
            Decoded::Gap => {
                tracing::debug!("replay reached a gap entry");
                return Ok(Replay::found(events, true));
            }
        }
    }
    Ok(Replay::found(events, false))
}

enum Decoded {
    Event(StoredEvent),
    Gap,
}

fn decode_event(fields: Value) -> Result<Decoded, ReplayError> {
    let mut id = None;
    let mut event_type = None;
    let mut data = None;
    let mut topics = None;
    let mut group = None;
    let mut scope = None;
    let mut fields = array(fields)?.into_iter();
    while let Some(name) = fields.next() {
        let name = text(name)?;
        let value = fields
            .next()
            .ok_or_else(|| corrupt("odd number of entry fields"))?;
        match name.as_str() {
            "gap" => return Ok(Decoded::Gap),
            "id" => id = Some(text(value)?),
            "type" => event_type = Some(text(value)?),
            "data" => data = Some(text(value)?),
            "topics" => {
                topics = Some(
                    serde_json::from_str::<Vec<String>>(&text(value)?)
                        .map_err(|err| corrupt(format_args!("topics: {err}")))?,
                );
            }
            "group" => {
                group = Some(
                    serde_json::from_str::<Metadata>(&text(value)?)
                        .map_err(|err| corrupt(format_args!("group: {err}")))?,
                );
            }
            "scope" => {
                scope = Some(match text(value)?.as_str() {
                    "union" => Scope::Union,
                    "intersect" => Scope::Intersect,
                    other => return Err(corrupt(format_args!("unknown scope {other:?}"))),
                });
            }
            _ => {}
        }
    }
    let (Some(id), Some(data), Some(topics), Some(group), Some(scope)) =
        (id, data, topics, group, scope)
    else {
        return Err(corrupt("stream entry is missing fields"));
    };
    Ok(Decoded::Event(StoredEvent::new(
        id, event_type, data, topics, group, scope,
    )))
}
