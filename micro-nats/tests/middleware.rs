//! Shipped middleware over a real nats-server: load shedding under a concurrency limit, a
//! bearer-token check, and tower's timeout, each answered as a structured error.

mod common;

use std::time::Duration;

use common::connect;
use micro_core::middleware::{self, BearerAuthLayer, ServiceBuilder};
use micro_core::prelude::*;
use test_support::NatsServer;

/// An endpoint behind the shipped layers.
#[service(name = "guarded", version = "1.0.0")]
pub trait Guarded {
    /// Waits `ms`.
    async fn wait(&self, ms: u64) -> Result<u64, Error>;
}

struct Impl;

impl Guarded for Impl {
    async fn wait(&self, ms: u64) -> Result<u64, Error> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(ms)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shed_unauthorized_and_timed_out_calls_get_their_codes_over_nats() {
    let server = NatsServer::start();
    let service_side = connect(&server).await;
    let running = Service::builder()
        .backend(service_side.backend())
        .only_explicit()
        .layer(
            ServiceBuilder::new()
                .layer(BearerAuthLayer::new("t0ken"))
                .layer(middleware::timeout(Duration::from_millis(500)))
                .layer(middleware::load_shed())
                .layer(middleware::concurrency_limit(2)),
        )
        .handle(GuardedServer::new(Impl))
        .start()
        .await
        .unwrap();
    let caller = connect(&server).await;
    let anonymous = GuardedClient::new(&caller.micro_client());
    let err = anonymous.wait(1).await.unwrap_err();
    assert_eq!((err.code(), err.id()), (401, "guarded.wait"), "{err}");

    let client = GuardedClient::new(
        &caller
            .micro_client()
            .with_metadata("authorization", "Bearer t0ken"),
    );
    assert_eq!(client.wait(1).await.unwrap(), 1);
    // Two slots: of six calls at once, two run and four are shed with a 503 at once.
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.wait(300).await })
        })
        .collect();
    let mut codes = Vec::new();
    for call in calls {
        codes.push(call.await.unwrap().map_or_else(|e| e.code(), |_| 200));
    }
    codes.sort_unstable();
    assert_eq!(codes, [200, 200, 503, 503, 503, 503]);
    // Past the timeout layer's 500 ms: a 408 naming the endpoint.
    let err = client.wait(2_000).await.unwrap_err();
    assert_eq!((err.code(), err.id()), (408, "guarded.wait"), "{err}");
    running.stop().await;
}
