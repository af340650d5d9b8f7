//! Incremental, allocation-free (in steady state) parsers used by the load
//! generator's SSE clients:
//!
//! * [`ResponseParser`] — an HTTP/1.1 response head parser followed by a body
//!   decoder (chunked transfer-encoding, content-length or read-to-EOF);
//! * [`SseParser`] — an incremental `text/event-stream` parser that only keeps
//!   the `data:` payload of events whose type is the one asked for.
//!
//! Both accept input split at any byte boundary. Buffers are reused, so once
//! they reached the size of the largest line nothing is allocated per event.

use anyhow::{bail, Result};

/// Incremental `text/event-stream` parser.
///
/// It reports the (possibly multi-line, joined with `\n`) `data` of each event
/// whose `event:` field equals the wanted type. Comments, `id:` and `retry:`
/// lines and events of other types are skipped.
#[derive(Debug)]
pub struct SseParser {
    wanted: Vec<u8>,
    /// Bytes of a line that was split across `feed` calls.
    partial: Vec<u8>,
    /// `data` of the event being assembled.
    data: Vec<u8>,
    has_data: bool,
    type_matches: bool,
    /// The previous chunk ended with `\r`: a `\n` at the start of the next one
    /// belongs to the same line terminator.
    skip_lf: bool,
}

impl SseParser {
    /// A parser reporting events whose `event:` field is `wanted`.
    pub fn new(wanted: &str) -> Self {
        Self {
            wanted: wanted.as_bytes().to_vec(),
            partial: Vec::with_capacity(256),
            data: Vec::with_capacity(256),
            has_data: false,
            type_matches: false,
            skip_lf: false,
        }
    }

    /// Feeds bytes of the event stream; `on_event` is called with the `data` of
    /// each complete event of the wanted type.
    pub fn feed(&mut self, mut input: &[u8], on_event: &mut impl FnMut(&[u8])) {
        if self.skip_lf {
            if let Some((&b'\n', rest)) = input.split_first() {
                input = rest;
            }
            if !input.is_empty() {
                self.skip_lf = false;
            }
        }
        while !input.is_empty() {
            let Some(pos) = input.iter().position(|&b| b == b'\n' || b == b'\r') else {
                self.partial.extend_from_slice(input);
                return;
            };
            let line = &input[..pos];
            let term = input[pos];
            input = &input[pos + 1..];
            if term == b'\r' {
                match input.first() {
                    Some(b'\n') => input = &input[1..],
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            if self.partial.is_empty() {
                self.line(line, on_event);
            } else {
                let mut buf = std::mem::take(&mut self.partial);
                buf.extend_from_slice(line);
                self.line(&buf, on_event);
                buf.clear();
                self.partial = buf;
            }
        }
    }

    fn line(&mut self, line: &[u8], on_event: &mut impl FnMut(&[u8])) {
        if line.is_empty() {
            if self.has_data && self.type_matches {
                on_event(&self.data);
            }
            self.data.clear();
            self.has_data = false;
            self.type_matches = false;
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => self.type_matches = value == self.wanted.as_slice(),
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            _ => {}
        }
    }
}

/// How the response body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Chunked,
    Length(u64),
    UntilEof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    /// Reading the hex chunk size; the value so far.
    ChunkSize(u64),
    /// Skipping a chunk extension up to the end of the line.
    ChunkExt(u64),
    /// Expecting `\n` after the `\r` of a size line.
    ChunkSizeLf(u64),
    ChunkData(u64),
    /// Expecting the CRLF after chunk data (`\r` seen = true).
    ChunkDataEnd(bool),
    /// After the last chunk: trailer lines until an empty line; the length of
    /// the current trailer line.
    Trailer(usize),
    Length(u64),
    UntilEof,
    Done,
}

/// Incremental HTTP/1.1 response parser: status line and headers, then the
/// body, de-chunked, handed to a callback.
#[derive(Debug)]
pub struct ResponseParser {
    state: State,
    head: Vec<u8>,
    status: u16,
    max_head: usize,
}

impl Default for ResponseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseParser {
    /// A parser waiting for a response head.
    pub fn new() -> Self {
        Self {
            state: State::Head,
            head: Vec::with_capacity(512),
            status: 0,
            max_head: 64 * 1024,
        }
    }

    /// Makes the parser ready for the next response on the same connection,
    /// keeping its buffer.
    pub fn reset(&mut self) {
        self.state = State::Head;
        self.head.clear();
        self.status = 0;
    }

    /// Whether the head (status line and headers) has been fully received.
    pub fn head_done(&self) -> bool {
        self.state != State::Head
    }

    /// The response status code (0 until the head is complete).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the body is complete (never true for a read-to-EOF body).
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Feeds bytes read from the socket; body bytes are passed to `on_body`.
    pub fn feed(&mut self, mut input: &[u8], on_body: &mut impl FnMut(&[u8])) -> Result<()> {
        while !input.is_empty() {
            match self.state {
                State::Head => {
                    // Only scan the newly appended bytes (plus 3 of overlap).
                    let start = self.head.len().saturating_sub(3);
                    self.head.extend_from_slice(input);
                    match find(&self.head[start..], b"\r\n\r\n") {
                        Some(i) => {
                            let end = start + i + 4;
                            let body = self.parse_head(end)?;
                            let consumed = input.len() - (self.head.len() - end);
                            input = &input[consumed..];
                            self.head.clear();
                            self.state = match body {
                                Body::Chunked => State::ChunkSize(0),
                                Body::Length(0) => State::Done,
                                Body::Length(n) => State::Length(n),
                                Body::UntilEof => State::UntilEof,
                            };
                        }
                        None => {
                            if self.head.len() > self.max_head {
                                bail!("response head too large");
                            }
                            return Ok(());
                        }
                    }
                }
                State::ChunkSize(n) => {
                    let b = input[0];
                    input = &input[1..];
                    self.state = match b {
                        b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                            let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                            if n > (u64::MAX >> 8) {
                                bail!("chunk size overflow");
                            }
                            State::ChunkSize(n * 16 + d)
                        }
                        b';' | b' ' | b'\t' => State::ChunkExt(n),
                        b'\r' => State::ChunkSizeLf(n),
                        b'\n' => Self::after_size(n),
                        _ => bail!("bad chunk size byte {b:#x}"),
                    };
                }
                State::ChunkExt(n) => match input.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        input = &input[i + 1..];
                        self.state = Self::after_size(n);
                    }
                    None => return Ok(()),
                },
                State::ChunkSizeLf(n) => {
                    if input[0] != b'\n' {
                        bail!("expected LF after chunk size");
                    }
                    input = &input[1..];
                    self.state = Self::after_size(n);
                }
                State::ChunkData(n) => {
                    let take = (n.min(input.len() as u64)) as usize;
                    on_body(&input[..take]);
                    input = &input[take..];
                    let left = n - take as u64;
                    self.state = if left == 0 {
                        State::ChunkDataEnd(false)
                    } else {
                        State::ChunkData(left)
                    };
                }
                State::ChunkDataEnd(cr_seen) => {
                    let b = input[0];
                    input = &input[1..];
                    self.state = match (cr_seen, b) {
                        (false, b'\r') => State::ChunkDataEnd(true),
                        (_, b'\n') => State::ChunkSize(0),
                        _ => bail!("expected CRLF after chunk data"),
                    };
                }
                State::Trailer(len) => {
                    let b = input[0];
                    input = &input[1..];
                    self.state = match b {
                        b'\n' if len == 0 => State::Done,
                        b'\n' => State::Trailer(0),
                        b'\r' => State::Trailer(len),
                        _ => State::Trailer(len + 1),
                    };
                }
                State::Length(n) => {
                    let take = (n.min(input.len() as u64)) as usize;
                    on_body(&input[..take]);
                    input = &input[take..];
                    let left = n - take as u64;
                    self.state = if left == 0 {
                        State::Done
                    } else {
                        State::Length(left)
                    };
                }
                State::UntilEof => {
                    on_body(input);
                    return Ok(());
                }
                State::Done => return Ok(()),
            }
        }
        Ok(())
    }

    fn after_size(n: u64) -> State {
        if n == 0 {
            State::Trailer(0)
        } else {
            State::ChunkData(n)
        }
    }

    fn parse_head(&mut self, end: usize) -> Result<Body> {
        let head = &self.head[..end];
        let mut lines = head.split(|&b| b == b'\n');
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.split(|&b| b == b' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with(b"HTTP/1.") {
            bail!("not an HTTP/1 response");
        }
        let code = parts.next().unwrap_or_default();
        self.status = std::str::from_utf8(code)?.trim().parse()?;
        let mut body = Body::UntilEof;
        for line in lines {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(i) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let name = &line[..i];
            let value = line[i + 1..].trim_ascii();
            if name.eq_ignore_ascii_case(b"transfer-encoding") {
                if value
                    .split(|&b| b == b',')
                    .any(|v| v.trim_ascii().eq_ignore_ascii_case(b"chunked"))
                {
                    body = Body::Chunked;
                }
            } else if name.eq_ignore_ascii_case(b"content-length") && body != Body::Chunked {
                body = Body::Length(std::str::from_utf8(value)?.parse()?);
            }
        }
        if self.status == 204 || self.status == 304 || (100..200).contains(&self.status) {
            body = Body::Length(0);
        }
        Ok(body)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses a bench payload `"<seq>:<send_time_us>:<padding>"` (an optional
/// leading `"` is tolerated) into `(seq, send_time_us)`.
pub fn parse_payload(data: &[u8]) -> Option<(u64, u64)> {
    let data = data.strip_prefix(b"\"").unwrap_or(data);
    let (seq, rest) = parse_u64(data)?;
    let rest = rest.strip_prefix(b":")?;
    let (t, rest) = parse_u64(rest)?;
    if !(rest.is_empty() || rest[0] == b':' || rest[0] == b'"') {
        return None;
    }
    Some((seq, t))
}

fn parse_u64(s: &[u8]) -> Option<(u64, &[u8])> {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || n > 19 {
        return None;
    }
    let v = s[..n]
        .iter()
        .fold(0u64, |acc, &b| acc * 10 + u64::from(b - b'0'));
    Some((v, &s[n..]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const STREAM: &[u8] = b"retry: 3000\n\nevent: connected\ndata: {\"connection_id\":\"a\",\"topics\":[\"t\"]}\n\n: ping\n\nevent: bench\nid: 1\ndata: 1:100:xx\n\nevent: other\ndata: nope\n\nevent: bench\r\ndata: 2:200:yy\r\n\r\nevent: bench\rdata: a\rdata: b\r\rdata: untyped\n\nevent: bench\ndata:3:300:\n\n";

    fn expected() -> Vec<Vec<u8>> {
        vec![
            b"1:100:xx".to_vec(),
            b"2:200:yy".to_vec(),
            b"a\nb".to_vec(),
            b"3:300:".to_vec(),
        ]
    }

    fn run_sse(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut p = SseParser::new("bench");
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut |d| out.push(d.to_vec()));
        }
        out
    }

    #[test]
    fn sse_whole() {
        assert_eq!(run_sse(&[STREAM]), expected());
    }

    #[test]
    fn sse_split_everywhere() {
        for i in 0..=STREAM.len() {
            for j in i..=STREAM.len() {
                let got = run_sse(&[&STREAM[..i], &STREAM[i..j], &STREAM[j..]]);
                assert_eq!(got, expected(), "split at {i},{j}");
            }
        }
    }

    #[test]
    fn sse_byte_by_byte() {
        let chunks: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(run_sse(&chunks), expected());
    }

    fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let mut rest = body;
        let mut k = 0;
        while !rest.is_empty() {
            let n = sizes[k % sizes.len()].min(rest.len());
            k += 1;
            if k % 2 == 0 {
                out.extend_from_slice(format!("{n:X};ext=1\r\n").as_bytes());
            } else {
                out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            }
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        out.extend_from_slice(b"0\r\nx-trailer: 1\r\n\r\n");
        out
    }

    fn run_http(chunks: &[&[u8]]) -> (Vec<u8>, ResponseParser) {
        let mut p = ResponseParser::new();
        let mut body = Vec::new();
        for c in chunks {
            p.feed(c, &mut |b| body.extend_from_slice(b)).unwrap();
        }
        (body, p)
    }

    #[test]
    fn chunked_split_everywhere() {
        let wire = chunked(STREAM, &[7, 1, 40, 3]);
        for i in 0..=wire.len() {
            for j in (i..=wire.len()).step_by(3) {
                let (body, p) = run_http(&[&wire[..i], &wire[i..j], &wire[j..]]);
                assert_eq!(body, STREAM, "split at {i},{j}");
                assert_eq!(p.status(), 200);
                assert!(p.done());
            }
        }
    }

    #[test]
    fn chunked_then_sse_byte_by_byte() {
        let wire = chunked(STREAM, &[5, 13]);
        let mut http = ResponseParser::new();
        let mut sse = SseParser::new("bench");
        let mut out = Vec::new();
        for b in wire.chunks(1) {
            http.feed(b, &mut |body| sse.feed(body, &mut |d| out.push(d.to_vec())))
                .unwrap();
        }
        assert_eq!(out, expected());
    }

    #[test]
    fn content_length_and_eof() {
        let wire = b"HTTP/1.1 202 Accepted\r\ncontent-length: 5\r\n\r\nhelloEXTRA";
        for i in 0..=wire.len() {
            let (body, p) = run_http(&[&wire[..i], &wire[i..]]);
            assert_eq!(body, b"hello");
            assert_eq!(p.status(), 202);
            assert!(p.done());
        }
        let (body, p) = run_http(&[b"HTTP/1.0 200 OK\r\n\r\nabc", b"def"]);
        assert_eq!(body, b"abcdef");
        assert!(!p.done());
        let (body, p) = run_http(&[b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"]);
        assert!(body.is_empty());
        assert!(p.done());
    }

    #[test]
    fn bad_input() {
        let mut p = ResponseParser::new();
        assert!(p.feed(b"SSH-2.0\r\n\r\n", &mut |_| {}).is_err());
        let mut p = ResponseParser::new();
        let r = p.feed(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            &mut |_| {},
        );
        assert!(r.is_err());
    }

    #[test]
    fn payload() {
        assert_eq!(parse_payload(b"12:345:xxxx"), Some((12, 345)));
        assert_eq!(parse_payload(b"\"12:345:xx\""), Some((12, 345)));
        assert_eq!(parse_payload(b"12:345"), Some((12, 345)));
        assert_eq!(parse_payload(b"12:x"), None);
        assert_eq!(parse_payload(b"{\"a\":1}"), None);
    }
}
