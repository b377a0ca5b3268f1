//! The server's end of a stream: what a generated streaming endpoint runs.

use std::future::Future;
use std::sync::Arc;

use futures::FutureExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::driver::{Driver, Finish, Output, Role};
use super::{
    BYTE_WINDOW, DEFAULT_WINDOW, Frame, FrameSink, Link, MAX_BATCH, PLAIN_READER_LIMIT, StreamOpen,
    Streaming, end_reply,
};
use crate::Error;
use crate::codec::ContentType;
use crate::transport::{Call, Reply};

/// Takes the stream part out of a call to a streaming endpoint.
pub fn stream_open(call: &mut Call) -> Result<StreamOpen, Error> {
    match call.stream.take() {
        Some(open) if open.connector().is_some() => Ok(*open),
        _ => Err(Error::bad_request(format!(
            "`{}` is a streaming endpoint, but the request opened no stream",
            call.id()
        ))),
    }
}

async fn connect(open: &StreamOpen) -> Result<Link, Error> {
    match open.connector() {
        Some(connector) => connector.connect().await,
        None => Err(Error::internal("the stream has no connector")),
    }
}

/// Runs a stream to its end; a plain reader's, for at most its deadline or
/// [`PLAIN_READER_LIMIT`].
async fn run(driver: Driver, open: &StreamOpen, id: &str) -> Result<Finish, Error> {
    if open.window.is_some() {
        return driver.run().await;
    }
    // Nothing tells the server that a plain reader went away: whatever deadline it asked for,
    // its stream ends within the limit.
    match tokio::time::timeout(PLAIN_READER_LIMIT, driver.run()).await {
        Ok(finish) => finish,
        Err(_) => Err(Error::timeout(format!(
            "the stream of `{id}` to a reader without the stream protocol reached its limit of \
             {PLAIN_READER_LIMIT:?}"
        ))),
    }
}

/// The driver of a server's end, with the credit and heartbeat the opener asked for.
fn driver(open: &StreamOpen, id: &Arc<str>, link: Link) -> Driver {
    // A plain reader grants no credit and cannot be waited for: it gets everything.
    let credit = open.window.map_or(u64::MAX, u64::from);
    let mut driver = Driver::new(Role::Server, Arc::clone(id), link, credit);
    driver.heartbeat = open.heartbeat;
    driver.batch = open.batch_limit();
    driver.byte_limit = open.bytes;
    // An opener that announced a byte window keeps to the server's.
    driver.bytes_enforced = open.bytes.is_some();
    driver
}

/// Tells the opener that the stream is accepted and how many items it may send.
async fn accept(open: &StreamOpen, sink: Arc<dyn FrameSink>, credit: u32) -> Result<(), Error> {
    if open.window.is_some() {
        sink.send(Frame::Open {
            credit,
            batch: MAX_BATCH,
            bytes: Some(BYTE_WINDOW),
        })
        .await?;
    }
    Ok(())
}

/// Turns how the stream finished into the endpoint's reply: the end marker after a stream of
/// items, else the handler's reply.
fn concluded(
    finish: Result<Finish, Error>,
    content_type: ContentType,
    id: &str,
) -> Result<Reply, Error> {
    match finish? {
        Finish::Sent(count) => Ok(end_reply(content_type, count)),
        Finish::Reply(reply) => Ok(reply),
        Finish::Ended => Err(Error::internal(format!(
            "the stream of `{id}` ended without an answer"
        ))),
    }
}

/// A server stream: the handler's future yields the stream of items, pulled as the opener
/// grants credit; the reply is the end marker.
// Not an `async fn`: the `Send + 'static` future is the contract generated endpoints rely on,
// checked here rather than at every use.
#[allow(clippy::manual_async_fn)]
pub fn serve_server_stream<T, Fut>(
    open: StreamOpen,
    content_type: ContentType,
    id: &'static str,
    handler: Fut,
) -> impl Future<Output = Result<Reply, Error>> + Send + 'static
where
    T: Serialize + Send + 'static,
    Fut: Future<Output = Result<Streaming<T>, Error>> + Send + 'static,
{
    async move {
        // The handler runs before the stream is accepted, so that its refusal (a bad argument)
        // is the answer to the opening request rather than the stream's first item.
        let items = handler.await?;
        let link = connect(&open).await?;
        accept(&open, Arc::clone(&link.sink), 0).await?;
        let id: Arc<str> = Arc::from(id);
        let mut driver = driver(&open, &id, link);
        driver.outbound = Some(items.encoded(content_type, Arc::clone(&id)));
        concluded(run(driver, &open, &id).await, content_type, &id)
    }
}

/// The window a server grants for the items it receives: the opener's own, up to
/// [`DEFAULT_WINDOW`], so that an opener cannot make a server hold more than that many of its
/// items.
fn window(open: &StreamOpen) -> u32 {
    open.window.unwrap_or(DEFAULT_WINDOW).min(DEFAULT_WINDOW)
}

/// Refuses a stream of items from a reader that does not speak the stream protocol.
fn needs_protocol(open: &StreamOpen, id: &str) -> Result<(), Error> {
    match open.window {
        Some(_) => Ok(()),
        None => Err(Error::bad_request(format!(
            "`{id}` takes a stream of items, which needs the stream protocol (a `Micro-Credit` \
             header on the request; see PROTOCOL.md)"
        ))),
    }
}

/// The server's end of a stream that receives the opener's items, accepted: its driver, the
/// items for the handler to read, and the endpoint's id.
async fn receiving<I>(
    open: &StreamOpen,
    content_type: ContentType,
    id: &'static str,
) -> Result<(Driver, Streaming<I>, Arc<str>), Error>
where
    I: DeserializeOwned + Send + 'static,
{
    needs_protocol(open, id)?;
    let link = connect(open).await?;
    let id_arc: Arc<str> = Arc::from(id);
    let window = window(open);
    let (inlet, input) = super::remote::<I>(window, content_type, Arc::clone(&id_arc));
    accept(open, Arc::clone(&link.sink), window).await?;
    Ok((
        driver(open, &id_arc, link).receive_into(inlet),
        input,
        id_arc,
    ))
}

/// A client stream: the handler reads the opener's items as they come and answers once.
// Not an `async fn`: the `Send + 'static` future is the contract generated endpoints rely on,
// checked here rather than at every use.
#[allow(clippy::manual_async_fn)]
pub fn serve_client_stream<I, R, F, Fut>(
    open: StreamOpen,
    content_type: ContentType,
    id: &'static str,
    handler: F,
) -> impl Future<Output = Result<Reply, Error>> + Send + 'static
where
    I: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    F: FnOnce(Streaming<I>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, Error>> + Send + 'static,
{
    async move {
        let (mut driver, input, _) = receiving::<I>(&open, content_type, id).await?;
        driver.task = Some(
            handler(input)
                .map(move |out| {
                    crate::__private::encode_reply(content_type, id, out).map(Output::Reply)
                })
                .boxed(),
        );
        concluded(run(driver, &open, id).await, content_type, id)
    }
}

/// A bidirectional stream: the handler reads the opener's items and answers with a stream of
/// its own, both under credit.
// Not an `async fn`: the `Send + 'static` future is the contract generated endpoints rely on,
// checked here rather than at every use.
#[allow(clippy::manual_async_fn)]
pub fn serve_bidi_stream<I, T, F, Fut>(
    open: StreamOpen,
    content_type: ContentType,
    id: &'static str,
    handler: F,
) -> impl Future<Output = Result<Reply, Error>> + Send + 'static
where
    I: DeserializeOwned + Send + 'static,
    T: Serialize + Send + 'static,
    F: FnOnce(Streaming<I>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Streaming<T>, Error>> + Send + 'static,
{
    async move {
        let (mut driver, input, id_arc) = receiving::<I>(&open, content_type, id).await?;
        let items_id = Arc::clone(&id_arc);
        driver.task = Some(
            handler(input)
                .map(move |out| {
                    out.map(|items| Output::Stream(items.encoded(content_type, items_id)))
                })
                .boxed(),
        );
        concluded(run(driver, &open, id).await, content_type, id)
    }
}
