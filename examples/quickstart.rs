//! Service and client in one process, nothing to install: `cargo run --example quickstart`.
//!
//! A trait annotated with `#[service]` is the service definition; `#[service]` on the impl
//! registers it, so `Service::from_env().start()` serves it without being told; the generated
//! `GreeterClient` calls it. With `MICRO_NATS_URL` set, the same program runs over NATS.

use micro::prelude::*;

/// Greets people.
// Named `quickstart`, not `greeter`: the `greeter_server` example serves `greeter` 1.0.0 with
// another `add`, and two shapes under one name and version would share its subjects.
#[service(name = "quickstart", version = "1.0.0")]
pub trait Greeter {
    /// Says hello to `name`.
    async fn hello(&self, name: String) -> Result<String, Error>;
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> Result<i64, Error>;
}

#[derive(Default)]
struct MyGreeter;

#[service]
impl Greeter for MyGreeter {
    async fn hello(&self, name: String) -> Result<String, Error> {
        if name.is_empty() {
            return Err(Error::bad_request("name must not be empty"));
        }
        let caller = Context::current()
            .metadata()
            .get("x-user")
            .unwrap_or("anonymous")
            .to_owned();
        Ok(format!("Hello {name} (asked by {caller})"))
    }

    async fn add(&self, a: i64, b: i64) -> Result<i64, Error> {
        a.checked_add(b)
            .ok_or_else(|| Error::bad_request("overflow"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let running = Service::from_env().start().await?;
    let greeter = GreeterClient::new(&running.client().with_metadata("x-user", "quickstart"));

    println!("{}", greeter.hello("World".into()).await?);
    println!("40 + 2 = {}", greeter.add(40, 2).await?);
    match greeter.hello(String::new()).await {
        Ok(reply) => println!("unexpected reply: {reply}"),
        Err(err) => println!("error reply: {err}"),
    }

    running.stop().await;
    Ok(())
}
