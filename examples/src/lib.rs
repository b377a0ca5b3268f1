//! Service definitions shared by the examples, so servers and clients import one definition.

pub mod shop;

use micro::prelude::*;
use serde::{Deserialize, Serialize};

/// A sum of two numbers, with who asked.
// `JsonSchema` gives INFO (and `micro describe`) the fields and their docs; the `crate` path
// lets the derive work through micro-core's re-export, without a direct dependency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "micro::schemars")]
pub struct Sum {
    /// `a + b`.
    pub total: i64,
    /// The `x-user` metadata of the call, if any.
    pub asked_by: Option<String>,
}

/// Greets people and does small sums.
#[service(name = "greeter", version = "1.0.0")]
pub trait Greeter {
    /// Says hello to `name`.
    async fn hello(&self, name: String) -> Result<String, Error>;

    /// Adds two numbers; fails with 400 when the sum overflows.
    async fn add(&self, a: i64, b: i64) -> Result<Sum, Error>;
}

/// The greeter's implementation.
///
/// Not annotated with `#[service]`: a registration in a library is only seen by binaries that
/// link the code around it, so the greeter binaries hand it to the service builder explicitly
/// (`Service::from_env().handle(GreeterServer::new(MyGreeter))`), which always works.
#[derive(Debug, Default)]
pub struct MyGreeter;

impl Greeter for MyGreeter {
    async fn hello(&self, name: String) -> Result<String, Error> {
        if name.trim().is_empty() {
            return Err(Error::bad_request("name must not be empty"));
        }
        Ok(format!("Hello {name}"))
    }

    async fn add(&self, a: i64, b: i64) -> Result<Sum, Error> {
        let total = a
            .checked_add(b)
            .ok_or_else(|| Error::bad_request(format!("{a} + {b} overflows i64")))?;
        let asked_by = Context::current()
            .metadata()
            .get("x-user")
            .map(str::to_owned);
        Ok(Sum { total, asked_by })
    }
}
