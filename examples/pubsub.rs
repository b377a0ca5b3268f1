//! A `#[subscriber]` and a typed publish in one process: `cargo run --example pubsub`.

use std::time::Duration;

use micro::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// The event published when a user signs up.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "micro::schemars")]
struct UserCreated {
    /// The new user's id.
    id: u64,
    /// Where the welcome mail goes.
    email: String,
}

/// Lets the subscriber tell `main` what it saw.
static SEEN: std::sync::OnceLock<mpsc::UnboundedSender<String>> = std::sync::OnceLock::new();

#[subscriber(topic = "user.created")]
async fn on_user_created(ev: UserCreated) -> Result<(), Error> {
    let line = format!("welcome mail queued for user {} <{}>", ev.id, ev.email);
    if let Some(tx) = SEEN.get() {
        let _ = tx.send(line);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _ = SEEN.set(tx);

    let running = Service::from_env().start().await?;
    let client = running.client();
    for (id, email) in [(1, "ada@example.com"), (2, "grace@example.com")] {
        client
            .publish(
                "user.created",
                &UserCreated {
                    id,
                    email: email.into(),
                },
            )
            .await?;
    }
    for _ in 0..2 {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(line)) => println!("{line}"),
            _ => return Err(Error::timeout("the subscriber did not receive the event")),
        }
    }
    running.stop().await;
    Ok(())
}
