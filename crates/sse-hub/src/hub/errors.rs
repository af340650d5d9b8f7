//! Errors of hub operations. Messages name the offending field and never
//! echo payloads, tokens or metadata values.

use crate::connect::Rejection;
use crate::topic::TopicError;
use crate::wire::FieldError;

/// Why an event was not published. Nothing was delivered or stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The hub is draining.
    #[error("hub is shutting down")]
    Draining,
    /// Neither topics nor group: the event could reach nobody.
    #[error("event has no topic and no group")]
    NoTarget,
    /// The event type contains CR, LF or NUL.
    #[error("invalid type: {0}")]
    InvalidType(FieldError),
    /// The event type is empty: it would write an empty `event:` line (omit
    /// the type to send a plain `message`).
    #[error("invalid type: must not be empty (omit it for \"message\")")]
    EmptyType,
    /// The event type is longer than `max_type_len`.
    #[error("invalid type: longer than {max} bytes")]
    TypeLength {
        /// The limit.
        max: usize,
    },
    /// The event type is one the hub uses for its own control events (see
    /// [`RESERVED_TYPES`](crate::control::RESERVED_TYPES)).
    #[error("invalid type: {0:?} is reserved for the hub's control events")]
    ReservedType(&'static str),
    /// The id contains CR, LF or NUL.
    #[error("invalid id: {0}")]
    InvalidId(FieldError),
    /// The id is empty or longer than `max_id_len`.
    #[error("invalid id: length must be 1 to {max} bytes")]
    IdLength {
        /// The limit.
        max: usize,
    },
    /// The id is already used by an event within replay retention.
    #[error("id is already used by a retained event")]
    DuplicateId,
    /// The id has the form of the hub's own ids (`<digits>-<digits>`): a
    /// later hub-assigned id could equal it, and a replay from one of the two
    /// would skip or repeat events. Choose ids of another form.
    #[error("invalid id: the form <digits>-<digits> is reserved for ids the hub assigns")]
    ReservedId,
    /// A topic is invalid.
    #[error("invalid topic at index {index}: {source}")]
    InvalidTopic {
        /// Position in the event's topic list.
        index: usize,
        /// What is wrong.
        source: TopicError,
    },
    /// A topic is longer than `max_pattern_len`.
    #[error("topic at index {index} is longer than {max} bytes")]
    TopicTooLong {
        /// Position in the event's topic list.
        index: usize,
        /// The limit.
        max: usize,
    },
    /// More topics than `max_topics_per_event`.
    #[error("too many topics: {count} (max {max})")]
    TooManyTopics {
        /// Topics given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More group pairs than `max_metadata_pairs`.
    #[error("too many group pairs: {count} (max {max})")]
    TooManyGroupPairs {
        /// Pairs given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The data could not be serialised.
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// The encoded event is larger than `max_event_bytes`.
    #[error("event too large: {size} bytes (max {max})")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
}

impl PublishError {
    /// The request field this error is about (`type`, `id`, `topics`, ...),
    /// for APIs that report it.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Draining => None,
            Self::NoTarget | Self::InvalidTopic { .. } | Self::TopicTooLong { .. } => {
                Some("topics")
            }
            Self::TooManyTopics { .. } => Some("topics"),
            Self::InvalidType(_)
            | Self::EmptyType
            | Self::TypeLength { .. }
            | Self::ReservedType(_) => Some("type"),
            Self::InvalidId(_) | Self::IdLength { .. } | Self::DuplicateId | Self::ReservedId => {
                Some("id")
            }
            Self::TooManyGroupPairs { .. } => Some("group"),
            Self::InvalidData(_) | Self::TooLarge { .. } => Some("data"),
        }
    }
}

/// Why a subscriber was not accepted.
///
/// A draining hub or one at its connection cap does not fail: it returns a
/// stream that tells the client to come back later (see
/// [`EventStream::is_turned_away`](crate::EventStream::is_turned_away)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// `on_connect` rejected the client.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// No topic (and no metadata to route group events by).
    #[error("at least one topic is required")]
    NoTopics,
    /// A requested topic pattern is invalid.
    #[error(transparent)]
    Topics(#[from] TopicsError),
    /// A query parameter is not UTF-8 once percent-decoded.
    #[error("parameter `{parameter}` is not valid UTF-8 once percent-decoded")]
    InvalidEncoding {
        /// The parameter's name.
        parameter: &'static str,
    },
    /// Metadata exceeds `max_metadata_pairs` or `max_metadata_bytes`.
    #[error("connection metadata exceeds the configured limits")]
    MetadataTooLarge,
}

/// Why a topic list was refused (on subscribe or on a live change).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicsError {
    /// A pattern is invalid.
    #[error("invalid topic {pattern:?}: {source}")]
    Invalid {
        /// The pattern, truncated to 64 bytes.
        pattern: String,
        /// What is wrong.
        source: TopicError,
    },
    /// A pattern is longer than `max_pattern_len`.
    #[error("topic longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// More patterns than `max_topics_per_connection`.
    #[error("too many topics: {count} (max {max})")]
    TooMany {
        /// Patterns requested.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The client may not subscribe to this pattern.
    #[error("topic {pattern:?} is not allowed")]
    NotAllowed {
        /// The pattern, truncated to 64 bytes.
        pattern: String,
    },
    /// The connection does not exist.
    #[error(transparent)]
    UnknownConnection(#[from] UnknownConnection),
}

/// No open connection has that id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown connection")]
pub struct UnknownConnection;

/// At most 64 bytes of untrusted input for an error message, cut on a char boundary.
pub(crate) fn excerpt(text: &str) -> String {
    let mut end = text.len().min(64);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
