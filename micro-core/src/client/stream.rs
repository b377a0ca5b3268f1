//! Opening streams: what generated clients of streaming endpoints call.

use std::sync::Arc;

use futures::StreamExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use super::Client;
use crate::Error;
use crate::codec::ContentType;
use crate::stream::driver::{Driver, Finish, Role};
use crate::stream::{Frame, FrameSink, Link, StreamConfig, StreamOpen, Streaming};
use crate::transport::Call;

/// Cancels a stream whose opening was given up before the server answered.
struct CancelOnDrop(Option<Arc<dyn FrameSink>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let (Some(sink), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(async move {
                let _ = sink.send(Frame::Cancel).await;
            });
        }
    }
}

/// A stream the server accepted.
struct Opened {
    link: Link,
    /// Items the server is ready for.
    credit: u32,
    /// The most items the server takes in one frame.
    batch: u32,
    /// Bytes of items the server is ready for (`None`: it set no byte limit, and keeps to
    /// none).
    bytes: Option<u64>,
    /// The caller's deadline (its context's), which bounds the whole stream.
    deadline: Option<std::time::Instant>,
    id: Arc<str>,
    content_type: ContentType,
}

impl Client {
    /// Sets how streams opened through the returned client run (window, heartbeat).
    pub fn with_stream_config(&self, config: StreamConfig) -> Client {
        let mut client = self.clone();
        client.options.stream = config;
        client
    }

    /// Opens a server stream: calls `service.endpoint` with `args` and returns the stream of
    /// its items. The client's timeout bounds the opening (until the server accepted); the
    /// stream itself runs until its end, an error, or until the returned stream is dropped,
    /// which cancels it at the server.
    pub async fn server_stream<A, T>(
        &self,
        service: &'static str,
        endpoint: &'static str,
        args: &A,
    ) -> Result<Streaming<T>, Error>
    where
        A: Serialize + ?Sized,
        T: DeserializeOwned + Send + 'static,
    {
        let opened = self.open(service, endpoint, args).await?;
        Ok(self.spawn_reader(opened, None))
    }

    /// Opens a client stream: calls `service.endpoint` with `args`, sends the items of `input`
    /// as the server grants credit, and returns its single reply. Dropping the returned future
    /// cancels the stream at the server.
    pub async fn client_stream<A, I, R>(
        &self,
        service: &'static str,
        endpoint: &'static str,
        args: &A,
        input: Streaming<I>,
    ) -> Result<R, Error>
    where
        A: Serialize + ?Sized,
        I: Serialize + Send + 'static,
        R: DeserializeOwned,
    {
        let opened = self.open(service, endpoint, args).await?;
        let id = Arc::clone(&opened.id);
        let sink = Arc::clone(&opened.link.sink);
        let mut driver = self.driver(opened.link, &opened.id, opened.credit);
        driver.batch = opened.batch;
        driver.byte_limit = opened.bytes;
        driver.bytes_enforced = opened.bytes.is_some();
        driver.accept_batch = self.options.stream.clamped().batch;
        driver.deadline = opened.deadline;
        driver.outbound = Some(input.encoded(opened.content_type, Arc::clone(&id)));
        let (mut tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let run = driver.run();
            tokio::pin!(run);
            tokio::select! {
                finish = &mut run => {
                    let _ = tx.send(finish);
                }
                // The caller gave up: so does the server.
                () = tx.closed() => {
                    let _ = sink.send(Frame::Cancel).await;
                }
            }
        });
        let reply = match rx.await {
            Ok(Ok(Finish::Reply(reply))) => reply,
            Ok(Ok(_)) => {
                return Err(
                    Error::bad_gateway(format!("`{id}` ended its stream without a reply"))
                        .with_id(id.to_string()),
                );
            }
            Ok(Err(err)) => return Err(err),
            Err(_) => {
                return Err(
                    Error::unavailable(format!("the stream of `{id}` was cut off"))
                        .with_id(id.to_string()),
                );
            }
        };
        reply.content_type.decode(&reply.body).map_err(|e| {
            Error::bad_gateway(format!("cannot decode the reply of `{id}`: {e}"))
                .with_id(id.to_string())
        })
    }

    /// Opens a bidirectional stream: calls `service.endpoint` with `args`, sends the items of
    /// `input` as the server grants credit, and returns the stream of the server's items.
    /// Dropping the returned stream cancels both directions.
    pub async fn bidi_stream<A, I, T>(
        &self,
        service: &'static str,
        endpoint: &'static str,
        args: &A,
        input: Streaming<I>,
    ) -> Result<Streaming<T>, Error>
    where
        A: Serialize + ?Sized,
        I: Serialize + Send + 'static,
        T: DeserializeOwned + Send + 'static,
    {
        let opened = self.open(service, endpoint, args).await?;
        let items = input.encoded(opened.content_type, Arc::clone(&opened.id));
        Ok(self.spawn_reader(opened, Some(items)))
    }

    fn driver(&self, link: Link, id: &Arc<str>, credit: u32) -> Driver {
        let mut driver = Driver::new(Role::Client, Arc::clone(id), link, u64::from(credit));
        driver.heartbeat = Some(self.options.stream.clamped().heartbeat);
        driver
    }

    /// Runs the client's end of a stream whose server sends items, in a task of its own, so
    /// that heartbeats and credit flow however the returned stream is read.
    fn spawn_reader<T>(
        &self,
        opened: Opened,
        outbound: Option<futures::stream::BoxStream<'static, Result<bytes::Bytes, Error>>>,
    ) -> Streaming<T>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let window = self.options.stream.clamped().window;
        let (inlet, items) =
            crate::stream::remote::<T>(window, opened.content_type, Arc::clone(&opened.id));
        let mut driver = self
            .driver(opened.link, &opened.id, opened.credit)
            .receive_into(inlet);
        driver.batch = opened.batch;
        driver.byte_limit = opened.bytes;
        driver.bytes_enforced = opened.bytes.is_some();
        driver.accept_batch = self.options.stream.clamped().batch;
        driver.deadline = opened.deadline;
        driver.outbound = outbound;
        tokio::spawn(driver.run());
        items
    }

    /// The opening request of `service.endpoint` with `args` in this client's codec.
    fn opening<A>(
        &self,
        service: &'static str,
        endpoint: &'static str,
        args: &A,
    ) -> Result<Call, Error>
    where
        A: Serialize + ?Sized,
    {
        let content_type = self.options.content_type;
        let body = content_type.encode(args).map_err(|e| {
            Error::bad_request(format!(
                "cannot encode arguments for `{service}.{endpoint}`: {e}"
            ))
        })?;
        Ok(Call::new(service, endpoint, content_type, body).with_context(self.inherited_context()))
    }

    /// Opens the server stream a prepared call names (its body already encoded, as
    /// [`call`](Self::call) takes one) and returns its items decoded as `T`: what a tool that
    /// knows endpoints only at run time uses, with `T = serde_json::Value`.
    pub async fn server_stream_call<T>(&self, call: Call) -> Result<Streaming<T>, Error>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let opened = self.open_call(call).await?;
        Ok(self.spawn_reader(opened, None))
    }

    /// Sends the opening request and waits, within the client's timeout, for the server to
    /// accept the stream.
    async fn open<A>(
        &self,
        service: &'static str,
        endpoint: &'static str,
        args: &A,
    ) -> Result<Opened, Error>
    where
        A: Serialize + ?Sized,
    {
        let call = self.opening(service, endpoint, args)?;
        self.open_call(call).await
    }

    async fn open_call(&self, mut call: Call) -> Result<Opened, Error> {
        let content_type = call.content_type;
        if call.wait_until.is_none() {
            call.wait_until = self.wait_until();
        }
        call.stream = Some(Box::new(StreamOpen::new(&self.options.stream)));
        let deadline = call.wait_deadline();
        let stream_deadline = call.context.deadline;
        let id: Arc<str> = Arc::from(call.id());
        let mut link = self.transport().open_stream(call).await?;
        // Dropped before the server answered (the caller gave up): the server is told.
        let mut unanswered = CancelOnDrop(Some(Arc::clone(&link.sink)));
        let first = match deadline {
            None => link.frames.next().await,
            Some(deadline) => {
                match tokio::time::timeout_at(deadline.into(), link.frames.next()).await {
                    Ok(first) => first,
                    Err(_) => {
                        unanswered.0 = None;
                        let _ = link.sink.send(Frame::Cancel).await;
                        return Err(Error::timeout(format!(
                            "`{id}` did not accept the stream before its deadline"
                        ))
                        .with_id(id.to_string())
                        .with_delivery(crate::error::Delivery::InFlight));
                    }
                }
            }
        };
        unanswered.0 = None;
        match first {
            Some(Frame::Open {
                credit,
                batch,
                bytes,
            }) => Ok(Opened {
                link,
                credit,
                bytes: bytes.map(|b| b.max(1)),
                batch: batch.clamp(1, crate::stream::MAX_BATCH),
                deadline: stream_deadline,
                id,
                content_type,
            }),
            Some(Frame::Error(err)) => Err(err),
            Some(Frame::Reply(_)) => Err(Error::bad_gateway(format!(
                "`{id}` answered with a single reply: it is not a streaming endpoint (is the \
                 running service another version?)"
            ))
            .with_id(id.to_string())),
            Some(other) => Err(Error::bad_gateway(format!(
                "`{id}` did not accept the stream: its first message was {other:?}"
            ))
            .with_id(id.to_string())),
            None => Err(Error::unavailable(format!(
                "`{id}` went away before accepting the stream"
            ))
            .with_id(id.to_string())),
        }
    }
}
