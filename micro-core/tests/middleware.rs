//! tower layers as middleware, on the server and on the client.
#![allow(missing_docs)]

use std::time::Duration;

use futures::StreamExt;
use micro_core::memory::Memory;
use micro_core::middleware::layer_fn;
use micro_core::prelude::*;
use micro_core::registry::{Change, Registry as _, WatchOptions};
use micro_core::server::handler::Endpoint;
use micro_core::transport::Call;
use tower::ServiceExt;

#[service(name = "secret", version = "1.0.0")]
pub trait Secret {
    async fn reveal(&self) -> Result<String, Error>;
}

struct Impl;

impl Secret for Impl {
    async fn reveal(&self) -> Result<String, Error> {
        Ok(format!(
            "42 for {}",
            Context::current()
                .metadata()
                .get("x-user")
                .unwrap_or("nobody")
        ))
    }
}

/// A bearer-token check as a server layer.
fn require_token(inner: Endpoint) -> Endpoint {
    Endpoint::new(tower::service_fn(move |call: Call| {
        let inner = inner.clone();
        async move {
            if call.context.metadata.get("authorization") != Some("Bearer s3cret") {
                return Err(Error::unauthorized("missing or wrong bearer token"));
            }
            inner.oneshot(call).await
        }
    }))
}

#[tokio::test]
async fn server_and_client_layers_wrap_every_call() {
    let memory = Memory::new();
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .layer(layer_fn(require_token))
        .handle(SecretServer::new(Impl))
        .start()
        .await
        .unwrap();

    let plain = memory.client();
    let err = SecretClient::new(&plain).reveal().await.unwrap_err();
    assert_eq!(err.code(), 401);
    assert_eq!(err.id(), "secret.reveal");

    // A client layer that adds the token and the user to every call.
    let authed = plain.layer(tower::util::MapRequestLayer::new(|mut call: Call| {
        call.context
            .metadata
            .insert("authorization", "Bearer s3cret");
        call.context.metadata.insert("x-user", "ops");
        call
    }));
    assert_eq!(
        SecretClient::new(&authed).reveal().await.unwrap(),
        "42 for ops"
    );
    running.stop().await;
}

async fn next(changes: &mut futures::stream::BoxStream<'static, Change>) -> Change {
    tokio::time::timeout(Duration::from_secs(5), changes.next())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn registry_watch_sees_instances_come_and_go() {
    let memory = Memory::new();
    let mut changes = memory
        .registry()
        .watch(WatchOptions::default().service("secret"))
        .await
        .unwrap();
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .handle(SecretServer::new(Impl))
        .start()
        .await
        .unwrap();
    let id = running.instances()[0].id.clone();
    match next(&mut changes).await {
        Change::Added(instance) => assert_eq!(instance.id, id),
        other => panic!("expected Added, got {other:?}"),
    }
    running.stop().await;
    assert_eq!(
        next(&mut changes).await,
        Change::Removed {
            name: "secret".into(),
            id
        }
    );
}
