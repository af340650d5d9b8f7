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
//! * **Data** may contain anything. The encoder splits it on every CRLF,
//!   lone CR and lone LF and writes each piece as its own `data: ` line; the
//!   client joins data lines with LF, so it receives every line intact.
//! * **Comments** are split the same way, and every
//!   piece starts with `:`, so no part of a comment can become a field.
//! * **Event type and id** are single lines and cannot be split. They must be
//!   checked with the field validator where they enter the library, which
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
mod tests;
