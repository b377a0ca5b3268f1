//! Transport: request/reply between clients and served endpoints.
//!
//! A [`Transport`] moves [`Call`]s to whoever serves the endpoint and brings back the [`Reply`]
//! or the [`Error`]. The server side is a pull stream ([`Listener`]) of [`Incoming`] requests, so
//! concurrency limits, deadlines, statistics and graceful draining live once in the
//! [`server`](crate::server) instead of in every backend.

use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures::Stream;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::codec::ContentType;
use crate::descriptor::EndpointKind;
use crate::server::Dispatcher;
use crate::stream::{Link, StreamOpen};
use crate::{Context, Error, Metadata};

/// One request on its way to an endpoint.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Call {
    /// The service name (`greeter`).
    pub service: Cow<'static, str>,
    /// The endpoint name (`hello`).
    pub endpoint: Cow<'static, str>,
    /// The codec of `body`; the reply uses the same one.
    pub content_type: ContentType,
    /// Metadata and deadline; both travel with the call.
    pub context: Context,
    /// When the caller stops waiting if the context's deadline is not earlier: the client's
    /// timeout. Unlike the context's deadline it stays with the caller, so a call with no
    /// deadline of its own needs no deadline on the wire.
    pub wait_until: Option<Instant>,
    /// The subject to send to instead of the one the transport builds from the names: the
    /// subject an endpoint announces in discovery, which for a service in another language need
    /// not be `<service>.<endpoint>` (ADR-32's default is the endpoint's name). Transports
    /// without subjects (the in-process one) route by the names and ignore it.
    pub subject: Option<Cow<'static, str>>,
    /// The instance (by id) that must answer, instead of whichever the transport picks: over
    /// NATS, the call goes to the instance's own subject (see PROTOCOL.md); in-process, to that
    /// instance. An instance that is not running is a 503 that reached no handler.
    pub instance: Option<Cow<'static, str>>,
    /// With [`instance`](Call::instance): the subject on which that instance alone serves the
    /// endpoint, as it announced it in discovery (endpoint metadata `instance_subject`). Over
    /// NATS the call goes there as it is; without it, to the endpoint's subject with the id as
    /// one more token, which is what micro instances announce but need not be what an instance
    /// in another language does. Transports without subjects ignore it.
    pub instance_subject: Option<Cow<'static, str>>,
    /// The endpoint may be called twice with the effect of once (`#[micro(idempotent)]`), so
    /// the client may retry it after a timeout or a lost connection. Only the client reads it;
    /// it does not travel.
    pub idempotent: bool,
    /// Set when the call opens a stream (see [`stream`](crate::stream)): on the client side
    /// what the opener asks for, on the server side also the means to reach it. Boxed: most
    /// calls open no stream, and every call is moved a few times on its way.
    pub stream: Option<Box<StreamOpen>>,
    /// The encoded arguments.
    pub body: Bytes,
}

impl Call {
    /// A call with an empty context.
    pub fn new(
        service: impl Into<Cow<'static, str>>,
        endpoint: impl Into<Cow<'static, str>>,
        content_type: ContentType,
        body: Bytes,
    ) -> Self {
        Call {
            service: service.into(),
            endpoint: endpoint.into(),
            content_type,
            context: Context::default(),
            wait_until: None,
            subject: None,
            instance: None,
            instance_subject: None,
            idempotent: false,
            stream: None,
            body,
        }
    }

    /// When the caller stops waiting: the earlier of the context's deadline and
    /// [`wait_until`](Call::wait_until).
    pub fn wait_deadline(&self) -> Option<Instant> {
        match (self.context.deadline, self.wait_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Replaces the context.
    #[must_use]
    pub fn with_context(mut self, context: Context) -> Self {
        self.context = context;
        self
    }

    /// Sends the call to `subject` (one discovery announced) instead of the one the transport
    /// builds from the names.
    #[must_use]
    pub fn with_subject(mut self, subject: impl Into<Cow<'static, str>>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Pins the call to the instance with id `instance`.
    #[must_use]
    pub fn with_instance(mut self, instance: impl Into<Cow<'static, str>>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Marks the call idempotent: safe to retry after a timeout or a lost connection.
    #[must_use]
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// `service.endpoint`, the id errors raised for this call carry.
    pub fn id(&self) -> String {
        format!("{}.{}", self.service, self.endpoint)
    }
}

/// A successful reply.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Reply {
    /// The codec of `body`.
    pub content_type: ContentType,
    /// Headers the handler or middleware added.
    pub metadata: Metadata,
    /// The encoded return value.
    pub body: Bytes,
}

impl Reply {
    /// A reply with no extra headers.
    pub fn new(content_type: ContentType, body: Bytes) -> Self {
        Reply {
            content_type,
            metadata: Metadata::new(),
            body,
        }
    }

    /// Decodes the body with its codec.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        self.content_type
            .decode(&self.body)
            .map_err(|e| Error::bad_gateway(format!("cannot decode reply: {e}")))
    }
}

/// How a service's endpoints are exposed: what [`Transport::listen`] needs to know.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ListenSpec {
    /// The service name (borrowed from the service's static descriptor, so a transport can
    /// name every request with it for free).
    pub service: Cow<'static, str>,
    /// The id of this instance.
    pub instance_id: String,
    /// The endpoints, in the order [`Incoming::endpoint`] indexes.
    pub endpoints: Vec<EndpointSpec>,
    /// Serves a request in the caller's task; an in-process transport calls it instead of
    /// queueing [`Incoming`] requests (see [`Dispatcher::dispatch`]). Network transports ignore
    /// it.
    pub dispatch: Option<Arc<Dispatcher>>,
}

/// One endpoint to listen on.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EndpointSpec {
    /// The endpoint name (usually borrowed from the static descriptor).
    pub name: Cow<'static, str>,
    /// The queue group the instances of this endpoint share; `None` means every instance gets
    /// every request (no queue group).
    pub queue_group: Option<String>,
    /// Unary or a stream: a request to a streaming endpoint gets a [`Call::stream`] from the
    /// transport, with the means to reach its opener.
    pub kind: EndpointKind,
}

impl EndpointSpec {
    /// A unary endpoint in queue group `queue_group`.
    pub fn new(name: impl Into<Cow<'static, str>>, queue_group: Option<String>) -> Self {
        EndpointSpec {
            name: name.into(),
            queue_group,
            kind: EndpointKind::Unary,
        }
    }

    /// Sets the endpoint's kind.
    #[must_use]
    pub fn with_kind(mut self, kind: EndpointKind) -> Self {
        self.kind = kind;
        self
    }
}

/// Sends the answer to one [`Incoming`] request back to its caller.
///
/// The serve loop is generic over the responder of each backend, so answering a request costs
/// neither a boxed responder nor a boxed future: both showed among the largest costs micro
/// added to serving a request.
pub trait Respond: Send + 'static {
    /// Sends `reply` (or the error reply) to the caller. The serve loop awaits it before taking
    /// the next request, so a backend that cannot send yet holds the intake back.
    fn respond(
        self,
        reply: Result<Reply, Error>,
    ) -> impl std::future::Future<Output = Result<(), Error>> + Send;

    /// What names this request in a caller's cancellation (over NATS, the last token of its
    /// reply subject; see PROTOCOL.md), or `None` when it cannot be cancelled. Read for a
    /// request that is still running after its first poll, and, while the server holds
    /// cancellations that named no request in flight, for each request as it starts.
    fn cancel_key(&self) -> Option<&str> {
        None
    }
}

/// A request that reached a listening service, answered through `R`.
#[non_exhaustive]
pub struct Incoming<R> {
    /// Index into [`ListenSpec::endpoints`] of the endpoint called.
    pub endpoint: usize,
    /// The request.
    pub call: Call,
    /// Where the reply goes.
    pub responder: R,
    /// Set when the transport already knows the request cannot be served (a `Content-Type` it
    /// cannot read): the server counts it and replies with this error without calling the
    /// handler, so STATS sees every request. Boxed: it is rare, and it would otherwise double
    /// the size of every request moved through the intake.
    pub rejected: Option<Box<Error>>,
}

impl<R> Incoming<R> {
    /// A request for endpoint number `endpoint`.
    pub fn new(endpoint: usize, call: Call, responder: R) -> Self {
        Incoming {
            endpoint,
            call,
            responder,
            rejected: None,
        }
    }

    /// A request the transport could not read, to be answered with `error`.
    pub fn rejected(endpoint: usize, call: Call, responder: R, error: Error) -> Self {
        Incoming {
            rejected: Some(Box::new(error)),
            ..Incoming::new(endpoint, call, responder)
        }
    }
}

impl<R> fmt::Debug for Incoming<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("endpoint", &self.endpoint)
            .field("call", &self.call)
            .finish_non_exhaustive()
    }
}

/// Stops the intake of a [`Listener`] or a [`Subscription`](crate::broker::Subscription).
pub trait Drain: Send + 'static {
    /// Stops taking new messages; the stream ends once the messages already received are
    /// yielded. A backend may carry the request out on the stream's next poll, so the returned
    /// future must not wait for the stream to be read.
    fn drain(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// A stream of something plus the means to drain it (a broker's subscription).
pub struct Intake<T> {
    stream: BoxStream<'static, T>,
    drain: Option<Box<dyn Drain>>,
}

impl<T> Intake<T> {
    /// Wraps a backend's stream and its drain.
    pub fn new(stream: BoxStream<'static, T>, drain: Box<dyn Drain>) -> Self {
        Intake {
            stream,
            drain: Some(drain),
        }
    }

    /// Takes the drain handle out (once), so the stream can be consumed elsewhere.
    pub fn take_drain(&mut self) -> Option<Box<dyn Drain>> {
        self.drain.take()
    }
}

impl<T> Stream for Intake<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<T>> {
        self.stream.as_mut().poll_next(cx)
    }
}

impl<T> fmt::Debug for Intake<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Intake")
            .field("drained", &self.drain.is_none())
            .finish_non_exhaustive()
    }
}

/// The requests reaching one served instance, ready to be served by the server's loop.
///
/// A backend builds it from a stream of [`Incoming`] requests with its own responder type, and
/// the server serves it with a loop made for that type: no responder is boxed, and the
/// backend's stream can be inlined into the loop.
pub struct Listener {
    serve: Box<dyn FnOnce(Arc<Dispatcher>) -> BoxFuture<'static, ()> + Send>,
    drain: Option<Box<dyn Drain>>,
}

impl Listener {
    /// Wraps a backend's stream of requests and the means to drain it.
    pub fn new<S, R>(requests: S, drain: Box<dyn Drain>) -> Self
    where
        S: Stream<Item = Incoming<R>> + Send + 'static,
        R: Respond,
    {
        Listener {
            serve: Box::new(move |dispatcher: Arc<Dispatcher>| {
                Box::pin(dispatcher.serve(requests))
            }),
            drain: Some(drain),
        }
    }

    /// Several intakes of one instance (say, several subscriptions per endpoint),
    /// each served by a loop in a task of its own, so that the instance's requests are taken in
    /// and run on several workers, and an endpoint's requests never wait behind another's. Draining
    /// drains them all.
    pub fn sharded<S, R>(intakes: Vec<(S, Box<dyn Drain>)>) -> Self
    where
        S: Stream<Item = Incoming<R>> + Send + 'static,
        R: Respond,
    {
        let (streams, drains): (Vec<S>, Vec<Box<dyn Drain>>) = intakes.into_iter().unzip();
        Listener {
            serve: Box::new(move |dispatcher: Arc<Dispatcher>| {
                Box::pin(async move {
                    // A set, so that dropping this future (a service dropped, or aborted past
                    // its shutdown timeout) aborts every loop with it.
                    let mut loops = tokio::task::JoinSet::new();
                    for requests in streams {
                        loops.spawn(Arc::clone(&dispatcher).serve(requests));
                    }
                    // A loop never panics (handlers' panics are caught), so a join error can
                    // only be a cancelled task, which ends like the others.
                    while loops.join_next().await.is_some() {}
                })
            }),
            drain: Some(Box::new(AllDrains(drains))),
        }
    }

    /// Takes the drain handle out (once), to keep while the listener is served.
    pub fn take_drain(&mut self) -> Option<Box<dyn Drain>> {
        self.drain.take()
    }

    /// Serves every request with `dispatcher` until the stream ends (drained or closed by the
    /// backend).
    pub fn serve(self, dispatcher: Arc<Dispatcher>) -> BoxFuture<'static, ()> {
        (self.serve)(dispatcher)
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("drained", &self.drain.is_none())
            .finish_non_exhaustive()
    }
}

/// Drains several intakes at once.
struct AllDrains(Vec<Box<dyn Drain>>);

impl Drain for AllDrains {
    fn drain(self: Box<Self>) -> BoxFuture<'static, ()> {
        let all = futures::future::join_all(self.0.into_iter().map(Drain::drain));
        Box::pin(async move {
            all.await;
        })
    }
}

/// Moves calls between clients and services.
///
/// Object-safe: a [`Client`](crate::Client) and a [`Service`](crate::Service) hold an
/// `Arc<dyn Transport>`, so the backend is chosen at run time.
pub trait Transport: Send + Sync + fmt::Debug + 'static {
    /// Sends `call` to one instance serving its endpoint and waits for the reply, at most until
    /// [`Call::wait_deadline`] (then a `timeout` error): the client relies on the transport for
    /// this. Only the context's deadline is sent along. A missing service or endpoint is an [`Error`] (`not_found` or `unavailable`), never
    /// a hang.
    fn request(&self, call: Call) -> BoxFuture<'_, Result<Reply, Error>>;

    /// Opens a stream: sends `call` (whose [`stream`](Call::stream) says what the opener asks
    /// for) to one instance serving its endpoint and returns this end's [`Link`], over which
    /// the server's frames arrive, the first one an [`Open`](crate::stream::Frame::Open) (or
    /// the error that refused the stream). Not waited on here: the caller bounds the wait for
    /// that first frame. By default a 501: the backend carries no streams.
    fn open_stream(&self, call: Call) -> BoxFuture<'_, Result<Link, Error>> {
        Box::pin(std::future::ready(Err(Error::new(
            crate::error::code::NOT_IMPLEMENTED,
            format!(
                "cannot open a stream to `{}`: this transport carries no streams",
                call.id()
            ),
        )
        .with_delivery(crate::error::Delivery::NotSent))))
    }

    /// Starts receiving the requests for `spec`'s endpoints.
    fn listen(&self, spec: ListenSpec) -> BoxFuture<'_, Result<Listener, Error>>;

    /// The address `service.endpoint` is served on, as discovery reports it.
    fn subject(&self, service: &str, endpoint: &str) -> String {
        format!("{service}.{endpoint}")
    }

    /// The address on which only instance `instance` serves `service.endpoint`, announced in
    /// discovery (endpoint metadata `instance_subject`) so that callers, ours and other
    /// languages', know the instance can be called alone ([`Call::instance`]) and where (a
    /// selecting client sends to it as it is, [`Call::instance_subject`]); `None` for a
    /// transport that cannot pin a call to an instance. By default the endpoint's subject with
    /// the instance id as one more token.
    fn instance_subject(&self, service: &str, endpoint: &str, instance: &str) -> Option<String> {
        Some(format!("{}.{instance}", self.subject(service, endpoint)))
    }

    /// Returns once what was sent so far (replies included) has left this process for good, so
    /// that a process may exit right after [`Running::stop`](crate::service::Running::stop)
    /// without losing the replies of the last requests it finished. Nothing to wait for by
    /// default (in-process).
    fn flush(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(std::future::ready(Ok(())))
    }
}
