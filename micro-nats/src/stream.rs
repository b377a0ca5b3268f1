//! Streams over NATS: each end of a stream has an inbox of its own, and frames are messages
//! between the two, told apart by their headers (see PROTOCOL.md, "Streams").
//!
//! The opener subscribes to a fresh inbox and sends the opening request with that inbox as its
//! reply subject; the server subscribes to an inbox of its own and sends every frame to the
//! opener's inbox with its own as the reply subject, which is how the opener learns where to
//! send its frames. A plain NATS reader (no `Micro-Credit` header) gets the server's items and
//! the empty end marker on its reply subject, as in a request-many exchange.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_nats::client::PublishErrorKind;
use async_nats::{Client, HeaderMap, Message, StatusCode, Subject};
use bytes::Bytes;
use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use micro_core::Error;
use micro_core::codec::ContentType;
use micro_core::error::Delivery;
use micro_core::metadata::keys;
use micro_core::stream::{Connect, Frame, FrameSink, Link, StreamOpen};
use micro_core::transport::Call;

use crate::error::{publish_error, subscribe_error};
use crate::headers;
use crate::health;

/// Where a frame of this end goes.
enum Peer {
    /// Known from the start: the server sends to the opener's inbox.
    Fixed(Subject),
    /// Learnt from the server's first frame: the opener sends to the server's inbox.
    Learnt(Arc<OnceLock<Subject>>),
}

/// Sends one end's frames as NATS messages.
pub(crate) struct NatsSink {
    client: Client,
    peer: Peer,
    /// This end's inbox, the reply subject of its frames; `None` for the opener (the server
    /// knows its inbox already, and a reply subject on its frames would draw nats-server's
    /// "no responders" once the server's end has gone, racing the server's last frame) and for a
    /// server answering a plain reader, which sends nothing back.
    inbox: Option<Subject>,
    /// The opener's: the last token of its inbox, which names the opening request in a cancel.
    token: Option<String>,
    content_type: ContentType,
    /// Whether items carry `Content-Type`: only for a plain reader whose request did, as a
    /// reader of the stream protocol knows the codec from the opening request.
    labelled: bool,
    /// [`FrameSink::batch_bytes`]: within what the NATS server accepts in one message.
    batch_bytes: usize,
    /// The opener's: the cancellation subject of the service (under the transport's prefix),
    /// for a cancel of the opening request sent before the server said where it listens (see
    /// PROTOCOL.md, "Cancellation").
    cancel_subject: Option<String>,
}

impl FrameSink for NatsSink {
    fn send(&self, frame: Frame) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            let to = match &self.peer {
                Peer::Fixed(to) => to.clone(),
                Peer::Learnt(to) => match to.get() {
                    Some(to) => to.clone(),
                    None if matches!(frame, Frame::Cancel) => {
                        // The server has not accepted yet (its handler may still be producing
                        // the stream): cancel the opening request itself, named by the last
                        // token of its reply subject.
                        let (Some(subject), Some(token)) = (&self.cancel_subject, &self.token)
                        else {
                            return Ok(());
                        };
                        return self
                            .client
                            .publish(subject.clone(), Bytes::from(token.clone()))
                            .await
                            .map_err(|e| publish_error(&e, subject));
                    }
                    None => {
                        return Err(Error::unavailable(
                            "the stream's server has not said where it listens",
                        ));
                    }
                },
            };
            let (headers, body) = encode(frame, self.content_type, self.labelled)?;
            let published = match &self.inbox {
                Some(inbox) => {
                    self.client
                        .publish_with_reply_and_headers(to.clone(), inbox.clone(), headers, body)
                        .await
                }
                None => {
                    self.client
                        .publish_with_headers(to.clone(), headers, body)
                        .await
                }
            };
            published.map_err(|err| {
                if err.kind() == PublishErrorKind::MaxPayloadExceeded {
                    Error::payload_too_large(format!(
                        "a stream item is larger than the NATS server accepts: {err}"
                    ))
                } else {
                    publish_error(&err, &to)
                }
            })
        })
    }

    fn batch_bytes(&self) -> usize {
        self.batch_bytes
    }
}

/// [`FrameSink::batch_bytes`] on `client`'s server: half its largest message (the rest is room
/// for headers and the items' length prefixes), and never more than the default.
fn batch_bytes(client: &Client) -> usize {
    let max_payload = client.server_info().max_payload;
    (max_payload / 2).min(micro_core::stream::DEFAULT_BATCH_BYTES)
}

/// The body of a message of several items: each item's length (4 bytes, big-endian), then the
/// item.
fn batch_body(items: &[Bytes]) -> Result<Bytes, Error> {
    let size = items.iter().map(|item| 4 + item.len()).sum();
    let mut body = Vec::with_capacity(size);
    for item in items {
        let len = u32::try_from(item.len())
            .map_err(|_| Error::payload_too_large("a stream item is larger than 4 GiB"))?;
        body.extend_from_slice(&len.to_be_bytes());
        body.extend_from_slice(item);
    }
    Ok(Bytes::from(body))
}

/// The `n` items of a batch's body (see [`batch_body`]), or why it is not one.
fn batch_items(body: &Bytes, n: u64) -> Result<Vec<Bytes>, String> {
    if !(2..=u64::from(micro_core::stream::MAX_BATCH)).contains(&n) {
        return Err(format!(
            "a batch of {n} items (a batch carries 2 to {})",
            micro_core::stream::MAX_BATCH
        ));
    }
    let mut items = Vec::with_capacity(n as usize);
    let mut at = 0;
    while at < body.len() {
        let prefix = body
            .get(at..at + 4)
            .ok_or("a batch ends inside an item's length")?;
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        let start = at + 4;
        let end = start
            .checked_add(len)
            .filter(|end| *end <= body.len())
            .ok_or("a batch ends inside an item")?;
        items.push(body.slice(start..end));
        at = end;
    }
    if items.len() as u64 != n {
        return Err(format!(
            "a batch says it carries {n} items but carries {}",
            items.len()
        ));
    }
    Ok(items)
}

/// A frame as the headers and body of a message.
fn encode(
    frame: Frame,
    content_type: ContentType,
    labelled: bool,
) -> Result<(HeaderMap, Bytes), Error> {
    let mut hdrs = HeaderMap::new();
    let control = |hdrs: &mut HeaderMap, kind: &str| headers::insert(hdrs, keys::STREAM, kind);
    let body = match frame {
        Frame::Item { seq, body } => {
            headers::insert(&mut hdrs, keys::SEQ, &seq.to_string())?;
            if labelled {
                headers::insert(&mut hdrs, keys::CONTENT_TYPE, content_type.as_str())?;
            }
            body
        }
        Frame::Batch { first, items } => {
            headers::insert(&mut hdrs, keys::SEQ, &first.to_string())?;
            headers::insert(&mut hdrs, keys::BATCH, &items.len().to_string())?;
            batch_body(&items)?
        }
        Frame::Open {
            credit,
            batch,
            bytes,
        } => {
            control(&mut hdrs, "open")?;
            headers::insert(&mut hdrs, keys::CREDIT, &credit.to_string())?;
            headers::insert(&mut hdrs, keys::BATCH, &batch.to_string())?;
            if let Some(bytes) = bytes {
                headers::insert(&mut hdrs, keys::CREDIT_BYTES, &bytes.to_string())?;
            }
            Bytes::new()
        }
        Frame::Credit { items, bytes } => {
            control(&mut hdrs, "credit")?;
            headers::insert(&mut hdrs, keys::CREDIT, &items.to_string())?;
            if bytes > 0 {
                headers::insert(&mut hdrs, keys::CREDIT_BYTES, &bytes.to_string())?;
            }
            Bytes::new()
        }
        Frame::Heartbeat => {
            control(&mut hdrs, "heartbeat")?;
            Bytes::new()
        }
        Frame::End { count } => {
            control(&mut hdrs, "end")?;
            headers::insert(&mut hdrs, keys::SEQ, &count.to_string())?;
            Bytes::new()
        }
        Frame::Cancel => {
            control(&mut hdrs, "cancel")?;
            Bytes::new()
        }
        Frame::Error(err) => {
            let (reply_headers, body) = headers::reply(Err(err), content_type, true);
            hdrs = reply_headers.unwrap_or_default();
            body
        }
        Frame::Reply(reply) => {
            let (reply_headers, body) = headers::reply(Ok(reply), content_type, true);
            hdrs = reply_headers.unwrap_or_default();
            body
        }
        // `Frame` may grow; a frame this backend does not know is not sent silently.
        #[allow(unreachable_patterns)]
        other => {
            return Err(Error::internal(format!(
                "this NATS backend cannot send the stream frame {other:?}"
            )));
        }
    };
    Ok((hdrs, body))
}

/// The frames arriving on one end's inbox.
fn frames(
    subscriber: async_nats::Subscriber,
    learn: Option<Arc<OnceLock<Subject>>>,
    content_type: ContentType,
    id: Arc<str>,
) -> BoxStream<'static, Frame> {
    subscriber
        .map(move |message| {
            if let (Some(learn), Some(reply)) = (&learn, &message.reply) {
                // The first frame's reply subject is where the server listens; a later one
                // cannot move it.
                let _ = learn.set(reply.clone());
            }
            decode(message, content_type, &id, learn.is_some())
        })
        .boxed()
}

/// Reads one message of a stream as a frame; one that cannot be read is an error frame, which
/// ends the stream: a stream with a message missing cannot be trusted. `opener`: this is the
/// opener's end (the frames come from the server).
pub(crate) fn decode(message: Message, content_type: ContentType, id: &str, opener: bool) -> Frame {
    if let Some(why) = health::malformed(&message) {
        return Frame::Error(
            Error::bad_gateway(format!(
                "cannot read a message of the stream of `{id}`: {why}"
            ))
            .with_id(id.to_owned()),
        );
    }
    if message.status == Some(StatusCode::NO_RESPONDERS) {
        // To the opener: nobody serves the endpoint (or the server's end is gone). To the
        // server: a frame it sent found no inbox, so its caller is gone (a process that died
        // takes its subscriptions along).
        let err = if opener {
            Error::unavailable(format!("no instance of `{id}` is running"))
                .with_delivery(Delivery::NotSent)
        } else {
            Error::new(
                micro_core::error::code::CLIENT_CLOSED,
                format!("the caller of `{id}` is gone: its inbox has no subscriber"),
            )
        };
        return Frame::Error(err.with_id(id.to_owned()));
    }
    let hdrs = message.headers.as_ref();
    let number = |key: &str| -> Result<u64, Error> {
        headers::get(hdrs, key)
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| {
                Error::bad_gateway(format!(
                    "a message of the stream of `{id}` has no valid `{key}` header"
                ))
                .with_id(id.to_owned())
            })
    };
    let credit = |key: &str| number(key).map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    // Byte credit is optional: a peer that sets no byte limit sends none.
    let bytes = |key: &str| match headers::get(hdrs, key) {
        None => Ok(None),
        Some(_) => number(key).map(Some),
    };
    let frame = match headers::get(hdrs, keys::STREAM) {
        Some("open") => credit(keys::CREDIT).and_then(|granted| {
            // A server that does not say takes items one by one.
            let batch = match headers::get(hdrs, keys::BATCH) {
                None => 1,
                Some(_) => credit(keys::BATCH)?,
            };
            Ok(Frame::Open {
                credit: granted,
                batch,
                bytes: bytes(keys::CREDIT_BYTES)?,
            })
        }),
        Some("credit") => credit(keys::CREDIT).and_then(|items| {
            Ok(Frame::Credit {
                items,
                bytes: bytes(keys::CREDIT_BYTES)?.unwrap_or(0),
            })
        }),
        Some("heartbeat") => Ok(Frame::Heartbeat),
        Some("end") => number(keys::SEQ).map(|count| Frame::End { count }),
        Some("cancel") => Ok(Frame::Cancel),
        Some(other) => Err(Error::bad_gateway(format!(
            "a message of the stream of `{id}` is of unknown kind `{other}`"
        ))
        .with_id(id.to_owned())),
        None if headers::get(hdrs, keys::SEQ).is_some() => number(keys::SEQ).and_then(|seq| {
            if headers::get(hdrs, keys::BATCH).is_none() {
                return Ok(Frame::Item {
                    seq,
                    body: message.payload,
                });
            }
            let n = number(keys::BATCH)?;
            let items = batch_items(&message.payload, n).map_err(|why| {
                Error::bad_gateway(format!(
                    "a message of the stream of `{id}` is not a valid batch: {why}"
                ))
                .with_id(id.to_owned())
            })?;
            Ok(Frame::Batch { first: seq, items })
        }),
        None => {
            let (service, endpoint) = id.split_once('.').unwrap_or((id, ""));
            Ok(Frame::from_reply(headers::read_reply(
                hdrs,
                message.payload,
                content_type,
                service,
                endpoint,
            )))
        }
    };
    frame.unwrap_or_else(Frame::Error)
}

/// The opener's side: subscribes to a fresh inbox, then sends the opening request with it as
/// the reply subject; `cancel_subject` is where the opening is cancelled if given up before the
/// server answers.
pub(crate) async fn open(
    client: &Client,
    subject: Subject,
    headers: Option<HeaderMap>,
    cancel_subject: String,
    call: Call,
) -> Result<Link, Error> {
    let id: Arc<str> = Arc::from(call.id());
    let Call {
        content_type,
        stream: open,
        body,
        ..
    } = call;
    let open = open.as_deref();
    let mut hdrs = headers.unwrap_or_default();
    if let Some(open) = open {
        if let Some(window) = open.window {
            headers::insert(&mut hdrs, keys::CREDIT, &window.to_string())?;
        }
        if let Some(heartbeat) = open.heartbeat {
            headers::insert(
                &mut hdrs,
                keys::HEARTBEAT,
                &heartbeat.as_millis().to_string(),
            )?;
        }
        if let Some(batch) = open.batch {
            headers::insert(&mut hdrs, keys::BATCH, &batch.to_string())?;
        }
        if let Some(bytes) = open.bytes {
            headers::insert(&mut hdrs, keys::CREDIT_BYTES, &bytes.to_string())?;
        }
    }
    // Labelled, so the server labels its items and a plain reader of the same stream can tell
    // the codec.
    headers::insert(&mut hdrs, keys::CONTENT_TYPE, content_type.as_str())?;
    let inbox = Subject::from(client.new_inbox());
    let subscriber = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| subscribe_error(&e, &inbox))?;
    client
        .publish_with_reply_and_headers(subject.clone(), inbox.clone(), hdrs, body)
        .await
        .map_err(|e| publish_error(&e, &subject))?;
    let server = Arc::new(OnceLock::new());
    let frames = frames(subscriber, Some(Arc::clone(&server)), content_type, id);
    let sink = NatsSink {
        client: client.clone(),
        peer: Peer::Learnt(server),
        inbox: None,
        token: inbox.rsplit('.').next().map(str::to_owned),
        content_type,
        labelled: false,
        batch_bytes: batch_bytes(client),
        cancel_subject: Some(cancel_subject),
    };
    Ok(Link::new(frames, Arc::new(sink)))
}

/// What the server's end needs to reach the opener of one stream.
pub(crate) struct NatsConnect {
    pub(crate) client: Arc<Client>,
    pub(crate) reply_to: Subject,
    pub(crate) content_type: ContentType,
    pub(crate) labelled: bool,
    /// The opener speaks the stream protocol (it sent `Micro-Credit`): the server listens on
    /// an inbox of its own for its frames.
    pub(crate) protocol: bool,
    pub(crate) id: Arc<str>,
}

impl Connect for NatsConnect {
    fn connect(&self) -> BoxFuture<'static, Result<Link, Error>> {
        let client = Client::clone(&self.client);
        let reply_to = self.reply_to.clone();
        let (content_type, labelled, protocol) = (self.content_type, self.labelled, self.protocol);
        let id = Arc::clone(&self.id);
        Box::pin(async move {
            let (frames, inbox) = if protocol {
                let inbox = Subject::from(client.new_inbox());
                let subscriber = client
                    .subscribe(inbox.clone())
                    .await
                    .map_err(|e| subscribe_error(&e, &inbox))?;
                (frames(subscriber, None, content_type, id), Some(inbox))
            } else {
                // A plain reader says nothing until the end.
                (futures::stream::pending().boxed(), None)
            };
            let sink = NatsSink {
                batch_bytes: batch_bytes(&client),
                client,
                peer: Peer::Fixed(reply_to),
                inbox,
                token: None,
                content_type,
                labelled: labelled && !protocol,
                cancel_subject: None,
            };
            Ok(Link::new(frames, Arc::new(sink)))
        })
    }
}

/// The stream part of a request to a streaming endpoint, from its headers.
pub(crate) fn accepted(
    client: &Arc<Client>,
    hdrs: Option<&HeaderMap>,
    reply_to: &Subject,
    content_type: ContentType,
    labelled: bool,
    service: &str,
    endpoint: &str,
) -> Result<StreamOpen, Error> {
    let asked = open_params(hdrs, service, endpoint)?;
    let connect = NatsConnect {
        client: Arc::clone(client),
        reply_to: reply_to.clone(),
        content_type,
        labelled,
        protocol: asked.window.is_some(),
        id: Arc::from(format!("{service}.{endpoint}")),
    };
    Ok(
        StreamOpen::accepted(asked.window, asked.heartbeat, Arc::new(connect))
            .with_batch(asked.batch)
            .with_bytes(asked.bytes),
    )
}

/// What a request to a streaming endpoint asks for; absent is `None` each.
#[derive(Debug)]
pub(crate) struct OpenParams {
    /// `Micro-Credit`: the opener's window.
    pub(crate) window: Option<u32>,
    /// `Micro-Heartbeat`, milliseconds.
    pub(crate) heartbeat: Option<Duration>,
    /// `Micro-Batch`: the most items it takes in one message.
    pub(crate) batch: Option<u32>,
    /// `Micro-Credit-Bytes`: its byte window.
    pub(crate) bytes: Option<u64>,
}

/// What a request to a streaming endpoint asks for ([`OpenParams`]), or why it cannot be read.
pub(crate) fn open_params(
    hdrs: Option<&HeaderMap>,
    service: &str,
    endpoint: &str,
) -> Result<OpenParams, Error> {
    // Present but unreadable is a mistake to report, not a plain reader to serve.
    let number = |key: &str| -> Result<Option<u64>, Error> {
        match headers::get(hdrs, key) {
            None => Ok(None),
            Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
                Error::bad_request(format!(
                    "`{key}: {v}` on the request to `{service}.{endpoint}` is not a whole number"
                ))
            }),
        }
    };
    let window = number(keys::CREDIT)?.map(|w| u32::try_from(w).unwrap_or(u32::MAX));
    let heartbeat = number(keys::HEARTBEAT)?.map(Duration::from_millis);
    let batch = number(keys::BATCH)?.map(|b| u32::try_from(b).unwrap_or(u32::MAX));
    let bytes = number(keys::CREDIT_BYTES)?;
    Ok(OpenParams {
        window,
        heartbeat,
        batch,
        bytes,
    })
}
