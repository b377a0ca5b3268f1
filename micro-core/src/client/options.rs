use std::time::Duration;

use crate::Metadata;
use crate::codec::ContentType;

/// Options applied to every call a [`Client`](super::Client) makes.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CallOptions {
    /// How long a call may take when no earlier deadline is inherited. Default 5 s, as
    /// go-micro's client.
    pub timeout: Duration,
    /// The codec of requests and events. Default JSON.
    pub content_type: ContentType,
    /// Metadata sent with every call and event.
    pub metadata: Metadata,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions {
            timeout: Duration::from_secs(5),
            content_type: ContentType::Json,
            metadata: Metadata::new(),
        }
    }
}

impl CallOptions {
    /// Sets the timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the codec.
    #[must_use]
    pub fn content_type(mut self, content_type: ContentType) -> Self {
        self.content_type = content_type;
        self
    }

    /// Adds a metadata entry.
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key, value);
        self
    }
}
