//! Registry: which services run, where, and how they are doing.
//!
//! A running service [`register`](Registry::register)s each of its instances; clients and tools
//! list services, look up instances and [`watch`](Registry::watch) them come and go. The shapes
//! follow the NATS services protocol's INFO and STATS replies, so the NATS backend answers
//! `$SRV.INFO`/`$SRV.STATS` straight from them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::Error;
pub mod stats;

use stats::ServiceStats;

/// One running instance of a service, as INFO describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Instance {
    /// The service name.
    pub name: String,
    /// The unique id of this instance (a 22-character NUID).
    pub id: String,
    /// The service version (semver).
    pub version: String,
    /// The service description (from the trait's doc comment).
    #[serde(default)]
    pub description: String,
    /// Free-form service metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The endpoints, in declaration order.
    #[serde(default)]
    pub endpoints: Vec<EndpointInfo>,
}

impl Instance {
    /// An instance without description, metadata or endpoints (set the public fields after).
    pub fn new(name: impl Into<String>, id: impl Into<String>, version: impl Into<String>) -> Self {
        Instance {
            name: name.into(),
            id: id.into(),
            version: version.into(),
            description: String::new(),
            metadata: BTreeMap::new(),
            endpoints: Vec::new(),
        }
    }
}

/// One endpoint of an [`Instance`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EndpointInfo {
    /// The endpoint name.
    pub name: String,
    /// The subject (or address) it is served on.
    pub subject: String,
    /// The queue group; `""` when there is none.
    #[serde(default)]
    pub queue_group: String,
    /// Endpoint metadata: its doc text and request/response shape, among others.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: BTreeMap<String, String>,
}

impl EndpointInfo {
    /// An endpoint without metadata.
    pub fn new(
        name: impl Into<String>,
        subject: impl Into<String>,
        queue_group: impl Into<String>,
    ) -> Self {
        EndpointInfo {
            name: name.into(),
            subject: subject.into(),
            queue_group: queue_group.into(),
            metadata: BTreeMap::new(),
        }
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Live figures of one instance, as STATS reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstanceStats {
    /// The service name.
    pub name: String,
    /// The instance id.
    pub id: String,
    /// The version.
    pub version: String,
    /// When the instance started.
    pub started: SystemTime,
    /// Per-endpoint figures, in declaration order.
    pub endpoints: Vec<EndpointStats>,
}

impl InstanceStats {
    /// Figures without endpoints (push [`EndpointStats`] after).
    pub fn new(
        name: impl Into<String>,
        id: impl Into<String>,
        version: impl Into<String>,
        started: SystemTime,
    ) -> Self {
        InstanceStats {
            name: name.into(),
            id: id.into(),
            version: version.into(),
            started,
            endpoints: Vec::new(),
        }
    }
}

/// Live figures of one endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EndpointStats {
    /// The endpoint name.
    pub name: String,
    /// The subject.
    pub subject: String,
    /// The queue group; `""` when there is none.
    pub queue_group: String,
    /// Requests received.
    pub num_requests: u64,
    /// Error replies sent.
    pub num_errors: u64,
    /// The last error as `"<code>:<detail>"`; `""` when there was none.
    pub last_error: String,
    /// Total time spent handling requests.
    pub processing_time: Duration,
    /// `processing_time / num_requests`.
    pub average_processing_time: Duration,
}

impl EndpointStats {
    /// Zeroed figures of one endpoint (set the counters after).
    pub fn new(
        name: impl Into<String>,
        subject: impl Into<String>,
        queue_group: impl Into<String>,
    ) -> Self {
        EndpointStats {
            name: name.into(),
            subject: subject.into(),
            queue_group: queue_group.into(),
            ..EndpointStats::default()
        }
    }
}

/// What a service hands the registry when it starts: its description and its live counters.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Registration {
    /// The instance as INFO describes it.
    pub instance: Instance,
    /// The live counters STATS reads.
    pub stats: Arc<ServiceStats>,
}

impl Registration {
    /// Pairs an instance with its counters.
    pub fn new(instance: Instance, stats: Arc<ServiceStats>) -> Self {
        Registration { instance, stats }
    }

    /// A snapshot of the counters in STATS shape.
    pub fn snapshot(&self) -> InstanceStats {
        self.stats.snapshot(&self.instance)
    }
}

/// A service name with its instances.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceSummary {
    /// The service name.
    pub name: String,
    /// Its running instances.
    pub instances: Vec<Instance>,
}

impl ServiceSummary {
    /// A service with these instances.
    pub fn new(name: impl Into<String>, instances: Vec<Instance>) -> Self {
        ServiceSummary {
            name: name.into(),
            instances,
        }
    }
}

/// A change seen by [`Registry::watch`] (tower's `discover::Change` shape).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// An instance appeared.
    Added(Instance),
    /// The instance with this id went away.
    Removed {
        /// The service name.
        name: String,
        /// The instance id.
        id: String,
    },
}

/// How [`Registry::watch`] observes changes.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WatchOptions {
    /// Only this service; `None` for all.
    pub service: Option<String>,
    /// How often a registry that also polls looks. The NATS one hears instances announce that
    /// they start and stop at once, and pings every `interval` as the safety net: for instances
    /// that died without a word, and services that announce nothing (other languages').
    pub interval: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            service: None,
            interval: Duration::from_secs(5),
        }
    }
}

impl WatchOptions {
    /// Watches only `service`.
    #[must_use]
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Sets the polling interval.
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }
}

/// Keeps track of running service instances.
pub trait Registry: Send + Sync + fmt::Debug + 'static {
    /// Makes an instance discoverable until [`deregister`](Registry::deregister).
    fn register(&self, registration: Registration) -> BoxFuture<'_, Result<(), Error>>;

    /// Removes the instance with id `id`.
    fn deregister(&self, id: &str) -> BoxFuture<'_, Result<(), Error>>;

    /// Every known service with its instances, sorted by name.
    fn list_services(&self) -> BoxFuture<'_, Result<Vec<ServiceSummary>, Error>>;

    /// The instances of `service`; empty when none runs.
    fn get_service(&self, service: &str) -> BoxFuture<'_, Result<Vec<Instance>, Error>>;

    /// Live figures of every instance of `service` (all services for `None`).
    fn stats(&self, service: Option<&str>) -> BoxFuture<'_, Result<Vec<InstanceStats>, Error>>;

    /// Instances appearing and disappearing. The stream starts with an `Added` for each
    /// instance running now.
    fn watch(
        &self,
        options: WatchOptions,
    ) -> BoxFuture<'_, Result<BoxStream<'static, Change>, Error>>;
}
