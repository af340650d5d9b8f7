//! Event ids the hub assigns: `<unix-ms>-<seq>`.
//!
//! Ids must stay unique and ordered across restarts (a counter restarting at
//! 1 would make a reconnecting client's `Last-Event-ID` point at the wrong
//! event). The millisecond part comes from the wall clock and never goes
//! backwards within a process; the sequence orders ids within a millisecond.
//! The format is Redis Streams' id format, so a Redis store can use it as is.
//!
//! The generator is one `AtomicU64` holding the last id as
//! `ms << SEQ_BITS | seq`, advanced by a compare-and-swap loop: no lock on the
//! publish path. The next id is the larger of "now, sequence 0" and "last
//! plus one", so ids strictly increase across threads; more than 2^22 ids in
//! one millisecond carry into the next millisecond (ahead of the clock until
//! it catches up) instead of repeating. A new generator starts after the
//! millisecond it was created in, so a process restarted within the same
//! millisecond as its predecessor's last publish (which happened before the
//! restart) still assigns larger ids, as long as the wall clock is not set back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Bits of the packed value holding the sequence within a millisecond.
const SEQ_BITS: u32 = 22;
/// Largest millisecond the packing holds (year 2109).
const MAX_MS: u64 = u64::MAX >> SEQ_BITS;

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

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(MAX_MS))
        .min(MAX_MS)
}

#[derive(Debug)]
pub(crate) struct IdGenerator {
    /// The last id handed out, packed (see the module docs).
    last: AtomicU64,
}

impl Default for IdGenerator {
    fn default() -> Self {
        Self::starting_after(now_ms())
    }
}

impl IdGenerator {
    /// A generator whose first id is in a millisecond after `ms`.
    fn starting_after(ms: u64) -> Self {
        Self {
            last: AtomicU64::new(((ms + 1) << SEQ_BITS) - 1),
        }
    }

    /// The next id, packed.
    fn next_packed(&self, now_ms: u64) -> u64 {
        let floor = now_ms << SEQ_BITS;
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = floor.max(last.saturating_add(1));
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(actual) => last = actual,
            }
        }
    }

    /// The next id as text, `<ms>-<seq>`.
    pub(crate) fn next(&self) -> IdText {
        IdText::new(self.next_packed(now_ms()))
    }
}

/// An id's text on the stack (no allocation): at most 20 + 1 + 7 bytes.
pub(crate) struct IdText {
    buf: [u8; 32],
    len: usize,
}

impl IdText {
    fn new(packed: u64) -> Self {
        let mut text = Self {
            buf: [0; 32],
            len: 0,
        };
        text.push_decimal(packed >> SEQ_BITS);
        text.buf[text.len] = b'-';
        text.len += 1;
        text.push_decimal(packed & ((1 << SEQ_BITS) - 1));
        text
    }

    fn push_decimal(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let count = digits.len() - i;
        self.buf[self.len..self.len + count].copy_from_slice(&digits[i..]);
        self.len += count;
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits and '-' are ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
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
        let mut previous = ids.next().as_str().to_owned();
        for _ in 0..10_000 {
            let next = ids.next().as_str().to_owned();
            assert_eq!(compare(&previous, &next), Some(Ordering::Less));
            previous = next;
        }
    }

    #[test]
    fn ids_increase_across_threads_without_repeating() {
        let ids = std::sync::Arc::new(IdGenerator::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let ids = ids.clone();
                std::thread::spawn(move || {
                    let mut mine = Vec::with_capacity(20_000);
                    for _ in 0..20_000 {
                        mine.push(parse(ids.next().as_str()).unwrap());
                    }
                    mine
                })
            })
            .collect();
        let mut all = Vec::new();
        for thread in threads {
            let mine = thread.join().unwrap();
            // Each thread sees its own ids strictly increasing...
            assert!(mine.windows(2).all(|w| w[0] < w[1]));
            all.extend(mine);
        }
        // ...and no id is handed out twice.
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count);
    }

    #[test]
    fn a_restart_in_the_same_millisecond_assigns_larger_ids() {
        let ms = now_ms();
        let before = IdGenerator::starting_after(ms - 1);
        let last = before.next_packed(ms);
        let restarted = IdGenerator::starting_after(ms);
        let first = restarted.next_packed(ms);
        assert!(first > last);
        assert_eq!(first >> SEQ_BITS, ms + 1);
    }

    #[test]
    fn a_full_millisecond_carries_into_the_next() {
        let ids = IdGenerator::starting_after(999);
        ids.last.store(
            (1_000 << SEQ_BITS) | ((1 << SEQ_BITS) - 1),
            std::sync::atomic::Ordering::Relaxed,
        );
        assert_eq!(IdText::new(ids.next_packed(1_000)).as_str(), "1001-0");
        // The clock catching up does not go back either.
        assert_eq!(IdText::new(ids.next_packed(1_001)).as_str(), "1001-1");
        assert_eq!(IdText::new(ids.next_packed(1_005)).as_str(), "1005-0");
    }

    #[test]
    fn id_text_renders_extremes() {
        assert_eq!(IdText::new(0).as_str(), "0-0");
        assert_eq!(
            IdText::new(u64::MAX).as_str(),
            format!("{MAX_MS}-{}", (1u64 << SEQ_BITS) - 1)
        );
    }

    #[test]
    fn hub_form_is_every_generated_id_and_nothing_else() {
        let ids = IdGenerator::default();
        for _ in 0..100 {
            assert!(is_hub_form(ids.next().as_str()));
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
