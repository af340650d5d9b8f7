//! The Redis key names of one store (see the storage layout in the
//! [module docs](super)).

/// The keys under one prefix: the stream and the id mappings.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    pub(super) events: String,
    id_prefix: String,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            events: format!("{prefix}:events"),
            id_prefix: format!("{prefix}:id:"),
        }
    }

    pub(super) fn id(&self, event_id: &str) -> String {
        let mut key = String::with_capacity(self.id_prefix.len() + event_id.len());
        key.push_str(&self.id_prefix);
        key.push_str(event_id);
        key
    }
}
