//! Middleware: tower `Layer`s around endpoint handlers and client calls.
//!
//! Every endpoint handler is a `tower::Service<Call, Response = Reply, Error = Error>`
//! ([`Endpoint`](crate::server::handler::Endpoint)), and so is the client's call path, so any
//! tower layer is micro middleware. Add one to every endpoint a service serves with
//! [`Service::layer`](crate::Service::layer), to one endpoint with
//! [`Service::layer_endpoint`](crate::Service::layer_endpoint), to every subscriber with
//! [`Service::layer_events`](crate::Service::layer_events), or to a client with
//! [`Client::layer`](crate::Client::layer).
//!
//! A layer's errors need only convert into tower's `BoxError`, so tower's own layers work as
//! they are, readiness included: [`from_tower`] turns a tower timeout into a `408` and a shed
//! request into a `503`. Shipped here, each tested (`micro-core/tests/middleware.rs`):
//!
//! | layer | what it does |
//! |---|---|
//! | [`LogLayer`] | one `tracing` event per call: endpoint, outcome, code, time taken |
//! | [`BearerAuthLayer`] | `401` unless the call's `authorization` metadata is `Bearer <token>` (compared in constant time) |
//! | [`timeout`] | tower's `TimeoutLayer`: a call running longer is answered `408` |
//! | [`concurrency_limit`] | tower's `ConcurrencyLimitLayer`: at most `n` calls at once, the rest wait |
//! | [`load_shed`] | tower's `LoadShedLayer`: with a limit inside it, calls past the limit get `503` at once |
//! | [`rate_limit`] | tower's `RateLimitLayer` behind a `Buffer`: at most `n` calls per period for the whole service, the rest wait |
//!
//! ```
//! use std::time::Duration;
//! use micro_core::middleware::{self, ServiceBuilder};
//!
//! // Shed load past 64 calls at once; answer 408 past 2 s; log every call.
//! let stack = ServiceBuilder::new()
//!     .layer(middleware::LogLayer::new())
//!     .layer(middleware::load_shed())
//!     .layer(middleware::concurrency_limit(64))
//!     .layer(middleware::timeout(Duration::from_secs(2)));
//! // Service::builder().layer(stack) ...
//! # let _ = stack;
//! ```
//!
//! Layers form an onion: the last one added is the outermost and sees the call first.
//!
//! ```text
//!            call ──▶ ┌ layer added last ─────────┐
//!                     │ ┌ layer added first ────┐ │
//!                     │ │      handler          │ │
//!                     │ └───────────────────────┘ │
//!           reply ◀── └───────────────────────────┘
//! ```

mod auth;
mod log;

use std::time::Duration;

pub use auth::{BearerAuth, BearerAuthLayer};
pub use log::{Log, LogLayer};
pub use tower::BoxError;
pub use tower::ServiceBuilder;
pub use tower_layer::{Layer, layer_fn};

use crate::Error;
use crate::error::Delivery;

/// Turns the error of a tower service into micro's: a micro [`Error`] stays itself, tower's
/// timeout is a `408` whose call may have run, an overloaded or shed request a `503` that
/// reached no handler, a failed buffer a `503`, and anything else a `500` with its message.
pub fn from_tower(err: BoxError) -> Error {
    match err.downcast::<Error>() {
        Ok(err) => *err,
        Err(other) => classify(other.as_ref()),
    }
}

/// [`from_tower`] without taking the error (for logging).
pub(crate) fn from_tower_ref(err: &BoxError) -> Error {
    match err.downcast_ref::<Error>() {
        Some(err) => err.clone(),
        None => classify(err.as_ref()),
    }
}

fn classify(err: &(dyn std::error::Error + Send + Sync + 'static)) -> Error {
    if err.is::<tower::timeout::error::Elapsed>() {
        // Whatever ran inside the layer was cut off: its fate is unknown.
        Error::timeout("the call took longer than its timeout layer allows")
            .with_delivery(Delivery::InFlight)
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        Error::unavailable("overloaded: the call was shed; try again or another instance")
            .with_delivery(Delivery::NotSent)
    } else if err.is::<tower::buffer::error::Closed>()
        || err.is::<tower::buffer::error::ServiceError>()
    {
        Error::unavailable(format!("the middleware buffer failed: {err}"))
    } else {
        Error::internal(format!("middleware failed: {err}"))
    }
}

/// tower's `TimeoutLayer`: a call still running after `timeout` is answered `408` and its
/// handler dropped.
pub fn timeout(timeout: Duration) -> tower::timeout::TimeoutLayer {
    tower::timeout::TimeoutLayer::new(timeout)
}

/// tower's `ConcurrencyLimitLayer`: at most `max` calls run at once; the rest wait for a slot
/// (inside a [`load_shed`], they are refused instead).
pub fn concurrency_limit(max: usize) -> tower::limit::ConcurrencyLimitLayer {
    tower::limit::ConcurrencyLimitLayer::new(max)
}

/// tower's `LoadShedLayer`: a call the service inside it is not ready for (a full
/// [`concurrency_limit`], say) is refused at once with a `503` instead of waiting.
pub fn load_shed() -> tower::load_shed::LoadShedLayer {
    tower::load_shed::LoadShedLayer::new()
}

/// At most `calls` calls per `per` for everything the layer wraps, the rest waiting for their
/// turn: tower's `RateLimitLayer` behind a `Buffer` of `bound` waiting calls, so that every
/// clone of the service shares one limit (a plain `RateLimit` counts per clone, and micro
/// clones a layered service per call). Apply it inside a running tokio runtime (where a
/// service starts), since the buffer runs a task.
pub fn rate_limit(
    calls: u64,
    per: Duration,
    bound: usize,
) -> tower::ServiceBuilder<
    tower::layer::util::Stack<
        tower::limit::RateLimitLayer,
        tower::layer::util::Stack<
            tower::buffer::BufferLayer<crate::transport::Call>,
            tower::layer::util::Identity,
        >,
    >,
> {
    tower::ServiceBuilder::new()
        .buffer(bound.max(1))
        .rate_limit(calls.max(1), per)
}
