//! The service runtime: serves every handler and subscriber, stops gracefully.
//!
//! [`Service`] is a builder: it collects handlers (every `#[service]` impl and `#[subscriber]`
//! fn linked into the binary, plus any added with [`Service::handle`] and
//! [`Service::subscribe`]), picks a [`Backend`], and [`Service::run`] serves them until SIGINT
//! or SIGTERM, then lets requests in flight finish before returning.

mod config;
mod signal;
mod state;

pub use state::State;

pub use signal::shutdown_signal;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{Config, MAX_CONCURRENCY, parse_duration};

use crate::broker::Broker;
use crate::client::CallOptions;
use crate::memory::Memory;
use crate::registry::stats::ServiceStats;
use crate::registry::{EndpointInfo, Instance, Registration, Registry};
use crate::schema::{self, SchemaCheck};
use crate::server::handler::{Endpoint, EventHandler, Handler};
use crate::server::{Dispatcher, Limit, consume};
use crate::transport::{Drain, EndpointSpec, ListenSpec, Transport};
use crate::{Client, Error};

/// The endpoint metadata key under which an instance announces the subject only it serves the
/// endpoint on (see [`Call::instance`](crate::transport::Call::instance)).
pub const INSTANCE_SUBJECT: &str = "instance_subject";

/// The three components a service runs on.
#[derive(Clone, Debug)]
pub struct Backend {
    /// Request/reply.
    pub transport: Arc<dyn Transport>,
    /// Publish/subscribe.
    pub broker: Arc<dyn Broker>,
    /// Discovery.
    pub registry: Arc<dyn Registry>,
}

impl Backend {
    /// Groups three components.
    pub fn new(
        transport: Arc<dyn Transport>,
        broker: Arc<dyn Broker>,
        registry: Arc<dyn Registry>,
    ) -> Self {
        Backend {
            transport,
            broker,
            registry,
        }
    }

    /// A client over this backend.
    pub fn client(&self) -> Client {
        Client::new(
            self.transport.clone(),
            self.broker.clone(),
            self.registry.clone(),
        )
    }

    /// The backend [`Config`] names: the shared in-process one for `memory`, else the
    /// [`BackendFactory`] of that name linked into the binary.
    pub async fn from_config(config: &Config) -> Result<Backend, Error> {
        config.validate()?;
        let name = config.backend_name();
        if name == "memory" {
            return Ok(Memory::shared().backend());
        }
        let installed = installed_backends()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .copied()
            .find(|f| f.name == name);
        let factory =
            installed.or_else(|| inventory::iter::<BackendFactory>().find(|f| f.name == name));
        match factory {
            Some(factory) => (factory.connect)(config.clone()).await,
            None => Err(Error::bad_request(format!(
                "backend `{name}` is not linked into this binary: depend on the `micro` crate \
                 with its `{name}` feature (on by default) instead of `micro-core` alone, or \
                 call `micro_{name}::install()` at the start of `main`"
            ))),
        }
    }
}

/// A backend that [`Service::from_env`] and [`Client::from_env`] can pick by name.
///
/// Backend crates submit one with `inventory::submit!`; micro-nats submits `nats`.
#[derive(Debug)]
pub struct BackendFactory {
    /// The name `MICRO_BACKEND` selects.
    pub name: &'static str,
    /// Connects.
    pub connect: fn(Config) -> BoxFuture<'static, Result<Backend, Error>>,
}

inventory::collect!(BackendFactory);

fn installed_backends() -> &'static std::sync::Mutex<Vec<&'static BackendFactory>> {
    static INSTALLED: std::sync::Mutex<Vec<&'static BackendFactory>> =
        std::sync::Mutex::new(Vec::new());
    &INSTALLED
}

/// Makes `factory` selectable by name in [`Backend::from_config`].
///
/// Backend crates also submit their factory through `inventory`, but a linker may drop a crate
/// the program never calls into; an explicit install (as `micro_nats::install()` does) cannot be
/// dropped. Installing the same name twice keeps the first.
pub fn install_backend(factory: &'static BackendFactory) {
    let mut installed = installed_backends()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !installed.iter().any(|f| f.name == factory.name) {
        installed.push(factory);
    }
}

/// Wraps one endpoint handler in a middleware layer.
/// A layer around every subscriber's handler.
type EventLayer = Arc<dyn Fn(EventHandler) -> EventHandler + Send + Sync>;

/// A layer to wrap endpoints in: every endpoint of every service, or one endpoint.
#[derive(Clone)]
struct EndpointLayer {
    /// `(service, endpoint)` when the layer wraps one endpoint only.
    only: Option<(String, String)>,
    apply: Arc<dyn Fn(Endpoint) -> Endpoint + Send + Sync>,
}

impl EndpointLayer {
    fn wraps(&self, service: &str, endpoint: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|(s, e)| s == service && e == endpoint)
    }
}

struct SubscriberSpec {
    topic: String,
    queue: Option<String>,
    name: &'static str,
    handler: EventHandler,
}

/// Builds and runs a process that serves services and subscribers.
///
/// ```
/// use micro_core::prelude::*;
/// use micro_core::memory::Memory;
///
/// /// Adds numbers.
/// #[service(name = "adder", version = "1.0.0")]
/// pub trait Adder {
///     async fn add(&self, a: i64, b: i64) -> Result<i64, Error>;
/// }
///
/// struct MyAdder;
///
/// impl Adder for MyAdder {
///     async fn add(&self, a: i64, b: i64) -> Result<i64, Error> {
///         Ok(a + b)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
/// let running = Service::builder()
///     .backend(Memory::new().backend())
///     .only_explicit()
///     .handle(AdderServer::new(MyAdder))
///     .start()
///     .await?;
/// let adder = AdderClient::new(&running.client());
/// assert_eq!(adder.add(2, 3).await?, 5);
/// running.stop().await;
/// # Ok(()) }
/// ```
pub struct Service {
    config: Config,
    backend: Option<Backend>,
    handlers: Vec<Arc<dyn Handler>>,
    /// What registered implementations are built from.
    state: State,
    subscribers: Vec<SubscriberSpec>,
    /// Layers around every subscriber, innermost first.
    event_layers: Vec<EventLayer>,
    layers: Vec<EndpointLayer>,
    registered: bool,
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("config", &self.config)
            .field("backend", &self.backend)
            .field(
                "handlers",
                &self
                    .handlers
                    .iter()
                    .map(|h| h.descriptor().name)
                    .collect::<Vec<_>>(),
            )
            .field("registered", &self.registered)
            .finish_non_exhaustive()
    }
}

impl Default for Service {
    fn default() -> Self {
        Service::with_config(Config::default())
    }
}

impl Service {
    /// A service with default settings on the shared in-process backend, serving every
    /// registered `#[service]` impl and `#[subscriber]`.
    pub fn builder() -> Self {
        Self::default()
    }

    /// Like [`Service::builder`], configured from `MICRO_*` variables and `--micro-*` flags (see
    /// [`Config`]).
    pub fn from_env() -> Self {
        Self::with_config(Config::from_env())
    }

    /// A service with this configuration.
    pub fn with_config(config: Config) -> Self {
        Service {
            config,
            backend: None,
            handlers: Vec::new(),
            state: State::new(),
            subscribers: Vec::new(),
            layers: Vec::new(),
            event_layers: Vec::new(),
            registered: true,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs on `backend` instead of the one the configuration names.
    #[must_use]
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Gives `value` to the registered implementations that are built from state: a
    /// `#[service(state = "T")]` impl is built with `From<T>`, and a `#[subscriber]` fn whose
    /// second argument is a `T` gets a clone of it with every event. One value per type; a
    /// second of the same type replaces the first. Starting fails, naming the type, when one is
    /// missing.
    #[must_use]
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Serves `handler` too: an instance with state, e.g. `GreeterServer::new(MyGreeter { db })`.
    #[must_use]
    pub fn handle(mut self, handler: impl Handler) -> Self {
        self.handlers.push(Arc::new(handler));
        self
    }

    /// Feeds events on `topic` (wildcards allowed) to `handler`; with `queue`, instances compete
    /// for each event.
    #[must_use]
    pub fn subscribe(
        mut self,
        topic: impl Into<String>,
        queue: Option<&str>,
        handler: EventHandler,
    ) -> Self {
        self.subscribers.push(SubscriberSpec {
            topic: topic.into(),
            queue: queue.map(str::to_owned),
            name: "explicit subscriber",
            handler,
        });
        self
    }

    /// Wraps every endpoint of every service in `layer` (a tower `Layer`, see
    /// [`middleware`](crate::middleware)); the last layer added is the outermost. The layered
    /// service's error need only convert into tower's `BoxError`, so tower's own layers
    /// (timeouts, limits, load shedding) work as they are.
    #[must_use]
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: tower_layer::Layer<Endpoint> + Send + Sync + 'static,
        L::Service: tower_service::Service<crate::transport::Call, Response = crate::transport::Reply>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as tower_service::Service<crate::transport::Call>>::Error:
            Into<tower::BoxError>,
        <L::Service as tower_service::Service<crate::transport::Call>>::Future: Send + 'static,
    {
        self.layers.push(EndpointLayer {
            only: None,
            apply: Arc::new(move |inner| Endpoint::new(layer.layer(inner))),
        });
        self
    }

    /// Wraps only endpoint `endpoint` of service `service` in `layer`, as
    /// [`layer`](Service::layer) does for all of them (a per-endpoint timeout, say).
    #[must_use]
    pub fn layer_endpoint<L>(
        mut self,
        service: impl Into<String>,
        endpoint: impl Into<String>,
        layer: L,
    ) -> Self
    where
        L: tower_layer::Layer<Endpoint> + Send + Sync + 'static,
        L::Service: tower_service::Service<crate::transport::Call, Response = crate::transport::Reply>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as tower_service::Service<crate::transport::Call>>::Error:
            Into<tower::BoxError>,
        <L::Service as tower_service::Service<crate::transport::Call>>::Future: Send + 'static,
    {
        self.layers.push(EndpointLayer {
            only: Some((service.into(), endpoint.into())),
            apply: Arc::new(move |inner| Endpoint::new(layer.layer(inner))),
        });
        self
    }

    /// Wraps every subscriber's handler (`#[subscriber]` fns and [`subscribe`](Service::subscribe)d
    /// ones) in `layer`, a tower `Layer` over [`EventHandler`]: logging, timeouts, concurrency
    /// limits for events, as [`layer`](Service::layer) does for endpoints. The last layer added
    /// is the outermost; its errors are logged with the topic, as a handler's are.
    #[must_use]
    pub fn layer_events<L>(mut self, layer: L) -> Self
    where
        L: tower_layer::Layer<EventHandler> + Send + Sync + 'static,
        L::Service: tower_service::Service<crate::broker::Event, Response = ()>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as tower_service::Service<crate::broker::Event>>::Error: Into<tower::BoxError>,
        <L::Service as tower_service::Service<crate::broker::Event>>::Future: Send + 'static,
    {
        self.event_layers.push(Arc::new(move |inner| {
            EventHandler::new(tower::ServiceExt::map_err(
                layer.layer(inner),
                |err: <L::Service as tower_service::Service<crate::broker::Event>>::Error| {
                    crate::middleware::from_tower(err.into())
                },
            ))
        }));
        self
    }

    /// Serves only what was added with [`handle`](Service::handle) and
    /// [`subscribe`](Service::subscribe), ignoring `#[service]` impls and `#[subscriber]` fns
    /// registered in the binary. Tests use it to serve exactly one thing.
    #[must_use]
    pub fn only_explicit(mut self) -> Self {
        self.registered = false;
        self
    }

    /// Adds a metadata entry to every instance.
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the node name (the NATS connection name, in logs).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = Some(name.into());
        self
    }

    /// Reports `version` (semver) for every service served, instead of the version in each
    /// trait's `#[service]` attribute; for example the crate's own `env!("CARGO_PKG_VERSION")`.
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.config.set("version", version.into());
        self
    }

    /// Sets the queue group of every endpoint (`None`: every instance answers every request).
    #[must_use]
    pub fn queue_group(mut self, queue_group: Option<&str>) -> Self {
        // `Some("")` means none, as `MICRO_QUEUE_GROUP=""` does.
        self.config.queue_group = queue_group.filter(|q| !q.is_empty()).map(str::to_owned);
        self
    }

    /// Sets how many requests one instance handles at once.
    #[must_use]
    pub fn max_concurrency(mut self, limit: usize) -> Self {
        self.config.max_concurrency = limit.clamp(1, config::MAX_CONCURRENCY);
        self
    }

    /// Sets what a start does when running instances of the same name and version announce
    /// other schemas: refuse (the default), warn, or not look (`MICRO_SCHEMA_CHECK`).
    #[must_use]
    pub fn schema_check(mut self, check: SchemaCheck) -> Self {
        self.config.schema_check = check;
        self
    }

    /// Sets how long a stop waits for requests in flight.
    #[must_use]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// Starts serving and returns a handle to stop it.
    pub async fn start(self) -> Result<Running, Error> {
        self.config.validate()?;
        let mut handlers = self.handlers;
        let mut subscribers = self.subscribers;
        if self.registered {
            for reg in crate::__private::registered_services() {
                handlers.push(Arc::from((reg.make)(&self.state)?));
            }
            for reg in crate::__private::registered_subscribers() {
                subscribers.push(SubscriberSpec {
                    topic: reg.topic.to_owned(),
                    queue: reg.queue.map(str::to_owned),
                    name: reg.name,
                    handler: (reg.make)(&self.state)?,
                });
            }
        }
        check_layer_targets(&self.layers, &handlers)?;
        let backend = match self.backend {
            Some(b) => b,
            None => Backend::from_config(&self.config).await?,
        };
        let mut running = Running {
            client: backend.client().with_options(client_options(&self.config)),
            backend: backend.clone(),
            instances: Vec::new(),
            drains: Vec::new(),
            loops: Vec::new(),
            tracker: TaskTracker::new(),
            shutdown_timeout: self.config.shutdown_timeout,
            watch: LoopWatch::default(),
        };
        for handler in handlers {
            if let Err(err) = running
                .serve(&self.config, handler.as_ref(), &self.layers)
                .await
            {
                running.stop().await;
                return Err(err);
            }
        }
        for mut sub in subscribers {
            sub.handler = self
                .event_layers
                .iter()
                .fold(sub.handler, |inner, layer| layer(inner));
            if let Err(err) = running.consume(&self.config, sub).await {
                running.stop().await;
                return Err(err);
            }
        }
        Ok(running)
    }

    /// Serves until SIGINT or SIGTERM, then stops gracefully.
    ///
    /// Returns an error when the backend stops delivering requests or events by itself (a NATS
    /// connection that can no longer read, say): a process that cannot serve exits non-zero, so
    /// its supervisor restarts it, instead of staying up and answering nothing.
    pub async fn run(self) -> Result<(), Error> {
        let running = self.start().await?;
        for instance in running.instances() {
            tracing::info!(
                service = %instance.name,
                version = %instance.version,
                id = %instance.id,
                endpoints = instance.endpoints.len(),
                "serving"
            );
        }
        let outcome = tokio::select! {
            () = signal::shutdown_signal() => Ok(()),
            lost = running.lost() => {
                tracing::error!(%lost, "stopped serving; exiting");
                Err(lost)
            }
        };
        running.stop().await;
        outcome
    }
}

/// A started [`Service`]: its client, its instances, and [`stop`](Running::stop).
pub struct Running {
    client: Client,
    backend: Backend,
    instances: Vec<Instance>,
    drains: Vec<Box<dyn Drain>>,
    loops: Vec<JoinHandle<()>>,
    tracker: TaskTracker,
    shutdown_timeout: Duration,
    watch: LoopWatch,
}

/// The longest a start waits for discovery to compare schemas: the NATS registry answers at
/// once when nothing else runs and within its discovery timeout (300 ms) otherwise.
pub const SCHEMA_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a stop waits for the 503 replies of requests cut off by the shutdown timeout.
const CUT_OFF_GRACE: Duration = Duration::from_secs(1);

/// How long a stop waits for the backend to confirm the last replies left the process.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Tells a serve or consume loop that ended by itself (its backend stopped delivering) from one
/// that ended because the service was stopped.
#[derive(Clone, Debug)]
struct LoopWatch {
    stopping: Arc<AtomicBool>,
    lost: Arc<watch::Sender<Option<Error>>>,
    /// Cancelled when the shutdown timeout passes (see `Dispatcher::cut_off`).
    cut_off: CancellationToken,
}

impl Default for LoopWatch {
    fn default() -> Self {
        LoopWatch {
            stopping: Arc::default(),
            lost: Arc::new(watch::Sender::new(None)),
            cut_off: CancellationToken::new(),
        }
    }
}

impl LoopWatch {
    /// Runs `serving` (the loop of `what`) as a task, reporting it if it ends before a stop.
    fn spawn(
        &self,
        what: String,
        serving: impl Future<Output = ()> + Send + 'static,
    ) -> JoinHandle<()> {
        let watch = self.clone();
        tokio::spawn(async move {
            serving.await;
            if !watch.stopping.load(Ordering::Acquire) {
                watch.lost.send_if_modified(|lost| {
                    lost.get_or_insert_with(|| {
                        Error::unavailable(format!(
                            "{what} stopped: the backend delivers no more of them (connection lost for good?)"
                        ))
                    });
                    true
                });
            }
        })
    }
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running")
            .field("instances", &self.instances)
            .field("in_flight", &self.tracker.len())
            .finish_non_exhaustive()
    }
}

impl Running {
    /// A client on the same backend, with the configured default timeout and codec.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The backend.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The service instances being served.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// Requests and events being handled right now.
    pub fn in_flight(&self) -> usize {
        self.tracker.len()
    }

    /// Resolves when the service can no longer serve by itself: one of its serve or consume
    /// loops ended although nobody stopped it, because the backend delivers nothing more (for
    /// NATS, a connection whose reader stopped). The error says which loop. Never resolves
    /// while everything serves; [`Service::run`] waits for it beside the stop signal.
    pub fn lost(&self) -> impl Future<Output = Error> + Send + 'static {
        let mut lost = self.watch.lost.subscribe();
        async move {
            let lost = lost
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|lost| lost.clone());
            match lost {
                Some(lost) => lost,
                // The service was dropped: nothing more will be reported.
                None => std::future::pending().await,
            }
        }
    }

    async fn serve(
        &mut self,
        config: &Config,
        handler: &dyn Handler,
        layers: &[EndpointLayer],
    ) -> Result<(), Error> {
        let descriptor = handler.descriptor();
        let version = config.version.as_deref().unwrap_or(descriptor.version);
        validate_name(descriptor.name)?;
        validate_version(version)?;
        let endpoints: Vec<Endpoint> = handler
            .endpoints()
            .into_iter()
            .zip(descriptor.endpoints)
            .map(|(e, d)| {
                layers
                    .iter()
                    .filter(|layer| layer.wraps(descriptor.name, d.name))
                    .fold(e, |inner, layer| (layer.apply)(inner))
            })
            .collect();
        if endpoints.len() != descriptor.endpoints.len() {
            return Err(Error::internal(format!(
                "service `{}` declares {} endpoints but its handler provides {}",
                descriptor.name,
                descriptor.endpoints.len(),
                endpoints.len()
            )));
        }
        let id = nuid::next().to_string();
        let queue_group = config.queue_group.clone();
        let transport = &self.backend.transport;
        let mut instance = Instance {
            name: descriptor.name.to_owned(),
            id: id.clone(),
            version: version.to_owned(),
            description: descriptor.description.to_owned(),
            metadata: config.metadata.clone(),
            endpoints: descriptor
                .endpoints
                .iter()
                .map(|e| {
                    let mut metadata = e.metadata();
                    if let Some(own) = transport.instance_subject(descriptor.name, e.name, &id) {
                        metadata.insert(INSTANCE_SUBJECT.to_owned(), own);
                    }
                    EndpointInfo {
                        name: e.name.to_owned(),
                        subject: transport.subject(descriptor.name, e.name),
                        queue_group: descriptor
                            .queue_group_of(e, queue_group.as_deref())
                            .unwrap_or_default()
                            .to_owned(),
                        metadata,
                    }
                })
                .collect(),
        };
        schema::fit(&mut instance.endpoints);
        check_schemas(
            self.backend.registry.as_ref(),
            config.schema_check,
            &instance,
        )
        .await?;
        let stats = Arc::new(ServiceStats::new(endpoints.len()));
        let dispatcher = Arc::new(Dispatcher {
            ids: descriptor
                .endpoints
                .iter()
                .map(|e| format!("{}.{}", descriptor.name, e.name))
                .collect(),
            endpoints: endpoints.into(),
            stats: stats.clone(),
            limit: Arc::new(Limit::new(config.max_concurrency)),
            tracker: self.tracker.clone(),
            cut_off: self.watch.cut_off.clone(),
            queued: Default::default(),
            cancels: Default::default(),
        });
        let spec = ListenSpec {
            service: descriptor.name.into(),
            instance_id: id,
            endpoints: descriptor
                .endpoints
                .iter()
                .map(|e| {
                    let queue = descriptor.queue_group_of(e, queue_group.as_deref());
                    EndpointSpec::new(e.name, queue.map(str::to_owned))
                })
                .collect(),
            dispatch: Some(dispatcher.clone()),
        };
        let mut listener = transport.listen(spec).await?;
        if let Some(drain) = listener.take_drain() {
            self.drains.push(drain);
        }
        let what = format!("requests to `{}`", descriptor.name);
        self.loops
            .push(self.watch.spawn(what, listener.serve(dispatcher)));
        self.backend
            .registry
            .register(Registration::new(instance.clone(), stats))
            .await?;
        self.instances.push(instance);
        Ok(())
    }

    async fn consume(&mut self, config: &Config, sub: SubscriberSpec) -> Result<(), Error> {
        let mut subscription = self
            .backend
            .broker
            .subscribe(&sub.topic, sub.queue.as_deref())
            .await?;
        if let Some(drain) = subscription.take_drain() {
            self.drains.push(drain);
        }
        let what = format!("events on `{}`", sub.topic);
        self.loops.push(self.watch.spawn(
            what,
            consume(
                subscription,
                sub.handler,
                sub.name,
                Arc::new(Limit::new(config.max_concurrency)),
                self.tracker.clone(),
            ),
        ));
        Ok(())
    }

    /// Stops gracefully: leaves the registry, stops taking requests and events, and waits for
    /// those in flight to finish and be answered. All of it is bounded by the shutdown timeout;
    /// past it, the serve loops are aborted.
    ///
    /// A stop whose future is dropped before it finishes (a `select!` that gave up on it) still
    /// leaves the registry and aborts the loops, as dropping a running service does.
    pub async fn stop(mut self) {
        self.watch.stopping.store(true, Ordering::Release);
        let mut leaving = Leaving {
            instances: std::mem::take(&mut self.instances),
            registry: self.backend.registry.clone(),
        };
        let drains = std::mem::take(&mut self.drains);
        let mut loops = AbortOnDrop(std::mem::take(&mut self.loops));
        let tracker = self.tracker.clone();
        let graceful = async {
            // Leave the registry first (all at once), so nobody is sent here any more.
            leaving.now().await;
            for drain in drains {
                drain.drain().await;
            }
            // The loops end once their drained intakes have yielded what was buffered.
            for l in &mut loops.0 {
                let _ = l.await;
            }
            tracker.close();
            tracker.wait().await;
        };
        let transport = self.backend.transport.clone();
        if tokio::time::timeout(self.shutdown_timeout, graceful)
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = self.tracker.len(),
                timeout = ?self.shutdown_timeout,
                "shutdown timeout passed with requests still in flight; cutting them off"
            );
            // Requests still running are answered with a 503 rather than abandoned: give the
            // replies a moment to go out.
            self.watch.cut_off.cancel();
            self.tracker.close();
            let _ = tokio::time::timeout(CUT_OFF_GRACE, self.tracker.wait()).await;
        }
        // The replies just sent may still sit in the backend's buffers; a process that exits
        // once `stop` returns must not take them along.
        match tokio::time::timeout(FLUSH_TIMEOUT, transport.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "could not flush the last replies"),
            Err(_) => {
                tracing::warn!(timeout = ?FLUSH_TIMEOUT, "flushing the last replies timed out")
            }
        }
        // `loops` aborts what is still running as it goes.
    }
}

impl Drop for Running {
    /// Dropping a running service without [`stop`](Running::stop) stops taking requests at
    /// once (no graceful drain) and leaves the registry, so no ghost instance stays
    /// discoverable (in the shared in-process registry, or answering `$SRV` on NATS) for as
    /// long as the rest of the process lives.
    fn drop(&mut self) {
        self.watch.stopping.store(true, Ordering::Release);
        for l in &self.loops {
            l.abort();
        }
        // `stop` takes the instances; only a plain drop gets here with some.
        drop(Leaving {
            instances: std::mem::take(&mut self.instances),
            registry: self.backend.registry.clone(),
        });
    }
}

/// Serve and consume loops, aborted when dropped (a finished one is not affected).
struct AbortOnDrop(Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for l in &self.0 {
            l.abort();
        }
    }
}

/// Instances still to leave the registry: [`now`](Self::now) or, if dropped before, in a task
/// of their own.
struct Leaving {
    instances: Vec<Instance>,
    registry: Arc<dyn Registry>,
}

impl Leaving {
    /// Deregisters every instance, all at once.
    async fn now(&mut self) {
        let registry = &self.registry;
        let leaving = self.instances.iter().map(|instance| async move {
            if let Err(err) = registry.deregister(&instance.id).await {
                tracing::warn!(service = %instance.name, error = %err, "could not deregister");
            }
        });
        futures::future::join_all(leaving).await;
        self.instances.clear();
    }
}

impl Drop for Leaving {
    fn drop(&mut self) {
        let instances = std::mem::take(&mut self.instances);
        if instances.is_empty() {
            return;
        }
        let registry = self.registry.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    for instance in instances {
                        if let Err(err) = registry.deregister(&instance.id).await {
                            tracing::warn!(service = %instance.name, error = %err, "could not deregister");
                        }
                    }
                });
            }
            // Outside a runtime (it is shutting down): its tasks, the `$SRV` responders among
            // them, go with it.
            Err(_) => tracing::debug!("dropped outside a runtime: not deregistering"),
        }
    }
}

/// A layer meant for one endpoint that names none of those served is a mistake (a typo would
/// leave the endpoint without its timeout or auth, silently): refused before anything starts.
fn check_layer_targets(
    layers: &[EndpointLayer],
    handlers: &[Arc<dyn Handler>],
) -> Result<(), Error> {
    for (service, endpoint) in layers.iter().filter_map(|l| l.only.as_ref()) {
        let served = handlers.iter().any(|h| {
            let d = h.descriptor();
            d.name == service.as_str() && d.endpoint(endpoint).is_some()
        });
        if !served {
            let known: Vec<String> = handlers
                .iter()
                .flat_map(|h| {
                    let d = h.descriptor();
                    d.endpoints
                        .iter()
                        .map(move |e| format!("{}.{}", d.name, e.name))
                })
                .collect();
            return Err(Error::bad_request(format!(
                "layer_endpoint(\"{service}\", \"{endpoint}\"): this process serves no such \
                 endpoint (it serves: {})",
                if known.is_empty() {
                    "nothing".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    Ok(())
}

/// Compares `instance`'s schemas with those of the instances of its name and version that
/// run now, before it serves: refuses (or warns about) a difference. Discovery that fails
/// or takes longer than [`SCHEMA_CHECK_TIMEOUT`] skips the check rather than the start.
async fn check_schemas(
    registry: &dyn Registry,
    mode: SchemaCheck,
    instance: &Instance,
) -> Result<(), Error> {
    if mode == SchemaCheck::Off {
        return Ok(());
    }
    let lookup = registry.get_service(&instance.name);
    let running = match tokio::time::timeout(SCHEMA_CHECK_TIMEOUT, lookup).await {
        Ok(Ok(running)) => running,
        Ok(Err(err)) => {
            tracing::debug!(service = %instance.name, error = %err, "schema check skipped: discovery failed");
            return Ok(());
        }
        Err(_) => {
            tracing::debug!(service = %instance.name, "schema check skipped: discovery timed out");
            return Ok(());
        }
    };
    match (schema::check(instance, &running), mode) {
        (Ok(()), _) => Ok(()),
        (Err(incompatible), SchemaCheck::Warn) => {
            tracing::warn!(
                service = %instance.name,
                error = %incompatible,
                "starting despite different schemas ({}=warn)",
                schema::SCHEMA_CHECK_VAR
            );
            Ok(())
        }
        (Err(incompatible), _) => Err(incompatible.refusal()),
    }
}

/// The call options a configuration sets.
pub(crate) fn client_options(config: &Config) -> CallOptions {
    let mut options = CallOptions::default().content_type(config.codec);
    options.timeout = config.client_timeout;
    options
}

/// Checks a service name against the NATS services rule `^[A-Za-z0-9_-]+$`.
pub fn validate_name(name: &str) -> Result<(), Error> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "invalid service name `{name}`: use only letters, digits, `-` and `_`"
        )))
    }
}

/// Checks a version against semver (MAJOR.MINOR.PATCH, optional `-pre` and `+build`), with
/// the `semver` crate.
pub fn validate_version(version: &str) -> Result<(), Error> {
    semver::Version::parse(version).map(drop).map_err(|e| {
        Error::bad_request(format!(
            "invalid service version `{version}`: expected semver such as `1.0.0` ({e})"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("greeter-v2_x").is_ok());
        for bad in ["", "a b", "a.b", "a*", "a>"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions() {
        for good in [
            "1.0.0",
            "0.0.0",
            "10.20.30",
            "1.0.0-alpha.1",
            "1.0.0+build.5",
            "1.0.0-rc.1+x",
        ] {
            assert!(validate_version(good).is_ok(), "{good}");
        }
        for bad in [
            "1", "1.0", "01.0.0", "1.0.0-", "1.0.0-01", "v1.0.0", "1.0.0+", "1.0.0.0",
        ] {
            assert!(validate_version(bad).is_err(), "{bad}");
        }
    }
}
