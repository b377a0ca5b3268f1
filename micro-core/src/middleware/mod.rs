//! Middleware: tower `Layer`s around endpoint handlers and client calls.
//!
//! Every endpoint handler is a `tower::Service<Call, Response = Reply, Error = Error>`
//! ([`Endpoint`](crate::server::handler::Endpoint)), and so is the client's call path, so any
//! tower layer (timeouts, concurrency limits, retries, tracing) is micro middleware. Add one to
//! every endpoint a service serves with [`Service::layer`](crate::Service::layer), or to a
//! client with [`Client::layer`](crate::Client::layer).
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

pub use tower::ServiceBuilder;
pub use tower_layer::{Layer, layer_fn};
