use std::time::Duration;

use super::RetryPolicy;
use crate::Metadata;
use crate::codec::ContentType;

/// How long a call waits for its reply when neither the client nor the context sets a deadline
/// (5 s, as go-micro's client).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Options applied to every call a [`Client`](super::Client) makes.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CallOptions {
    /// A deadline this far in the future for every call (unless an earlier one is inherited),
    /// sent along with the call. `None`: no deadline of its own, and the caller waits at most
    /// [`DEFAULT_TIMEOUT`] without telling the server.
    pub timeout: Option<Duration>,
    /// The codec of requests and events. Default JSON.
    pub content_type: ContentType,
    /// Metadata sent with every call and event.
    pub metadata: Metadata,
    /// How failed calls are retried; `None` (the default): never.
    pub retry: Option<RetryPolicy>,
    /// How streams opened through the client run: the credit window it grants and the
    /// heartbeat it asks for.
    pub stream: crate::stream::StreamConfig,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions {
            timeout: None,
            content_type: ContentType::Json,
            metadata: Metadata::new(),
            retry: None,
            stream: crate::stream::StreamConfig::default(),
        }
    }
}

impl CallOptions {
    /// Gives every call a deadline `timeout` from when it is made.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the codec.
    #[must_use]
    pub fn content_type(mut self, content_type: ContentType) -> Self {
        self.content_type = content_type;
        self
    }

    /// Retries failed calls by `policy` (see [`RetryPolicy`] for which failures).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Sets how streams run (window, heartbeat).
    #[must_use]
    pub fn stream(mut self, config: crate::stream::StreamConfig) -> Self {
        self.stream = config;
        self
    }

    /// Adds a metadata entry.
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key, value);
        self
    }
}
