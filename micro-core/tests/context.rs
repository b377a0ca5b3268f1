//! Deadlines and metadata: set by the caller, seen by the handler, inherited by nested calls.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use micro_core::codec::ContentType;
use micro_core::memory::Memory;
use micro_core::prelude::*;
use micro_core::transport::Call;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    pub user: Option<String>,
    pub trace: Option<String>,
    pub time_left_ms: Option<u64>,
}

/// The front service calls the back service while handling a call.
#[service(name = "front", version = "1.0.0")]
pub trait Front {
    async fn relay(&self) -> Result<Seen, Error>;
}

#[service(name = "back", version = "1.0.0")]
pub trait Back {
    async fn inspect(&self) -> Result<Seen, Error>;
    async fn slow(&self, ms: u64) -> Result<(), Error>;
}

struct FrontImpl {
    client: Client,
}

impl Front for FrontImpl {
    async fn relay(&self) -> Result<Seen, Error> {
        BackClient::new(&self.client).inspect().await
    }
}

#[derive(Default)]
struct BackImpl {
    calls: AtomicUsize,
}

impl Back for Arc<BackImpl> {
    async fn inspect(&self) -> Result<Seen, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let ctx = Context::current();
        Ok(Seen {
            user: ctx.metadata().get("x-user").map(str::to_owned),
            trace: ctx.metadata().get("x-trace").map(str::to_owned),
            time_left_ms: ctx.time_left().map(|d| d.as_millis() as u64),
        })
    }
    async fn slow(&self, ms: u64) -> Result<(), Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(())
    }
}

async fn start(back: Arc<BackImpl>) -> micro_core::service::Running {
    let memory = Memory::new();
    Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .handle(FrontServer::new(FrontImpl {
            client: memory.client(),
        }))
        .handle(BackServer::new(back))
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn metadata_and_deadline_propagate_across_a_nested_call() {
    let running = start(Arc::default()).await;
    let front = FrontClient::new(
        &running
            .client()
            .with_metadata("x-user", "alice")
            .with_timeout(Duration::from_millis(1500)),
    );
    let ctx = Context::new().with_metadata("x-trace", "t-42");
    let seen = ctx.scope(front.relay()).await.unwrap();
    assert_eq!(seen.user.as_deref(), Some("alice"));
    assert_eq!(seen.trace.as_deref(), Some("t-42"));
    // The nested call inherited the caller's 1.5 s deadline, not the inner client's 5 s default.
    let left = seen.time_left_ms.unwrap();
    assert!(left <= 1500 && left > 0, "time left {left} ms");
    running.stop().await;
}

#[tokio::test]
async fn a_passed_deadline_is_refused_without_calling_the_handler() {
    let back = Arc::new(BackImpl::default());
    let running = start(back.clone()).await;
    let client = running.client();

    // Refused by the client before sending.
    let past = Instant::now() - Duration::from_millis(1);
    let err = Context::new()
        .with_deadline(past)
        .scope(BackClient::new(&client).inspect())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 408, "{err}");

    // Refused by the server when a request arrives already expired.
    let call = Call::new("back", "inspect", ContentType::Json, "{}".into())
        .with_context(Context::new().with_deadline(past));
    let err = client.transport().request(call).await.unwrap_err();
    assert_eq!(err.code(), 408, "{err}");
    assert!(err.detail().contains("deadline exceeded"), "{err}");
    assert_eq!(back.calls.load(Ordering::SeqCst), 0);

    // A deadline that passes while the handler runs ends the call with a timeout.
    let started = Instant::now();
    let err = BackClient::new(&client.with_timeout(Duration::from_millis(100)))
        .slow(5_000)
        .await
        .unwrap_err();
    assert_eq!(err.code(), 408, "{err}");
    assert!(started.elapsed() < Duration::from_secs(4));
    running.stop().await;
}
