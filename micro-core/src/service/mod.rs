//! The service runtime: serves every handler and subscriber, stops gracefully.
//!
//! [`Service`] is a builder: it collects handlers (every `#[service]` impl and `#[subscriber]`
//! fn linked into the binary, plus any added with [`Service::handle`] and
//! [`Service::subscribe`]), picks a [`Backend`], and [`Service::run`] serves them until SIGINT
//! or SIGTERM, then lets requests in flight finish before returning.

mod backend;
mod config;
mod running;
mod signal;
mod state;

pub use backend::{Backend, BackendFactory, install_backend};
use running::LoopWatch;
pub use running::Running;

pub use state::State;

pub use signal::shutdown_signal;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::task::TaskTracker;

pub use config::{Config, MAX_CONCURRENCY, parse_duration};

use crate::Error;
use crate::client::CallOptions;
use crate::registry::{Instance, Registry};
use crate::schema::{self, SchemaCheck};
use crate::server::handler::{Endpoint, EventHandler, Handler};

/// The endpoint metadata key under which an instance announces the subject only it serves the
/// endpoint on (see [`Call::instance`](crate::transport::Call::instance)).
pub const INSTANCE_SUBJECT: &str = "instance_subject";

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

/// The longest a start waits for discovery to compare schemas: the NATS registry answers at
/// once when nothing else runs and within its discovery timeout (300 ms) otherwise.
pub const SCHEMA_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

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

/// Checks a service name against the NATS services rule `^[A-Za-z0-9_-]+$` (the rule of
/// [`naming::invalid_name`](crate::naming::invalid_name), which the macros apply too).
pub fn validate_name(name: &str) -> Result<(), Error> {
    validate_token("service", name)
}

/// Checks the name of a `kind` of thing (a service, an endpoint, an instance) against the rule
/// of [`naming::invalid_name`](crate::naming::invalid_name).
pub fn validate_token(kind: &str, name: &str) -> Result<(), Error> {
    match crate::naming::invalid_name(name) {
        None => Ok(()),
        Some(why) => Err(Error::bad_request(format!(
            "invalid {kind} name `{name}`: {why}"
        ))),
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
