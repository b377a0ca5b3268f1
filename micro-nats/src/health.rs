//! The state of one NATS connection as micro sees it: whether its reader still runs, and the
//! messages it had to turn away.
//!
//! async-nats reads a connection in one task. Should that task ever stop (it panicked on a
//! malformed message before micro's patch of async-nats, see `vendor/async-nats/PATCHES.md`),
//! every subscription ends while the connection still reports `Connected`: the process would
//! stay up and answer nothing. A watchdog subscription notices at once, since its stream ends
//! with the reader; from then on calls fail with a clear `503`, [`NatsHealth::healthy`] is
//! false, and a service's serve loops have ended, which makes `Service::run` return an error so
//! the process exits non-zero and its supervisor restarts it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_nats::connection::State;
use async_nats::{Client, Message, StatusCode};
use futures::StreamExt;
use tokio_util::task::AbortOnDropHandle;

/// The status the patched async-nats gives a message it could not read (its subject, reply
/// subject or headers); such a message has no headers, which no well-formed `HMSG` lacks.
const MALFORMED_STATUS: u16 = 400;

/// Why `message` could not be read, when async-nats delivered it as malformed.
pub(crate) fn malformed(message: &Message) -> Option<&str> {
    let status = message.status?;
    if message.headers.is_some() || status != StatusCode::from_u16(MALFORMED_STATUS).ok()? {
        return None;
    }
    Some(
        message
            .description
            .as_deref()
            .unwrap_or("malformed message"),
    )
}

/// What a connection has turned away, and whether it still reads.
#[derive(Debug)]
pub(crate) struct Health {
    /// The connection, whose statistics count slow-consumer drops.
    client: Client,
    reader_stopped: AtomicBool,
    malformed: AtomicU64,
    without_reply: AtomicU64,
    malformed_log: Throttle,
    without_reply_log: Throttle,
    watchdog: Mutex<Option<AbortOnDropHandle<()>>>,
}

impl Health {
    /// Counters for `client`'s connection, without a watchdog.
    pub(crate) fn new(client: Client) -> Arc<Health> {
        Arc::new(Health {
            client,
            reader_stopped: AtomicBool::new(false),
            malformed: AtomicU64::new(0),
            without_reply: AtomicU64::new(0),
            malformed_log: Throttle::new(),
            without_reply_log: Throttle::new(),
            watchdog: Mutex::new(None),
        })
    }

    /// The health of `client`'s connection, watched from now on.
    pub(crate) async fn watch(client: Client) -> Arc<Health> {
        let health = Health::new(client.clone());
        match client.subscribe(client.new_inbox()).await {
            Ok(mut canary) => {
                // Weak: the watchdog must not keep the connection's users alive; it is aborted
                // with the last of them (its subscription would keep the connection open).
                let weak: Weak<Health> = Arc::downgrade(&health);
                let task = tokio::spawn(async move {
                    // Nobody publishes to the canary's inbox: its stream ends only with the
                    // connection's reader.
                    while canary.next().await.is_some() {}
                    if let Some(health) = weak.upgrade() {
                        health.reader_stopped.store(true, Ordering::Relaxed);
                        tracing::error!(
                            "the NATS connection stopped reading (its reader task ended): \
                             nothing more can be received; restart the process"
                        );
                    }
                });
                if let Ok(mut slot) = health.watchdog.lock() {
                    *slot = Some(AbortOnDropHandle::new(task));
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not start the NATS connection watchdog");
            }
        }
        health
    }

    /// Whether the connection's reader has stopped for good.
    pub(crate) fn reader_stopped(&self) -> bool {
        self.reader_stopped.load(Ordering::Relaxed)
    }

    /// Counts and (throttled) logs a message async-nats could not read.
    pub(crate) fn count_malformed(&self, subject: &str, why: &str) {
        let n = self.malformed.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(suppressed) = self.malformed_log.allow() {
            tracing::warn!(
                subject,
                why,
                total = n,
                suppressed,
                "turned away a malformed NATS message"
            );
        }
    }

    /// Counts and (throttled) logs a request that came without a reply subject.
    pub(crate) fn count_without_reply(&self, subject: &str) {
        let n = self.without_reply.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(suppressed) = self.without_reply_log.allow() {
            tracing::warn!(
                subject,
                total = n,
                suppressed,
                "dropped a request without a reply subject (was it published instead of requested?)"
            );
        }
    }

    /// A snapshot for [`Nats::health`](crate::Nats::health).
    pub(crate) fn report(&self) -> NatsHealth {
        NatsHealth {
            connected: self.client.connection_state() == State::Connected,
            reader_stopped: self.reader_stopped(),
            connects: self.client.statistics().connects.load(Ordering::Relaxed),
            malformed_messages: self.malformed.load(Ordering::Relaxed),
            requests_without_reply: self.without_reply.load(Ordering::Relaxed),
            slow_consumer_drops: self
                .client
                .statistics()
                .slow_consumer_drops
                .load(Ordering::Relaxed),
        }
    }
}

/// The health of a NATS connection, from [`Nats::health`](crate::Nats::health).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NatsHealth {
    /// Connected to a server right now (false while reconnecting).
    pub connected: bool,
    /// The connection's reader has stopped for good: nothing more will be received. The
    /// process should be restarted.
    pub reader_stopped: bool,
    /// Connections made so far (the first one and every reconnect).
    pub connects: u64,
    /// Messages turned away because their subject, reply subject or headers could not be read.
    pub malformed_messages: u64,
    /// Requests dropped because they came without a reply subject.
    pub requests_without_reply: u64,
    /// Messages async-nats dropped because a subscription's buffer was full (slow consumer).
    pub slow_consumer_drops: u64,
}

impl NatsHealth {
    /// Able to send and receive: connected, with its reader running.
    pub fn healthy(&self) -> bool {
        self.connected && !self.reader_stopped
    }
}

/// Lets one log line through per [`Throttle::PERIOD`], counting the ones held back.
#[derive(Debug)]
struct Throttle {
    start: Instant,
    /// Milliseconds since `start` before which nothing is logged.
    next: AtomicU64,
    suppressed: AtomicU64,
}

impl Throttle {
    const PERIOD: Duration = Duration::from_secs(10);

    fn new() -> Self {
        Throttle {
            start: Instant::now(),
            next: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(lines held back since the last one)` when a line may be logged now.
    fn allow(&self) -> Option<u64> {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.next.load(Ordering::Relaxed);
        let period = u64::try_from(Self::PERIOD.as_millis()).unwrap_or(u64::MAX);
        if now >= next
            && self
                .next
                .compare_exchange(
                    next,
                    now.saturating_add(period),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_lets_one_line_through_per_period_and_counts_the_rest() {
        let throttle = Throttle::new();
        assert_eq!(throttle.allow(), Some(0));
        for _ in 0..5 {
            assert_eq!(throttle.allow(), None);
        }
        // Pretend the period passed.
        throttle.next.store(0, Ordering::Relaxed);
        assert_eq!(throttle.allow(), Some(5));
    }

    #[test]
    fn only_messages_without_headers_and_with_the_status_are_malformed() {
        let status = StatusCode::from_u16(MALFORMED_STATUS).ok();
        let mut message = Message {
            subject: "a".into(),
            reply: None,
            payload: bytes::Bytes::new(),
            headers: None,
            status,
            description: Some("malformed message: header line without `:`".into()),
            length: 1,
        };
        assert_eq!(
            malformed(&message),
            Some("malformed message: header line without `:`")
        );
        // A well-formed `NATS/1.0 400` from a peer has (empty) headers.
        message.headers = Some(async_nats::HeaderMap::new());
        assert_eq!(malformed(&message), None);
        message.headers = None;
        message.status = None;
        assert_eq!(malformed(&message), None);
    }
}
