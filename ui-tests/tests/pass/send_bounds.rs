//! Generic code over a service trait, and the generated client, can be spawned on a
//! multi-threaded runtime: every future is `Send`.

#![deny(warnings)]

use std::sync::Arc;

use micro_core::memory::Memory;
use micro_core::prelude::*;

/// Counts.
#[service]
pub trait Counter {
    /// Adds `n`.
    async fn add(&self, n: u64) -> Result<u64, Error>;
}

/// Implementation with state and no `Default`: served explicitly.
struct Impl {
    total: std::sync::atomic::AtomicU64,
}

impl Counter for Impl {
    async fn add(&self, n: u64) -> Result<u64, Error> {
        tokio::task::yield_now().await;
        Ok(self.total.fetch_add(n, std::sync::atomic::Ordering::SeqCst) + n)
    }
}

async fn add_twice<T: Counter>(counter: Arc<T>) -> u64 {
    let c = counter.clone();
    let first = tokio::spawn(async move { c.add(1).await }).await.unwrap().unwrap();
    first + counter.add(1).await.unwrap()
}

fn assert_send<T: Send + Sync + Clone + std::fmt::Debug + 'static>(_: &T) {}

#[tokio::main]
async fn main() {
    let state = Arc::new(Impl { total: std::sync::atomic::AtomicU64::new(0) });
    assert_eq!(add_twice(state.clone()).await, 3);

    let memory = Memory::new();
    let server = CounterServer::from_arc(state);
    assert_send(&server);
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .handle(server.clone())
        .start()
        .await
        .unwrap();
    let client = CounterClient::new(&running.client());
    assert_send(&client);
    let handle = tokio::spawn({
        let client = client.clone();
        async move { client.add(10).await }
    });
    assert_eq!(handle.await.unwrap().unwrap(), 12);
    assert_eq!(server.get_ref().total.load(std::sync::atomic::Ordering::SeqCst), 12);
    assert!(format!("{server:?}").contains("counter"));
    running.stop().await;
}
