//! One end of a stream: the protocol (numbering, credit, heartbeats, the end marker), written
//! once for every backend, which only moves [`Frame`]s.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt as _, StreamExt as _};
use tokio::time::Instant;

use super::{BYTE_WINDOW, Frame, Inlet, Link, MAX_BATCH, MISSED_HEARTBEATS};
use crate::Error;
use crate::error::code;
use crate::transport::Reply;

/// How long a client whose send failed waits for the server's last frames.
const SETTLE: Duration = Duration::from_secs(1);

/// Which end this is: the client opened the stream, the server answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Client,
    Server,
}

/// What a server's handler produced: the stream it answers with, or its single reply.
pub(crate) enum Output {
    Stream(BoxStream<'static, Result<Bytes, Error>>),
    Reply(Reply),
}

/// How a stream ended well.
#[derive(Debug)]
pub(crate) enum Finish {
    /// This end's items are all sent (a server's stream: the end marker is its reply).
    Sent(u64),
    /// The single reply: the handler's (server) or the server's (client).
    Reply(Reply),
    /// The other end's items all arrived, and it is done (a client's stream).
    Ended,
}

/// The state of one end of a stream.
pub(crate) struct Driver {
    pub(crate) role: Role,
    /// `service.endpoint`, for errors.
    pub(crate) id: Arc<str>,
    pub(crate) link: Link,
    /// Where received items go; `None` once they ended, or for an end that receives none.
    pub(crate) inlet: Option<Inlet>,
    /// This end's items to send, pulled only while there is credit.
    pub(crate) outbound: Option<BoxStream<'static, Result<Bytes, Error>>>,
    /// The server's handler, polled alongside the stream: it takes the received items while
    /// it runs, and yields the items to send or the reply.
    pub(crate) task: Option<BoxFuture<'static, Result<Output, Error>>>,
    /// Items the other end is ready for.
    pub(crate) credit: u64,
    /// Bytes of items the other end granted in all, its byte window and every grant since
    /// (`None`: it set no byte limit). An item is sent while fewer bytes than that were sent,
    /// so the last one may overshoot it; counting totals, not what is left, keeps an overshoot
    /// owed (the receiver counts the same totals).
    pub(crate) byte_limit: Option<u64>,
    bytes_sent: u64,
    /// Whether the other end keeps to a byte window (it announced its own): only then is an
    /// item past this end's byte window a violation, so an older peer is not cut off.
    pub(crate) bytes_enforced: bool,
    /// The most items this end takes in one batch (what it told the other end).
    pub(crate) accept_batch: u32,
    /// The most items the other end takes in one frame (1: one item per frame).
    pub(crate) batch: u32,
    /// An item pulled from `outbound` that did not fit the last batch: the next to send.
    held: Option<Bytes>,
    /// `None` for a plain reader without the stream protocol: no heartbeats, no idle timeout.
    pub(crate) heartbeat: Option<Duration>,
    /// When the stream must be over: a client's, the deadline of the call that opened it.
    pub(crate) deadline: Option<std::time::Instant>,
    sent: u64,
    received: u64,
    granted: u64,
    /// Bytes of items received, and granted (this end's byte window and its grants since).
    received_bytes: u64,
    granted_bytes: u64,
    /// The reader of the received items stopped, and the sender was told.
    abandoned: bool,
    /// A send failed: the other end let go of its link, which it does once its answer (the
    /// end marker, the error, the reply) is on its way.
    send_failed: bool,
    link_closed: bool,
    inbound_ended: bool,
    last_sent: Instant,
    last_heard: Instant,
}

impl Driver {
    pub(crate) fn new(role: Role, id: Arc<str>, link: Link, credit: u64) -> Self {
        let now = Instant::now();
        Driver {
            role,
            id,
            link,
            inlet: None,
            outbound: None,
            task: None,
            credit,
            byte_limit: None,
            bytes_sent: 0,
            bytes_enforced: false,
            accept_batch: MAX_BATCH,
            batch: 1,
            held: None,
            heartbeat: None,
            deadline: None,
            sent: 0,
            received: 0,
            granted: 0,
            received_bytes: 0,
            granted_bytes: 0,
            abandoned: false,
            send_failed: false,
            link_closed: false,
            inbound_ended: false,
            last_sent: now,
            last_heard: now,
        }
    }

    /// Receives items into `inlet`, granting its window now.
    pub(crate) fn receive_into(mut self, inlet: Inlet) -> Self {
        self.granted = u64::from(inlet.window);
        self.granted_bytes = BYTE_WINDOW;
        let (at, bytes) = self.grant_due(inlet.window);
        inlet.progress.wake_at(at, bytes);
        self.inlet = Some(inlet);
        self
    }

    /// Runs the stream to its end, then tells the reader of the received items how it ended.
    pub(crate) async fn run(mut self) -> Result<Finish, Error> {
        let mut result = self.run_loop().await;
        if self.role == Role::Client && self.send_failed && result.is_err() {
            result = self.settle_after_failed_send(result).await;
        }
        if let Some(mut inlet) = self.inlet.take()
            && let Some(outcome) = inlet.outcome.take()
        {
            let told = match (&result, self.role) {
                (Err(err), _) => Err(err.clone()),
                // The server answered once where the end of its items was due.
                (Ok(_), Role::Client) => Err(Error::bad_gateway(format!(
                    "`{}` ended its stream without the end marker",
                    self.id
                ))
                .with_id(self.id.to_string())),
                (Ok(_), Role::Server) => Err(Error::new(
                    code::CLIENT_CLOSED,
                    format!("`{}` finished before the items sent to it ended", self.id),
                )),
            };
            let _ = outcome.send(told);
        }
        if self.role == Role::Client && result.is_err() && !self.abandoned {
            // Whatever went wrong here, the server should stop: best effort, as it may be gone.
            let _ = self.link.sink.send(Frame::Cancel).await;
        }
        result
    }

    /// A client's send failed because the server's end is gone; the server's last word may
    /// still be on its way (a server that finished drops its link right after answering, while
    /// a credit grant of ours is in flight): read what is left, briefly, before failing.
    async fn settle_after_failed_send(
        &mut self,
        failed: Result<Finish, Error>,
    ) -> Result<Finish, Error> {
        let until = Instant::now() + SETTLE;
        loop {
            let frame = match tokio::time::timeout_at(until, self.link.frames.next()).await {
                Ok(frame) => frame,
                Err(_) => return failed,
            };
            match self.on_frame(frame).await {
                Ok(Some(finish)) => return Ok(finish),
                Ok(None) => {}
                // The link closed without a last word: the send's failure stands.
                Err(_) if self.link_closed => return failed,
                Err(err) => return Err(err),
            }
        }
    }

    async fn run_loop(&mut self) -> Result<Finish, Error> {
        let check = tokio::time::sleep_until(self.next_check());
        tokio::pin!(check);
        let until = self.deadline;
        let deadline = async move {
            match until {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline);
        loop {
            let can_send = self.credit > 0
                && self.bytes_left()
                && (self.outbound.is_some() || self.held.is_some());
            let listening = self.inlet.is_some() && !self.abandoned;
            // Not biased: a steady flow one way must not starve the other, nor the check.
            tokio::select! {
                frame = self.link.frames.next() => {
                    self.last_heard = Instant::now();
                    if let Some(finish) = self.on_frame(frame).await? {
                        return Ok(finish);
                    }
                }
                output = poll_task(&mut self.task), if self.task.is_some() => {
                    self.task = None;
                    match output? {
                        Output::Stream(items) => self.outbound = Some(items),
                        Output::Reply(reply) => return Ok(Finish::Reply(reply)),
                    }
                }
                () = reader_gone(self.inlet.as_ref()), if listening => {
                    self.abandoned = true;
                    self.send(Frame::Cancel).await?;
                    if self.role == Role::Client {
                        return Err(Error::new(
                            code::CLIENT_CLOSED,
                            format!("the stream of `{}` was dropped by its reader", self.id),
                        ));
                    }
                }
                () = reader_progress(self.inlet.as_ref()), if listening => self.grant().await?,
                item = next_item(&mut self.held, &mut self.outbound), if can_send => {
                    if let Some(finish) = self.on_item_to_send(item).await? {
                        return Ok(finish);
                    }
                }
                () = &mut deadline => {
                    return Err(Error::timeout(format!(
                        "the stream of `{}` outlasted its caller's deadline",
                        self.id
                    ))
                    .with_id(self.id.to_string()));
                }
                () = &mut check, if self.heartbeat.is_some() => {
                    self.on_check().await?;
                    check.as_mut().reset(self.next_check());
                }
            }
        }
    }

    fn next_check(&self) -> Instant {
        match self.heartbeat {
            Some(heartbeat) => {
                (self.last_sent + heartbeat).min(self.last_heard + heartbeat * MISSED_HEARTBEATS)
            }
            None => Instant::now() + Duration::from_secs(86_400),
        }
    }

    async fn on_check(&mut self) -> Result<(), Error> {
        let Some(heartbeat) = self.heartbeat else {
            return Ok(());
        };
        let now = Instant::now();
        let idle = heartbeat * MISSED_HEARTBEATS;
        if now >= self.last_heard + idle {
            return Err(Error::timeout(format!(
                "the other end of the stream of `{}` was silent for {idle:?}: it is gone",
                self.id
            ))
            .with_id(self.id.to_string()));
        }
        if now >= self.last_sent + heartbeat {
            self.send(Frame::Heartbeat).await?;
        }
        Ok(())
    }

    async fn send(&mut self, frame: Frame) -> Result<(), Error> {
        self.last_sent = Instant::now();
        let sending = self.link.sink.send(frame);
        // A send that cannot complete (a connection that is not coming back) must not stop the
        // idle check: it is bounded by the same time.
        let sent = match self.heartbeat {
            None => sending.await,
            Some(heartbeat) => {
                let idle = heartbeat * MISSED_HEARTBEATS;
                tokio::time::timeout(idle, sending)
                    .await
                    .unwrap_or_else(|_| {
                        Err(Error::timeout(format!(
                            "a frame of the stream of `{}` could not be sent for {idle:?}",
                            self.id
                        ))
                        .with_id(self.id.to_string()))
                    })
            }
        };
        self.send_failed |= sent.is_err();
        sent
    }

    async fn on_frame(&mut self, frame: Option<Frame>) -> Result<Option<Finish>, Error> {
        let Some(frame) = frame else {
            self.link_closed = true;
            return Err(Error::unavailable(format!(
                "the other end of the stream of `{}` went away",
                self.id
            ))
            .with_id(self.id.to_string()));
        };
        match frame {
            Frame::Item { seq, body } => {
                self.on_items(seq, std::iter::once(body), 1).map(|()| None)
            }
            Frame::Batch { first, items } => {
                let n = items.len();
                if n < 2 || n > self.accept_batch as usize {
                    return Err(self.violation(&format!(
                        "a batch of {n} items (this end takes 2 to {} in one)",
                        self.accept_batch
                    )));
                }
                self.on_items(first, items, n as u64).map(|()| None)
            }
            Frame::End { count } => self.on_end(count),
            Frame::Credit { items, bytes } => {
                self.credit = self.credit.saturating_add(u64::from(items));
                if let Some(limit) = &mut self.byte_limit {
                    *limit = limit.saturating_add(bytes);
                }
                Ok(None)
            }
            Frame::Heartbeat | Frame::Open { .. } => Ok(None),
            Frame::Cancel => match self.role {
                Role::Server => Err(Error::new(
                    code::CLIENT_CLOSED,
                    format!("the stream of `{}` was cancelled by its caller", self.id),
                )),
                // The server stopped reading: stop sending, and wait for its answer.
                Role::Client => {
                    self.outbound = None;
                    self.held = None;
                    Ok(None)
                }
            },
            Frame::Reply(reply) => match self.role {
                Role::Client => Ok(Some(Finish::Reply(reply))),
                Role::Server => Err(self.violation("a reply frame from the caller")),
            },
            // The opener's items failed: the handler reads the error at the end of its input
            // and decides (it may still answer).
            Frame::Error(err) if self.role == Role::Server && self.inlet.is_some() => {
                self.inbound_ended = true;
                if let Some(mut inlet) = self.inlet.take()
                    && let Some(outcome) = inlet.outcome.take()
                {
                    let _ = outcome.send(Err(err));
                }
                Ok(None)
            }
            Frame::Error(err) => Err(err),
        }
    }

    /// Takes `n` items numbered from `seq` (one frame's).
    fn on_items(
        &mut self,
        seq: u64,
        bodies: impl IntoIterator<Item = Bytes>,
        n: u64,
    ) -> Result<(), Error> {
        if self.inbound_ended {
            return Err(self.violation(&format!("item {seq} after the end marker")));
        }
        let Some(inlet) = &self.inlet else {
            return Err(self.violation("an item, but this end receives none"));
        };
        let expected = self.received + 1;
        if seq != expected {
            let what = if seq < expected {
                "a duplicate"
            } else {
                "a gap"
            };
            return Err(self.violation(&format!(
                "{what}: item {seq} arrived where item {expected} was due"
            )));
        }
        let last = seq.saturating_add(n - 1);
        if last > self.granted {
            return Err(self.violation(&format!(
                "item {last} was sent without credit (credit was granted up to {})",
                self.granted
            )));
        }
        self.received = last;
        if self.abandoned {
            // Sent before the sender learnt that nobody reads: dropped, as asked.
            return Ok(());
        }
        for (i, body) in bodies.into_iter().enumerate() {
            if self.bytes_enforced && self.received_bytes >= self.granted_bytes {
                return Err(self.violation(&format!(
                    "item {} was sent past the byte credit ({} bytes were granted)",
                    seq + i as u64,
                    self.granted_bytes
                )));
            }
            self.received_bytes = self.received_bytes.saturating_add(body.len() as u64);
            match inlet.items.try_send(body) {
                Ok(()) => {}
                // The reader just went; `reader_gone` tells the sender.
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return Ok(()),
                Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                    return Err(self.violation(&format!("item {last} overflowed the window")));
                }
            }
        }
        Ok(())
    }

    fn on_end(&mut self, count: u64) -> Result<Option<Finish>, Error> {
        if self.inlet.is_none() && !self.abandoned {
            return Err(self.violation("an end marker, but this end receives no items"));
        }
        if count != self.received {
            return Err(self.violation(&format!(
                "the end marker counts {count} items but {} arrived: the stream was truncated",
                self.received
            )));
        }
        self.inbound_ended = true;
        if let Some(mut inlet) = self.inlet.take()
            && let Some(outcome) = inlet.outcome.take()
        {
            let _ = outcome.send(Ok(()));
        }
        match self.role {
            // The server's items are complete: so is the stream.
            Role::Client => Ok(Some(Finish::Ended)),
            Role::Server => Ok(None),
        }
    }

    async fn on_item_to_send(
        &mut self,
        item: Option<Result<Bytes, Error>>,
    ) -> Result<Option<Finish>, Error> {
        match item {
            Some(Ok(body)) => {
                let (frame, after) = self.gather(body);
                self.send(frame).await?;
                match after {
                    // Another item is ready: the select loop sends it, once there is credit.
                    None | Some(Some(Ok(_))) => Ok(None),
                    // The items ended, or failed, right behind the batch.
                    Some(terminal) => Box::pin(self.on_item_to_send(terminal)).await,
                }
            }
            Some(Err(err)) => {
                if self.role == Role::Client {
                    // The server's handler sees the error in the stream it reads.
                    let _ = self.send(Frame::Error(err.clone())).await;
                }
                Err(err)
            }
            None => {
                self.outbound = None;
                match self.role {
                    // The end marker is the server's reply, sent by the server after this.
                    Role::Server => Ok(Some(Finish::Sent(self.sent))),
                    Role::Client => {
                        let count = self.sent;
                        self.send(Frame::End { count }).await?;
                        Ok(None)
                    }
                }
            }
        }
    }

    /// The frame that sends `first` and whatever items are ready behind it, up to the credit,
    /// the receiver's batch size and the backend's bytes per batch; and what was pulled but
    /// not sent (an item that did not fit is held for the next frame; an end or an error is
    /// handed back to be handled after the frame).
    fn gather(&mut self, first: Bytes) -> (Frame, Option<Option<Result<Bytes, Error>>>) {
        let seq = self.sent + 1;
        let most = self.credit.min(u64::from(self.batch));
        self.bytes_sent = self.bytes_sent.saturating_add(first.len() as u64);
        let mut after = None;
        let mut first = Some(first);
        let mut items = Vec::new();
        if most > 1 {
            let limit = self.link.sink.batch_bytes();
            let mut bytes = first.as_ref().map_or(0, Bytes::len);
            // `items` holds `first` too once it holds anything.
            while (items.len().max(1) as u64) < most && self.bytes_left() {
                let Some(outbound) = self.outbound.as_mut() else {
                    break;
                };
                // Only what is ready now: a batch never waits for an item.
                match outbound.next().now_or_never() {
                    None => break,
                    Some(Some(Ok(body))) => {
                        if bytes + body.len() > limit {
                            self.held = Some(body);
                            break;
                        }
                        bytes += body.len();
                        self.bytes_sent = self.bytes_sent.saturating_add(body.len() as u64);
                        if items.is_empty() {
                            items.reserve(8);
                            items.extend(first.take());
                        }
                        items.push(body);
                    }
                    Some(other) => {
                        after = Some(other);
                        break;
                    }
                }
            }
        }
        let n = items.len().max(1) as u64;
        self.sent += n;
        self.credit -= n;
        let frame = match first {
            Some(body) => Frame::Item { seq, body },
            None => Frame::Batch { first: seq, items },
        };
        (frame, after)
    }

    /// Whether the byte credit allows another item.
    fn bytes_left(&self) -> bool {
        self.byte_limit.is_none_or(|limit| self.bytes_sent < limit)
    }

    /// Grants the sender more credit once the reader took half a window.
    async fn grant(&mut self) -> Result<(), Error> {
        let Some(inlet) = &self.inlet else {
            return Ok(());
        };
        let window = u64::from(inlet.window);
        let items = (inlet.progress.taken() + window).saturating_sub(self.granted);
        let bytes = (inlet.progress.taken_bytes() + BYTE_WINDOW).saturating_sub(self.granted_bytes);
        // Due once the reader took half a window of items, or of bytes (large items).
        if items >= (window / 2).max(1) || bytes >= BYTE_WINDOW / 2 {
            self.granted += items;
            self.granted_bytes += bytes;
            let (at, due_bytes) = self.grant_due(inlet.window);
            inlet.progress.wake_at(at, due_bytes);
            let items = u32::try_from(items).unwrap_or(u32::MAX);
            self.send(Frame::Credit { items, bytes }).await?;
        }
        Ok(())
    }

    /// How many items, and bytes, a reader must have taken for the next grant to be due: a
    /// grant is worth sending once it reaches half a window (of either).
    fn grant_due(&self, window: u32) -> (u64, u64) {
        let window = u64::from(window);
        (
            (self.granted + (window / 2).max(1)).saturating_sub(window),
            (self.granted_bytes + BYTE_WINDOW / 2).saturating_sub(BYTE_WINDOW),
        )
    }

    /// The other end broke the protocol: the stream cannot be trusted any further.
    fn violation(&self, what: &str) -> Error {
        let message = format!("the stream of `{}` broke off: {what}", self.id);
        let err = match self.role {
            // The server misbehaved, as a gateway would say.
            Role::Client => Error::bad_gateway(message),
            Role::Server => Error::bad_request(message),
        };
        err.with_id(self.id.to_string())
    }
}

async fn poll_task(
    task: &mut Option<BoxFuture<'static, Result<Output, Error>>>,
) -> Result<Output, Error> {
    match task {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}

async fn reader_gone(inlet: Option<&Inlet>) {
    match inlet {
        Some(inlet) => inlet.items.closed().await,
        None => std::future::pending().await,
    }
}

async fn reader_progress(inlet: Option<&Inlet>) {
    match inlet {
        Some(inlet) => inlet.progress.changed().await,
        None => std::future::pending().await,
    }
}

async fn next_item(
    held: &mut Option<Bytes>,
    outbound: &mut Option<BoxStream<'static, Result<Bytes, Error>>>,
) -> Option<Result<Bytes, Error>> {
    if let Some(body) = held.take() {
        return Some(Ok(body));
    }
    match outbound {
        Some(items) => items.next().await,
        None => std::future::pending().await,
    }
}
