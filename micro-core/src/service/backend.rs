//! The components a service runs on, and the backends `MICRO_BACKEND` can pick by name.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::Config;
use crate::broker::Broker;
use crate::memory::Memory;
use crate::registry::Registry;
use crate::transport::Transport;
use crate::{Client, Error};

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

/// A backend that [`Service::from_env`](crate::Service::from_env) and [`Client::from_env`](crate::Client::from_env) can pick by name.
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

// Here rather than in `client`: the client knows nothing of configurations and backends, the
// service runtime builds clients on them.
impl Client {
    /// A client on the backend the environment names (see [`Config`]), with its default
    /// timeout and codec: the shared in-process backend unless, say, `MICRO_NATS_URL` is set.
    pub async fn from_env() -> Result<Client, Error> {
        let config = Config::from_env();
        let backend = Backend::from_config(&config).await?;
        Ok(backend
            .client()
            .with_options(super::client_options(&config)))
    }
}
