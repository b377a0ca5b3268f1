//! Calls the greeter from another process:
//! `MICRO_NATS_URL=nats://127.0.0.1:4222 cargo run --example greeter_client -- Ada`.

use examples::GreeterClient;
use micro::prelude::*;

#[tokio::main]
async fn main() {
    // The first argument that is not a `--micro-*` flag (nor a flag's value).
    let name = micro::service::Config::app_args()
        .into_iter()
        .nth(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .unwrap_or_else(|| "World".to_owned());
    let result = async {
        let client = Client::from_env().await?;
        // Fail with a clear 409 now, rather than with decode errors later, if the running
        // greeter was built from another definition than the one compiled in here.
        micro::schema::check_running(client.registry().as_ref(), GreeterClient::DESCRIPTOR).await?;
        let greeter = GreeterClient::new(&client.with_metadata("x-user", "greeter_client"));
        println!("{}", greeter.hello(name).await?);
        let sum = greeter.add(40, 2).await?;
        let asked_by = sum.asked_by.as_deref().unwrap_or("nobody");
        println!("40 + 2 = {} (asked by {asked_by})", sum.total);
        Ok::<(), Error>(())
    }
    .await;
    if let Err(err) = result {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}
