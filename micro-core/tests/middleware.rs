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

/// Waits `ms` before answering: something to limit, shed and time out.
#[service(name = "slowpoke", version = "1.0.0")]
pub trait Slowpoke {
    async fn wait(&self, ms: u64) -> Result<u64, Error>;
    async fn quick(&self) -> Result<u64, Error>;
}

struct SlowImpl;

impl Slowpoke for SlowImpl {
    async fn wait(&self, ms: u64) -> Result<u64, Error> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(ms)
    }
    async fn quick(&self) -> Result<u64, Error> {
        Ok(0)
    }
}

async fn slowpoke(
    builder: impl FnOnce(micro_core::Service) -> micro_core::Service,
) -> (Memory, micro_core::service::Running) {
    let memory = Memory::new();
    let running = builder(
        Service::builder()
            .backend(memory.backend())
            .only_explicit()
            .handle(SlowpokeServer::new(SlowImpl)),
    )
    .start()
    .await
    .unwrap();
    (memory, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tower_load_shed_refuses_calls_past_a_concurrency_limit() {
    use micro_core::middleware::{self, ServiceBuilder};
    let (memory, running) = slowpoke(|b| {
        b.layer(
            ServiceBuilder::new()
                .layer(middleware::load_shed())
                .layer(middleware::concurrency_limit(2)),
        )
    })
    .await;
    let client = SlowpokeClient::new(&memory.client());
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.wait(300).await })
        })
        .collect();
    let mut ok = 0;
    let mut shed = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => ok += 1,
            Err(err) => {
                assert_eq!(err.code(), 503, "{err}");
                assert!(err.detail().contains("shed"), "{err}");
                shed += 1;
            }
        }
    }
    assert_eq!((ok, shed), (2, 4), "two run, the rest are shed at once");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_on_one_endpoint_is_a_408_and_leaves_the_others_alone() {
    use micro_core::middleware;
    let (memory, running) = slowpoke(|b| {
        b.layer_endpoint(
            "slowpoke",
            "wait",
            middleware::timeout(Duration::from_millis(100)),
        )
    })
    .await;
    let client = SlowpokeClient::new(&memory.client());
    let err = client.wait(1_000).await.unwrap_err();
    assert_eq!(err.code(), 408, "{err}");
    assert_eq!(err.id(), "slowpoke.wait");
    assert_eq!(client.wait(10).await.unwrap(), 10);
    assert_eq!(client.quick().await.unwrap(), 0);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_makes_calls_wait_their_turn() {
    use micro_core::middleware;
    let (memory, running) = slowpoke(|b| b.layer(middleware::concurrency_limit(1))).await;
    let client = SlowpokeClient::new(&memory.client());
    let started = std::time::Instant::now();
    let (a, b) = tokio::join!(client.wait(200), client.wait(200));
    assert_eq!((a.unwrap(), b.unwrap()), (200, 200));
    assert!(
        started.elapsed() >= Duration::from_millis(390),
        "one at a time: {:?}",
        started.elapsed()
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_spreads_calls_over_time_for_the_whole_service() {
    use micro_core::middleware;
    let (memory, running) =
        slowpoke(|b| b.layer(middleware::rate_limit(5, Duration::from_millis(200), 64))).await;
    let client = SlowpokeClient::new(&memory.client());
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..15)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.quick().await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    // 5 per 200 ms: 15 calls take at least two more periods after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(380),
        "{:?}",
        started.elapsed()
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_auth_refuses_a_wrong_or_missing_token() {
    use micro_core::middleware::BearerAuthLayer;
    let (memory, running) = slowpoke(|b| b.layer(BearerAuthLayer::new("s3cret"))).await;
    let plain = memory.client();
    for client in [
        plain.clone(),
        plain.with_metadata("authorization", "Bearer s3cre"),
        plain.with_metadata("authorization", "Bearer s3cret!"),
        plain.with_metadata("authorization", "s3cret"),
    ] {
        let err = SlowpokeClient::new(&client).quick().await.unwrap_err();
        assert_eq!(err.code(), 401, "{err}");
        assert_eq!(err.id(), "slowpoke.quick");
    }
    let authed = plain.with_metadata("authorization", "Bearer s3cret");
    assert_eq!(SlowpokeClient::new(&authed).quick().await.unwrap(), 0);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_bearer_token_admits_nobody() {
    use micro_core::middleware::BearerAuthLayer;
    let (memory, running) = slowpoke(|b| b.layer(BearerAuthLayer::new(""))).await;
    let plain = memory.client();
    for client in [
        plain.clone(),
        plain.with_metadata("authorization", "Bearer "),
        plain.with_metadata("authorization", "Bearer"),
    ] {
        let err = SlowpokeClient::new(&client).quick().await.unwrap_err();
        assert_eq!(err.code(), 401, "{err}");
    }
    running.stop().await;
}

/// Collects what a `tracing` subscriber writes.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_log_layer_writes_one_line_per_call() {
    use micro_core::middleware::LogLayer;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (memory, running) = slowpoke(|b| {
        // The timeout inside the log, so the log sees its 408.
        b.layer_endpoint(
            "slowpoke",
            "wait",
            micro_core::middleware::timeout(Duration::from_millis(20)),
        )
        .layer(LogLayer::new())
    })
    .await;
    let client = SlowpokeClient::new(&memory.client());
    client.quick().await.unwrap();
    assert_eq!(client.wait(200).await.unwrap_err().code(), 408);
    running.stop().await;
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("call answered") && text.contains("slowpoke.quick"),
        "{text}"
    );
    assert!(
        text.contains("call refused") && text.contains("code=408"),
        "{text}"
    );
}
