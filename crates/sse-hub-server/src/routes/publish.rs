//! `POST /publish`: one event or an array of events.
//!
//! ```json
//! {"topics": ["orders"], "type": "update", "data": {"id": 42},
//!  "id": "optional", "priority": "instant|batched|coalesced", "coalesce_key": "k",
//!  "ttl_ms": 5000, "group": {"region": "eu"}, "scope": "union|intersect",
//!  "tenant": "acme"}
//! ```
//!
//! `group` narrows the audience to connections carrying every pair (scope
//! `intersect`, the default); `"scope": "union"` widens it to the group's
//! connections whatever their topics. `tenant` reaches only connections whose
//! metadata `tenant` is equal (set from a JWT's `sse_hub.tenant`), live and
//! by replay: it is the group pair `tenant` with scope `intersect`, so it
//! cannot be combined with `"scope": "union"` or a different `group.tenant`
//! (400). A publisher whose token is bound to a tenant publishes for that
//! tenant only: filled in when absent, another one is 403. A JWT publisher
//! must name topics its `publish` patterns cover, and may not widen with
//! `"scope": "union"` and a group (403): that would reach connections on
//! topics it was never granted.
//!
//! `data` that is a JSON string is sent as the string's content; any other
//! JSON value, `null` included, is sent as its JSON text exactly as the
//! publisher wrote it (the bytes of the request body, not re-serialised:
//! whitespace inside the value, number spellings such as `1e2` or `1.50` and
//! big integers are kept; a value spread over several lines becomes several
//! `data:` lines, which a client joins back with `\n`); absent sends an
//! empty data line. The value is never parsed into a tree and serialised
//! again. A body with a duplicate key anywhere is refused (400 `invalid_json`). All events of a
//! request are validated before any is published: a rejected request
//! publishes nothing. Answers 202 `{"ids": [...], "events": [{"id",
//! "recipients", "dropped"}, ...]}`: per event, the connections of this
//! server it was queued to and those that matched but were full.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use sse_hub::{Event, Metadata, Priority, Scope, TENANT_KEY};

use super::{check_json, from_value, json_bytes, parse_json};
use crate::app::AppState;
use crate::error::Error;

/// One event as a publisher sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishRequest {
    #[serde(default)]
    topics: Vec<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    /// `None` when absent; `"data": null` is `Some` of the raw text `null`,
    /// sent as such like any other non-string value.
    #[serde(default, deserialize_with = "present")]
    data: Option<Box<RawValue>>,
    id: Option<String>,
    #[serde(default)]
    priority: Priority,
    coalesce_key: Option<String>,
    ttl_ms: Option<u64>,
    #[serde(default)]
    group: Metadata,
    #[serde(default)]
    scope: Scope,
    tenant: Option<String>,
}

/// A field that is present, whatever its value (`null` included).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(deserializer).map(Some)
}

impl PublishRequest {
    /// Folds `tenant` into the group (see the module docs); `bound` is the
    /// publisher's own tenant. Messages never quote a tenant.
    fn apply_tenant(&mut self, bound: Option<&str>) -> Result<(), TenantError> {
        let in_group = self.group.get(TENANT_KEY).cloned();
        if let (Some(field), Some(group)) = (&self.tenant, &in_group) {
            if field != group {
                return Err(TenantError::Invalid(
                    "field `tenant`: differs from `group.tenant`",
                ));
            }
        }
        let mut tenant = self.tenant.take().or(in_group);
        if let Some(bound) = bound {
            match &tenant {
                None => tenant = Some(bound.to_owned()),
                Some(tenant) if tenant != bound => return Err(TenantError::Foreign),
                Some(_) => {}
            }
        }
        if let Some(tenant) = tenant {
            if tenant.is_empty() {
                return Err(TenantError::Invalid("field `tenant`: must not be empty"));
            }
            if self.scope == Scope::Union {
                return Err(TenantError::Invalid(
                    "field `scope`: `union` would reach other tenants; a tenant's event is `intersect`",
                ));
            }
            self.group.insert(TENANT_KEY.to_owned(), tenant);
        }
        Ok(())
    }
}

/// Why an event's tenant is refused.
enum TenantError {
    /// Inconsistent fields (400).
    Invalid(&'static str),
    /// Another tenant than the publisher's own (403).
    Foreign,
}

impl PublishRequest {
    fn into_event(self) -> Result<Event, String> {
        let mut event = match self.event_type {
            Some(event_type) => Event::new(event_type),
            None => Event::message(),
        };
        event = match self.data {
            None => event,
            Some(raw) if raw.get().starts_with('"') => {
                let text: String = serde_json::from_str(raw.get())
                    .map_err(|err| format!("field `data`: {err}"))?;
                event.data(text)
            }
            Some(raw) => event.data(String::from(Box::<str>::from(raw))),
        };
        if let Some(id) = self.id {
            event = event.id(id);
        }
        if let Some(key) = self.coalesce_key {
            event = event.coalesce_key(key);
        }
        if let Some(ttl_ms) = self.ttl_ms {
            if ttl_ms == 0 {
                return Err("field `ttl_ms`: must be at least 1".to_owned());
            }
            event = event.ttl(Duration::from_millis(ttl_ms));
        }
        Ok(event
            .topics(self.topics)
            .group_map(self.group)
            .scope(self.scope)
            .priority(self.priority))
    }
}

/// The published events, in request order: `ids` (kept for existing
/// clients) and, per event, its id and how many connections it reached.
#[derive(Debug, Serialize)]
pub(crate) struct Published {
    ids: Vec<String>,
    events: Vec<PublishedEvent>,
}

/// One published event's receipt.
#[derive(Debug, Serialize)]
struct PublishedEvent {
    id: String,
    /// Connections of this server the event was queued to.
    recipients: usize,
    /// Connections that matched but could not take it (queue full).
    dropped: usize,
}

/// Publishes the request's events (see the module docs): nothing is
/// published unless every event is valid and allowed.
pub(crate) async fn publish(
    State(state): State<AppState>,
    request: Request,
) -> Result<(StatusCode, Json<Published>), Error> {
    let publisher = state.auth.publisher(request.headers()).await?;
    if state.hub.is_draining() {
        return Err(Error::Draining);
    }
    let bytes = json_bytes(request, state.api.max_body_bytes).await?;
    // Duplicate keys at any depth are refused before either path reads it.
    check_json(&bytes)?;
    let batch = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let index = |i: usize| batch.then_some(i);
    let mut requests = match typed(&bytes, state.api.max_batch) {
        Some(requests) => requests,
        None => checked(parse_json(&bytes)?, state.api.max_batch)?,
    };
    // Every event is checked before any is published.
    for (i, request) in requests.iter_mut().enumerate() {
        request
            .apply_tenant(publisher.tenant())
            .map_err(|err| match err {
                TenantError::Invalid(message) => Error::InvalidEvent {
                    index: index(i),
                    message: message.to_owned(),
                },
                TenantError::Foreign => Error::Forbidden,
            })?;
        // A union with a group reaches the group's connections whatever
        // their topics: beyond what topic grants can cover.
        let widens = request.scope == Scope::Union && !request.group.is_empty();
        if !publisher.may_publish(&request.topics) || (widens && publisher.is_granted()) {
            return Err(Error::Forbidden);
        }
    }
    let events = requests
        .into_iter()
        .enumerate()
        .map(|(i, request)| {
            request.into_event().map_err(|message| Error::InvalidEvent {
                index: index(i),
                message,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let receipts = state
        .hub
        .publish_all(events)
        .map_err(|(i, err)| Error::publish(index(i), &err))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Published {
            ids: receipts.iter().map(|receipt| receipt.id.clone()).collect(),
            events: receipts
                .into_iter()
                .map(|receipt| PublishedEvent {
                    id: receipt.id,
                    recipients: receipt.recipients,
                    dropped: receipt.dropped,
                })
                .collect(),
        }),
    ))
}

/// The fast path: the body parsed straight into publish requests, in one
/// pass and without an intermediate JSON tree. `None` for anything it does
/// not take as is (invalid JSON or fields, too many events, an empty array):
/// [`checked`] then finds the same problem with its precise error (which
/// event, which field), so answers do not depend on which path ran.
fn typed(bytes: &[u8], max_batch: usize) -> Option<Vec<PublishRequest>> {
    let requests = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice::<Vec<PublishRequest>>(bytes).ok()?,
        Some(b'{') => vec![serde_json::from_slice::<PublishRequest>(bytes).ok()?],
        _ => return None,
    };
    (!requests.is_empty() && requests.len() <= max_batch).then_some(requests)
}

/// The checked path: the body as a JSON value, each event read on its own so
/// that an error names the event (its index in an array) and the field.
fn checked(body: Value, max: usize) -> Result<Vec<PublishRequest>, Error> {
    let (items, batch) = match body {
        Value::Array(items) => (items, true),
        single => (vec![single], false),
    };
    if items.len() > max {
        return Err(Error::TooManyEvents {
            count: items.len(),
            max,
        });
    }
    if items.is_empty() {
        return Err(Error::InvalidBody("no events to publish".to_owned()));
    }
    let index = |i: usize| batch.then_some(i);
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            from_value::<PublishRequest>(item).map_err(|message| Error::InvalidEvent {
                index: index(i),
                message,
            })
        })
        .collect()
}

/// Fuzz target for the publish decoder: any body bytes (biased towards JSON
/// and this API's field names) go through what `POST /publish` does; it
/// never panics, refuses with a bounded message, and what it accepts the
/// hub either publishes or refuses naming a field. A long run:
/// `PROPTEST_CASES=100000 cargo test -p sse-hub-server --all-features --lib fuzz_publish`.
#[cfg(test)]
mod fuzz {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;
    use crate::error::MAX_MESSAGE;

    const TOKENS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "null",
        "true",
        "1e999",
        "-0",
        "\\u0000",
        "\\ud800",
        "\"topics\"",
        "\"type\"",
        "\"data\"",
        "\"id\"",
        "\"priority\"",
        "\"coalesce_key\"",
        "\"ttl_ms\"",
        "\"group\"",
        "\"scope\"",
        "\"tenant\"",
        "\"t\"",
        "\"a.b\"",
        "\"connected\"",
        "\"1-2\"",
        "\"batched\"",
        "\"union\"",
        "0",
        "\"\"",
        " ",
    ];

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(prop::sample::select(TOKENS), 0..40)
                .prop_map(|tokens| tokens.concat().into_bytes()),
        ]
    }

    #[test]
    fn fuzz_publish_decoder() {
        let hub = sse_hub::Hub::new(sse_hub::Config::new()).unwrap();
        proptest!(|(bytes in body())| {
            // What `publish` does: the duplicate-key check, then the typed
            // path, else the checked one; both must agree.
            if let Err(err) = crate::routes::check_json(&bytes) {
                prop_assert!(err.api().message.len() <= MAX_MESSAGE + 3);
                return Ok(());
            }
            let fast = typed(&bytes, 1000);
            let slow = crate::routes::parse_json(&bytes).and_then(|value| checked(value, 1000));
            let requests = match (fast, slow) {
                (Some(fast), Ok(slow)) => {
                    prop_assert_eq!(fast.len(), slow.len());
                    slow
                }
                (None, Ok(slow)) => slow,
                (Some(_), Err(err)) => {
                    prop_assert!(false, "typed path took what the checked path refuses: {err}");
                    return Ok(());
                }
                (None, Err(err)) => {
                    prop_assert!(err.api().message.len() <= MAX_MESSAGE + 3);
                    return Ok(());
                }
            };
            for request in requests {
                let Ok(event) = request.into_event() else { continue };
                if let Err(err) = hub.publish(event) {
                    prop_assert!(err.field().is_some(), "{err}");
                }
            }
        });
    }
}
