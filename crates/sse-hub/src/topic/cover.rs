//! Pattern coverage: whether one pattern's matches include another's.
//!
//! Used to authorise subscriptions: a client asking for `orders.eu.*` is
//! granted it only if an allowed pattern (from a JWT claim, say) matches every
//! topic `orders.eu.*` can match — `orders.>` does, `orders.*` does not.

use super::Pattern;

const SINGLE: &str = "*";
const FULL: &str = ">";

impl Pattern {
    /// Whether every topic matched by `other` is also matched by `self`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sse_hub::topic::Pattern;
    ///
    /// let allowed = Pattern::new("orders.>").unwrap();
    /// assert!(allowed.covers(&Pattern::new("orders.eu.*").unwrap()));
    /// assert!(!Pattern::new("orders.*").unwrap().covers(&Pattern::new("orders.>").unwrap()));
    /// ```
    pub fn covers(&self, other: &Pattern) -> bool {
        let mut theirs = other.tokens();
        for mine in self.tokens() {
            let Some(their) = theirs.next() else {
                return false;
            };
            match mine {
                // Validation puts `>` last; it takes whatever remains (≥ 1 token).
                FULL => return true,
                // `*` is exactly one token: their `>` may stand for several.
                SINGLE if their == FULL => return false,
                SINGLE => {}
                literal if literal != their => return false,
                _ => {}
            }
        }
        theirs.next().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::Topic;
    use proptest::prelude::*;

    fn pattern() -> impl Strategy<Value = Option<Pattern>> {
        proptest::collection::vec(
            prop_oneof![Just("a"), Just("b"), Just("*"), Just(">")],
            1..4,
        )
        .prop_map(|tokens| Pattern::new(&tokens.join(".")).ok())
    }

    /// Every topic of up to 6 tokens over {a, b, z}: long enough to witness
    /// any difference between patterns of up to 3 tokens.
    fn universe() -> Vec<Topic> {
        let alphabet = ["a", "b", "z"];
        let mut all: Vec<Vec<&str>> = alphabet.iter().map(|t| vec![*t]).collect();
        let mut frontier = all.clone();
        for _ in 1..6 {
            let mut next = Vec::new();
            for prefix in &frontier {
                for token in alphabet {
                    let mut longer = prefix.clone();
                    longer.push(token);
                    next.push(longer);
                }
            }
            all.extend(next.iter().cloned());
            frontier = next;
        }
        all.iter()
            .filter_map(|tokens| Topic::new(&tokens.join(".")).ok())
            .collect()
    }

    proptest! {
        #[test]
        fn covers_matches_brute_force(a in pattern(), b in pattern()) {
            let (Some(a), Some(b)) = (a, b) else { return Ok(()) };
            let universe = universe();
            let brute = universe.iter().all(|t| !b.matches(t) || a.matches(t));
            prop_assert_eq!(a.covers(&b), brute, "{} covers {}", a.as_str(), b.as_str());
        }
    }
}
