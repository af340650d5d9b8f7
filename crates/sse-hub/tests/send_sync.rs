//! Compile-time `Send`/`Sync` assertions for the public types.
//!
//! A hub is shared between tasks and threads (publishers on one runtime
//! worker, connections on others), and handles, errors and snapshots cross
//! `.await` points and thread boundaries. If a change makes one of these
//! types lose `Send` or `Sync`, this file stops compiling: the change is a
//! breaking one and must be deliberate. Types that are `Send` but not `Sync`
//! on purpose are listed as such, with the reason.

#![allow(dead_code)]

fn send<T: Send>() {}
fn send_sync<T: Send + Sync>() {}
fn unpin<T: Unpin>() {}
fn static_<T: 'static>() {}

/// Every assertion as a plain function call: compiling is the test.
macro_rules! assert_send_sync {
    ($($ty:ty),* $(,)?) => {{ $( send_sync::<$ty>(); static_::<$ty>(); )* }};
}

macro_rules! assert_send {
    ($($ty:ty),* $(,)?) => {{ $( send::<$ty>(); static_::<$ty>(); )* }};
}

#[test]
fn core_types_are_send_and_sync() {
    use sse_hub::config::{Config, ConfigError, Overflow};
    use sse_hub::connect::{Connecting, Rejection};
    use sse_hub::hub::{LatencyHistogram, ShutdownReport};
    use sse_hub::replay::{MemoryReplayer, Replay, ReplayError, StoredEvent};
    use sse_hub::topic::{Pattern, Topic, TopicError};
    use sse_hub::{
        CloseReason, Connection, ConnectionId, ConnectionStats, DomainEventSpec, Event, FieldError,
        Hint, Hub, Metadata, Priority, PublishError, Receipt, ResyncReason, Scope, Stats,
        StatsOptions, SubscribeError, TopicsError, UnknownConnection,
    };
    assert_send_sync!(
        Hub,
        Config,
        ConfigError,
        Overflow,
        Connection,
        ConnectionId,
        ConnectionStats,
        CloseReason,
        Connecting,
        Rejection,
        Event,
        Metadata,
        Priority,
        Scope,
        Receipt,
        Hint,
        DomainEventSpec,
        Stats,
        StatsOptions,
        LatencyHistogram,
        ShutdownReport,
        PublishError,
        SubscribeError,
        TopicsError,
        UnknownConnection,
        ResyncReason,
        FieldError,
        Topic,
        Pattern,
        TopicError,
        MemoryReplayer,
        Replay,
        ReplayError,
        StoredEvent,
        Box<dyn sse_hub::replay::Replayer>,
        std::sync::Arc<dyn sse_hub::replay::Replayer>,
    );
}

#[test]
fn event_stream_is_send_and_unpin() {
    // Handed to a transport task (hyper/axum body): must be `Send`; `Unpin`
    // so it can be polled without pinning it first.
    assert_send!(sse_hub::EventStream);
    unpin::<sse_hub::EventStream>();
}

#[cfg(feature = "axum")]
#[test]
fn axum_types_are_send_and_sync() {
    use sse_hub::axum::{
        ApiError, BodyGuardLayer, BodyLimits, DeadlineListener, EventStreamBody, PeerAddr,
        SocketCounters, SocketLimits, SocketStats, SseLayer, SseRoute, SseService,
    };
    assert_send_sync!(
        ApiError,
        BodyGuardLayer,
        BodyLimits,
        PeerAddr,
        SocketCounters,
        SocketLimits,
        SocketStats,
        SseLayer,
        SseRoute,
        SseService,
    );
    assert_send!(
        DeadlineListener,
        EventStreamBody,
        sse_hub::axum::DeadlineStream
    );
}

#[cfg(feature = "jwt")]
#[test]
fn auth_types_are_send_and_sync() {
    use sse_hub::auth::{
        AuthConfigError, ClaimError, Claims, Credential, CredentialError, Grants, JwtVerifier,
        KeySourceError, MemoryTicketStore, SubscribePolicy, TicketError, TicketGrant, TokenError,
        VerifierBuilder,
    };
    assert_send_sync!(
        AuthConfigError,
        ClaimError,
        Claims,
        Credential,
        CredentialError,
        Grants,
        JwtVerifier,
        KeySourceError,
        MemoryTicketStore,
        SubscribePolicy,
        TicketError,
        TicketGrant,
        TokenError,
        VerifierBuilder,
        std::sync::Arc<dyn sse_hub::auth::TicketStore>,
    );
}

#[cfg(feature = "redis")]
#[test]
fn redis_types_are_send_and_sync() {
    use sse_hub::replay::{RedisReplayOptions, RedisReplayer};
    assert_send_sync!(RedisReplayer, RedisReplayOptions);
    #[cfg(feature = "jwt")]
    assert_send_sync!(sse_hub::auth::RedisTicketStore);
}

#[cfg(feature = "prometheus")]
#[test]
fn metrics_types_are_send_and_sync() {
    assert_send_sync!(sse_hub::metrics::HubCollector);
}
