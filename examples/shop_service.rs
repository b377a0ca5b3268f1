//! One service of the shop as its own process, on NATS:
//! `MICRO_NATS_URL=nats://127.0.0.1:4222 cargo run --example shop_service -- orders`
//! (or `inventory`, `payments`, `notifications`).
//!
//! Serves until Ctrl-C or SIGTERM, then finishes the requests in flight: start two of one kind
//! and stop either, and no call is lost. `examples/shop.sh` starts the whole shop this way.

use std::io::IsTerminal;

use examples::shop::{self, Part};
use micro::prelude::*;
use micro::service::{Backend, Config};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    if let Err(err) = run().await {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Error> {
    // The first argument that is not a `--micro-*` flag (nor a flag's value).
    let part: Part = Config::app_args()
        .into_iter()
        .nth(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .ok_or_else(|| {
            Error::bad_request(
                "which service? usage: shop_service orders|inventory|payments|notifications",
            )
        })?
        .parse()?;
    let config = Config::from_env();
    if config.backend_name() == "memory" {
        // In-process, nothing outside this process could reach it.
        return Err(Error::bad_request(
            "set MICRO_NATS_URL: a shop service on its own serves other processes over NATS",
        ));
    }
    // One connection for serving and for the calls orders makes.
    let backend = Backend::from_config(&config).await?;
    let service = Service::with_config(config)
        .backend(backend.clone())
        .only_explicit();
    shop::serve(part, service, &backend.client()).run().await
}
