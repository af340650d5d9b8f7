//! Topics, subscription patterns and the rules that govern them.
//!
//! # Rules
//!
//! The rules follow NATS subjects so that topics can be bridged to NATS
//! without translation.
//!
//! A **topic** names a stream of events. It is a non-empty sequence of
//! *tokens* separated by `.`, for example `orders.eu.created`.
//!
//! A **pattern** is what a subscriber asks for. It is a topic in which a whole
//! token may also be a wildcard:
//!
//! * `*` matches exactly one token: `orders.*.created` matches
//!   `orders.eu.created` but neither `orders.created` nor
//!   `orders.eu.west.created`.
//! * `>` matches one or more trailing tokens and must be the last token:
//!   `orders.>` matches `orders.eu` and `orders.eu.created` but not `orders`.
//!   A pattern of just `>` matches every topic.
//!
//! A pattern without wildcards is *literal* and matches only the identical
//! topic.
//!
//! Both topics and patterns are validated on construction:
//!
//! * not empty, at most [`MAX_LEN`] bytes and at most [`MAX_TOKENS`] tokens
//!   (the hub layers tighter, configurable limits on top of these);
//! * no empty token, so no leading, trailing or doubled `.`;
//! * no ASCII control character (including NUL) and no whitespace
//!   (anything for which [`char::is_whitespace`] holds);
//! * in a topic, `*` and `>` may not appear at all;
//! * in a pattern, `*` and `>` may only appear as a whole token, and `>` only
//!   as the last token.
//!
//! Any other UTF-8 is allowed, so `café.☕` is a valid topic.
//!
//! Matching is case-sensitive and compares tokens byte for byte; no Unicode
//! normalisation is applied.
//!
//! # Examples
//!
//! ```
//! use sse_hub::topic::{Topic, Pattern};
//!
//! # fn main() -> Result<(), sse_hub::topic::TopicError> {
//! let topic = Topic::new("orders.eu.created")?;
//! assert!(Pattern::new("orders.*.created")?.matches(&topic));
//! assert!(Pattern::new("orders.>")?.matches(&topic));
//! assert!(!Pattern::new("orders.*")?.matches(&topic));
//! # Ok(())
//! # }
//! ```

mod cover;
pub(crate) mod index;

pub(crate) use index::SubscriptionIndex;

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};

/// Maximum length of a topic or pattern, in bytes.
///
/// This is a hard ceiling that keeps every topic cheap to hash, compare and
/// log; hub configuration can only lower it.
///
/// # Examples
///
/// ```
/// use sse_hub::topic::{Topic, Pattern, MAX_LEN};
///
/// assert!(Topic::new(&"a".repeat(MAX_LEN)).is_ok());
/// assert!(Topic::new(&"a".repeat(MAX_LEN + 1)).is_err());
/// ```
pub const MAX_LEN: usize = 1024;

/// Maximum number of `.`-separated tokens in a topic or pattern.
///
/// Bounds the depth of the subscription trie and of every matching walk;
/// hub configuration can only lower it.
///
/// # Examples
///
/// ```
/// use sse_hub::topic::{Topic, Pattern, MAX_TOKENS};
///
/// let deepest = vec!["a"; MAX_TOKENS].join(".");
/// assert!(Topic::new(&deepest).is_ok());
/// assert!(Topic::new(&format!("{deepest}.a")).is_err());
/// ```
pub const MAX_TOKENS: usize = 64;

const SEPARATOR: char = '.';
const SINGLE_WILDCARD: &str = "*";
const FULL_WILDCARD: &str = ">";

/// Why a string was rejected as a [`Topic`] or [`Pattern`].
///
/// Messages never echo the input, because it is untrusted and may be huge or
/// contain terminal escapes; they point at the offending position instead.
///
/// # Examples
///
/// ```
/// use sse_hub::topic::{Topic, Pattern, TopicError};
///
/// assert_eq!(Topic::new("a..b"), Err(TopicError::EmptyToken { position: 1 }));
/// assert_eq!(Pattern::new("a.>.b"), Err(TopicError::FullWildcardNotLast));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The input is the empty string.
    #[error("topic is empty")]
    Empty,
    /// The input is longer than allowed.
    #[error("topic is {len} bytes long, the maximum is {max}")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
        /// Maximum allowed length in bytes.
        max: usize,
    },
    /// The input has more tokens than allowed.
    #[error("topic has {count} tokens, the maximum is {max}")]
    TooManyTokens {
        /// Number of tokens in the input.
        count: usize,
        /// Maximum allowed number of tokens.
        max: usize,
    },
    /// A token is empty (leading, trailing or doubled `.`).
    #[error("topic has an empty token at index {position}")]
    EmptyToken {
        /// Zero-based index of the empty token.
        position: usize,
    },
    /// The input contains a control or whitespace character.
    #[error("invalid character {ch:?} at byte {position}")]
    InvalidChar {
        /// The rejected character.
        ch: char,
        /// Byte offset of the character in the input.
        position: usize,
    },
    /// A topic contains `*` or `>`; only patterns may have wildcards.
    #[error("wildcards are not allowed in a topic")]
    WildcardInTopic,
    /// A pattern token mixes a wildcard with other characters, as in `a*`.
    #[error("wildcard must be a whole token")]
    WildcardInsideToken,
    /// A pattern has `>` somewhere other than as its last token.
    #[error("full wildcard '>' must be the last token")]
    FullWildcardNotLast,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Topic,
    Pattern,
}

/// Shared validation so that topics and patterns can never drift apart.
fn validate(s: &str, kind: Kind) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > MAX_LEN {
        return Err(TopicError::TooLong {
            len: s.len(),
            max: MAX_LEN,
        });
    }
    // Counting bytes is exact because '.' is ASCII and never part of a
    // multi-byte sequence.
    let count = s.bytes().filter(|&b| b == b'.').count() + 1;
    if count > MAX_TOKENS {
        return Err(TopicError::TooManyTokens {
            count,
            max: MAX_TOKENS,
        });
    }

    let mut offset = 0;
    for (index, token) in s.split(SEPARATOR).enumerate() {
        if token.is_empty() {
            return Err(TopicError::EmptyToken { position: index });
        }
        let mut has_wildcard = false;
        for (i, ch) in token.char_indices() {
            if ch.is_ascii_control() || ch.is_whitespace() {
                return Err(TopicError::InvalidChar {
                    ch,
                    position: offset + i,
                });
            }
            has_wildcard |= ch == '*' || ch == '>';
        }
        if has_wildcard {
            match kind {
                Kind::Topic => return Err(TopicError::WildcardInTopic),
                Kind::Pattern if token == FULL_WILDCARD => {
                    if index + 1 != count {
                        return Err(TopicError::FullWildcardNotLast);
                    }
                }
                Kind::Pattern if token == SINGLE_WILDCARD => {}
                Kind::Pattern => return Err(TopicError::WildcardInsideToken),
            }
        }
        offset += token.len() + SEPARATOR.len_utf8();
    }
    Ok(())
}

/// Iterator over the `.`-separated tokens of a [`Topic`] or [`Pattern`].
///
/// Created by [`Topic::tokens`] and [`Pattern::tokens`].
///
/// # Examples
///
/// ```
/// use sse_hub::topic::{Topic, Pattern};
///
/// # fn main() -> Result<(), sse_hub::topic::TopicError> {
/// let topic = Topic::new("a.b")?;
/// let mut tokens = topic.tokens();
/// assert_eq!(tokens.next(), Some("a"));
/// assert_eq!(tokens.next(), Some("b"));
/// assert_eq!(tokens.next(), None);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Tokens<'a>(std::str::Split<'a, char>);

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        self.0.next()
    }
}

impl<'a> DoubleEndedIterator for Tokens<'a> {
    #[inline]
    fn next_back(&mut self) -> Option<&'a str> {
        self.0.next_back()
    }
}

impl std::iter::FusedIterator for Tokens<'_> {}

/// A validated topic: a concrete, wildcard-free event stream name.
///
/// Cloning is cheap (a reference-count bump), so topics can be attached to
/// every event without copying the string.
///
/// See the [module documentation](self) for the validation rules.
///
/// # Examples
///
/// ```
/// use sse_hub::topic::{Topic, Pattern};
///
/// # fn main() -> Result<(), sse_hub::topic::TopicError> {
/// let topic = Topic::new("orders.eu.created")?;
/// assert_eq!(topic.as_str(), "orders.eu.created");
/// assert_eq!(topic.to_string(), "orders.eu.created");
/// assert!(Topic::new("orders.*").is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct Topic(Arc<str>);

impl Topic {
    /// Validates `s` and builds a topic from it.
    ///
    /// # Errors
    ///
    /// Returns a [`TopicError`] describing the first rule `s` breaks.
    ///
    /// # Examples
    ///
    /// ```
    /// use sse_hub::topic::{Topic, Pattern, TopicError};
    ///
    /// assert!(Topic::new("café.☕").is_ok());
    /// assert_eq!(Topic::new(""), Err(TopicError::Empty));
    /// assert_eq!(Topic::new("a.>"), Err(TopicError::WildcardInTopic));
    /// ```
    pub fn new(s: &str) -> Result<Topic, TopicError> {
        validate(s, Kind::Topic)?;
        Ok(Topic(Arc::from(s)))
    }

    /// Returns the topic as a string slice.
    ///
    /// # Examples
    ///
    /// ```
    /// use sse_hub::topic::{Topic, Pattern};
    ///
    /// # fn main() -> Result<(), sse_hub::topic::TopicError> {
    /// assert_eq!(Topic::new("a.b")?.as_str(), "a.b");
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns an iterator over the topic's tokens.
    ///
    /// # Examples
    ///
    /// ```
    /// use sse_hub::topic::{Topic, Pattern};
    ///
    /// # fn main() -> Result<(), sse_hub::topic::TopicError> {
    /// let topic = Topic::new("a.b.c")?;
    /// assert_eq!(topic.tokens().collect::<Vec<_>>(), ["a", "b", "c"]);
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens(self.0.split(SEPARATOR))
    }
}

/// A validated subscription pattern, possibly containing `*` and `>`.
///
/// Cloning is cheap (a reference-count bump).
///
/// See the [module documentation](self) for the validation and matching
/// rules.
///
/// # Examples
///
/// ```
/// use sse_hub::topic::{Topic, Pattern};
///
/// # fn main() -> Result<(), sse_hub::topic::TopicError> {
/// let pattern = Pattern::new("orders.*.created")?;
/// assert!(pattern.matches(&Topic::new("orders.eu.created")?));
/// assert!(!pattern.matches(&Topic::new("orders.eu.deleted")?));
/// assert!(Pattern::new("orders.>.created").is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct Pattern(Arc<str>);

impl Pattern {
    /// Validates `s` and builds a pattern from it.
    ///
    /// # Errors
    ///
    /// Returns a [`TopicError`] describing the first rule `s` breaks.
    ///
    /// # Examples
    ///
    /// ```
    /// use sse_hub::topic::{Topic, Pattern, TopicError};
    ///
    /// assert!(Pattern::new("a.*.>").is_ok());
    /// assert_eq!(Pattern::new("a*"), Err(TopicError::WildcardInsideToken));
    /// assert_eq!(Pattern::new(">.a"), Err(TopicError::FullWildcardNotLast));
    /// ```
    pub fn new(s: &str) -> Result<Pattern, TopicError> {
        validate(s, Kind::Pattern)?;
        Ok(Pattern(Arc::from(s)))
    }

    /// Returns the pattern as a string slice.
    ///
    /// # Examples
    ///
    /// ```
    /// use sse_hub::topic::{Topic, Pattern};
    ///
    /// # fn main() -> Result<(), sse_hub::topic::TopicError> {
    /// assert_eq!(Pattern::new("a.*")?.as_str(), "a.*");
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns an iterator over the pattern's tokens, wildcards included.
    ///
    /// # Examples
    ///
    /// ```
    /// use sse_hub::topic::{Topic, Pattern};
    ///
    /// # fn main() -> Result<(), sse_hub::topic::TopicError> {
    /// let pattern = Pattern::new("a.*.>")?;
    /// assert_eq!(pattern.tokens().collect::<Vec<_>>(), ["a", "*", ">"]);
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens(self.0.split(SEPARATOR))
    }

    /// Returns `true` if the pattern has no wildcard and so matches exactly
    /// one topic.
    ///
    /// # Examples
    ///
    /// ```
    /// use sse_hub::topic::{Topic, Pattern};
    ///
    /// # fn main() -> Result<(), sse_hub::topic::TopicError> {
    /// assert!(Pattern::new("a.b")?.is_literal());
    /// assert!(!Pattern::new("a.*")?.is_literal());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_literal(&self) -> bool {
        // Validation guarantees wildcard characters only occur as whole
        // tokens, so a byte scan is enough.
        !self.0.bytes().any(|b| b == b'*' || b == b'>')
    }

    /// Returns `true` if `topic` matches this pattern.
    ///
    /// Does not allocate.
    ///
    /// # Examples
    ///
    /// ```
    /// use sse_hub::topic::{Topic, Pattern};
    ///
    /// # fn main() -> Result<(), sse_hub::topic::TopicError> {
    /// let all_under_a = Pattern::new("a.>")?;
    /// assert!(all_under_a.matches(&Topic::new("a.b.c")?));
    /// assert!(!all_under_a.matches(&Topic::new("a")?));
    ///
    /// let one_token = Pattern::new("*")?;
    /// assert!(one_token.matches(&Topic::new("a")?));
    /// assert!(!one_token.matches(&Topic::new("a.b")?));
    /// # Ok(())
    /// # }
    /// ```
    pub fn matches(&self, topic: &Topic) -> bool {
        let mut topic_tokens = topic.tokens();
        for token in self.tokens() {
            match token {
                // Validation guarantees `>` is last; it needs at least one
                // remaining topic token.
                FULL_WILDCARD => return topic_tokens.next().is_some(),
                SINGLE_WILDCARD => {
                    if topic_tokens.next().is_none() {
                        return false;
                    }
                }
                literal => {
                    if topic_tokens.next() != Some(literal) {
                        return false;
                    }
                }
            }
        }
        topic_tokens.next().is_none()
    }
}

impl From<Topic> for Pattern {
    /// Every topic is a valid literal pattern, so this cannot fail.
    ///
    /// # Examples
    ///
    /// ```
    /// use sse_hub::topic::{Topic, Pattern};
    ///
    /// # fn main() -> Result<(), sse_hub::topic::TopicError> {
    /// let topic = Topic::new("a.b")?;
    /// let pattern = Pattern::from(topic.clone());
    /// assert!(pattern.is_literal());
    /// assert!(pattern.matches(&topic));
    /// # Ok(())
    /// # }
    /// ```
    fn from(topic: Topic) -> Pattern {
        // Topic rules are strictly stricter than pattern rules, so the string
        // can be shared without revalidation.
        Pattern(topic.0)
    }
}

/// Implements the string-like traits shared by [`Topic`] and [`Pattern`].
macro_rules! string_newtype {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            #[inline]
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // Consistent with the derived `Hash`/`Eq`/`Ord`, which all delegate
        // to the single `str` field, so maps keyed by this type can be
        // queried with a `&str`.
        impl Borrow<str> for $ty {
            #[inline]
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $ty {
            type Err = TopicError;

            fn from_str(s: &str) -> Result<Self, TopicError> {
                $ty::new(s)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = TopicError;

            fn try_from(s: &str) -> Result<Self, TopicError> {
                $ty::new(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = TopicError;

            fn try_from(s: String) -> Result<Self, TopicError> {
                $ty::new(&s)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }
    };
}

string_newtype!(Topic);
string_newtype!(Pattern);

#[cfg(test)]
mod tests;
