//! micro: a Rust microservice framework where a plain trait is the service definition.
//!
//! This is the crate to depend on: it brings the runtime ([`micro_core`], re-exported here
//! whole), the `#[service]` and `#[subscriber]` macros, and, with the default `nats` feature,
//! the NATS backend ([`nats`]). A program built with it runs in-process by default and over NATS
//! as soon as `MICRO_NATS_URL` is set, with nothing to install or call first.
//!
//! ```toml
//! [dependencies]
//! micro = "0.1"
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! ```
//! use micro::prelude::*;
//!
//! /// Greets people.
//! #[service(name = "hello", version = "1.0.0")]
//! pub trait Hello {
//!     /// Says hello to `name`.
//!     async fn hello(&self, name: String) -> Result<String, Error>;
//! }
//!
//! #[derive(Default)]
//! struct MyHello;
//!
//! #[service]
//! impl Hello for MyHello {
//!     async fn hello(&self, name: String) -> Result<String, Error> {
//!         Ok(format!("Hello {name}"))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! // In-process here; the same code serves over NATS with `MICRO_NATS_URL` set.
//! let running = Service::builder().backend(micro::memory::Memory::new().backend()).start().await?;
//! let hello = HelloClient::new(&running.client());
//! assert_eq!(hello.hello("World".into()).await?, "Hello World");
//! running.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! Generated code names this crate (`::micro::...`) when the program depends on `micro`, and
//! `micro_core` when it depends on that directly.
#![forbid(unsafe_code)]

#[doc(inline)]
pub use micro_core::*;

/// The NATS backend: connection options, the transport, broker and registry over the NATS
/// services protocol (the `micro-nats` crate).
///
/// Linking it is all it takes for `Service::from_env()` and `Client::from_env()` to pick it when
/// `MICRO_NATS_URL` or `MICRO_BACKEND=nats` is set; [`nats::Nats::connect`] builds a backend in
/// code.
#[cfg(feature = "nats")]
pub use micro_nats as nats;
