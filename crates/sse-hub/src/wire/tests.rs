use super::*;

#[test]
fn heartbeat_is_a_comment_frame() {
    let mut buf = BytesMut::new();
    encode_comment(&mut buf, "ping");
    assert_eq!(&buf[..], HEARTBEAT);
}
use crate::test_parser::{parse, ParsedEvent, ParsedStream};
use proptest::prelude::*;

fn event_bytes(event_type: Option<&str>, id: Option<&str>, data: &str) -> BytesMut {
    let mut buf = BytesMut::new();
    encode_event(&mut buf, event_type, id, data);
    assert_eq!(buf.len(), encoded_len(event_type, id, data));
    buf
}

fn text(buf: &BytesMut) -> &str {
    std::str::from_utf8(buf).unwrap_or_else(|e| panic!("encoder wrote invalid UTF-8: {e}"))
}

fn parsed(buf: &BytesMut) -> ParsedStream {
    let p = parse(text(buf));
    assert!(!p.pending_discarded, "incomplete event left in {buf:?}");
    assert_eq!(p.unterminated_tail, 0, "unterminated line in {buf:?}");
    p
}

/// Encodes, checks the exact bytes, and returns the single parsed event.
fn roundtrip(
    event_type: Option<&str>,
    id: Option<&str>,
    data: &str,
    expected: &str,
) -> ParsedEvent {
    let buf = event_bytes(event_type, id, data);
    assert_eq!(text(&buf), expected);
    let p = parsed(&buf);
    assert_eq!(p.events.len(), 1, "{p:?}");
    assert_eq!(p.comments, 0);
    assert_eq!(p.retry, None);
    p.events
        .into_iter()
        .next()
        .unwrap_or_else(|| unreachable!())
}

fn msg(event_type: &str, data: &str, id: &str) -> ParsedEvent {
    ParsedEvent {
        event_type: event_type.to_owned(),
        data: data.to_owned(),
        last_event_id: id.to_owned(),
    }
}

/// The data a client receives: every CRLF and lone CR becomes LF.
fn normalise(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

#[test]
fn simple_event() {
    let e = roundtrip(None, None, "hello", "data: hello\n\n");
    assert_eq!(e, msg("message", "hello", ""));
}

#[test]
fn event_with_type() {
    let e = roundtrip(Some("update"), None, "x", "event: update\ndata: x\n\n");
    assert_eq!(e, msg("update", "x", ""));
}

#[test]
fn event_with_type_and_id() {
    let e = roundtrip(
        Some("update"),
        Some("42"),
        "x",
        "event: update\nid: 42\ndata: x\n\n",
    );
    assert_eq!(e, msg("update", "x", "42"));
    let e = roundtrip(None, Some("7"), "x", "id: 7\ndata: x\n\n");
    assert_eq!(e, msg("message", "x", "7"));
}

#[test]
fn empty_type_and_id() {
    // An empty type means "message"; an empty id resets lastEventId.
    let e = roundtrip(Some(""), Some(""), "x", "event: \nid: \ndata: x\n\n");
    assert_eq!(e, msg("message", "x", ""));
}

#[test]
fn type_and_id_keep_leading_space_and_colons() {
    let e = roundtrip(
        Some(" a:b"),
        Some(" 1: 2"),
        "x",
        "event:  a:b\nid:  1: 2\ndata: x\n\n",
    );
    assert_eq!(e, msg(" a:b", "x", " 1: 2"));
}

#[test]
fn multi_line_lf() {
    let e = roundtrip(None, None, "a\nb\nc", "data: a\ndata: b\ndata: c\n\n");
    assert_eq!(e.data, "a\nb\nc");
}

#[test]
fn multi_line_crlf() {
    let e = roundtrip(None, None, "a\r\nb", "data: a\ndata: b\n\n");
    assert_eq!(e.data, "a\nb");
}

#[test]
fn multi_line_lone_cr() {
    let e = roundtrip(None, None, "a\rb", "data: a\ndata: b\n\n");
    assert_eq!(e.data, "a\nb");
}

#[test]
fn multi_line_mixed() {
    let e = roundtrip(
        None,
        None,
        "a\r\nb\rc\nd",
        "data: a\ndata: b\ndata: c\ndata: d\n\n",
    );
    assert_eq!(e.data, "a\nb\nc\nd");
    // CR CRLF is two breaks; LF CR is two breaks, not one reversed CRLF.
    let e = roundtrip(None, None, "\r\r\n", "data: \ndata: \ndata: \n\n");
    assert_eq!(e.data, "\n\n");
    let e = roundtrip(None, None, "\n\r", "data: \ndata: \ndata: \n\n");
    assert_eq!(e.data, "\n\n");
}

#[test]
fn data_with_leading_space() {
    let e = roundtrip(None, None, " x", "data:  x\n\n");
    assert_eq!(e.data, " x");
    let e = roundtrip(None, None, "a\n  b", "data: a\ndata:   b\n\n");
    assert_eq!(e.data, "a\n  b");
}

#[test]
fn data_with_trailing_newline() {
    let e = roundtrip(None, None, "a\n", "data: a\ndata: \n\n");
    assert_eq!(e.data, "a\n");
    let e = roundtrip(None, None, "a\r\n", "data: a\ndata: \n\n");
    assert_eq!(e.data, "a\n");
    let e = roundtrip(None, None, "\n", "data: \ndata: \n\n");
    assert_eq!(e.data, "\n");
}

#[test]
fn empty_data_is_dispatched() {
    let e = roundtrip(Some("ping"), None, "", "event: ping\ndata: \n\n");
    assert_eq!(e, msg("ping", "", ""));
}

#[test]
fn data_that_looks_like_fields_stays_data() {
    let data = "data: x\n\nevent: evil\rid: 666\r\nretry: 1\n:comment\n";
    let e = roundtrip(
        None,
        None,
        data,
        "data: data: x\ndata: \ndata: event: evil\ndata: id: 666\n\
         data: retry: 1\ndata: :comment\ndata: \n\n",
    );
    assert_eq!(e, msg("message", &normalise(data), ""));
}

#[test]
fn nul_in_data_is_delivered() {
    let e = roundtrip(None, None, "a\0b", "data: a\0b\n\n");
    assert_eq!(e.data, "a\0b");
}

#[test]
fn encoding_appends() {
    let mut buf = BytesMut::from(&b"data: before\n\n"[..]);
    encode_event(&mut buf, Some("t"), None, "after");
    assert_eq!(text(&buf), "data: before\n\nevent: t\ndata: after\n\n");
}

#[test]
fn retry_frame() {
    for (ms, expected) in [
        (3000, "retry: 3000\n\n"),
        (0, "retry: 0\n\n"),
        (u64::MAX, "retry: 18446744073709551615\n\n"),
    ] {
        let mut buf = BytesMut::new();
        encode_retry(&mut buf, ms);
        assert_eq!(text(&buf), expected);
        let p = parsed(&buf);
        assert_eq!(p.retry, Some(ms));
        assert!(p.events.is_empty());
        assert_eq!(p.fields_seen, ["retry"]);
    }
}

#[test]
fn comment_frame() {
    let mut buf = BytesMut::new();
    encode_comment(&mut buf, "ping");
    assert_eq!(text(&buf), ": ping\n\n");
    buf.clear();
    encode_comment(&mut buf, "");
    assert_eq!(text(&buf), ": \n\n");
    let p = parsed(&buf);
    assert_eq!(p.comments, 1);
    assert!(p.events.is_empty() && p.fields_seen.is_empty());
}

#[test]
fn comment_with_line_breaks_cannot_inject() {
    let mut buf = BytesMut::new();
    encode_comment(&mut buf, "x\ndata: evil\n\nevent: y\r\rid: 1\r\nretry: 5");
    assert_eq!(
        text(&buf),
        ": x\n: data: evil\n: \n: event: y\n: \n: id: 1\n: retry: 5\n\n"
    );
    let p = parsed(&buf);
    assert!(p.events.is_empty());
    assert!(p.fields_seen.is_empty());
    assert_eq!(p.retry, None);
    assert_eq!(p.comments, 7);
}

#[test]
fn heartbeat_between_events_changes_nothing() {
    let mut buf = BytesMut::new();
    encode_event(&mut buf, Some("a"), Some("1"), "x");
    encode_comment(&mut buf, "ping");
    encode_event(&mut buf, None, None, "y");
    let p = parsed(&buf);
    assert_eq!(p.events, [msg("a", "x", "1"), msg("message", "y", "1")]);
}

#[test]
fn bom_at_start_of_first_event_data_is_kept() {
    // A client strips one BOM at stream start only. A stream that opens
    // with an event still starts with `data: `, so the BOM in the data is
    // not at stream start and is delivered.
    let e = roundtrip(None, None, "\u{FEFF}x", "data: \u{FEFF}x\n\n");
    assert_eq!(e.data, "\u{FEFF}x");
    let e = roundtrip(
        Some("\u{FEFF}t"),
        Some("\u{FEFF}1"),
        "x",
        "event: \u{FEFF}t\nid: \u{FEFF}1\ndata: x\n\n",
    );
    assert_eq!(e, msg("\u{FEFF}t", "x", "\u{FEFF}1"));
    // Our streams actually open with a retry frame; same result.
    let mut buf = BytesMut::new();
    encode_retry(&mut buf, 3000);
    encode_event(&mut buf, None, None, "\u{FEFF}\u{FEFF}");
    assert_eq!(
        parsed(&buf).events,
        [msg("message", "\u{FEFF}\u{FEFF}", "")]
    );
    // For contrast: only a BOM before the first field would be stripped.
    assert_eq!(
        parse("\u{FEFF}data: x\n\n").events,
        [msg("message", "x", "")]
    );
}

#[test]
fn validate_field_examples() {
    assert_eq!(validate_field(""), Ok(()));
    assert_eq!(validate_field("user.created: v2 é"), Ok(()));
    assert_eq!(validate_field("a\nb"), Err(FieldError::LineBreak));
    assert_eq!(validate_field("a\rb"), Err(FieldError::LineBreak));
    assert_eq!(validate_field("a\0b"), Err(FieldError::Nul));
    assert_eq!(validate_field("\0\n"), Err(FieldError::Nul));
    assert_eq!(validate_field("\r\0"), Err(FieldError::LineBreak));
    assert_eq!(
        FieldError::LineBreak.to_string(),
        "contains a line break (CR or LF)"
    );
    assert_eq!(FieldError::Nul.to_string(), "contains a NUL character");
}

#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "event type must pass validate_field")]
fn invalid_type_is_caught_in_debug() {
    encode_event(&mut BytesMut::new(), Some("a\nb"), None, "");
}

#[test]
fn lines_splits_like_a_client() {
    fn split(s: &str) -> Vec<&str> {
        lines(s).collect()
    }
    assert_eq!(split(""), [""]);
    assert_eq!(split("a"), ["a"]);
    assert_eq!(split("a\n"), ["a", ""]);
    assert_eq!(split("\r\n"), ["", ""]);
    assert_eq!(split("a\rb\r\nc\nd"), ["a", "b", "c", "d"]);
    assert_eq!(split("\r\r\n\n\r"), ["", "", "", "", ""]);
}

// ----- property tests -----

/// One fragment of an adversarial string: line breaks, NUL, colons,
/// spaces, field-name prefixes and BOMs, mixed with arbitrary characters.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<char>().prop_map(String::from),
        3 => "[a-z0-9 ]{1,4}",
        2 => Just("\n".to_owned()),
        2 => Just("\r".to_owned()),
        2 => Just("\r\n".to_owned()),
        1 => Just("\n\r".to_owned()),
        1 => Just("\0".to_owned()),
        2 => Just(":".to_owned()),
        2 => Just(" ".to_owned()),
        1 => Just(": ".to_owned()),
        1 => Just("data:".to_owned()),
        1 => Just("data: ".to_owned()),
        1 => Just("event:".to_owned()),
        1 => Just("id:".to_owned()),
        1 => Just("retry: 1".to_owned()),
        1 => Just("\u{FEFF}".to_owned()),
    ]
}

/// An adversarial string, possibly empty.
fn nasty() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..16).prop_map(|pieces| pieces.concat())
}

/// Like [`nasty`] but without the pieces that `validate_field` rejects,
/// so most values are valid (arbitrary chars may still add CR/LF/NUL).
fn fieldish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => any::<char>().prop_map(String::from),
        3 => "[a-z0-9 ]{1,4}",
        2 => Just(":".to_owned()),
        2 => Just(" ".to_owned()),
        1 => Just("data:".to_owned()),
        1 => Just("event: x".to_owned()),
        1 => Just("id:".to_owned()),
        1 => Just("\u{FEFF}".to_owned()),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

fn valid_field() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        4 => fieldish(),
        1 => nasty(),
    ])
    .prop_filter("must pass validate_field", |v| {
        v.as_deref().is_none_or(|v| validate_field(v).is_ok())
    })
}

#[derive(Debug, Clone)]
enum Frame {
    Event {
        event_type: Option<String>,
        id: Option<String>,
        data: String,
    },
    Comment(String),
    Retry(u64),
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        4 => (valid_field(), valid_field(), nasty()).prop_map(|(event_type, id, data)| {
            Frame::Event { event_type, id, data }
        }),
        1 => nasty().prop_map(Frame::Comment),
        1 => any::<u64>().prop_map(Frame::Retry),
    ]
}

const FIRST_BYTES: &[u8] = b"eidr:";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn event_roundtrips(
        event_type in valid_field(),
        id in valid_field(),
        data in prop_oneof![3 => nasty(), 1 => any::<String>()],
    ) {
        let (event_type, id) = (event_type.as_deref(), id.as_deref());
        let mut buf = BytesMut::new();
        encode_event(&mut buf, event_type, id, &data);
        prop_assert_eq!(buf.len(), encoded_len(event_type, id, &data));
        prop_assert!(FIRST_BYTES.contains(&buf[0]));

        let p = parse(text(&buf));
        let expected_type = match event_type {
            None | Some("") => "message",
            Some(t) => t,
        };
        prop_assert_eq!(
            &p.events,
            &[msg(expected_type, &normalise(&data), id.unwrap_or(""))]
        );
        prop_assert!(p
            .fields_seen
            .iter()
            .all(|f| ["event", "id", "data"].contains(&f.as_str())));
        prop_assert_eq!(
            p.fields_seen.iter().filter(|f| *f == "data").count(),
            lines(&data).count()
        );
        prop_assert_eq!(p.comments, 0);
        prop_assert_eq!(p.retry, None);
        prop_assert_eq!(p.empty_dispatches, 0);
        prop_assert!(!p.pending_discarded);
        prop_assert_eq!(p.unterminated_tail, 0);
    }

    #[test]
    fn concatenated_frames_stay_separate(frames in prop::collection::vec(frame(), 1..8)) {
        let mut buf = BytesMut::new();
        let mut expected_events = Vec::new();
        let mut expected_retry = None;
        let mut expected_comments = 0;
        let mut non_events = 0;
        let mut last_id = String::new();
        for frame in &frames {
            match frame {
                Frame::Event { event_type, id, data } => {
                    let before = buf.len();
                    encode_event(&mut buf, event_type.as_deref(), id.as_deref(), data);
                    prop_assert_eq!(
                        buf.len() - before,
                        encoded_len(event_type.as_deref(), id.as_deref(), data)
                    );
                    if let Some(id) = id {
                        last_id.clone_from(id);
                    }
                    let event_type = match event_type.as_deref() {
                        None | Some("") => "message",
                        Some(t) => t,
                    };
                    expected_events.push(msg(event_type, &normalise(data), &last_id));
                }
                Frame::Comment(text) => {
                    encode_comment(&mut buf, text);
                    expected_comments += lines(text).count();
                    non_events += 1;
                }
                Frame::Retry(ms) => {
                    encode_retry(&mut buf, *ms);
                    expected_retry = Some(*ms);
                    non_events += 1;
                }
            }
        }
        let p = parse(text(&buf));
        prop_assert_eq!(&p.events, &expected_events);
        prop_assert_eq!(p.retry, expected_retry);
        prop_assert_eq!(p.comments, expected_comments);
        prop_assert_eq!(p.empty_dispatches, non_events);
        prop_assert!(p
            .fields_seen
            .iter()
            .all(|f| ["event", "id", "data", "retry"].contains(&f.as_str())));
        prop_assert!(!p.pending_discarded);
        prop_assert_eq!(p.unterminated_tail, 0);
    }

    #[test]
    fn comments_never_produce_events_or_fields(
        text_in in prop_oneof![3 => nasty(), 1 => any::<String>()],
    ) {
        let mut buf = BytesMut::new();
        encode_comment(&mut buf, &text_in);
        prop_assert_eq!(buf[0], b':');
        let p = parse(text(&buf));
        prop_assert!(p.events.is_empty());
        prop_assert!(p.fields_seen.is_empty());
        prop_assert_eq!(p.retry, None);
        prop_assert_eq!(p.comments, lines(&text_in).count());
        prop_assert_eq!(p.empty_dispatches, 1);
        prop_assert!(!p.pending_discarded);
        prop_assert_eq!(p.unterminated_tail, 0);
    }

    #[test]
    fn retry_roundtrips(ms in any::<u64>()) {
        let mut buf = BytesMut::new();
        encode_retry(&mut buf, ms);
        prop_assert_eq!(text(&buf), format!("retry: {ms}\n\n"));
        let p = parse(text(&buf));
        prop_assert_eq!(p.retry, Some(ms));
        prop_assert!(p.events.is_empty());
    }

    #[test]
    fn validate_field_rejects_exactly_cr_lf_nul(
        value in prop_oneof![nasty(), fieldish(), any::<String>()],
    ) {
        let expected = match value.chars().find(|c| matches!(c, '\r' | '\n' | '\0')) {
            None => Ok(()),
            Some('\0') => Err(FieldError::Nul),
            Some(_) => Err(FieldError::LineBreak),
        };
        prop_assert_eq!(validate_field(&value), expected);
    }
}
