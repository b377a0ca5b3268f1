//! NATS backend of micro: transport, broker and registry that speak the NATS services protocol.
//!
//! The same `#[service]` trait and impl that run in one process on micro's in-process backend
//! run as separate processes on NATS: every instance of a service subscribes its endpoints in a
//! queue group (so N instances share the load), answers `$SRV.PING/INFO/STATS` like any NATS
//! service (so `nats micro ls`, nats.go and nats-py see it), and finds other services through
//! that same protocol.
//!
//! Usually one line is enough: call [`install()`] at the start of `main`, and with
//! `MICRO_NATS_URL` set, `Service::from_env()` and `Client::from_env()` connect through this
//! crate (backend `nats`). To configure the connection in code, build the backend yourself:
//!
//! ```no_run
//! use micro_core::Service;
//! use micro_nats::{Nats, NatsOptions};
//!
//! # #[tokio::main] async fn main() -> Result<(), micro_core::Error> {
//! let nats = Nats::connect(NatsOptions::from_env().name("greeter")).await?;
//! Service::from_env().backend(nats.backend()).run().await
//! # }
//! ```
//!
//! # On the wire
//!
//! | | |
//! |---|---|
//! | endpoint subject | `[<MICRO_NATS_PREFIX>.]<service>.<endpoint>`, queue group `q` (`MICRO_QUEUE_GROUP`) |
//! | request headers | none for a plain call; `Content-Type` when the body cannot show its codec (a MessagePack map shows it, see [`ContentType::detect`](micro_core::codec::ContentType::detect)), `Micro-Timeout` (µs left) when the call has a deadline, one header per metadata entry |
//! | reply | body in the request's codec; `Content-Type` when the request had one or the reply's codec differs |
//! | error reply | `Nats-Service-Error: <description>`, `Nats-Service-Error-Code: <code>`, body = the structured error `{"id","code","detail","status"}` in the request's codec |
//! | discovery | `$SRV.{PING,INFO,STATS}[.<name>[.<id>]]`, `io.nats.micro.v1.*_response` JSON |
//! | events | the topic as subject, metadata headers, `Content-Type` as for requests |
//!
//! # Failures
//!
//! No server at start-up is an error naming the URL and how to start one. Once connected, a lost
//! connection reconnects and resubscribes by itself; calls made while it is down fail at once
//! with `503 unavailable` instead of waiting for their deadline. No responders gives `503`
//! naming the service and endpoint, a deadline passing gives `408`.
//!
//! A message that cannot be read (malformed headers, a subject that is not UTF-8) costs only
//! itself: a request is answered with `400`, a reply fails its call with `502`, and both are
//! counted in [`Nats::health`]. This rests on a patched async-nats (see
//! `vendor/async-nats/PATCHES.md` in the repository). Should the connection's reader stop
//! anyway, a watchdog notices at once: calls fail with `503` and a service's
//! `Service::run` returns an error, so the process exits instead of serving nothing.
#![forbid(unsafe_code)]

mod broker;
mod error;
mod headers;
mod health;
mod options;
mod registry;
mod srv;
mod stream;
mod subject;
mod transport;

/// What the fuzz targets in `fuzz/` call; not API.
#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;

use std::sync::Arc;

use futures::future::BoxFuture;
use micro_core::Error;
use micro_core::service::{Backend, BackendFactory, Config};

pub use broker::NatsBroker;
pub use health::NatsHealth;
pub use options::{DEFAULT_URL, NatsOptions};
pub use registry::NatsRegistry;
pub use subject::{
    Subjects, validate_name, validate_prefix, validate_queue_group, validate_subject,
};
pub use transport::NatsTransport;

/// One NATS connection and the transport, broker and registry built on it.
///
/// Cheap to clone; clones share the connection.
#[derive(Clone, Debug)]
pub struct Nats {
    client: async_nats::Client,
    transport: Arc<NatsTransport>,
    broker: Arc<NatsBroker>,
    registry: Arc<NatsRegistry>,
    health: Arc<health::Health>,
}

impl Nats {
    /// Connects once (no retry at start-up: a missing server is an error that says how to
    /// start one) and builds the three components on that connection.
    pub async fn connect(options: NatsOptions) -> Result<Nats, Error> {
        options.validate()?;
        let subjects = options.subjects()?;
        let events = Arc::new(options::EventLog::default());
        let connect = options.connect_options(events.clone()).await?;
        let client = connect
            .connect(options.urls())
            .await
            .map_err(|e| error::connect_error(&e, options.urls()))?;
        events.attach(client.statistics());
        let health = health::Health::watch(client.clone()).await;
        Ok(Nats {
            transport: Arc::new(
                NatsTransport::with_health(client.clone(), subjects, health.clone())
                    .with_intakes(options.get_intakes()),
            ),
            broker: Arc::new(NatsBroker::with_health(client.clone(), health.clone())),
            registry: Arc::new(NatsRegistry::with_health(
                client.clone(),
                options.get_discovery_timeout(),
                health.clone(),
            )),
            client,
            health,
        })
    }

    /// Connects with the `MICRO_NATS_*` settings of `config`.
    pub async fn from_config(config: &Config) -> Result<Nats, Error> {
        Self::connect(NatsOptions::from_config(config)).await
    }

    /// The underlying async-nats client, for anything micro does not cover.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The connection's health: connected, its reader running, and the messages it turned
    /// away (malformed, or requests without a reply subject).
    pub fn health(&self) -> NatsHealth {
        self.health.report()
    }

    /// The transport.
    pub fn transport(&self) -> &Arc<NatsTransport> {
        &self.transport
    }

    /// The broker.
    pub fn broker(&self) -> &Arc<NatsBroker> {
        &self.broker
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<NatsRegistry> {
        &self.registry
    }

    /// The three components as a [`Backend`] for `Service::backend`.
    pub fn backend(&self) -> Backend {
        Backend::new(
            self.transport.clone(),
            self.broker.clone(),
            self.registry.clone(),
        )
    }

    /// A client of this backend.
    pub fn micro_client(&self) -> micro_core::Client {
        self.backend().client()
    }
}

fn connect_backend(config: Config) -> BoxFuture<'static, Result<Backend, Error>> {
    Box::pin(async move { Ok(Nats::from_config(&config).await?.backend()) })
}

/// Backend `nats`, as [`Backend::from_config`] selects it.
static FACTORY: BackendFactory = BackendFactory {
    name: "nats",
    connect: connect_backend,
};

inventory::submit! {
    BackendFactory { name: "nats", connect: connect_backend }
}

/// Makes backend `nats` available to `Service::from_env()` and `Client::from_env()` (picked when
/// `MICRO_NATS_URL` is set or `MICRO_BACKEND=nats`). Call it at the start of `main`.
///
/// The crate also registers itself through `inventory`, but a linker may drop a crate the
/// program never calls into; this call cannot be dropped. Calling it again does nothing.
pub fn install() {
    micro_core::service::install_backend(&FACTORY);
}
