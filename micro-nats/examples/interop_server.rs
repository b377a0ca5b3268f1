//! A micro service on NATS that NATS tools in any language can discover and call (`nats micro ls`,
//! nats-py's `nats.micro`, plain requests with a JSON body).
//!
//! ```text
//! MICRO_NATS_URL=nats://127.0.0.1:4222 cargo run -p micro-nats --example interop_server
//! ```
//!
//! Exits non-zero with a clear message when no server answers.

use micro_core::prelude::*;
use micro_nats::{Nats, NatsOptions};

/// Arithmetic and checks, for interop tests.
#[service(name = "interop", version = "1.2.3")]
pub trait Interop {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> Result<i64, Error>;
    /// Answers `ok`, or fails with 422 when `fail` is true.
    async fn check(&self, fail: bool) -> Result<String, Error>;
}

struct Impl;

impl Interop for Impl {
    async fn add(&self, a: i64, b: i64) -> Result<i64, Error> {
        a.checked_add(b)
            .ok_or_else(|| Error::bad_request("the sum overflows i64"))
    }

    async fn check(&self, fail: bool) -> Result<String, Error> {
        if fail {
            return Err(Error::new(422, "bad input"));
        }
        Ok("ok".to_owned())
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let nats = Nats::connect(NatsOptions::from_env().name("interop-server")).await?;
    Service::from_env()
        .backend(nats.backend())
        .only_explicit()
        .metadata("lang", "rust")
        .handle(InteropServer::new(Impl))
        .run()
        .await
}
