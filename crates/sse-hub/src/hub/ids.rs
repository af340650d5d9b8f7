//! Event ids the hub assigns: `<unix-ms>-<seq>`.
//!
//! Ids must stay unique and ordered across restarts (a counter restarting at
//! 1 would make a reconnecting client's `Last-Event-ID` point at the wrong
//! event). The millisecond part comes from the wall clock and never goes
//! backwards within a process; the sequence orders ids within a millisecond.
//! The format is Redis Streams' id format, so a Redis store can use it as is.

use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// Whether `id` has the form of the ids [`IdGenerator`] assigns
/// (`<digits>-<digits>`, any lengths): publishers may not choose such ids, so
/// a hub-assigned id can never equal a publisher's.
pub(crate) fn is_hub_form(id: &str) -> bool {
    match id.split_once('-') {
        Some((ms, seq)) => {
            !ms.is_empty()
                && !seq.is_empty()
                && ms.bytes().chain(seq.bytes()).all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

#[derive(Debug, Default)]
pub(crate) struct IdGenerator {
    last: Mutex<(u64, u64)>,
}

impl IdGenerator {
    pub(crate) fn next(&self) -> String {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let (ms, seq) = {
            let mut last = self.last.lock();
            *last = if now_ms > last.0 {
                (now_ms, 0)
            } else {
                (last.0, last.1 + 1)
            };
            *last
        };
        format!("{ms}-{seq}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    /// Parses an id of the hub's form.
    fn parse(id: &str) -> Option<(u64, u64)> {
        let (ms, seq) = id.split_once('-')?;
        if ms.is_empty()
            || seq.is_empty()
            || !ms.bytes().chain(seq.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        Some((ms.parse().ok()?, seq.parse().ok()?))
    }

    /// Orders two hub-assigned ids; `None` if either has another form.
    fn compare(a: &str, b: &str) -> Option<Ordering> {
        Some(parse(a)?.cmp(&parse(b)?))
    }

    #[test]
    fn ids_are_strictly_increasing() {
        let ids = IdGenerator::default();
        let mut previous = ids.next();
        for _ in 0..10_000 {
            let next = ids.next();
            assert_eq!(compare(&previous, &next), Some(Ordering::Less));
            previous = next;
        }
    }

    #[test]
    fn hub_form_is_every_generated_id_and_nothing_else() {
        let ids = IdGenerator::default();
        for _ in 0..100 {
            assert!(is_hub_form(&ids.next()));
        }
        for yes in ["0-0", "12-3", "99999999999999999999999-1", "007-008"] {
            assert!(is_hub_form(yes), "{yes}");
        }
        for no in [
            "", "-", "1-", "-1", "a-1", "1-2-3", "+1-2", "1 -2", "1-2 ", "my-id", "12",
        ] {
            assert!(!is_hub_form(no), "{no}");
        }
    }

    #[test]
    fn parse_rejects_other_forms() {
        assert_eq!(parse("12-3"), Some((12, 3)));
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "a-1",
            "1-2-3",
            "+1-2",
            "99999999999999999999999-1",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
