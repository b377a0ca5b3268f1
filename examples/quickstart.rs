//! Service and client in one process on the in-process backend: `cargo run --example quickstart`.
//!
//! The `#[service]` impl of `MyGreeter` in `examples/src/lib.rs` registers itself; `start()`
//! serves it, and the generated `GreeterClient` calls it.

use examples::GreeterClient;
use micro_core::prelude::*;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();

    let running = Service::from_env().start().await?;
    let greeter = GreeterClient::new(&running.client().with_metadata("x-user", "quickstart"));

    println!("{}", greeter.hello("World".into()).await?);
    let sum = greeter.add(40, 2).await?;
    println!("40 + 2 = {} (asked by {:?})", sum.total, sum.asked_by);
    match greeter.hello(String::new()).await {
        Ok(reply) => println!("unexpected reply: {reply}"),
        Err(err) => println!("error reply: {err}"),
    }

    running.stop().await;
    Ok(())
}
