//! What a stream is made of on the way: [`Frame`]s over a [`Link`] between its two ends.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::Error;
use crate::codec::ContentType;
use crate::metadata::keys;
use crate::transport::Reply;

use super::StreamConfig;

/// One message of a stream, in either direction (see PROTOCOL.md, "Streams").
#[derive(Debug)]
#[non_exhaustive]
pub enum Frame {
    /// The server accepted the stream; the opener may send `credit` items (0 when the endpoint
    /// takes no stream), at most `batch` of them in one [`Batch`](Frame::Batch).
    Open {
        /// Items the sender of the frame is ready to receive.
        credit: u32,
        /// The most items the sender of the frame takes in one batch (1: no batches).
        batch: u32,
        /// Bytes of items the sender of the frame is ready to receive; `None`: no byte limit.
        bytes: Option<u64>,
    },
    /// One item, numbered from 1 in the order it was sent.
    Item {
        /// Its number.
        seq: u64,
        /// The item, in the stream's codec.
        body: Bytes,
    },
    /// Several items at once, numbered from `first`: what a sender whose items are ready faster
    /// than it can send them one by one sends, if the receiver takes batches.
    Batch {
        /// The number of the first item.
        first: u64,
        /// The items, in order, each in the stream's codec; never fewer than two.
        items: Vec<Bytes>,
    },
    /// The receiver is ready for more items.
    Credit {
        /// How many more items.
        items: u32,
        /// How many more bytes of items (0 with a peer that set no byte limit).
        bytes: u64,
    },
    /// Nothing to say, but still here.
    Heartbeat,
    /// The sender's items are complete: `count` of them were sent.
    End {
        /// How many items were sent.
        count: u64,
    },
    /// The single reply of an endpoint that takes a stream and answers once (a client stream).
    Reply(Reply),
    /// The stream failed: the structured error ends it.
    Error(Error),
    /// The receiver stopped reading: the sender should stop.
    Cancel,
}

impl Frame {
    /// The frame a server's final answer to a stream-opening request stands for: an error, the
    /// end marker (a reply made by [`end_reply`]), or a client stream's single reply.
    pub fn from_reply(result: Result<Reply, Error>) -> Frame {
        match result {
            Err(err) => Frame::Error(err),
            Ok(reply) => match end_count(&reply) {
                Some(count) => Frame::End { count },
                None => Frame::Reply(reply),
            },
        }
    }
}

/// The reply that ends a stream of `count` items: empty, with [`keys::STREAM`] = `end` and
/// [`keys::SEQ`] = `count`, so that a plain NATS reader sees the empty message that ends a
/// request-many exchange.
pub fn end_reply(content_type: ContentType, count: u64) -> Reply {
    let mut reply = Reply::new(content_type, Bytes::new());
    reply.metadata.insert(keys::STREAM, "end");
    reply.metadata.insert(keys::SEQ, count.to_string());
    reply
}

/// The item count of an end marker; `None` for another reply.
fn end_count(reply: &Reply) -> Option<u64> {
    if !reply.body.is_empty() || reply.metadata.get(keys::STREAM) != Some("end") {
        return None;
    }
    reply.metadata.get(keys::SEQ)?.parse().ok()
}

/// Sends frames to the other end of a stream.
pub trait FrameSink: Send + Sync + 'static {
    /// Sends one frame; an error when it cannot be sent (the link is gone, the item is larger
    /// than the backend carries).
    fn send(&self, frame: Frame) -> BoxFuture<'_, Result<(), Error>>;

    /// The most bytes of items one [`Frame::Batch`] may carry on this backend (an item larger
    /// than that still travels, alone, as an [`Frame::Item`]).
    fn batch_bytes(&self) -> usize {
        DEFAULT_BATCH_BYTES
    }
}

/// [`FrameSink::batch_bytes`] unless a backend says otherwise: enough to carry many small items
/// in one message, small enough that a batch never delays a reader noticeably.
pub const DEFAULT_BATCH_BYTES: usize = 64 * 1024;

/// One end's view of a stream: the frames the other end sends, and the means to send to it.
pub struct Link {
    /// The other end's frames; ends when the link is gone.
    pub frames: BoxStream<'static, Frame>,
    /// Where this end's frames go.
    pub sink: Arc<dyn FrameSink>,
}

impl Link {
    /// A link from a backend's frame stream and sink.
    pub fn new(frames: BoxStream<'static, Frame>, sink: Arc<dyn FrameSink>) -> Self {
        Link { frames, sink }
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link").finish_non_exhaustive()
    }
}

/// Connects the server's end of a stream to its opener; a backend gives one with every
/// request to a streaming endpoint.
pub trait Connect: Send + Sync + 'static {
    /// The server's link to the opener (over NATS, a fresh inbox for the opener's frames).
    fn connect(&self) -> BoxFuture<'static, Result<Link, Error>>;
}

/// The stream part of a call that opens a stream.
///
/// On the client side it says what the opener asks for (its window and heartbeat); on the
/// server side the backend adds the means to reach the opener ([`connector`](Self::connector)).
#[derive(Clone)]
#[non_exhaustive]
pub struct StreamOpen {
    /// The items the opener is ready to receive at first (its credit window); `None` for a
    /// plain reader without our library (a NATS request-many client): it gets no open frame,
    /// no heartbeats and no flow control, and can only read a server stream.
    pub window: Option<u32>,
    /// How often the opener wants a heartbeat on an idle stream; the server sends them at the
    /// same rate, and either end gives up on a peer silent for three times as long.
    pub heartbeat: Option<Duration>,
    /// The most items the opener takes in one [`Frame::Batch`]; `None` (or 1) for an opener
    /// that takes items one by one only.
    pub batch: Option<u32>,
    /// The bytes of items the opener is ready for ([`BYTE_WINDOW`](super::BYTE_WINDOW) for
    /// ours); `None`: it sets no byte limit.
    pub bytes: Option<u64>,
    connector: Option<Arc<dyn Connect>>,
}

impl StreamOpen {
    /// What a client opening a stream with `config` asks for.
    pub fn new(config: &StreamConfig) -> Self {
        let config = config.clamped();
        StreamOpen {
            window: Some(config.window),
            heartbeat: Some(config.heartbeat),
            batch: Some(config.batch),
            bytes: Some(super::BYTE_WINDOW),
            connector: None,
        }
    }

    /// What a server's backend received: the opener's window and heartbeat (as read off the
    /// wire, checked here) and the means to reach it. The opener takes batches only if it
    /// says so with [`with_batch`](Self::with_batch).
    pub fn accepted(
        window: Option<u32>,
        heartbeat: Option<Duration>,
        connector: Arc<dyn Connect>,
    ) -> Self {
        StreamOpen {
            window: window.map(|w| w.clamp(1, super::MAX_WINDOW)),
            heartbeat: window.map(|_| super::clamp_heartbeat(heartbeat)),
            batch: None,
            bytes: None,
            connector: Some(connector),
        }
    }

    /// The opener is ready for `bytes` bytes of items (as read off the wire; ignored for a
    /// plain reader).
    #[must_use]
    pub fn with_bytes(mut self, bytes: Option<u64>) -> Self {
        self.bytes = match self.window {
            // A window of no bytes would stall the stream for good: one byte lets one item go.
            Some(_) => bytes.map(|b| b.max(1)),
            None => None,
        };
        self
    }

    /// The opener takes up to `batch` items in one [`Frame::Batch`] (as read off the wire; a
    /// plain reader, which speaks no stream protocol, gets items one by one whatever it says).
    #[must_use]
    pub fn with_batch(mut self, batch: Option<u32>) -> Self {
        self.batch = match self.window {
            Some(_) => batch.map(|b| b.clamp(1, super::MAX_BATCH)),
            None => None,
        };
        self
    }

    /// The most items one frame to the opener may carry.
    pub(crate) fn batch_limit(&self) -> u32 {
        self.batch.unwrap_or(1).max(1)
    }

    /// The means to reach the opener (server side only).
    pub fn connector(&self) -> Option<&Arc<dyn Connect>> {
        self.connector.as_ref()
    }
}

impl fmt::Debug for StreamOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamOpen")
            .field("window", &self.window)
            .field("heartbeat", &self.heartbeat)
            .field("batch", &self.batch)
            .field("bytes", &self.bytes)
            .field("connected", &self.connector.is_some())
            .finish()
    }
}
