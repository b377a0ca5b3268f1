//! The in-process backend: transport, broker and registry in one process, no server needed.
//!
//! It is the default of [`Service::from_env`](crate::Service::from_env) and the backend of
//! choice for unit tests: bodies still go through the codecs, so a test exercises the same
//! encoding, dispatch, error and context paths as a deployment, without a network.

mod broker;
mod registry;
mod transport;

use std::sync::{Arc, OnceLock};

pub use broker::MemoryBroker;
pub use registry::MemoryRegistry;
pub use transport::MemoryTransport;

use crate::service::Backend;

/// One in-process backend: a transport, a broker and a registry that see each other.
///
/// Services and clients meet only when built from the same `Memory` (or clones of it).
///
/// ```
/// use micro_core::memory::Memory;
///
/// let memory = Memory::new();
/// let client = memory.client();
/// # let _ = client;
/// ```
#[derive(Clone, Debug, Default)]
pub struct Memory {
    transport: Arc<MemoryTransport>,
    broker: Arc<MemoryBroker>,
    registry: Arc<MemoryRegistry>,
}

impl Memory {
    /// A new, isolated in-process backend.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide backend that [`Service::from_env`](crate::Service::from_env) and
    /// [`Client::from_env`](crate::Client::from_env) use when no other backend is configured.
    pub fn shared() -> Memory {
        static SHARED: OnceLock<Memory> = OnceLock::new();
        SHARED.get_or_init(Memory::new).clone()
    }

    /// The transport.
    pub fn transport(&self) -> &Arc<MemoryTransport> {
        &self.transport
    }

    /// The broker.
    pub fn broker(&self) -> &Arc<MemoryBroker> {
        &self.broker
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<MemoryRegistry> {
        &self.registry
    }

    /// The three components as a [`Backend`].
    pub fn backend(&self) -> Backend {
        Backend::new(
            self.transport.clone(),
            self.broker.clone(),
            self.registry.clone(),
        )
    }

    /// A client of this backend.
    pub fn client(&self) -> crate::Client {
        self.backend().client()
    }
}
