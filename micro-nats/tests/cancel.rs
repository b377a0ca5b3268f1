//! Cancellation over a real nats-server: a caller that drops its call stops the handler on the
//! server (its future is dropped), a call given up while still queued never runs, a call that
//! completes sends nothing more, and whatever arrives on the cancellation subject from anyone
//! else changes nothing.

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
    /// Waits long before it opens its stream, unless dropped first.
    async fn late(&self) -> Result<Streaming<u64>, Error>;
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

    async fn late(&self) -> Result<Streaming<u64>, Error> {
        let guard = OnDrop(self.clone());
        self.started.notify_one();
        tokio::time::sleep(Duration::from_secs(30)).await;
        std::mem::forget(guard);
        Ok(Streaming::empty())
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

/// One request at a time: `hold` keeps the only slot until released, `counted` counts its runs.
#[service(name = "single", version = "1.0.0")]
pub trait Single {
    /// Holds the slot until the test releases it.
    async fn hold(&self) -> Result<String, Error>;
    /// Counts that it ran.
    async fn counted(&self) -> Result<String, Error>;
}

#[derive(Clone, Default)]
struct SingleImpl {
    started: Arc<Notify>,
    release: Arc<Notify>,
    ran: Arc<AtomicUsize>,
}

impl Single for SingleImpl {
    async fn hold(&self) -> Result<String, Error> {
        self.started.notify_one();
        self.release.notified().await;
        Ok("held".into())
    }

    async fn counted(&self) -> Result<String, Error> {
        self.ran.fetch_add(1, Ordering::SeqCst);
        Ok("ran".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_given_up_while_queued_never_runs() {
    let server = NatsServer::start();
    let serving = connect(&server).await;
    let state = SingleImpl::default();
    let running = Service::builder()
        .backend(serving.backend())
        .only_explicit()
        .max_concurrency(1)
        .handle(SingleServer::new(state.clone()))
        .start()
        .await
        .expect("starts");
    let caller = connect(&server).await;
    // No timeout of the caller's own: the request carries no deadline, so nothing but the
    // cancellation can keep it from running once the slot is free.
    let client = caller.micro_client();

    let started = state.started.notified();
    let holder = {
        let client = client.clone();
        tokio::spawn(async move { SingleClient::new(&client).hold().await })
    };
    tokio::time::timeout(Duration::from_secs(5), started)
        .await
        .expect("the first call holds the slot");
    let queued = {
        let client = client.clone();
        tokio::spawn(async move { SingleClient::new(&client).counted().await })
    };
    // Sent and waiting behind the first; then its caller gives up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    queued.abort();
    // The cancellation reaches the instance before the slot is free.
    tokio::time::sleep(Duration::from_millis(300)).await;
    state.release.notify_one();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), holder)
            .await
            .expect("the first call finishes")
            .expect("joins")
            .expect("answered"),
        "held"
    );
    // Anything after it still runs (the instance is not stuck on the dropped request).
    assert_eq!(
        SingleClient::new(&client)
            .counted()
            .await
            .expect("a later call is answered"),
        "ran",
        "a later call runs"
    );
    assert_eq!(
        state.ran.load(Ordering::SeqCst),
        1,
        "the call given up while queued ran"
    );
    let stats = caller
        .registry()
        .stats(Some("single"))
        .await
        .expect("stats");
    let counted = stats[0]
        .endpoints
        .iter()
        .find(|e| e.name == "counted")
        .expect("counted in STATS");
    assert_eq!(
        (counted.num_requests, counted.num_errors),
        (2, 1),
        "{counted:?}"
    );
    assert!(counted.last_error.starts_with("499"), "{counted:?}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_subject_prefix_cancellations_travel_under_it() {
    let server = NatsServer::start();
    let prefixed = || async {
        micro_nats::Nats::connect(
            micro_nats::NatsOptions::new()
                .url(&server.url())
                .prefix("acme.prod")
                .discovery_timeout(Duration::from_millis(250)),
        )
        .await
        .expect("connects")
    };
    let serving = prefixed().await;
    let state = Impl::default();
    let running = Service::builder()
        .backend(serving.backend())
        .only_explicit()
        .handle(PatientServer::new(state.clone()))
        .start()
        .await
        .expect("starts");
    let raw = common::raw(&server).await;
    let mut under = raw
        .subscribe("acme.prod.$MICRO.CANCEL.patient")
        .await
        .expect("subscribes");
    let mut outside = raw.subscribe("$MICRO.CANCEL.>").await.expect("subscribes");
    common::sync(&raw).await;
    let caller = prefixed().await;
    let client = caller.micro_client();

    // A call, then a stream's opening, each given up while its handler runs: the server, which
    // listens under the prefix, stops both.
    for (n, stream) in [(1, false), (2, true)] {
        let started = state.started.notified();
        let patient = PatientClient::new(&client);
        let call = tokio::spawn(async move {
            if stream {
                patient.late().await.map(|_| ())
            } else {
                patient.wait().await.map(|_| ())
            }
        });
        tokio::time::timeout(Duration::from_secs(5), started)
            .await
            .expect("the handler started");
        call.abort();
        tokio::time::timeout(Duration::from_secs(5), async {
            while state.dropped.load(Ordering::SeqCst) < n {
                state.dropped_signal.notified().await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("handler {n} (stream: {stream}) was not stopped"));
        let seen = tokio::time::timeout(Duration::from_secs(5), under.next())
            .await
            .expect("a cancellation under the prefix")
            .expect("subscribed");
        assert!((8..=64).contains(&seen.payload.len()), "{seen:?}");
    }
    common::sync(&raw).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(200), outside.next())
            .await
            .is_err(),
        "a cancellation outside the prefix"
    );
    running.stop().await;
}
