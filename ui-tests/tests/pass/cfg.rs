//! `#[cfg]` on a method applies to everything generated for it.

#![deny(warnings)]

use micro_core::prelude::*;

/// A service with a conditional endpoint.
#[service]
pub trait Conditional {
    /// Always there.
    async fn always(&self) -> Result<(), Error>;
    /// Never compiled: its type does not even exist.
    #[cfg(any())]
    async fn never(&self, x: DoesNotExist) -> Result<(), Error>;
    /// Compiled.
    #[cfg(not(miri))]
    async fn sometimes(&self) -> Result<u8, Error>;
}

struct Impl;

impl Conditional for Impl {
    async fn always(&self) -> Result<(), Error> {
        Ok(())
    }
    async fn sometimes(&self) -> Result<u8, Error> {
        Ok(1)
    }
}

fn main() {
    let names: Vec<&str> = ConditionalClient::DESCRIPTOR.endpoints.iter().map(|e| e.name).collect();
    assert_eq!(names, ["always", "sometimes"]);
    let server = ConditionalServer::new(Impl);
    assert_eq!(micro_core::server::handler::Handler::endpoints(&server).len(), 2);
}
