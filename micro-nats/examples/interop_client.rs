//! Our generated client calling a nats-py `nats.micro` service (`pyecho`), for the Python interop
//! test (`tests/interop/`). Prints one line per check; exits non-zero on the first failure.
//!
//! ```text
//! MICRO_NATS_URL=nats://127.0.0.1:4222 cargo run -p micro-nats --example interop_client
//! ```

use micro_core::prelude::*;
use micro_core::registry::Registry;
use micro_nats::{Nats, NatsOptions};
use serde::{Deserialize, Serialize};

/// What `pyecho.echo` sends back: the request object itself.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Echoed {
    /// The text sent.
    pub text: String,
    /// The number sent.
    pub n: i64,
}

/// The Python service, described as a micro trait.
#[service(name = "pyecho", version = "1.0.0")]
pub trait PyEcho {
    /// Echoes the request object.
    async fn echo(&self, text: String, n: i64) -> Result<Echoed, Error>;
    /// Adds `a` and `b`.
    async fn add(&self, a: i64, b: i64) -> Result<i64, Error>;
    /// Raises `ServiceError("422", "bad input")`.
    async fn fail(&self) -> Result<(), Error>;
    /// Raises `RuntimeError`.
    async fn boom(&self) -> Result<(), Error>;
}

fn check(ok: bool, what: &str) -> Result<(), Error> {
    if ok {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(Error::internal(format!("check failed: {what}")))
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let nats = Nats::connect(NatsOptions::from_env().name("interop-client")).await?;
    let client = PyEchoClient::new(&nats.micro_client());

    let echoed = client.echo("hi".into(), 3).await?;
    check(
        echoed
            == Echoed {
                text: "hi".into(),
                n: 3,
            },
        "echo returns the request object",
    )?;
    check(client.add(2, 40).await? == 42, "add(2, 40) == 42")?;

    let err = client.fail().await.expect_err("fail fails");
    println!("fail -> {err}");
    check(
        err.code() == 422,
        "ServiceError code 422 comes back as the error code",
    )?;
    check(
        err.detail() == "bad input",
        "ServiceError description is the detail",
    )?;
    check(err.id() == "pyecho.fail", "the error names the endpoint")?;

    let err = client.boom().await.expect_err("boom fails");
    println!("boom -> {err}");
    check(err.code() == 500, "a Python exception is a 500")?;

    let instances = nats.registry().get_service("pyecho").await?;
    check(
        instances.len() == 1,
        "the registry finds the Python instance",
    )?;
    let names: Vec<&str> = instances[0]
        .endpoints
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    check(
        names == ["echo", "add", "fail", "boom"],
        "its endpoints, in order",
    )?;
    let stats = nats.registry().stats(Some("pyecho")).await?;
    check(
        stats.len() == 1 && stats[0].endpoints[0].num_requests >= 1,
        "its STATS parse and count our call",
    )?;
    println!("all checks passed");
    Ok(())
}
