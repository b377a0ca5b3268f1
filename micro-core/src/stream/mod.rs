//! Streams: an endpoint that answers with a stream of items, takes one, or both.
//!
//! A trait method with a [`Streaming<T>`] argument or return is a streaming endpoint (see
//! [`#[service]`](macro@crate::service)). A stream is opened by a request to the endpoint and
//! then runs between its two ends, in the codec of the call, with the guarantees a caller needs
//! to trust it (the wire is in PROTOCOL.md, "Streams"):
//!
//! - every item is numbered, and a gap or a duplicate ends the stream with an error; the end is
//!   an explicit marker carrying the item count, so a stream that ends early is an error, never
//!   a shorter stream;
//! - the receiver grants credit (its [window](StreamConfig::window) of items, and a
//!   [byte window](BYTE_WINDOW)) and the sender waits when it has none, so a slow receiver
//!   slows the sender instead of growing anyone's memory;
//! - items ready together travel in one message ([batches](StreamConfig::batch)), so a stream
//!   of small items is not bound by the backend's cost per message;
//! - an idle stream carries heartbeats, and a peer silent for three heartbeats is gone: the
//!   stream fails with a timeout;
//! - when either end drops its side, the other learns of it: the sender's items stop being
//!   pulled (a handler's [`StreamSender`] errors), the reader's stream yields an error.
//!
//! ```
//! use micro_core::prelude::*;
//!
//! #[service(name = "counter", version = "1.0.0")]
//! pub trait Counter {
//!     /// The numbers from 1 to `n`.
//!     async fn count(&self, n: u32) -> Result<Streaming<u32>, Error>;
//!     /// The sum of the numbers sent.
//!     async fn sum(&self, numbers: Streaming<u32>) -> Result<u64, Error>;
//! }
//!
//! #[derive(Default)]
//! struct MyCounter;
//!
//! #[service]
//! impl Counter for MyCounter {
//!     async fn count(&self, n: u32) -> Result<Streaming<u32>, Error> {
//!         Ok(Streaming::iter(1..=n))
//!     }
//!
//!     async fn sum(&self, mut numbers: Streaming<u32>) -> Result<u64, Error> {
//!         let mut sum = 0;
//!         while let Some(n) = numbers.next().await {
//!             sum += u64::from(n?);
//!         }
//!         Ok(sum)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let running = Service::from_env().start().await?;
//! let counter = CounterClient::new(&running.client());
//! let numbers: Vec<u32> = counter.count(5).await?.try_collect().await?;
//! assert_eq!(numbers, [1, 2, 3, 4, 5]);
//! assert_eq!(counter.sum(Streaming::iter(numbers)).await?, 15);
//! running.stop().await;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt as _};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::Error;
use crate::codec::ContentType;

pub(crate) mod driver;
mod frame;
pub(crate) mod serve;

pub use frame::{Connect, DEFAULT_BATCH_BYTES, Frame, FrameSink, Link, StreamOpen, end_reply};

impl StreamConfig {
    /// The same configuration within the bounds the wire allows (a window of at least one
    /// item, a heartbeat between 20 ms and 60 s), whatever was written into its fields.
    pub(crate) fn clamped(self) -> StreamConfig {
        StreamConfig {
            window: self.window.clamp(1, MAX_WINDOW),
            heartbeat: clamp_heartbeat(Some(self.heartbeat)),
            batch: self.batch.clamp(1, MAX_BATCH),
        }
    }
}

/// The credit window a receiver grants unless configured otherwise: items it is ready to
/// receive before the sender must wait.
pub const DEFAULT_WINDOW: u32 = 256;

/// The largest window either end grants or accepts: what a peer can make the other buffer.
pub const MAX_WINDOW: u32 = 65_536;

/// The most items one message of a stream carries, and what our readers accept: a sender
/// whose items are ready faster than it can send them one per message sends them together,
/// so that the per-message cost of the backend is shared (see PROTOCOL.md, "Streams").
pub const MAX_BATCH: u32 = 128;

/// The bytes of items a receiver is ready for before the sender must wait, besides its window
/// of items: with items of any size, what a stream makes its receiver buffer stays bounded
/// (a sender may overshoot by at most one item). Granted again as the reader takes items, as
/// the window is.
pub const BYTE_WINDOW: u64 = 8 * 1024 * 1024;

/// How often an idle stream carries a heartbeat unless configured otherwise.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);

/// How long a stream to a plain reader (one without the stream protocol, see PROTOCOL.md) may
/// run without a deadline of its own: such a reader sends no heartbeats, so nothing else tells
/// the server that it went away.
pub const PLAIN_READER_LIMIT: Duration = Duration::from_secs(60);

/// The heartbeats a peer may miss before it is taken to be gone.
pub const MISSED_HEARTBEATS: u32 = 3;

/// The bounds a heartbeat interval asked for on the wire is clamped to, so that a peer can
/// neither flood the other with heartbeats nor make it wait minutes to learn it is gone.
const HEARTBEAT_BOUNDS: (Duration, Duration) = (Duration::from_millis(20), Duration::from_secs(60));

pub(crate) fn clamp_heartbeat(asked: Option<Duration>) -> Duration {
    asked
        .unwrap_or(DEFAULT_HEARTBEAT)
        .clamp(HEARTBEAT_BOUNDS.0, HEARTBEAT_BOUNDS.1)
}

/// How a client's streams run: the window it grants and the heartbeat it asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamConfig {
    /// Items a receiver is ready for before the sender must wait ([`DEFAULT_WINDOW`]; at
    /// least 1, at most [`MAX_WINDOW`]): the bound on the items buffered for a reader, whatever
    /// the sender's pace. More credit is granted as the reader takes items, half a window at a
    /// time. The server's window for a stream it receives is the client's, up to
    /// [`DEFAULT_WINDOW`].
    pub window: u32,
    /// How often an idle stream carries a heartbeat, both ways ([`DEFAULT_HEARTBEAT`]; used
    /// between 20 ms and 60 s); a peer silent for [`MISSED_HEARTBEATS`] times as long is gone.
    pub heartbeat: Duration,
    /// The most items the client takes in one message ([`MAX_BATCH`], at least 1): a server
    /// whose items are ready faster than it can send them one by one sends them together. A
    /// batch never waits for an item, so it costs no latency; 1 asks for one item per message.
    pub batch: u32,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            window: DEFAULT_WINDOW,
            heartbeat: DEFAULT_HEARTBEAT,
            batch: MAX_BATCH,
        }
    }
}

impl StreamConfig {
    /// Sets the window.
    #[must_use]
    pub fn window(mut self, window: u32) -> Self {
        self.window = window.clamp(1, MAX_WINDOW);
        self
    }

    /// Sets the heartbeat interval (clamped between 20 ms and 60 s).
    #[must_use]
    pub fn heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = clamp_heartbeat(Some(heartbeat));
        self
    }

    /// Sets the most items taken in one message (clamped between 1 and [`MAX_BATCH`]).
    #[must_use]
    pub fn batch(mut self, batch: u32) -> Self {
        self.batch = batch.clamp(1, MAX_BATCH);
        self
    }

    /// How long a silent peer is waited for: [`MISSED_HEARTBEATS`] heartbeats.
    pub fn idle_timeout(&self) -> Duration {
        self.heartbeat * MISSED_HEARTBEATS
    }
}

/// A stream of `T`s: what a streaming endpoint takes or answers with.
///
/// Built from anything that yields items ([`iter`](Self::iter), [`new`](Self::new),
/// [`try_new`](Self::try_new), [`channel`](Self::channel)) to be sent, or received from the
/// other end of a stream and read as a [`futures::Stream`] of `Result<T, Error>`. A received
/// stream yields `None` only after the sender's end marker with every item accounted for; a
/// stream cut short (a gap, a lost peer, an error frame, a cancelled sender) yields an `Err`
/// first.
pub struct Streaming<T> {
    source: Source<T>,
}

enum Source<T> {
    /// Items made in this process, to be sent.
    Local(BoxStream<'static, Result<T, Error>>),
    /// Items from the other end.
    Remote(Remote<T>),
}

impl<T: Send + 'static> Streaming<T> {
    /// The items of `stream`.
    pub fn new(stream: impl Stream<Item = T> + Send + 'static) -> Self {
        Self::try_new(stream.map(Ok))
    }

    /// The items of `stream`; an `Err` ends the stream with that error (the reader gets it).
    pub fn try_new(stream: impl Stream<Item = Result<T, Error>> + Send + 'static) -> Self {
        Streaming {
            source: Source::Local(stream.boxed()),
        }
    }

    /// The items of `items`.
    pub fn iter<I>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        Self::new(futures::stream::iter(items))
    }

    /// A stream with no items.
    pub fn empty() -> Self {
        Self::new(futures::stream::empty())
    }

    /// A stream fed through a [`StreamSender`], holding at most `buffer` items (at least one)
    /// that were sent and not yet taken. Dropping every sender ends the stream;
    /// [`StreamSender::fail`] ends it with an error.
    pub fn channel(buffer: usize) -> (StreamSender<T>, Self) {
        let (tx, mut rx) = mpsc::channel(buffer.max(1));
        let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
        (StreamSender { tx }, Self::try_new(stream))
    }
}

impl<T> Streaming<T> {
    /// Items received and not yet taken: at most the window the receiver granted (0 for a
    /// stream made in this process).
    pub fn buffered_len(&self) -> usize {
        match &self.source {
            Source::Local(_) => 0,
            Source::Remote(remote) => remote.items.len(),
        }
    }
}

impl<T: Serialize + Send + 'static> Streaming<T> {
    /// The items encoded with `content_type`, to be sent; an item that cannot be encoded ends
    /// the stream with a 500 naming `id`.
    pub(crate) fn encoded(
        self,
        content_type: ContentType,
        id: Arc<str>,
    ) -> BoxStream<'static, Result<Bytes, Error>> {
        self.map(move |item| {
            let item = item?;
            content_type
                .encode(&item)
                .map_err(|e| Error::internal(format!("cannot encode an item of `{id}`: {e}")))
        })
        .boxed()
    }
}

impl<T> Stream for Streaming<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        // Neither variant is structurally pinned: both are `Unpin`.
        match &mut self.get_mut().source {
            Source::Local(stream) => stream.as_mut().poll_next(cx),
            Source::Remote(remote) => remote.poll_next(cx),
        }
    }
}

impl<T> fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.source {
            Source::Local(_) => "local",
            Source::Remote(_) => "remote",
        };
        f.debug_struct("Streaming")
            .field("source", &kind)
            .field("buffered", &self.buffered_len())
            .finish()
    }
}

impl<T: Send + 'static> From<Vec<T>> for Streaming<T> {
    fn from(items: Vec<T>) -> Self {
        Self::iter(items)
    }
}

/// Feeds a [`Streaming`] made by [`Streaming::channel`].
#[derive(Debug)]
pub struct StreamSender<T> {
    tx: mpsc::Sender<Result<T, Error>>,
}

impl<T> Clone for StreamSender<T> {
    fn clone(&self) -> Self {
        StreamSender {
            tx: self.tx.clone(),
        }
    }
}

/// Why [`StreamSender::try_send`] handed an item back.
#[derive(Debug, thiserror::Error)]
pub enum TrySendError<T> {
    /// The stream's buffer is full: the reader (or its credit) has not caught up.
    #[error("the stream's buffer is full")]
    Full(T),
    /// The stream is gone: its reader stopped or the peer went away.
    #[error("the stream is closed")]
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(item) | TrySendError::Closed(item) => item,
        }
    }
}

impl<T> StreamSender<T> {
    /// Sends one item, waiting while the stream's buffer is full (when the reader, local or at
    /// the other end of the stream, has not caught up); an error once the stream is gone.
    pub async fn send(&self, item: T) -> Result<(), Error> {
        self.tx.send(Ok(item)).await.map_err(|_| closed())
    }

    /// Sends one item if there is room now, else hands it back: the explicit lossy choice.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        self.tx.try_send(Ok(item)).map_err(|err| match err {
            mpsc::error::TrySendError::Full(Ok(item)) => TrySendError::Full(item),
            mpsc::error::TrySendError::Closed(Ok(item)) => TrySendError::Closed(item),
            // Only `Ok` items are sent here.
            mpsc::error::TrySendError::Full(Err(_)) | mpsc::error::TrySendError::Closed(Err(_)) => {
                unreachable!("try_send sends items, not errors")
            }
        })
    }

    /// Ends the stream with `error`, which its reader gets after the items sent before.
    pub async fn fail(self, error: Error) -> Result<(), Error> {
        self.tx.send(Err(error)).await.map_err(|_| closed())
    }

    /// Whether the stream is gone (its reader stopped, or the peer went away).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Waits until the stream is gone: for a producer that should stop when nobody reads.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }
}

fn closed() -> Error {
    Error::new(
        crate::error::code::CLIENT_CLOSED,
        "the stream is closed: its reader stopped or went away",
    )
}

/// How far a reader got: items taken, shared with the driver that grants credit for them.
///
/// The reader wakes the driver only once it has taken enough for a grant (`wake_at`, set by
/// the driver), not at every item: a wake-up per item would cost the reader's driver a task
/// poll per item for a grant it sends once per half window.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    taken: AtomicU64,
    taken_bytes: AtomicU64,
    wake_at: AtomicU64,
    wake_at_bytes: AtomicU64,
    notify: Notify,
}

impl Progress {
    pub(crate) fn taken(&self) -> u64 {
        self.taken.load(Ordering::Acquire)
    }

    pub(crate) fn taken_bytes(&self) -> u64 {
        self.taken_bytes.load(Ordering::Acquire)
    }

    /// Wake the driver once `taken` reaches `at` items, or `taken_bytes` reaches `bytes`.
    pub(crate) fn wake_at(&self, at: u64, bytes: u64) {
        // Sequentially consistent with `took_one`: of a store here and an increment there, at
        // least one side sees the other, so a wake-up is never lost.
        self.wake_at.store(at, Ordering::SeqCst);
        self.wake_at_bytes.store(bytes, Ordering::SeqCst);
        // Taken already (the reader raced ahead of the driver): wake now.
        if self.taken.load(Ordering::SeqCst) >= at
            || self.taken_bytes.load(Ordering::SeqCst) >= bytes
        {
            self.notify.notify_one();
        }
    }

    fn took_one(&self, len: usize) {
        let bytes = self.taken_bytes.fetch_add(len as u64, Ordering::SeqCst) + len as u64;
        let taken = self.taken.fetch_add(1, Ordering::SeqCst) + 1;
        if taken >= self.wake_at.load(Ordering::SeqCst)
            || bytes >= self.wake_at_bytes.load(Ordering::SeqCst)
        {
            self.notify.notify_one();
        }
    }

    pub(crate) async fn changed(&self) {
        self.notify.notified().await;
    }
}

/// The reading side of a stream whose items come from the other end.
struct Remote<T> {
    items: mpsc::Receiver<Bytes>,
    /// How the stream ended, sent before the items' sender is dropped: `Ok` after the end
    /// marker, the error otherwise. Dropped unsent, the stream was cut off.
    outcome: oneshot::Receiver<Result<(), Error>>,
    progress: Arc<Progress>,
    content_type: ContentType,
    /// Decodes one item: a fn pointer made where `T: DeserializeOwned` is known, so that
    /// `Streaming<T>` is a `Stream` for every `T`.
    decode: fn(ContentType, &[u8]) -> Result<T, String>,
    id: Arc<str>,
    done: bool,
}

/// The driver's side of a [`Remote`] stream.
pub(crate) struct Inlet {
    pub(crate) items: mpsc::Sender<Bytes>,
    pub(crate) outcome: Option<oneshot::Sender<Result<(), Error>>>,
    pub(crate) progress: Arc<Progress>,
    pub(crate) window: u32,
}

/// A received stream of `window` items at most in flight, decoded with `content_type`.
pub(crate) fn remote<T: DeserializeOwned>(
    window: u32,
    content_type: ContentType,
    id: Arc<str>,
) -> (Inlet, Streaming<T>) {
    let capacity = usize::try_from(window).unwrap_or(usize::MAX).max(1);
    let (items_tx, items) = mpsc::channel(capacity);
    let (outcome_tx, outcome) = oneshot::channel();
    let progress = Arc::new(Progress::default());
    let inlet = Inlet {
        items: items_tx,
        outcome: Some(outcome_tx),
        progress: Arc::clone(&progress),
        window,
    };
    let remote = Remote {
        items,
        outcome,
        progress,
        content_type,
        decode: |content_type, body| content_type.decode(body).map_err(|e| e.to_string()),
        id,
        done: false,
    };
    (
        inlet,
        Streaming {
            source: Source::Remote(remote),
        },
    )
}

impl<T> Remote<T> {
    fn poll_next(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<Result<T, Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match ready!(self.items.poll_recv(cx)) {
            Some(body) => {
                self.progress.took_one(body.len());
                let item = (self.decode)(self.content_type, &body).map_err(|e| {
                    // The stream is no longer to be trusted: end it here (dropping the items'
                    // receiver tells the driver, which cancels the sender).
                    self.finish();
                    Error::bad_gateway(format!("cannot decode an item of `{}`: {e}", self.id))
                        .with_id(self.id.to_string())
                });
                Poll::Ready(Some(item))
            }
            None => {
                let outcome = ready!(Pin::new(&mut self.outcome).poll(cx));
                self.done = true;
                match outcome {
                    Ok(Ok(())) => Poll::Ready(None),
                    Ok(Err(err)) => Poll::Ready(Some(Err(err))),
                    Err(_) => Poll::Ready(Some(Err(Error::unavailable(format!(
                        "the stream of `{}` was cut off before its end marker",
                        self.id
                    ))
                    .with_id(self.id.to_string())))),
                }
            }
        }
    }

    fn finish(&mut self) {
        self.done = true;
        self.items.close();
    }
}
