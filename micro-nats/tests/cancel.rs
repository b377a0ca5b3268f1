//! Cancellation over a real nats-server: a caller that drops its call stops the handler on the
//! server (its future is dropped), a call that completes sends nothing more, and whatever
//! arrives on the cancellation subject from anyone else changes nothing.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::connect;
use futures::StreamExt as _;
use micro_core::prelude::*;
use micro_core::registry::Registry as _;
use test_support::NatsServer;
use tokio::sync::Notify;

/// Waits on request, or answers at once.
#[service(name = "patient", version = "1.0.0")]
pub trait Patient {
    /// Waits long, unless dropped first.
    async fn wait(&self) -> Result<String, Error>;
    /// Answers at once.
    async fn quick(&self) -> Result<String, Error>;
}

#[derive(Clone, Default)]
struct Impl {
    started: Arc<Notify>,
    dropped: Arc<AtomicUsize>,
    dropped_signal: Arc<Notify>,
}

/// Counts the handler futures dropped before they finished.
struct OnDrop(Impl);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::SeqCst);
        self.0.dropped_signal.notify_one();
    }
}

impl Patient for Impl {
    async fn wait(&self) -> Result<String, Error> {
        let guard = OnDrop(self.clone());
        self.started.notify_one();
        tokio::time::sleep(Duration::from_secs(30)).await;
        std::mem::forget(guard);
        Ok("waited".into())
    }

    async fn quick(&self) -> Result<String, Error> {
        Ok("quick".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_call_stops_its_handler_on_the_server() {
    let server = NatsServer::start();
    let serving = connect(&server).await;
    let state = Impl::default();
    let running = Service::builder()
        .backend(serving.backend())
        .only_explicit()
        .handle(PatientServer::new(state.clone()))
        .start()
        .await
        .expect("starts");
    let caller = connect(&server).await;
    let client = caller.micro_client().with_timeout(Duration::from_secs(60));
    let patient = PatientClient::new(&client);

    let started = state.started.notified();
    let call = tokio::spawn(async move { patient.wait().await });
    tokio::time::timeout(Duration::from_secs(5), started)
        .await
        .expect("the handler started");
    // The caller gives up (its task is aborted, the call's future dropped).
    call.abort();
    let gave_up = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), state.dropped_signal.notified())
        .await
        .expect("the handler was not stopped within 5 s of its caller giving up");
    eprintln!(
        "handler stopped {:?} after its caller gave up",
        gave_up.elapsed()
    );
    assert_eq!(state.dropped.load(Ordering::SeqCst), 1);

    // STATS shows the thrown-away request as an error with the 499 it was given.
    let stats = caller
        .registry()
        .stats(Some("patient"))
        .await
        .expect("stats");
    let wait = &stats[0].endpoints[0];
    assert_eq!((wait.num_requests, wait.num_errors), (1, 1), "{wait:?}");
    assert!(wait.last_error.starts_with("499"), "{wait:?}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_calls_send_no_cancellation_and_strangers_cannot_disturb() {
    let server = NatsServer::start();
    let serving = connect(&server).await;
    let state = Impl::default();
    let running = Service::builder()
        .backend(serving.backend())
        .only_explicit()
        .handle(PatientServer::new(state.clone()))
        .start()
        .await
        .expect("starts");
    let raw = common::raw(&server).await;
    let mut cancels = raw.subscribe("$MICRO.CANCEL.>").await.expect("subscribes");
    common::sync(&raw).await;

    let caller = connect(&server).await;
    let client = caller.micro_client();
    let patient = PatientClient::new(&client);
    for _ in 0..20 {
        assert_eq!(patient.quick().await.expect("quick"), "quick");
    }
    // A call whose deadline runs out (the server stops it itself) and one given up on.
    assert_eq!(
        PatientClient::new(&client.with_timeout(Duration::from_millis(200)))
            .wait()
            .await
            .unwrap_err()
            .code(),
        408
    );
    let seen = tokio::time::timeout(Duration::from_millis(500), cancels.next()).await;
    // The timed-out call may send one (its caller stopped waiting); the completed ones none.
    let mut count = usize::from(seen.is_ok());
    while tokio::time::timeout(Duration::from_millis(200), cancels.next())
        .await
        .is_ok()
    {
        count += 1;
    }
    assert!(
        count <= 1,
        "{count} cancellations for 20 completed calls and 1 timeout"
    );

    // Anyone may publish there: unknown keys, garbage, an oversized payload change nothing.
    for payload in [
        b"nosuchkey".to_vec(),
        vec![0xff, 0xfe, 0x00],
        vec![b'a'; 100_000],
        Vec::new(),
    ] {
        raw.publish("$MICRO.CANCEL.patient", payload.into())
            .await
            .expect("publishes");
    }
    common::sync(&raw).await;
    for _ in 0..5 {
        assert_eq!(patient.quick().await.expect("still serving"), "quick");
    }
    assert_eq!(
        state.dropped.load(Ordering::SeqCst),
        1,
        "only the 408 was dropped"
    );
    let found = caller.registry().get_service("patient").await.unwrap();
    assert_eq!(found.len(), 1);
    running.stop().await;
}
