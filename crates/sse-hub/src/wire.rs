//! The `text/event-stream` wire format: encoding events, `retry` frames and
//! comments, and validating the single-line fields (`event`, `id`).
//!
//! Everything the broker sends to a subscriber goes through this module, so
//! it is the one place that must guarantee a published value can never be
//! read by a client as anything other than what was published.
//!
//! # Why values are split and validated
//!
//! A compliant client (a browser's `EventSource`, or anything following the
//! WHATWG HTML "Server-sent events" parsing algorithm) treats **each of CRLF,
//! a lone CR and a lone LF** as the end of a line. A line break inside a value
//! therefore ends the line early and the rest is parsed as a new line, which
//! could be a new field (`event:`, `id:`, `retry:`), or a blank line that
//! dispatches a truncated event and starts a forged one. Splitting only on LF,
//! as is common, leaves a lone CR as an injection vector.
//!
//! * **Data** may contain anything. [`encode_event`] splits it on every CRLF,
//!   lone CR and lone LF and writes each piece as its own `data: ` line; the
//!   client joins data lines with LF, so it receives every line intact.
//! * **Comments** are split the same way in [`encode_comment`], and every
//!   piece starts with `:`, so no part of a comment can become a field.
//! * **Event type and id** are single lines and cannot be split. They must be
//!   checked with [`validate_field`] where they enter the library, which
//!   rejects CR, LF and NUL (a client silently ignores an `id` containing
//!   NUL, so accepting one would break resumption). The encoder trusts them
//!   and only `debug_assert!`s this.
//!
//! # What a client sees
//!
//! * Line breaks in data arrive as LF: a published CRLF or lone CR is
//!   received as `\n`. This normalisation is the protocol's (the client joins
//!   lines with LF and cannot know which break separated them) and is
//!   unavoidable.
//! * A client removes exactly one space after the field's colon, so the
//!   encoder always writes `field: value`. A value's own leading spaces are
//!   thereby preserved: data `" x"` is written `data:  x` and received as
//!   `" x"`.
//! * A trailing line break in data is preserved: the client appends LF after
//!   every data line and removes only the last one at dispatch, so data
//!   `"a\n"` is written as the lines `a` and `` (empty) and received as
//!   `"a\n"`.
//! * **Empty data is delivered.** It is written as one empty data line
//!   (`data: \n`), so the client's data buffer is `"\n"`, non-empty, and it
//!   dispatches an event whose data is `""`. (Writing no data line would make
//!   the client dispatch nothing.)
//! * An event with no type, or an empty type, is received as type
//!   `"message"`. An event with no `id` keeps the client's previous
//!   `lastEventId`: ids persist until changed.
//! * A client ignores one U+FEFF (BOM) at the very start of the stream only.
//!   Every frame written here starts with an ASCII field name or `:`, so a
//!   BOM at the start of a value is never at the start of the stream and is
//!   delivered intact.
//!
//! # Framing
//!
//! Every frame, including `retry` and comment frames, ends with a blank line
//! (a heartbeat is `: ping\n\n`). For `retry` and comments the blank line
//! dispatches nothing on the client (its data buffer is empty), but it makes
//! every frame self-delimiting: frames can be concatenated in any order, and
//! intermediaries that buffer until an event boundary flush them. Frames must
//! be written whole; interleaving two frames' bytes would merge them.

use bytes::BytesMut;

const EVENT: &[u8] = b"event: ";
const ID: &[u8] = b"id: ";
const DATA: &[u8] = b"data: ";
const RETRY: &[u8] = b"retry: ";
#[cfg(test)]
const COMMENT: &[u8] = b": ";

/// The heartbeat frame, a comment: `: ping` and a blank line.
pub(crate) const HEARTBEAT: &[u8] = b": ping\n\n";

/// Why a value cannot be used as an event type or event id.
///
/// These fields are written on a single line of the event stream, so they
/// cannot contain line breaks; and a client ignores an id containing NUL.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The value contains a CR or LF, which a client reads as a line break.
    #[error("contains a line break (CR or LF)")]
    LineBreak,
    /// The value contains a NUL character.
    #[error("contains a NUL character")]
    Nul,
}

/// Checks that `value` can be sent as an event type or event id.
///
/// Rejects CR, LF and NUL; the error describes the first such character.
/// Any other string, including the empty string, is accepted.
pub(crate) fn validate_field(value: &str) -> Result<(), FieldError> {
    for byte in value.bytes() {
        match byte {
            b'\r' | b'\n' => return Err(FieldError::LineBreak),
            0 => return Err(FieldError::Nul),
            _ => {}
        }
    }
    Ok(())
}

/// Appends one event frame to `buf`.
///
/// Writes `event: <type>` and `id: <id>` lines when given, one `data: <line>`
/// line per line of `data` (split on CRLF, lone CR and lone LF; at least one
/// line, see the module docs), and a terminating blank line.
///
/// `event_type` and `id` must have passed [`validate_field`]; this is only
/// checked in debug builds.
pub(crate) fn encode_event(
    buf: &mut BytesMut,
    event_type: Option<&str>,
    id: Option<&str>,
    data: &str,
) {
    debug_assert!(
        event_type.is_none_or(|t| validate_field(t).is_ok()),
        "event type must pass validate_field"
    );
    debug_assert!(
        id.is_none_or(|i| validate_field(i).is_ok()),
        "event id must pass validate_field"
    );
    // Exact when `data` has no line breaks (the common case); callers that
    // care reserve `encoded_len` themselves, which makes this a no-op.
    buf.reserve(header_len(event_type, id) + line_len(DATA, data.len()) + 1);
    if let Some(event_type) = event_type {
        put_line(buf, EVENT, event_type);
    }
    if let Some(id) = id {
        put_line(buf, ID, id);
    }
    for line in lines(data) {
        put_line(buf, DATA, line);
    }
    buf.extend_from_slice(b"\n");
}

/// The exact number of bytes [`encode_event`] appends for these arguments.
///
/// Saturates at `usize::MAX` (only reachable on 32-bit targets, for data that
/// could not be encoded in memory anyway).
pub(crate) fn encoded_len(event_type: Option<&str>, id: Option<&str>, data: &str) -> usize {
    lines(data)
        .fold(header_len(event_type, id), |len, line| {
            len.saturating_add(line_len(DATA, line.len()))
        })
        .saturating_add(1)
}

/// Appends a frame setting the client's reconnection time: `retry: <ms>`
/// and a blank line. It dispatches no event.
pub(crate) fn encode_retry(buf: &mut BytesMut, ms: u64) {
    // u64::MAX has 20 decimal digits.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = ms;
    loop {
        start -= 1;
        // `rest % 10` is below 10, so the cast is lossless.
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    buf.reserve(RETRY.len() + (digits.len() - start) + 2);
    buf.extend_from_slice(RETRY);
    buf.extend_from_slice(&digits[start..]);
    buf.extend_from_slice(b"\n\n");
}

/// Appends a comment frame: one `: <line>` line per line of `text` (split
/// like data, so no part of it can be read as a field) and a blank line.
/// Clients ignore it; it is used for heartbeats (`: ping\n\n`).
#[cfg(test)]
pub(crate) fn encode_comment(buf: &mut BytesMut, text: &str) {
    buf.reserve(line_len(COMMENT, text.len()) + 1);
    for line in lines(text) {
        put_line(buf, COMMENT, line);
    }
    buf.extend_from_slice(b"\n");
}

/// Length of the optional `event` and `id` lines.
fn header_len(event_type: Option<&str>, id: Option<&str>) -> usize {
    event_type.map_or(0, |t| line_len(EVENT, t.len())) + id.map_or(0, |i| line_len(ID, i.len()))
}

/// Length of one line: prefix, value and LF.
fn line_len(prefix: &[u8], value_len: usize) -> usize {
    prefix.len().saturating_add(value_len).saturating_add(1)
}

fn put_line(buf: &mut BytesMut, prefix: &[u8], value: &str) {
    buf.extend_from_slice(prefix);
    buf.extend_from_slice(value.as_bytes());
    buf.extend_from_slice(b"\n");
}

/// Splits `text` into lines the way a client delimits them: at every CRLF,
/// lone CR and lone LF. Always yields at least one (possibly empty) line,
/// and a trailing line break yields a final empty line.
fn lines(text: &str) -> Lines<'_> {
    Lines { rest: Some(text) }
}

#[derive(Debug)]
struct Lines<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        let bytes = rest.as_bytes();
        match bytes.iter().position(|&b| b == b'\r' || b == b'\n') {
            None => {
                self.rest = None;
                Some(rest)
            }
            Some(end) => {
                let crlf = bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n');
                // CR and LF are ASCII, so both indices are char boundaries.
                self.rest = Some(&rest[end + if crlf { 2 } else { 1 }..]);
                Some(&rest[..end])
            }
        }
    }
}

impl std::iter::FusedIterator for Lines<'_> {}

#[cfg(test)]
mod tests {
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
}
