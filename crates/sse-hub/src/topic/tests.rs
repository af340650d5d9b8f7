#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use proptest::prelude::*;
use serde::de::value::{Error as DeError, StringDeserializer};
use serde::de::IntoDeserializer;

fn topic(s: &str) -> Topic {
    Topic::new(s).unwrap()
}

fn pattern(s: &str) -> Pattern {
    Pattern::new(s).unwrap()
}

#[test]
fn accepts_valid_topics() {
    for s in [
        "a",
        "a.b.c",
        "orders-eu_1.x:y/z",
        "café.☕",
        "日本.語",
        "a#b$c",
    ] {
        assert_eq!(topic(s).as_str(), s);
        assert_eq!(pattern(s).as_str(), s);
    }
}

#[test]
fn rejects_empty() {
    assert_eq!(Topic::new(""), Err(TopicError::Empty));
    assert_eq!(Pattern::new(""), Err(TopicError::Empty));
}

#[test]
fn rejects_too_long() {
    let long = "a".repeat(MAX_LEN + 1);
    let expected = Some(TopicError::TooLong {
        len: MAX_LEN + 1,
        max: MAX_LEN,
    });
    assert_eq!(Topic::new(&long).err(), expected);
    assert_eq!(Pattern::new(&long).err(), expected);
    assert!(Topic::new(&long[..MAX_LEN]).is_ok());
}

#[test]
fn length_is_measured_in_bytes() {
    // 'é' is two bytes, so this is over the limit despite fewer chars.
    let s = "é".repeat(MAX_LEN / 2 + 1);
    assert!(matches!(Topic::new(&s), Err(TopicError::TooLong { .. })));
}

#[test]
fn rejects_too_many_tokens() {
    let ok = vec!["a"; MAX_TOKENS].join(".");
    assert!(Topic::new(&ok).is_ok());
    let too_many = vec!["a"; MAX_TOKENS + 1].join(".");
    let expected = Some(TopicError::TooManyTokens {
        count: MAX_TOKENS + 1,
        max: MAX_TOKENS,
    });
    assert_eq!(Topic::new(&too_many).err(), expected);
    assert_eq!(Pattern::new(&too_many).err(), expected);
}

#[test]
fn rejects_empty_tokens() {
    for (s, position) in [(".", 0), (".a", 0), ("a.", 1), ("a..b", 1), ("a.b..", 2)] {
        assert_eq!(
            Topic::new(s),
            Err(TopicError::EmptyToken { position }),
            "{s:?}"
        );
        assert_eq!(
            Pattern::new(s),
            Err(TopicError::EmptyToken { position }),
            "{s:?}"
        );
    }
}

#[test]
fn rejects_invalid_chars() {
    for (s, ch, position) in [
        ("a b", ' ', 1),
        ("a.\tb", '\t', 2),
        ("a\nb", '\n', 1),
        ("a\0", '\0', 1),
        ("\u{7f}", '\u{7f}', 0),
        ("\u{1b}[31m", '\u{1b}', 0),
        ("é.a\u{a0}", '\u{a0}', 4),
        ("x\u{2028}", '\u{2028}', 1),
        ("*. ", ' ', 2),
    ] {
        let expected = Some(TopicError::InvalidChar { ch, position });
        assert_eq!(Pattern::new(s).err(), expected, "{s:?}");
        if !s.contains('*') {
            assert_eq!(Topic::new(s).err(), expected, "{s:?}");
        }
    }
}

#[test]
fn rejects_wildcards_in_topics() {
    for s in ["*", ">", "a.*", "a.>", "a*", "a.b>c"] {
        assert_eq!(Topic::new(s), Err(TopicError::WildcardInTopic), "{s:?}");
    }
}

#[test]
fn rejects_partial_wildcard_tokens() {
    for s in ["a*", "*a", "**", ">>", "a.b>", "a.*>", "a.>*"] {
        assert_eq!(
            Pattern::new(s),
            Err(TopicError::WildcardInsideToken),
            "{s:?}"
        );
    }
}

#[test]
fn rejects_full_wildcard_not_last() {
    for s in [">.a", "a.>.b", ">.>", ">.*"] {
        assert_eq!(
            Pattern::new(s),
            Err(TopicError::FullWildcardNotLast),
            "{s:?}"
        );
    }
}

#[test]
fn error_messages_do_not_echo_input() {
    let err = Topic::new("secret-token value").unwrap_err();
    assert_eq!(err.to_string(), "invalid character ' ' at byte 12");
    let err = Topic::new("a\u{1b}b").unwrap_err();
    assert_eq!(err.to_string(), "invalid character '\\u{1b}' at byte 1");
    assert_eq!(TopicError::Empty.to_string(), "topic is empty");
    for err in [
        TopicError::Empty,
        TopicError::TooLong { len: 2, max: 1 },
        TopicError::TooManyTokens { count: 2, max: 1 },
        TopicError::EmptyToken { position: 0 },
        TopicError::InvalidChar {
            ch: 'x',
            position: 0,
        },
        TopicError::WildcardInTopic,
        TopicError::WildcardInsideToken,
        TopicError::FullWildcardNotLast,
    ] {
        let msg = err.to_string();
        assert!(msg.starts_with(|c: char| c.is_lowercase()), "{msg}");
        assert!(!msg.ends_with(['.', '!']), "{msg}");
    }
}

#[test]
fn matching_examples() {
    let cases = [
        ("a.*.c", "a.b.c", true),
        ("a.*.c", "a.b.d", false),
        ("a.*.c", "a.c", false),
        ("a.*.c", "a.b.b.c", false),
        ("a.>", "a", false),
        ("a.>", "a.b", true),
        ("a.>", "a.b.c", true),
        ("a.>", "b.a", false),
        (">", "a", true),
        (">", "a.b.c", true),
        ("*", "a", true),
        ("*", "a.b", false),
        ("*.>", "a", false),
        ("*.>", "a.b", true),
        ("*.*", "a.b", true),
        ("*.*", "a.b.c", false),
        ("a.b", "a.b", true),
        ("a.b", "a.b.c", false),
        ("a.b.c", "a.b", false),
        ("a", "ab", false),
        ("café.*", "café.☕", true),
        ("café.*", "cafe\u{301}.☕", false),
        ("日本.>", "日本.語.x", true),
        ("*.☕", "café.☕", true),
    ];
    for (p, t, expected) in cases {
        assert_eq!(pattern(p).matches(&topic(t)), expected, "{p} vs {t}");
    }
}

#[test]
fn literal_detection_and_conversion() {
    assert!(pattern("a.b").is_literal());
    assert!(!pattern("*").is_literal());
    assert!(!pattern("a.>").is_literal());
    let t = topic("x.y");
    let p = Pattern::from(t.clone());
    assert!(p.is_literal());
    assert!(p.matches(&t));
    assert_eq!(p.as_str(), t.as_str());
}

#[test]
fn string_traits() {
    let t: Topic = "a.b".parse().unwrap();
    assert_eq!(t.to_string(), "a.b");
    assert_eq!(AsRef::<str>::as_ref(&t), "a.b");
    let set: std::collections::HashSet<Topic> = [t.clone()].into();
    assert!(set.contains("a.b"));
    assert_eq!(Pattern::try_from("a.*").unwrap().as_str(), "a.*");
    assert_eq!(
        Topic::try_from(String::from("a.*")),
        Err(TopicError::WildcardInTopic)
    );
    assert!(topic("a") < topic("b"));
}

#[test]
fn deserialize_validates() {
    let de: StringDeserializer<DeError> = String::from("a.b").into_deserializer();
    assert_eq!(Topic::deserialize(de).unwrap(), topic("a.b"));
    let de: StringDeserializer<DeError> = String::from("a.*").into_deserializer();
    assert_eq!(Pattern::deserialize(de).unwrap(), pattern("a.*"));
    let de: StringDeserializer<DeError> = String::from("a.*").into_deserializer();
    let err = Topic::deserialize(de).unwrap_err();
    assert_eq!(err.to_string(), "wildcards are not allowed in a topic");
    let de: StringDeserializer<DeError> = String::from("a..b").into_deserializer();
    assert!(Pattern::deserialize(de).is_err());
}

/// Independent reference matcher over token slices.
fn reference_match(pattern: &[&str], topic: &[&str]) -> bool {
    match (pattern.split_first(), topic.split_first()) {
        (None, None) => true,
        (Some((&">", _)), Some(_)) => true,
        (Some((&"*", p_rest)), Some((_, t_rest))) => reference_match(p_rest, t_rest),
        (Some((p, p_rest)), Some((t, t_rest))) => p == t && reference_match(p_rest, t_rest),
        _ => false,
    }
}

fn joined(tokens: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(tokens), 1..6).prop_map(|v| v.join("."))
}

fn arb_filtered_pattern() -> impl Strategy<Value = Pattern> {
    joined(&["a", "b", "c", "*", ">"]).prop_filter_map("invalid pattern", |s| Pattern::new(&s).ok())
}

/// Built valid by construction rather than filtered, because filtering
/// every op of a long sequence exhausts proptest's local reject budget.
pub(super) fn arb_pattern() -> impl Strategy<Value = Pattern> {
    (
        prop::collection::vec(prop::sample::select(&["a", "b", "c", "*"][..]), 1..6),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(mut tokens, full)| {
            if full {
                if let Some(last) = tokens.last_mut() {
                    *last = ">";
                }
            }
            pattern(&tokens.join("."))
        })
}

pub(super) fn arb_topic() -> impl Strategy<Value = Topic> {
    joined(&["a", "b", "c", "é"]).prop_map(|s| topic(&s))
}

/// Strings that hit every validation branch often, not just random noise.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ab.*> \t\u{0}é☕\u{a0}]{0,12}",
        any::<String>(),
        prop::collection::vec("[a-c*>]{0,2}", 0..70).prop_map(|v| v.join(".")),
    ]
}

proptest! {
    #[test]
    fn matches_agrees_with_reference(p in arb_filtered_pattern(), t in arb_topic()) {
        let p_tokens: Vec<&str> = p.tokens().collect();
        let t_tokens: Vec<&str> = t.tokens().collect();
        prop_assert_eq!(p.matches(&t), reference_match(&p_tokens, &t_tokens));
    }

    #[test]
    fn accepted_topics_round_trip(s in tricky_string()) {
        if let Ok(t) = Topic::new(&s) {
            prop_assert_eq!(t.as_str(), s.as_str());
            prop_assert_eq!(t.tokens().collect::<Vec<_>>().join("."), s.clone());
            let p = Pattern::new(&s).unwrap();
            prop_assert!(p.is_literal());
            prop_assert!(p.matches(&t));
            prop_assert_eq!(Pattern::from(t.clone()), p);
        }
    }

    #[test]
    fn validation_agrees_with_reference(s in tricky_string()) {
        let tokens: Vec<&str> = s.split('.').collect();
        let basic = !s.is_empty()
            && s.len() <= MAX_LEN
            && tokens.len() <= MAX_TOKENS
            && tokens.iter().all(|t| !t.is_empty())
            && !s.chars().any(|c| c.is_ascii_control() || c.is_whitespace());
        let topic_ok = basic && !s.contains(['*', '>']);
        let pattern_ok = basic
            && tokens.iter().enumerate().all(|(i, t)| {
                !t.contains(['*', '>'])
                    || *t == "*"
                    || (*t == ">" && i + 1 == tokens.len())
            });
        prop_assert_eq!(Topic::new(&s).is_ok(), topic_ok);
        prop_assert_eq!(Pattern::new(&s).is_ok(), pattern_ok);
    }
}
