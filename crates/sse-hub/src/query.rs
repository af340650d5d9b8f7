//! Minimal `application/x-www-form-urlencoded` query parsing.
//!
//! Subscribe requests repeat a parameter (`?topic=a&topic=b`), which serde's
//! flat query extractors drop; this iterator keeps every pair in order.

/// Iterates over `key=value` pairs of a query string, percent-decoded.
/// Invalid escapes are kept literally; invalid UTF-8 is replaced.
pub(crate) fn params(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    strict_params(query).map(|(key, value)| {
        let value = value.unwrap_or_else(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        (key, value)
    })
}

/// [`params`], with a value that is not UTF-8 once percent-decoded given as
/// its bytes, so a caller can refuse it instead of reading U+FFFD.
pub(crate) fn strict_params(
    query: &str,
) -> impl Iterator<Item = (String, Result<String, Vec<u8>>)> + '_ {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => (
                decode(key),
                String::from_utf8(decode_bytes(value)).map_err(|e| e.into_bytes()),
            ),
            None => (decode(pair), Ok(String::new())),
        })
}

fn decode(input: &str) -> String {
    match String::from_utf8(decode_bytes(input)) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    }
}

fn decode_bytes(input: &str) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    out
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_and_escapes() {
        let pairs: Vec<_> =
            params("topic=a.b&topic=c.%2A&x&lastEventID=1%2D2+3&bad=%zz%4").collect();
        assert_eq!(
            pairs,
            vec![
                ("topic".into(), "a.b".into()),
                ("topic".into(), "c.*".into()),
                ("x".into(), String::new()),
                ("lastEventID".into(), "1-2 3".into()),
                ("bad".into(), "%zz%4".into()),
            ]
        );
    }
}
