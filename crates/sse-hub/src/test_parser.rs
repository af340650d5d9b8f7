//! A strict, test-only reference parser for `text/event-stream`.
//!
//! This is a literal transcription of the WHATWG HTML algorithm
//! (§9.2 "Server-sent events": "Parsing an event stream" and
//! "Interpreting an event stream"), written as independently of the encoder
//! in [`crate::wire`] as possible so that the encoder's tests check it
//! against what a compliant client (a browser's `EventSource`) would see,
//! rather than against the encoder's own idea of the format.
//!
//! Differences from a real client, all deliberate and test-friendly:
//!
//! * The whole stream is given at once, so a CR at the very end of the input
//!   is a complete line ending (the spec only makes a client wait for a
//!   possible LF while more input may still arrive).
//! * Besides the dispatched events it records every field name it processed,
//!   the number of comment lines, the last `retry` value, and whether
//!   anything was left over at end of input, so tests can assert that an
//!   encoder never produced anything unexpected.
//!
//! It is compiled only for tests.
#![cfg(test)]

/// One event as a client's `MessageEvent` would expose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedEvent {
    /// The event's type: the `event` field's value, or `"message"` when that
    /// was absent or empty.
    pub(crate) event_type: String,
    /// The event's `data`: data lines joined with LF.
    pub(crate) data: String,
    /// The event's `lastEventId`: the most recent `id` field's value, which
    /// persists across events until another `id` field changes it.
    pub(crate) last_event_id: String,
}

/// Everything the parser observed in a stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ParsedStream {
    /// Dispatched events, in order.
    pub(crate) events: Vec<ParsedEvent>,
    /// The name of every field line processed, in order, including ignored
    /// and unknown ones (but not comments).
    pub(crate) fields_seen: Vec<String>,
    /// The reconnection time set by the last valid `retry` field, if any.
    pub(crate) retry: Option<u64>,
    /// How many comment lines (lines starting with `:`) were seen.
    pub(crate) comments: usize,
    /// How many blank lines arrived while the data buffer was empty, which
    /// per spec dispatch nothing.
    pub(crate) empty_dispatches: usize,
    /// Whether a data or event type buffer was still non-empty at end of
    /// input: an incomplete event, which the spec discards.
    pub(crate) pending_discarded: bool,
    /// The number of bytes of a final line that had no line ending, which
    /// the spec never processes.
    pub(crate) unterminated_tail: usize,
    /// The last event ID buffer at end of input.
    pub(crate) last_event_id: String,
}

/// Parses a complete event stream given as bytes.
///
/// The bytes are decoded as the spec's "UTF-8 decode" does: one leading
/// UTF-8 BOM is removed and invalid sequences become U+FFFD.
pub(crate) fn parse_bytes(input: &[u8]) -> ParsedStream {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    parse_decoded(&String::from_utf8_lossy(input))
}

/// Parses a complete event stream given as text (see [`parse_bytes`]).
pub(crate) fn parse(input: &str) -> ParsedStream {
    parse_bytes(input.as_bytes())
}

/// Runs the line-by-line algorithm on already decoded, BOM-stripped text.
fn parse_decoded(mut rest: &str) -> ParsedStream {
    let mut state = State::default();
    // CR and LF are ASCII, so any byte index of one is a char boundary.
    while let Some(pos) = rest.bytes().position(|b| b == b'\r' || b == b'\n') {
        let line = &rest[..pos];
        let ending = if rest[pos..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[pos + ending..];
        state.process_line(line);
    }
    state.out.unterminated_tail = rest.len();
    state.out.pending_discarded = !state.data.is_empty() || !state.event_type.is_empty();
    state.out.last_event_id = state.last_event_id;
    state.out
}

/// The parser's buffers, named as in the spec.
#[derive(Debug, Default)]
struct State {
    data: String,
    event_type: String,
    last_event_id: String,
    out: ParsedStream,
}

impl State {
    fn process_line(&mut self, line: &str) {
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line.starts_with(':') {
            self.out.comments += 1;
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        self.out.fields_seen.push(field.to_owned());
        match field {
            "event" => value.clone_into(&mut self.event_type),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            // A value containing NUL is ignored.
            "id" if !value.contains('\0') => value.clone_into(&mut self.last_event_id),
            // "If the field value consists of only ASCII digits": an empty
            // value is treated as not a number, and a value too large for a
            // u64 is ignored rather than saturated.
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse() {
                    self.out.retry = Some(ms);
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self) {
        // Step 1 (setting the source's last event ID string) is modelled by
        // copying the buffer into each event below; the buffer is never reset.
        if self.data.is_empty() {
            self.event_type.clear();
            self.out.empty_dispatches += 1;
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        let event_type = std::mem::take(&mut self.event_type);
        self.out.events.push(ParsedEvent {
            event_type: if event_type.is_empty() {
                "message".to_owned()
            } else {
                event_type
            },
            data,
            last_event_id: self.last_event_id.clone(),
        });
    }
}

mod tests {
    use super::*;

    fn event(event_type: &str, data: &str, id: &str) -> ParsedEvent {
        ParsedEvent {
            event_type: event_type.to_owned(),
            data: data.to_owned(),
            last_event_id: id.to_owned(),
        }
    }

    #[test]
    fn spec_examples() {
        // The four examples from the spec: comment + two events, an event
        // with an id, an empty-data event, and a trailing partial event.
        let p = parse(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n");
        assert_eq!(
            p.events,
            vec![
                event("message", "first event", "1"),
                event("message", "second event", ""),
            ]
        );
        assert!(p.pending_discarded);
        assert_eq!(p.comments, 1);

        let p = parse("data\n\ndata\ndata\n\ndata:");
        assert_eq!(
            p.events,
            vec![event("message", "", ""), event("message", "\n", "")]
        );
        assert_eq!(p.unterminated_tail, 5);

        let p = parse("data:test\n\ndata: test\n\n");
        assert_eq!(
            p.events,
            vec![event("message", "test", ""), event("message", "test", "")]
        );
    }

    #[test]
    fn line_endings_and_bom() {
        let p = parse("\u{FEFF}data: a\r\rdata: b\r\n\r\nevent: x\ndata: c\n\n\u{FEFF}data: d\n\n");
        assert_eq!(
            p.events,
            vec![
                event("message", "a", ""),
                event("message", "b", ""),
                event("x", "c", ""),
            ]
        );
        // Only one BOM at stream start is stripped; later ones are part of
        // the field name.
        assert_eq!(
            p.fields_seen.last().map(String::as_str),
            Some("\u{FEFF}data")
        );
        // A CR at the very end of the input ends the line.
        assert_eq!(parse("data: a\r\r").events, vec![event("message", "a", "")]);
    }

    #[test]
    fn id_retry_and_unknown_fields() {
        let p =
            parse("id: 7\ndata: a\n\nid: x\0y\ndata: b\n\nretry: 12x\nretry: 250\nfoo: bar\n\n");
        assert_eq!(
            p.events,
            vec![event("message", "a", "7"), event("message", "b", "7")]
        );
        assert_eq!(p.retry, Some(250));
        assert_eq!(
            p.fields_seen,
            ["id", "data", "id", "data", "retry", "retry", "foo"]
        );
        assert_eq!(p.empty_dispatches, 1);
        // An event type without data is reset by the blank line.
        let p = parse("event: x\n\ndata: a\n\n");
        assert_eq!(p.events, vec![event("message", "a", "")]);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let p = parse_bytes(b"data: \xFF\n\n");
        assert_eq!(p.events, vec![event("message", "\u{FFFD}", "")]);
    }
}
