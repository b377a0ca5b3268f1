//! What the server dispatches to: one `tower::Service` per endpoint.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use tower::util::BoxCloneSyncService;

use crate::Error;
use crate::broker::Event;
use crate::descriptor::ServiceDescriptor;
use crate::transport::{Call, Reply};

/// The handler of one endpoint: a type-erased `tower::Service` from [`Call`] to [`Reply`].
///
/// Because it is a plain `tower::Service`, any tower `Layer` (timeouts, concurrency limits,
/// load shedding, tracing, auth) wraps an endpoint without micro knowing about it: a wrapped
/// service's errors convert into [`Error`] (see [`from_tower`](crate::middleware::from_tower)),
/// and its readiness (`poll_ready`) is passed on, so a layer around it sees when it is full.
///
/// Generated endpoints are always ready and are called through a shared reference, so serving
/// one of their calls costs one allocation (its boxed future); a wrapped tower service costs
/// one more, the clone that `poll_ready` and `call` are made on.
#[derive(Clone)]
pub struct Endpoint {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    /// Always ready, called through `&self` (generated endpoints, [`endpoint_fn`]).
    Shared(Arc<dyn ErasedEndpoint>),
    /// A tower service whose readiness matters (a layer stack).
    Tower(BoxCloneSyncService<Call, Reply, Error>),
}

trait ErasedEndpoint: Send + Sync {
    fn call(&self, call: Call) -> BoxFuture<'static, Result<Reply, Error>>;
}

impl Endpoint {
    /// Erases the type of a tower service from [`Call`] to [`Reply`] whose error converts into
    /// a `BoxError` (tower's own layers' do): a micro [`Error`] stays itself, a tower timeout
    /// becomes a `408`, a shed or overloaded request a `503`, anything else a `500`. Served as
    /// a service's handler, an error it ends with is its answer, as a generated endpoint's is:
    /// its [`Delivery`](crate::error::Delivery) is reset, so a nested call's "never sent" does
    /// not make the caller retry a handler that ran.
    pub fn new<S>(service: S) -> Self
    where
        S: tower_service::Service<Call, Response = Reply> + Clone + Send + Sync + 'static,
        S::Error: Into<tower::BoxError>,
        S::Future: Send + 'static,
    {
        let service = tower::ServiceExt::map_err(service, |err: S::Error| {
            crate::middleware::from_tower(err.into())
        });
        Endpoint {
            inner: Inner::Tower(BoxCloneSyncService::new(service)),
        }
    }

    /// This endpoint as its handler answers: an error it ends with is the server's answer,
    /// whatever its handler's own calls knew of their delivery (see [`answered`]). Generated
    /// and fn endpoints reset it themselves; a tower service built by hand is wrapped here,
    /// before any server layer, so that a layer's own refusal (a shed call, which reached no
    /// handler) keeps what it says.
    pub(crate) fn answering(self) -> Self {
        match self.inner {
            Inner::Shared(_) => self,
            Inner::Tower(service) => Endpoint {
                inner: Inner::Tower(BoxCloneSyncService::new(tower::ServiceExt::map_err(
                    service, answered,
                ))),
            },
        }
    }

    /// Handles `call` without needing `&mut self`: a wrapped tower service is cloned, made
    /// ready and called, as a shared tower service requires.
    pub fn handle(&self, call: Call) -> BoxFuture<'static, Result<Reply, Error>> {
        match &self.inner {
            Inner::Shared(inner) => inner.call(call),
            Inner::Tower(service) => Box::pin(tower::ServiceExt::oneshot(service.clone(), call)),
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint").finish_non_exhaustive()
    }
}

impl tower_service::Service<Call> for Endpoint {
    type Response = Reply;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Reply, Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Error>> {
        match &mut self.inner {
            Inner::Shared(_) => std::task::Poll::Ready(Ok(())),
            Inner::Tower(service) => service.poll_ready(cx),
        }
    }

    fn call(&mut self, call: Call) -> Self::Future {
        match &mut self.inner {
            Inner::Shared(inner) => inner.call(call),
            Inner::Tower(service) => service.call(call),
        }
    }
}

/// The handler of one subscriber: a `tower::Service` from [`Event`] to `()`.
pub type EventHandler = BoxCloneSyncService<Event, (), Error>;

/// A service implementation ready to serve: `#[service]` implements it for the generated
/// `{Trait}Server<T>`.
pub trait Handler: Send + Sync + 'static {
    /// The service's static description.
    fn descriptor(&self) -> &'static ServiceDescriptor;

    /// One endpoint handler per entry of `descriptor().endpoints`, in the same order.
    fn endpoints(&self) -> Vec<Endpoint>;
}

impl<H: Handler + ?Sized> Handler for Arc<H> {
    fn descriptor(&self) -> &'static ServiceDescriptor {
        (**self).descriptor()
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        (**self).endpoints()
    }
}

/// Builds an endpoint from shared state and an async fn of `(state, call)`.
///
/// Called directly, unlike a tower service: no readiness to drive and nothing cloned per call
/// but the state's `Arc`, so the boxed future holds only `f`'s own future.
pub fn endpoint_fn<S, F, Fut>(state: Arc<S>, f: F) -> Endpoint
where
    S: Send + Sync + 'static + ?Sized,
    F: Fn(Arc<S>, Call) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, Error>> + Send + 'static,
{
    endpoint_try_fn(state, move |state, call| Ok(f(state, call)))
}

/// Builds an endpoint from shared state and a fn of `(state, call)` that either refuses the call
/// at once or returns the future that answers it.
///
/// Generated servers use it to decode a call's arguments before starting the handler, so the
/// handler's future holds the decoded arguments instead of the whole [`Call`]: a smaller future
/// to build, box and poll, and the call's body freed before the handler runs. A refusal costs a
/// boxed ready future, as an error reply is rare.
pub fn endpoint_try_fn<S, F, Fut>(state: Arc<S>, f: F) -> Endpoint
where
    S: Send + Sync + 'static + ?Sized,
    F: Fn(Arc<S>, Call) -> Result<Fut, Error> + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, Error>> + Send + 'static,
{
    Endpoint {
        inner: Inner::Shared(Arc::new(TryFnEndpoint { state, f })),
    }
}

/// An endpoint made by [`endpoint_try_fn`] (or [`endpoint_fn`]).
struct TryFnEndpoint<S: ?Sized, F> {
    state: Arc<S>,
    f: F,
}

impl<S, F, Fut> ErasedEndpoint for TryFnEndpoint<S, F>
where
    S: Send + Sync + 'static + ?Sized,
    F: Fn(Arc<S>, Call) -> Result<Fut, Error> + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, Error>> + Send + 'static,
{
    fn call(&self, call: Call) -> BoxFuture<'static, Result<Reply, Error>> {
        // What the handler's own calls knew of their delivery is not its caller's: a nested
        // call that was never sent (`?` passes its error on) does not mean this request was not
        // handled, and a caller that believed so would retry a handler that ran.
        match (self.f)(Arc::clone(&self.state), call) {
            Ok(future) => Box::pin(future.map(|result| result.map_err(answered))),
            Err(err) => Box::pin(std::future::ready(Err(answered(err)))),
        }
    }
}

/// An error as its caller sees it once a handler answered with it: what the handler's own calls
/// knew of their delivery is not its caller's. A nested call that was never sent (`?` passes
/// its error on) does not mean this request was not handled, and a caller that believed so
/// would retry a handler that ran.
fn answered(err: Error) -> Error {
    err.with_delivery(crate::error::Delivery::Unknown)
}

/// Builds a subscriber from an async fn of the decoded event: the event is decoded with its own
/// codec (a decoding failure is logged as a 400 by the consumer and the next event is handled).
pub fn event_fn<E, F, Fut>(f: F) -> EventHandler
where
    E: serde::de::DeserializeOwned + Send + 'static,
    F: Fn(E) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    EventHandler::new(tower::service_fn(move |event: Event| {
        let f = f.clone();
        async move {
            let decoded: E = event.decode()?;
            f(decoded).await
        }
    }))
}

/// A handler whose endpoints are given explicitly; what a dynamically built service (a gateway,
/// a test double) uses instead of `#[service]`.
#[derive(Clone)]
pub struct DynHandler {
    descriptor: &'static ServiceDescriptor,
    endpoints: Vec<Endpoint>,
}

impl DynHandler {
    /// Pairs a descriptor with its endpoints (same order as `descriptor.endpoints`).
    pub fn new(descriptor: &'static ServiceDescriptor, endpoints: Vec<Endpoint>) -> Self {
        DynHandler {
            descriptor,
            endpoints,
        }
    }
}

impl fmt::Debug for DynHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynHandler")
            .field("service", &self.descriptor.name)
            .finish_non_exhaustive()
    }
}

impl Handler for DynHandler {
    fn descriptor(&self) -> &'static ServiceDescriptor {
        self.descriptor
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        self.endpoints.clone()
    }
}
