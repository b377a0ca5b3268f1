//! What the server dispatches to: one `tower::Service` per endpoint.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tower::util::BoxCloneSyncService;

use crate::Error;
use crate::broker::Event;
use crate::descriptor::ServiceDescriptor;
use crate::transport::{Call, Reply};

/// The handler of one endpoint: a `tower::Service` from [`Call`] to [`Reply`].
///
/// Because it is a plain `tower::Service`, any tower `Layer` (timeouts, concurrency limits,
/// tracing, auth) wraps an endpoint without micro knowing about it.
pub type Endpoint = BoxCloneSyncService<Call, Reply, Error>;

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
pub fn endpoint_fn<S, F, Fut>(state: Arc<S>, f: F) -> Endpoint
where
    S: Send + Sync + 'static + ?Sized,
    F: Fn(Arc<S>, Call) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, Error>> + Send + 'static,
{
    BoxCloneSyncService::new(tower::service_fn(move |call: Call| f(state.clone(), call)))
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
