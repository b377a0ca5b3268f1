//! Broker: publish/subscribe events.
//!
//! Every subscriber of a topic receives each event (fan-out), unless subscribers share a queue:
//! then each event goes to one member of that queue. Topics are dot-separated tokens; a
//! subscription may use the NATS wildcards `*` (one token) and `>` (the rest).

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use futures::future::BoxFuture;

use crate::codec::ContentType;
use crate::transport::Intake;
use crate::{Error, Metadata};

/// One published message.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Event {
    /// The topic it was published on.
    pub topic: Cow<'static, str>,
    /// The codec of `body`.
    pub content_type: ContentType,
    /// Headers published with the event.
    pub metadata: Metadata,
    /// The encoded event.
    pub body: Bytes,
}

impl Event {
    /// An event without metadata.
    pub fn new(
        topic: impl Into<Cow<'static, str>>,
        content_type: ContentType,
        body: Bytes,
    ) -> Self {
        Event {
            topic: topic.into(),
            content_type,
            metadata: Metadata::new(),
            body,
        }
    }

    /// Replaces the metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Decodes the body with its codec.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        self.content_type.decode(&self.body).map_err(|e| {
            Error::bad_request(format!("cannot decode event on `{}`: {e}", self.topic))
        })
    }
}

/// The events reaching one subscription; dropping it unsubscribes.
pub type Subscription = Intake<Event>;

/// Publishes and subscribes.
pub trait Broker: Send + Sync + fmt::Debug + 'static {
    /// Publishes `event` to every subscriber of its topic (one per queue).
    fn publish(&self, event: Event) -> BoxFuture<'_, Result<(), Error>>;

    /// Subscribes to `topic` (wildcards allowed); with `queue`, the subscribers that name the same
    /// queue compete for each event.
    fn subscribe(
        &self,
        topic: &str,
        queue: Option<&str>,
    ) -> BoxFuture<'_, Result<Subscription, Error>>;
}

/// Checks a topic or subject: non-empty dot-separated tokens without spaces; `*` only as a whole
/// token and `>` only as the last token, and only when `wildcards` is true.
pub fn validate_topic(topic: &str, wildcards: bool) -> Result<(), Error> {
    match crate::naming::invalid_subject(topic, wildcards) {
        None => Ok(()),
        Some(why) => Err(Error::bad_request(format!(
            "invalid topic `{topic}`: {why}"
        ))),
    }
}

/// Checks a queue group name: one token, without whitespace, `.`, `*` or `>` (the rule of
/// [`naming::invalid_queue`](crate::naming::invalid_queue), applied by the macros and every
/// backend, so they agree).
pub fn validate_queue(queue: &str) -> Result<(), Error> {
    match crate::naming::invalid_queue(queue) {
        Some(why) => Err(Error::bad_request(format!(
            "invalid queue group `{queue}`: {why}"
        ))),
        None => Ok(()),
    }
}

/// True when `subject` (no wildcards) matches `pattern` (NATS wildcards allowed).
pub fn topic_matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_matching() {
        assert!(topic_matches("user.created", "user.created"));
        assert!(topic_matches("user.*", "user.created"));
        assert!(!topic_matches("user.*", "user.created.eu"));
        assert!(topic_matches("user.>", "user.created.eu"));
        assert!(!topic_matches("user.>", "user"));
        assert!(!topic_matches("user.created", "user.deleted"));
        assert!(!topic_matches("user", "user.created"));
    }

    #[test]
    fn topic_validation() {
        assert!(validate_topic("user.created", false).is_ok());
        assert!(validate_topic("user.*", true).is_ok());
        assert!(validate_topic("user.>", true).is_ok());
        for bad in ["", "user..x", ".user", "user.", "us er", "user.*", "a.>"] {
            assert!(validate_topic(bad, false).is_err(), "{bad}");
        }
        for bad in ["user.>.x", "us*er", "a.b>"] {
            assert!(validate_topic(bad, true).is_err(), "{bad}");
        }
    }
}
