//! Reverse index from subscription patterns to subscriber keys.
//!
//! Publishing must cost time proportional to the subscribers it reaches, not
//! to every subscriber on the hub. Literal patterns, the common case, are
//! found with a single hash lookup on the topic string. Wildcard patterns live
//! in a token trie that is walked with the topic's tokens; the walk only
//! enters branches that can still match, so its cost is bounded by the topic
//! depth times the number of wildcard branches that are actually compatible
//! with the topic, plus the matching keys themselves.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use super::{Pattern, Tokens, Topic, FULL_WILDCARD, SINGLE_WILDCARD};

/// Hash sets keep their peak capacity after removals and iterating them costs
/// O(capacity), so a set that was once huge would slow down every publish.
/// Shrink once it is mostly empty; the slack avoids reallocating on every
/// insert/remove around the threshold.
fn shrink_if_sparse<K: Eq + Hash>(set: &mut HashSet<K>) {
    const MIN_CAPACITY: usize = 16;
    if set.capacity() > MIN_CAPACITY && set.len() * 4 < set.capacity() {
        set.shrink_to(set.len() * 2);
    }
}

/// One trie level: patterns whose tokens so far lead to this node.
#[derive(Debug)]
struct Node<K> {
    /// Next literal token.
    children: HashMap<Box<str>, Node<K>>,
    /// Next token is `*`.
    star: Option<Box<Node<K>>>,
    /// Keys whose pattern ends with `>` right after this node.
    full: HashSet<K>,
    /// Keys whose pattern ends exactly at this node.
    exact: HashSet<K>,
}

impl<K> Default for Node<K> {
    fn default() -> Self {
        Node {
            children: HashMap::new(),
            star: None,
            full: HashSet::new(),
            exact: HashSet::new(),
        }
    }
}

/// Outcome of removing a key from a pattern's key set.
#[derive(Clone, Copy)]
struct Removal {
    removed: bool,
    /// The pattern has no keys left and so no longer counts as indexed.
    pattern_gone: bool,
}

impl Removal {
    const NOT_FOUND: Removal = Removal {
        removed: false,
        pattern_gone: false,
    };

    fn from_set<K: Eq + Hash>(set: &mut HashSet<K>, key: &K) -> Removal {
        let removed = set.remove(key);
        if removed {
            shrink_if_sparse(set);
        }
        Removal {
            removed,
            pattern_gone: removed && set.is_empty(),
        }
    }
}

impl<K: Copy + Eq + Hash> Node<K> {
    fn is_empty(&self) -> bool {
        self.children.is_empty()
            && self.star.is_none()
            && self.full.is_empty()
            && self.exact.is_empty()
    }

    /// Recursion depth is bounded by `MAX_TOKENS`, which validation enforces.
    fn remove<'a>(&mut self, mut tokens: impl Iterator<Item = &'a str>, key: K) -> Removal {
        match tokens.next() {
            None => Removal::from_set(&mut self.exact, &key),
            // Validation guarantees `>` is the last token.
            Some(FULL_WILDCARD) => Removal::from_set(&mut self.full, &key),
            Some(SINGLE_WILDCARD) => {
                let Some(child) = self.star.as_deref_mut() else {
                    return Removal::NOT_FOUND;
                };
                let outcome = child.remove(tokens, key);
                if child.is_empty() {
                    self.star = None;
                }
                outcome
            }
            Some(token) => {
                let Some(child) = self.children.get_mut(token) else {
                    return Removal::NOT_FOUND;
                };
                let outcome = child.remove(tokens, key);
                if child.is_empty() {
                    self.children.remove(token);
                }
                outcome
            }
        }
    }

    /// `rest` holds the topic tokens not yet consumed on the way to `self`.
    fn visit(&self, mut rest: Tokens<'_>, f: &mut impl FnMut(K)) {
        let Some(token) = rest.next() else {
            self.exact.iter().copied().for_each(&mut *f);
            return;
        };
        // At least one topic token remains, which is exactly what `>` needs.
        self.full.iter().copied().for_each(&mut *f);
        if let Some(child) = self.children.get(token) {
            child.visit(rest.clone(), f);
        }
        if let Some(star) = &self.star {
            star.visit(rest, f);
        }
    }

    #[cfg(test)]
    fn count_descendants(&self) -> usize {
        self.children
            .values()
            .chain(self.star.as_deref())
            .map(|child| 1 + child.count_descendants())
            .sum()
    }
}

/// Maps subscription patterns to subscriber keys and finds every key whose
/// pattern matches a published topic.
///
/// A key may be registered under many patterns and a pattern may hold many
/// keys; each `(pattern, key)` pair is stored at most once.
#[derive(Debug)]
pub(crate) struct SubscriptionIndex<K> {
    /// Literal patterns, keyed by the pattern string so a topic's string can
    /// be looked up directly without allocating.
    literal: HashMap<Arc<str>, HashSet<K>>,
    /// Root of the wildcard trie; never pruned itself.
    root: Node<K>,
    /// Distinct wildcard patterns with at least one key.
    wildcard_patterns: usize,
}

impl<K> Default for SubscriptionIndex<K> {
    fn default() -> Self {
        SubscriptionIndex {
            literal: HashMap::new(),
            root: Node::default(),
            wildcard_patterns: 0,
        }
    }
}

impl<K: Copy + Eq + Hash> SubscriptionIndex<K> {
    /// Registers `key` under `pattern`.
    ///
    /// Returns `true` if the pair was not already present.
    pub(crate) fn insert(&mut self, pattern: &Pattern, key: K) -> bool {
        let literal = pattern.is_literal();
        let set = if literal {
            self.literal.entry(Arc::clone(&pattern.0)).or_default()
        } else {
            let mut node = &mut self.root;
            let mut tokens = pattern.tokens();
            loop {
                match tokens.next() {
                    None => break &mut node.exact,
                    Some(FULL_WILDCARD) => break &mut node.full,
                    Some(SINGLE_WILDCARD) => node = node.star.get_or_insert_with(Box::default),
                    Some(token) => node = node.children.entry(Box::from(token)).or_default(),
                }
            }
        };
        let was_empty = set.is_empty();
        let added = set.insert(key);
        if added && was_empty && !literal {
            self.wildcard_patterns += 1;
        }
        added
    }

    /// Unregisters `key` from `pattern`, pruning whatever becomes empty.
    ///
    /// Returns `true` if the pair was present.
    pub(crate) fn remove(&mut self, pattern: &Pattern, key: K) -> bool {
        if pattern.is_literal() {
            let Some(set) = self.literal.get_mut(pattern.as_str()) else {
                return false;
            };
            let outcome = Removal::from_set(set, &key);
            if outcome.pattern_gone {
                self.literal.remove(pattern.as_str());
            }
            outcome.removed
        } else {
            let outcome = self.root.remove(pattern.tokens(), key);
            if outcome.pattern_gone {
                self.wildcard_patterns -= 1;
            }
            outcome.removed
        }
    }

    /// Calls `f` with every key whose pattern matches `topic`.
    ///
    /// A key registered under several patterns that all match `topic` is
    /// passed once per matching pattern; callers that need each key once must
    /// deduplicate. No allocation happens during the lookup.
    pub(crate) fn for_each_match(&self, topic: &Topic, mut f: impl FnMut(K)) {
        if let Some(keys) = self.literal.get(topic.as_str()) {
            keys.iter().copied().for_each(&mut f);
        }
        if !self.root.is_empty() {
            self.root.visit(topic.tokens(), &mut f);
        }
    }

    /// Returns `true` if no `(pattern, key)` pair is registered.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.root.is_empty()
    }

    /// Number of distinct patterns that currently have at least one key.
    #[cfg(test)]
    pub(crate) fn pattern_count(&self) -> usize {
        self.literal.len() + self.wildcard_patterns
    }

    /// Trie nodes below the root; zero once every wildcard pattern is gone.
    #[cfg(test)]
    fn node_count(&self) -> usize {
        self.root.count_descendants()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::tests::{arb_pattern, arb_topic};
    use super::*;
    use proptest::prelude::*;

    fn pattern(s: &str) -> Pattern {
        Pattern::new(s).unwrap()
    }

    fn topic(s: &str) -> Topic {
        Topic::new(s).unwrap()
    }

    fn matches(index: &SubscriptionIndex<u32>, t: &str) -> Vec<u32> {
        let mut keys = Vec::new();
        index.for_each_match(&topic(t), |k| keys.push(k));
        keys.sort_unstable();
        keys
    }

    #[test]
    fn empty_index_matches_nothing() {
        let index = SubscriptionIndex::<u32>::default();
        assert!(index.is_empty());
        assert_eq!(index.pattern_count(), 0);
        assert!(matches(&index, "a.b").is_empty());
    }

    #[test]
    fn literal_and_wildcard_lookup() {
        let mut index = SubscriptionIndex::default();
        assert!(index.insert(&pattern("a.b.c"), 1));
        assert!(index.insert(&pattern("a.*.c"), 2));
        assert!(index.insert(&pattern("a.>"), 3));
        assert!(index.insert(&pattern(">"), 4));
        assert!(index.insert(&pattern("*"), 5));
        assert!(index.insert(&pattern("b.*"), 6));
        assert!(!index.insert(&pattern("a.>"), 3));
        assert_eq!(index.pattern_count(), 6);

        assert_eq!(matches(&index, "a.b.c"), [1, 2, 3, 4]);
        assert_eq!(matches(&index, "a"), [4, 5]);
        assert_eq!(matches(&index, "a.x"), [3, 4]);
        assert_eq!(matches(&index, "b.x"), [4, 6]);
        assert_eq!(matches(&index, "b.x.y"), [4]);
    }

    #[test]
    fn duplicate_keys_across_patterns_are_reported_per_pattern() {
        let mut index = SubscriptionIndex::default();
        index.insert(&pattern("a.b"), 7);
        index.insert(&pattern("a.*"), 7);
        index.insert(&pattern("a.>"), 7);
        assert_eq!(matches(&index, "a.b"), [7, 7, 7]);
    }

    #[test]
    fn remove_prunes_everything() {
        let mut index = SubscriptionIndex::default();
        let patterns = ["a.b", "a.*.c", "a.*.>", "*.b", ">", "a.b.c.d"];
        for (key, p) in patterns.iter().enumerate() {
            index.insert(&pattern(p), key);
            index.insert(&pattern(p), key + 100);
        }
        assert!(index.node_count() > 0);
        assert!(!index.remove(&pattern("x.*"), 0));
        assert!(!index.remove(&pattern("a.b"), 99));
        for (key, p) in patterns.iter().enumerate() {
            assert!(index.remove(&pattern(p), key));
            assert!(!index.remove(&pattern(p), key));
            assert!(index.remove(&pattern(p), key + 100));
        }
        assert!(index.is_empty());
        assert_eq!(index.pattern_count(), 0);
        assert_eq!(index.node_count(), 0);
    }

    #[test]
    fn key_sets_shrink_after_churn() {
        let mut index = SubscriptionIndex::default();
        let p = pattern("a.*");
        for key in 0..10_000u32 {
            index.insert(&p, key);
        }
        for key in 1..10_000u32 {
            index.remove(&p, key);
        }
        assert_eq!(matches(&index, "a.b"), [0]);
        let capacity = index.root.children["a"]
            .star
            .as_ref()
            .map(|n| n.exact.capacity());
        assert!(capacity.is_some_and(|c| c < 64), "{capacity:?}");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(Pattern, u8),
        Remove(Pattern, u8),
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        (any::<bool>(), arb_pattern(), 0u8..4).prop_map(|(insert, p, k)| {
            if insert {
                Op::Insert(p, k)
            } else {
                Op::Remove(p, k)
            }
        })
    }

    proptest! {
        #[test]
        fn index_agrees_with_brute_force(
            ops in prop::collection::vec(arb_op(), 0..60),
            topics in prop::collection::vec(arb_topic(), 1..20),
        ) {
            let mut index = SubscriptionIndex::default();
            let mut model: Vec<(Pattern, u8)> = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(p, k) => {
                        let fresh = !model.contains(&(p.clone(), k));
                        prop_assert_eq!(index.insert(&p, k), fresh);
                        if fresh {
                            model.push((p, k));
                        }
                    }
                    Op::Remove(p, k) => {
                        let pos = model.iter().position(|e| *e == (p.clone(), k));
                        prop_assert_eq!(index.remove(&p, k), pos.is_some());
                        if let Some(pos) = pos {
                            model.swap_remove(pos);
                        }
                    }
                }
                let distinct: HashSet<&Pattern> = model.iter().map(|(p, _)| p).collect();
                prop_assert_eq!(index.pattern_count(), distinct.len());
                prop_assert_eq!(index.is_empty(), model.is_empty());
            }

            for t in &topics {
                let mut got = Vec::new();
                index.for_each_match(t, |k| got.push(k));
                // Exactly one callback per matching (pattern, key) pair.
                got.sort_unstable();
                let mut expected: Vec<u8> = model
                    .iter()
                    .filter(|(p, _)| p.matches(t))
                    .map(|&(_, k)| k)
                    .collect();
                expected.sort_unstable();
                prop_assert_eq!(got, expected, "topic {}", t);
            }

            for (p, k) in model.drain(..) {
                prop_assert!(index.remove(&p, k));
            }
            prop_assert!(index.is_empty());
            prop_assert_eq!(index.pattern_count(), 0);
            prop_assert_eq!(index.node_count(), 0);
            prop_assert!(index.literal.is_empty());
        }
    }
}
