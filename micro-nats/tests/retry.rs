//! Client retries over a real nats-server: what is retried and what is not, the budget, the
//! attempt number a handler sees, and calls that survive NATS restarts under load.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::connect;
use micro_core::client::RetryPolicy;
use micro_core::metadata::keys;
use micro_core::prelude::*;
use micro_core::service::Running;
use micro_nats::Nats;
use test_support::NatsServer;

/// A service whose handlers misbehave on purpose.
#[service(name = "flaky", version = "1.0.0")]
pub trait Flaky {
    /// Idempotent: hangs on a first attempt, answers the attempt number on a retry.
    #[micro(idempotent)]
    async fn read(&self) -> Result<String, Error>;
    /// The same, but not marked idempotent.
    async fn write(&self) -> Result<String, Error>;
    /// Always 404.
    #[micro(idempotent)]
    async fn missing(&self) -> Result<String, Error>;
    /// Answers at once, with the attempt number (`1` on a first attempt).
    #[micro(idempotent)]
    async fn quick(&self) -> Result<String, Error>;
}

#[derive(Default)]
struct FlakyImpl {
    calls: Arc<AtomicU32>,
}

fn attempt() -> String {
    Context::current()
        .metadata()
        .get(keys::ATTEMPT)
        .unwrap_or("1")
        .to_owned()
}

impl FlakyImpl {
    async fn hang_first(&self) -> Result<String, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let attempt = attempt();
        if attempt == "1" {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        Ok(attempt)
    }
}

impl Flaky for FlakyImpl {
    async fn read(&self) -> Result<String, Error> {
        self.hang_first().await
    }
    async fn write(&self) -> Result<String, Error> {
        self.hang_first().await
    }
    async fn missing(&self) -> Result<String, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(Error::not_found("nothing here"))
    }
    async fn quick(&self) -> Result<String, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(attempt())
    }
}

async fn serve(nats: &Nats, calls: Arc<AtomicU32>) -> Running {
    Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .handle(FlakyServer::new(FlakyImpl { calls }))
        .start()
        .await
        .expect("flaky starts")
}

fn policy() -> RetryPolicy {
    RetryPolicy::new()
        .attempts(4)
        .backoff(Duration::from_millis(20), Duration::from_millis(100))
        .attempt_timeout(Duration::from_millis(300))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_attempt_is_retried_only_for_an_idempotent_endpoint() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let calls = Arc::new(AtomicU32::new(0));
    let running = serve(&nats, calls.clone()).await;
    let client = FlakyClient::new(
        &nats
            .micro_client()
            .with_timeout(Duration::from_secs(5))
            .with_retry(policy()),
    );

    // The first attempt hangs past its 300 ms; the retry answers, and the handler saw its
    // attempt number.
    let started = Instant::now();
    assert_eq!(client.read().await.unwrap(), "2");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(calls.swap(0, Ordering::SeqCst), 2);

    // Not idempotent: the timeout is the caller's answer; the handler ran once.
    let err = client.write().await.unwrap_err();
    assert_eq!(err.code(), 408, "{err}");
    assert_eq!(calls.swap(0, Ordering::SeqCst), 1);

    // A 4xx answer is never retried, idempotent or not.
    let err = client.missing().await.unwrap_err();
    assert_eq!(err.code(), 404, "{err}");
    assert_eq!(calls.swap(0, Ordering::SeqCst), 1);

    // A first attempt carries no attempt number, and a nested call does not inherit one.
    assert_eq!(client.quick().await.unwrap(), "1");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_responders_is_retried_for_any_endpoint_until_an_instance_is_there() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let client = FlakyClient::new(
        &nats
            .micro_client()
            .with_timeout(Duration::from_secs(5))
            .with_retry(
                RetryPolicy::new()
                    .attempts(30)
                    .backoff(Duration::from_millis(20), Duration::from_millis(50)),
            ),
    );
    let service_side = connect(&server).await;
    let calls = Arc::new(AtomicU32::new(0));
    let starting = {
        let calls = calls.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            serve(&service_side, calls).await
        })
    };
    // Nobody serves yet: "no responders" means the call ran nowhere, so it is sent again (it
    // would be for an endpoint that is not idempotent too), and reaches the instance once it
    // is up.
    let started = Instant::now();
    let answer = client.quick().await.unwrap();
    assert!(answer.parse::<u32>().unwrap() > 1, "retried: {answer}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the handler ran once");
    starting.await.unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_policy_or_budget_nothing_is_retried() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let timeout = Duration::from_secs(2);
    for client in [
        nats.micro_client().with_timeout(timeout),
        // A budget of no retries at all.
        nats.micro_client().with_timeout(timeout).with_retry(
            RetryPolicy::new()
                .attempts(10)
                .budget(Duration::from_secs(1), 0, 0.0),
        ),
    ] {
        let client = FlakyClient::new(&client);
        let started = Instant::now();
        let err = client.quick().await.unwrap_err();
        assert_eq!(err.code(), 503, "{err}");
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "failed at once: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stay_inside_the_deadline() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let client = FlakyClient::new(
        &nats
            .micro_client()
            .with_timeout(Duration::from_millis(400))
            .with_retry(
                RetryPolicy::new()
                    .attempts(1000)
                    .backoff(Duration::from_millis(10), Duration::from_millis(20)),
            ),
    );
    // Nobody serves: retried until the deadline, then the last error.
    let started = Instant::now();
    let err = client.quick().await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.code(), 503, "{err}");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_millis(1000), "{took:?}");
}

/// The measurement: two instances, an idempotent endpoint under load, and the NATS
/// server killed and restarted twice. Without retries a run like this lost thousands of calls
/// (each one in flight or sent while the server was down); with retries, the calls ride out
/// the restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_with_retries_survive_two_nats_restarts_under_load() {
    let (ok, failed, first) = two_restarts_under_load(true).await;
    assert!(ok > 1_000, "the load ran: {ok} calls");
    assert_eq!(failed, 0, "first error: {first:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_retries_the_same_restarts_fail_calls() {
    // The scenario above bites: without a policy, calls fail while the server is down.
    let (ok, failed, _) = two_restarts_under_load(false).await;
    assert!(ok > 1_000, "the load ran: {ok} calls");
    assert!(failed > 0, "no call failed without retries");
}

/// Runs the load through two restarts; yields the calls that succeeded, those that failed, and
/// the first error.
async fn two_restarts_under_load(retries: bool) -> (usize, usize, Option<Error>) {
    const IN_FLIGHT: usize = 32;
    let mut server = NatsServer::start();
    let (a, b) = (connect(&server).await, connect(&server).await);
    let calls = Arc::new(AtomicU32::new(0));
    let (ra, rb) = (
        serve(&a, calls.clone()).await,
        serve(&b, calls.clone()).await,
    );
    let caller = connect(&server).await;
    let mut client = caller.micro_client().with_timeout(Duration::from_secs(10));
    if retries {
        client = client.with_retry(
            RetryPolicy::new()
                .attempts(50)
                .backoff(Duration::from_millis(20), Duration::from_millis(250))
                .attempt_timeout(Duration::from_secs(1))
                // Every call may be retried while the server is down.
                .budget(Duration::from_secs(10), 1_000, 1.0),
        );
    }
    let client = FlakyClient::new(&client);
    // Callers loop until told to stop (or for 60 s at most), so the load spans the restarts.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let began = Instant::now();
    let callers: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (client, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed, mut first) = (0usize, 0usize, None);
                while !stop.load(Ordering::SeqCst) && began.elapsed() < Duration::from_secs(60) {
                    match client.quick().await {
                        Ok(_) => ok += 1,
                        Err(err) => {
                            failed += 1;
                            first = first.or(Some(err));
                            // As a caller that handles errors would, rather than spin.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                (ok, failed, first)
            })
        })
        .collect();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        server.stop();
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.restart();
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::SeqCst);
    let (mut ok, mut failed, mut first) = (0, 0, None);
    for caller in callers {
        let (o, f, e) = tokio::time::timeout(Duration::from_secs(30), caller)
            .await
            .expect("a caller finished")
            .expect("a caller task");
        ok += o;
        failed += f;
        first = first.or(e);
    }
    eprintln!(
        "two NATS restarts under load, retries {}: {ok} calls succeeded, {failed} failed \
         (first error: {first:?})",
        if retries { "on" } else { "off" }
    );
    ra.stop().await;
    rb.stop().await;
    (ok, failed, first)
}
