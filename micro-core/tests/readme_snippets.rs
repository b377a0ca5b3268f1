//! The README's retry, selection and middleware snippets, compiled and run in-process, so the
//! API they show is the API that exists.
#![allow(missing_docs)]

use std::time::Duration;

use micro_core::client::RetryPolicy;
use micro_core::memory::Memory;
use micro_core::middleware::{self, BearerAuthLayer, LogLayer, ServiceBuilder};
use micro_core::prelude::*;
use micro_core::selector::Selection;

#[service(name = "store", version = "2.0.0")]
pub trait Store {
    /// Safe to repeat: a client may retry it after a timeout or a lost connection.
    #[micro(idempotent)]
    async fn get(&self, key: String) -> Result<Option<String>, Error>;
    async fn put(&self, key: String, value: String) -> Result<(), Error>;
}

struct Impl;

impl Store for Impl {
    async fn get(&self, key: String) -> Result<Option<String>, Error> {
        Ok(Some(format!("value of {key}")))
    }
    async fn put(&self, _key: String, _value: String) -> Result<(), Error> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_snippets_work() -> Result<(), Error> {
    let memory = Memory::new();
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .metadata("region", "eu")
        .layer(
            ServiceBuilder::new()
                .layer(LogLayer::new())
                .layer(BearerAuthLayer::new("t0ken"))
                .layer(middleware::load_shed())
                .layer(middleware::concurrency_limit(64))
                .layer(middleware::timeout(Duration::from_secs(2))),
        )
        .handle(StoreServer::new(Impl))
        .start()
        .await?;
    let client = memory
        .client()
        .with_metadata("authorization", "Bearer t0ken");

    let client = client
        .with_timeout(Duration::from_secs(2))
        .with_retry(
            RetryPolicy::new()
                .attempts(3)
                .attempt_timeout(Duration::from_millis(500)),
        )
        .with_selection(
            Selection::least_outstanding()
                .version(">=2.0.0")?
                .metadata("region", "eu"),
        );
    let store = StoreClient::new(&client);
    assert_eq!(store.get("k".into()).await?.as_deref(), Some("value of k"));
    store.put("k".into(), "v".into()).await?;
    running.stop().await;
    Ok(())
}
