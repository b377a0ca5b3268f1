//! micro: a Rust microservice framework where a plain trait is the service definition.
//!
//! Annotate a trait with [`#[service]`](macro@service) and it becomes a service: the macro generates
//! the wire types, a dispatching `{Trait}Server` and a typed `{Trait}Client`. Annotate an impl
//! and [`Service::run`] finds and serves it. Services run on NATS (the `micro-nats` crate, which
//! speaks the NATS services protocol) or, in one process and in tests, on the embedded
//! [`memory`] backend used here.
//!
//! ```
//! use micro_core::prelude::*;
//!
//! /// Greets people.
//! #[service(name = "greeter", version = "1.0.0")]
//! pub trait Greeter {
//!     /// Says hello to `name`.
//!     async fn hello(&self, name: String) -> Result<String, Error>;
//! }
//!
//! #[derive(Default)]
//! struct MyGreeter;
//!
//! #[service]
//! impl Greeter for MyGreeter {
//!     async fn hello(&self, name: String) -> Result<String, Error> {
//!         if name.is_empty() {
//!             return Err(Error::bad_request("name must not be empty"));
//!         }
//!         Ok(format!("Hello {name}"))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let running = Service::from_env().start().await?;
//! let greeter = GreeterClient::new(&running.client());
//! assert_eq!(greeter.hello("World".into()).await?, "Hello World");
//! assert_eq!(greeter.hello(String::new()).await.unwrap_err().code(), 400);
//! running.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Components
//!
//! | trait | in-process | NATS (`micro-nats`) |
//! |---|---|---|
//! | [`Transport`](transport::Transport) | [`MemoryTransport`](memory::MemoryTransport) | `NatsTransport` |
//! | [`Broker`](broker::Broker) | [`MemoryBroker`](memory::MemoryBroker) | `NatsBroker` |
//! | [`Registry`](registry::Registry) | [`MemoryRegistry`](memory::MemoryRegistry) | `NatsRegistry` |
//! | [`Selector`](selector::Selector) | [`RoundRobin`](selector::RoundRobin), [`Random`](selector::Random) | same |
//! | [`Codec`](codec::Codec) | [`Json`](codec::Json), [`MsgPack`](codec::MsgPack) | same |
//!
//! [`Client`] and [`Service`] use whichever backend they are given (see
//! [`service::Backend`]).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod broker;
pub mod client;
pub mod codec;
pub mod context;
pub mod descriptor;
pub mod error;
pub mod memory;
pub mod metadata;
pub mod middleware;
#[path = "../../micro-macros/src/rules.rs"]
pub mod naming;
pub mod prelude;
pub mod registry;
pub mod schema;
pub mod selector;
pub mod server;
pub mod service;
pub mod stream;
pub mod transport;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[doc(inline)]
pub use client::Client;
#[doc(inline)]
pub use context::Context;
#[doc(inline)]
pub use error::Error;
#[doc(inline)]
pub use metadata::Metadata;
#[doc(inline)]
pub use service::Service;

pub use micro_macros::{service, subscriber};

/// The JSON Schema crate micro builds endpoint schemas with, re-exported so a service needs no
/// direct dependency: `#[derive(micro_core::schemars::JsonSchema)]` with
/// `#[schemars(crate = "micro_core::schemars")]`.
pub use schemars;
