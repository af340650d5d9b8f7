//! Who is subscribed to what: connections, the topic index and the group index.
//!
//! Routing one event costs O(matching connections + topic depth): exact
//! topics and wildcard patterns live in [`SubscriptionIndex`], and each
//! metadata pair maps to the connections carrying it. Nothing here iterates
//! over all connections.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::connection::{ConnectionId, Shared};
use crate::event::{Metadata, Scope};
use crate::topic::{Pattern, SubscriptionIndex, Topic};

/// Up to this many members, an intersect-scoped event is routed from its
/// group (checking each member's patterns) rather than from its topics.
const GROUP_FIRST_LIMIT: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) conns: HashMap<u64, Arc<Shared>>,
    by_id: HashMap<ConnectionId, u64>,
    topics: SubscriptionIndex<u64>,
    groups: HashMap<(String, String), HashSet<u64>>,
    next_key: u64,
}

impl Registry {
    pub(crate) fn next_key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }

    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    pub(crate) fn insert(&mut self, shared: Arc<Shared>) {
        let key = shared.key;
        for pattern in shared.topics.lock().iter() {
            self.topics.insert(pattern, key);
        }
        for (k, v) in &shared.metadata {
            self.groups
                .entry((k.clone(), v.clone()))
                .or_default()
                .insert(key);
        }
        self.by_id.insert(shared.id, key);
        self.conns.insert(key, shared);
    }

    /// Removes a connection; false if it was already gone.
    pub(crate) fn remove(&mut self, shared: &Shared) -> bool {
        if self.conns.remove(&shared.key).is_none() {
            return false;
        }
        self.by_id.remove(&shared.id);
        for pattern in shared.topics.lock().iter() {
            self.topics.remove(pattern, shared.key);
        }
        for (k, v) in &shared.metadata {
            let pair = (k.clone(), v.clone());
            if let Some(set) = self.groups.get_mut(&pair) {
                set.remove(&shared.key);
                if set.is_empty() {
                    self.groups.remove(&pair);
                }
            }
        }
        true
    }

    pub(crate) fn get(&self, id: ConnectionId) -> Option<&Arc<Shared>> {
        self.by_id.get(&id).and_then(|key| self.conns.get(key))
    }

    pub(crate) fn subscribe(&mut self, shared: &Shared, pattern: &Pattern) {
        self.topics.insert(pattern, shared.key);
    }

    pub(crate) fn unsubscribe(&mut self, shared: &Shared, pattern: &Pattern) {
        self.topics.remove(pattern, shared.key);
    }

    /// Fills `out` with the keys of every connection the event reaches,
    /// each once.
    pub(crate) fn route(
        &self,
        topics: &[Topic],
        group: &Metadata,
        scope: Scope,
        out: &mut Vec<u64>,
    ) {
        self.route_with(topics, group, scope, out, GROUP_FIRST_LIMIT);
    }

    fn route_with(
        &self,
        topics: &[Topic],
        group: &Metadata,
        scope: Scope,
        out: &mut Vec<u64>,
        group_first_limit: usize,
    ) {
        out.clear();
        let intersect = scope == Scope::Intersect && !topics.is_empty() && !group.is_empty();
        if intersect {
            // A tenant's connections are usually far fewer than a topic's
            // subscribers across tenants: start from the group when it is
            // small and check each member's patterns.
            match self.smallest_group(group) {
                None => return,
                Some(members) if members.len() <= group_first_limit => {
                    out.extend(members.iter().copied().filter(|key| {
                        self.conns.get(key).is_some_and(|conn| {
                            contains_all(&conn.metadata, group)
                                && conn
                                    .topics
                                    .lock()
                                    .iter()
                                    .any(|p| topics.iter().any(|t| p.matches(t)))
                        })
                    }));
                    out.sort_unstable();
                    return;
                }
                Some(_) => {}
            }
        }
        for topic in topics {
            self.topics.for_each_match(topic, |key| out.push(key));
        }
        if !group.is_empty() {
            if intersect {
                out.retain(|key| {
                    self.conns
                        .get(key)
                        .is_some_and(|conn| contains_all(&conn.metadata, group))
                });
            } else {
                self.group_candidates(group, out);
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// The member set of the rarest pair of `group`; `None` if some pair has
    /// no member at all (then nobody carries the whole group).
    fn smallest_group(&self, group: &Metadata) -> Option<&HashSet<u64>> {
        let mut smallest: Option<&HashSet<u64>> = None;
        for (k, v) in group {
            // A tuple key forces an allocation per lookup; pairs are few per event.
            let set = self.groups.get(&(k.clone(), v.clone()))?;
            if smallest.is_none_or(|s| set.len() < s.len()) {
                smallest = Some(set);
            }
        }
        smallest
    }

    /// Appends connections carrying every pair of `group`, starting from the
    /// pair with the fewest connections.
    fn group_candidates(&self, group: &Metadata, out: &mut Vec<u64>) {
        let Some(set) = self.smallest_group(group) else {
            return;
        };
        out.extend(set.iter().copied().filter(|key| {
            self.conns
                .get(key)
                .is_some_and(|conn| contains_all(&conn.metadata, group))
        }));
    }
}

/// Whether `metadata` holds every pair of `group`.
pub(crate) fn contains_all(metadata: &Metadata, group: &Metadata) -> bool {
    group
        .iter()
        .all(|(k, v)| metadata.get(k).is_some_and(|have| have == v))
}

/// The routing rule, written plainly: the reference the index is tested
/// against, and the filter replay uses so that replay and live delivery can
/// never disagree about who sees an event.
pub(crate) fn reaches(
    patterns: &[Pattern],
    metadata: &Metadata,
    topics: &[Topic],
    group: &Metadata,
    scope: Scope,
) -> bool {
    let by_topic = topics
        .iter()
        .any(|topic| patterns.iter().any(|pattern| pattern.matches(topic)));
    if group.is_empty() {
        return by_topic;
    }
    let by_group = contains_all(metadata, group);
    if topics.is_empty() {
        return by_group;
    }
    match scope {
        Scope::Union => by_topic || by_group,
        Scope::Intersect => by_topic && by_group,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn conn(key: u64, patterns: &[&str], meta: &[(&str, &str)]) -> Arc<Shared> {
        let patterns = patterns
            .iter()
            .filter_map(|p| Pattern::new(p).ok())
            .collect();
        let metadata = meta
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Arc::new(Shared::new(key, metadata, patterns, None, 8, 1 << 20))
    }

    fn group(pairs: &[(&str, &str)]) -> Metadata {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn union_versus_intersect() {
        let mut registry = Registry::default();
        registry.insert(conn(1, &["orders"], &[("tenant_id", "a")]));
        registry.insert(conn(2, &["orders"], &[("tenant_id", "b")]));
        registry.insert(conn(3, &["chat"], &[("tenant_id", "a")]));
        let topics = [Topic::new("orders").unwrap()];
        let tenant_a = group(&[("tenant_id", "a")]);
        let mut out = Vec::new();
        registry.route(&topics, &tenant_a, Scope::Union, &mut out);
        assert_eq!(out, [1, 2, 3], "union: topic OR group");
        registry.route(&topics, &tenant_a, Scope::Intersect, &mut out);
        assert_eq!(out, [1], "intersect: tenant b never sees tenant a's event");
        registry.route(&[], &tenant_a, Scope::Intersect, &mut out);
        assert_eq!(out, [1, 3], "group only");
        registry.route(&topics, &Metadata::new(), Scope::Union, &mut out);
        assert_eq!(out, [1, 2], "topic only");
    }

    #[test]
    fn removal_cleans_every_index() {
        let mut registry = Registry::default();
        let c = conn(1, &["a.*", "b"], &[("k", "v")]);
        registry.insert(c.clone());
        assert!(registry.remove(&c));
        assert!(!registry.remove(&c));
        assert!(registry.groups.is_empty());
        assert!(registry.topics.is_empty());
        assert!(registry.get(c.id).is_none());
    }

    fn token() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("a"), Just("b"), Just("c")]
    }

    proptest! {
        /// Index routing equals the brute-force rule for every connection.
        #[test]
        fn routing_matches_brute_force(
            conns in proptest::collection::vec(
                (proptest::collection::vec(
                    proptest::collection::vec(prop_oneof![token(), Just("*"), Just(">")], 1..4), 0..3),
                 proptest::collection::vec((token(), token()), 0..2)),
                0..12),
            topic in proptest::collection::vec(proptest::collection::vec(token(), 1..4), 0..3),
            event_group in proptest::collection::vec((token(), token()), 0..2),
            intersect in any::<bool>(),
        ) {
            let mut registry = Registry::default();
            let mut all = Vec::new();
            for (i, (patterns, meta)) in conns.iter().enumerate() {
                let patterns: Vec<String> = patterns.iter().map(|p| p.join(".")).collect();
                let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
                let c = conn(i as u64, &refs, meta);
                registry.insert(c.clone());
                all.push(c);
            }
            let topics: Vec<Topic> = topic.iter().filter_map(|t| Topic::new(&t.join(".")).ok()).collect();
            let group = group(&event_group);
            let scope = if intersect { Scope::Intersect } else { Scope::Union };
            let mut out = Vec::new();
            let mut topic_first = Vec::new();
            registry.route_with(&topics, &group, scope, &mut out, usize::MAX);
            registry.route_with(&topics, &group, scope, &mut topic_first, 0);
            prop_assert_eq!(&out, &topic_first, "both routing plans agree");
            let expected: Vec<u64> = all
                .iter()
                .filter(|c| reaches(&c.topics.lock(), &c.metadata, &topics, &group, scope))
                .map(|c| c.key)
                .collect();
            prop_assert_eq!(out, expected);
        }
    }
}
