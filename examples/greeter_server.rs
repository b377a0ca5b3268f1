//! The greeter as its own process: `MICRO_NATS_URL=nats://127.0.0.1:4222 cargo run --example greeter_server`.
//!
//! Serves `MyGreeter` (from `examples/src/lib.rs`) until Ctrl-C or SIGTERM, then finishes the
//! requests in flight. Start several: they share the load through the
//! NATS queue group. Without `MICRO_NATS_URL` it serves in-process, which only this process can
//! reach.

use std::io::IsTerminal;

use examples::{GreeterServer, MyGreeter};
use micro::prelude::*;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        // Colour only for a person at a terminal: never into a redirected log, nor with
        // `NO_COLOR` set (https://no-color.org).
        .with_ansi(
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    if let Err(err) = Service::from_env()
        .handle(GreeterServer::new(MyGreeter))
        .run()
        .await
    {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}
