//! HTTP handlers, one module per resource, and the JSON body helpers they share.

pub(crate) mod client;
pub(crate) mod connections;
pub(crate) mod demo;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod metrics;
pub(crate) mod publish;
pub(crate) mod stats;
pub(crate) mod tickets;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::Error;

/// The request's body as JSON: 415 unless the content type is JSON, 413 over
/// the body limit (set by `DefaultBodyLimit` in [`crate::app::router`]), 400
/// for invalid JSON.
pub(crate) async fn json_body(
    request: Request,
    max_body: usize,
) -> Result<serde_json::Value, Error> {
    let bytes = json_bytes(request, max_body).await?;
    check_json(&bytes)?;
    parse_json(&bytes)
}

/// The body as JSON text, not parsed yet (see [`json_body`]): 415 unless
/// the content type is JSON, 413 over the body limit.
pub(crate) async fn json_bytes(request: Request, max_body: usize) -> Result<Bytes, Error> {
    if !is_json(request.headers().get(header::CONTENT_TYPE)) {
        return Err(Error::UnsupportedMediaType);
    }
    Bytes::from_request(request, &())
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::BodyTooLarge { max: max_body }
            } else {
                Error::BodyUnreadable
            }
        })
}

/// 400 unless `bytes` is one JSON document without a duplicate key at any
/// depth. A walk without building anything: keys are borrowed where they
/// need no unescaping.
pub(crate) fn check_json(bytes: &[u8]) -> Result<(), Error> {
    let mut check = serde_json::Deserializer::from_slice(bytes);
    serde::Deserialize::deserialize(&mut check)
        .and_then(|NoDuplicateKeys| check.end())
        .map_err(|err| Error::InvalidJson(err.to_string()))
}

/// Parses a JSON body already checked by [`check_json`] into a value.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<serde_json::Value, Error> {
    serde_json::from_slice(bytes).map_err(|err| Error::InvalidJson(err.to_string()))
}

/// Walks a JSON document and fails on the first object with a key twice:
/// `serde_json::Value` keeps the last silently, so `{"type":"a","type":"b"}`
/// would mean one thing to us and maybe another to a proxy or a log reader.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicateKeysVisitor)
    }
}

struct NoDuplicateKeysVisitor;

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeysVisitor {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(NoDuplicateKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Most objects are small: a linear scan of borrowed keys beats
        // hashing owned ones (this walk runs on every publish); past a few
        // keys a set keeps a large object linear.
        const SCAN: usize = 16;
        let mut keys: Vec<std::borrow::Cow<'de, str>> = Vec::new();
        let mut many: std::collections::HashSet<std::borrow::Cow<'de, str>> =
            std::collections::HashSet::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let seen = if many.is_empty() {
                keys.contains(&key)
            } else {
                many.contains(&key)
            };
            if seen {
                let mut end = key.len().min(64);
                while !key.is_char_boundary(end) {
                    end -= 1;
                }
                let cut = if end < key.len() { "…" } else { "" };
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate key `{}{cut}`",
                    &key[..end]
                )));
            }
            map.next_value::<NoDuplicateKeys>()?;
            if many.is_empty() && keys.len() < SCAN {
                keys.push(key);
            } else {
                many.extend(keys.drain(..));
                many.insert(key);
            }
        }
        Ok(NoDuplicateKeys)
    }
}

/// An object key, borrowed from the body unless it had escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
                Ok(Key(std::borrow::Cow::Borrowed(key)))
            }

            fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
                Ok(Key(std::borrow::Cow::Owned(key.to_owned())))
            }

            fn visit_string<E>(self, key: String) -> Result<Self::Value, E> {
                Ok(Key(std::borrow::Cow::Owned(key)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// `application/json` or `application/<something>+json`, any parameters.
pub(crate) fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5
                && subtype.is_char_boundary(subtype.len() - 5)
                && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Deserialises `value` into `T`; the error names the field path
/// (``field `topics[0]`: invalid type ...``).
pub(crate) fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        if path == "." {
            err.inner().to_string()
        } else {
            format!("field `{path}`: {}", err.inner())
        }
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn json_content_types() {
        let ok = |v: &'static str| is_json(Some(&HeaderValue::from_static(v)));
        assert!(ok("application/json"));
        assert!(ok("Application/JSON; charset=utf-8"));
        assert!(ok("application/merge-patch+json"));
        assert!(!ok("text/plain"));
        assert!(!ok("application/x-www-form-urlencoded"));
        assert!(!ok("+json"));
        assert!(!is_json(None));
    }
}
