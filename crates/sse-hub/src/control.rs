//! Control events the hub writes on its own: `connected`, `resync`,
//! `server-shutdown`, `overloaded`, `auth-expired`.
//!
//! Control events carry **no `id:`** field, so a client's last event id keeps
//! pointing at real data and a reconnect resumes from there.

use bytes::{Bytes, BytesMut};
use serde::Serialize;

use crate::wire;

/// Type of the first event on every stream after any replay: data
/// `{"connection_id", "topics", "control_token"}`. The control token (128
/// random bits, sent on this stream only) lets the client pause, resume or
/// change the topics of its own connection (see
/// [`Connection::control_token_matches`](crate::Connection::control_token_matches)).
pub const CONNECTED: &str = "connected";
/// Type of the event telling a client it missed events and must refetch state.
pub const RESYNC: &str = "resync";
/// Type of the event sent when the hub drains or turns a subscriber away while draining.
pub const SERVER_SHUTDOWN: &str = "server-shutdown";
/// Type of the event sent to a subscriber turned away at the connection cap.
pub const OVERLOADED: &str = "overloaded";
/// Type of the last event on a stream opened with a credential, written when
/// the credential expires (`Connecting::expires_at`): data
/// `{"reason":"token_expired"}`, no `id:`; the stream then ends. A client
/// gets a fresh credential and reconnects.
pub const AUTH_EXPIRED: &str = "auth-expired";

/// Event types a publisher may not use: the hub's own control events. A published event of one of these types would look to a client
/// exactly like the hub speaking, so [`Hub::publish`](crate::Hub::publish)
/// refuses them. Matching is exact (EventSource listeners are case-sensitive).
pub const RESERVED_TYPES: &[&str] = &[
    CONNECTED,
    RESYNC,
    SERVER_SHUTDOWN,
    OVERLOADED,
    AUTH_EXPIRED,
    SLOW_CONSUMER,
];

/// Type of the event sent before closing a connection whose queue filled
/// under [`Overflow::Disconnect`](crate::Overflow::Disconnect), with how many
/// times in a row it was cut and the `retry:` it was given.
pub const SLOW_CONSUMER: &str = "slow-consumer";

/// Why a client must resynchronise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResyncReason {
    /// The `Last-Event-ID` is unknown or older than retention.
    UnknownId,
    /// More events were missed than one replay carries.
    ReplayTruncated,
    /// The replay store failed or timed out.
    ReplayFailed,
    /// Held events overflowed while the connection was paused.
    PausedOverflow,
    /// The client brought a last event id but the hub keeps no events to
    /// replay (no [`Replayer`](crate::replay::Replayer) configured).
    NoReplay,
}

pub(crate) fn event(buf: &mut BytesMut, event_type: &str, data: &impl Serialize) {
    // Serialising plain structs of strings and numbers cannot fail.
    let data = serde_json::to_string(data).unwrap_or_default();
    wire::encode_event(buf, Some(event_type), None, &data);
}

/// The `auth-expired` event.
pub(crate) fn auth_expired() -> Bytes {
    #[derive(Serialize)]
    struct Expired {
        reason: &'static str,
    }
    let mut buf = BytesMut::new();
    event(
        &mut buf,
        AUTH_EXPIRED,
        &Expired {
            reason: "token_expired",
        },
    );
    buf.freeze()
}

pub(crate) fn resync(reason: ResyncReason) -> Bytes {
    #[derive(Serialize)]
    struct Resync {
        reason: ResyncReason,
    }
    let mut buf = BytesMut::new();
    event(&mut buf, RESYNC, &Resync { reason });
    buf.freeze()
}

/// `retry:` then `slow-consumer`: the goodbye of a connection cut for
/// overflow (see `hub::strikes`).
pub(crate) fn slow_consumer(strikes: u32, retry_ms: u64) -> Bytes {
    #[derive(Serialize)]
    struct SlowConsumer {
        reason: &'static str,
        strikes: u32,
        retry_ms: u64,
    }
    let mut buf = BytesMut::new();
    wire::encode_retry(&mut buf, retry_ms);
    event(
        &mut buf,
        SLOW_CONSUMER,
        &SlowConsumer {
            reason: "queue_full",
            strikes,
            retry_ms,
        },
    );
    buf.freeze()
}

/// `retry:` then a control event: what a subscriber being sent away gets, so
/// that its EventSource reconnects later instead of giving up (it would on
/// any non-200 status).
pub(crate) fn goodbye(event_type: &str, reason: &str, retry_ms: u64) -> Bytes {
    #[derive(Serialize)]
    struct Goodbye<'a> {
        reason: &'a str,
        retry_ms: u64,
    }
    let mut buf = BytesMut::new();
    wire::encode_retry(&mut buf, retry_ms);
    event(&mut buf, event_type, &Goodbye { reason, retry_ms });
    buf.freeze()
}
