//! Per-call metadata: string headers with case-insensitive keys.

use std::fmt;

/// Well-known header names that micro puts on the wire.
pub mod keys {
    /// The codec of the body: `application/json` or `application/msgpack`.
    pub const CONTENT_TYPE: &str = "Content-Type";
    /// Time left for the call, in whole microseconds, relative to when the request was sent.
    ///
    /// Relative rather than absolute so that clock skew between hosts cannot expire a call.
    pub const TIMEOUT: &str = "Micro-Timeout";
    /// The attempt number of a retried call (`2` for the first retry); absent on a first
    /// attempt. A handler reads it from the call's metadata.
    pub const ATTEMPT: &str = "Micro-Attempt";
    /// The kind of a stream's control frame (`open`, `credit`, `heartbeat`, `end`, `cancel`);
    /// see PROTOCOL.md, "Streams".
    pub const STREAM: &str = "Micro-Stream";
    /// The number of a stream's item, or the item count of its end marker.
    pub const SEQ: &str = "Micro-Seq";
    /// Credit: on a stream-opening request, the opener's window; on an open or credit frame,
    /// the items the sender of the frame is ready for.
    pub const CREDIT: &str = "Micro-Credit";
    /// On a stream-opening request, the heartbeat interval the opener asks for, in
    /// milliseconds.
    pub const HEARTBEAT: &str = "Micro-Heartbeat";
    /// Batches: on a stream-opening request or an open frame, the most items the sender of it
    /// takes in one message; on a message of items, how many it carries.
    pub const BATCH: &str = "Micro-Batch";
    /// Byte credit: on a stream-opening request, an open or a credit frame, the bytes of items
    /// the sender of it is ready for (besides `Micro-Credit`'s items).
    pub const CREDIT_BYTES: &str = "Micro-Credit-Bytes";
    /// The NATS services error description (ADR-32).
    pub const SERVICE_ERROR: &str = "Nats-Service-Error";
    /// The NATS services error code (ADR-32), a numeric string.
    pub const SERVICE_ERROR_CODE: &str = "Nats-Service-Error-Code";
}

/// String key/value pairs carried with a call or an event, keys compared case-insensitively.
///
/// A call usually carries a handful of entries, so a small vector beats a hash map here, and an
/// empty one does not allocate.
///
/// ```
/// use micro_core::Metadata;
///
/// let mut md = Metadata::new();
/// md.insert("X-User", "alice");
/// assert_eq!(md.get("x-user"), Some("alice"));
/// md.insert("x-user", "bob");
/// assert_eq!(md.len(), 1);
/// assert_eq!(md.get("X-USER"), Some("bob"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    entries: Vec<(String, String)>,
}

impl Metadata {
    /// Empty metadata; does not allocate.
    pub const fn new() -> Self {
        Metadata {
            entries: Vec::new(),
        }
    }

    /// The value for `key`, compared case-insensitively.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value`, replacing any entry with the same key; returns the old value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        let key = key.into();
        let value = value.into();
        match self
            .entries
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key))
        {
            Some(slot) => Some(std::mem::replace(&mut slot.1, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Adds an entry without looking for an existing one with the same key, so building from a
    /// source whose keys are already unique (a header map) costs O(n), not O(n²), however many
    /// entries a peer sends. [`get`](Metadata::get) returns the first of equal keys.
    pub fn append(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.entries.push((key.into(), value.into()));
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let pos = self
            .entries
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(key))?;
        Some(self.entries.remove(pos).1)
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Copies every entry of `other` into `self`, `other` winning on equal keys.
    pub fn merge(&mut self, other: &Metadata) {
        for (k, v) in other.iter() {
            self.insert(k, v);
        }
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut md = Metadata::new();
        md.extend(iter);
        md
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for Metadata {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<'a> IntoIterator for &'a Metadata {
    type Item = (&'a str, &'a str);
    type IntoIter = Box<dyn Iterator<Item = (&'a str, &'a str)> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_and_order_is_kept() {
        let mut md: Metadata = [("A", "1"), ("b", "2")].into_iter().collect();
        assert_eq!(md.insert("a", "3"), Some("1".to_owned()));
        assert_eq!(md.iter().collect::<Vec<_>>(), vec![("A", "3"), ("b", "2")]);
        assert_eq!(md.remove("B"), Some("2".to_owned()));
        assert!(!md.contains_key("b"));
    }

    #[test]
    fn merge_prefers_other() {
        let mut a: Metadata = [("k", "a"), ("only-a", "1")].into_iter().collect();
        let b: Metadata = [("K", "b")].into_iter().collect();
        a.merge(&b);
        assert_eq!(a.get("k"), Some("b"));
        assert_eq!(a.get("only-a"), Some("1"));
    }
}
