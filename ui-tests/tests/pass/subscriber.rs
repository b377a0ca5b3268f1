//! A registered `#[subscriber]` receives published events.

#![deny(warnings)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use micro_core::prelude::*;
use serde::{Deserialize, Serialize};

static SEEN: AtomicU64 = AtomicU64::new(0);

/// An event.
#[derive(Debug, Serialize, Deserialize)]
pub struct UserCreated {
    /// The user.
    pub id: u64,
}

#[subscriber(topic = "ui-tests.user.*", queue = "audit")]
async fn on_user(event: UserCreated) -> Result<(), Error> {
    SEEN.fetch_add(event.id, Ordering::SeqCst);
    Ok(())
}

#[subscriber(topic = "ui-tests.>")]
async fn on_anything(_event: UserCreated) -> std::result::Result<(), micro_core::Error> {
    SEEN.fetch_add(100, Ordering::SeqCst);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let running = Service::builder().start().await?;
    running.client().publish("ui-tests.user.created", &UserCreated { id: 7 }).await?;
    for _ in 0..200 {
        if SEEN.load(Ordering::SeqCst) == 107 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(SEEN.load(Ordering::SeqCst), 107);
    running.stop().await;
    Ok(())
}
