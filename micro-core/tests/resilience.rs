//! Retries, selection and the circuit breaker in-process: what is retried after an error that
//! crossed a service, where a retry goes, what counts against an instance, and a selection
//! over instances that do not all serve the endpoint.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use micro_core::client::RetryPolicy;
use micro_core::codec::ContentType;
use micro_core::descriptor::{EndpointDescriptor, ServiceDescriptor};
use micro_core::error::Delivery;
use micro_core::memory::Memory;
use micro_core::middleware;
use micro_core::prelude::*;
use micro_core::selector::{Candidate, Selection, Selector};
use micro_core::server::handler::{DynHandler, Endpoint};
use micro_core::service::{Backend, Running};
use micro_core::transport::Call;
use tower::ServiceExt as _;

/// Forwards to a service that is not running, passing the nested call's error on with `?`.
#[service(name = "front", version = "1.0.0")]
pub trait Front {
    /// Not idempotent: it must never run twice for one call.
    async fn charge(&self) -> Result<String, Error>;
}

struct FrontImpl {
    runs: Arc<AtomicUsize>,
    client: Client,
}

impl Front for FrontImpl {
    async fn charge(&self) -> Result<String, Error> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let reply = self
            .client
            .call_raw("ledger", "write", ContentType::Json, "{}".into())
            .await?;
        reply.decode::<String>()
    }
}

#[tokio::test]
async fn a_nested_call_that_was_never_sent_does_not_make_the_caller_retry_a_handler_that_ran() {
    let backend = Memory::new().backend();
    let runs = Arc::new(AtomicUsize::new(0));
    let running = Service::builder()
        .backend(backend.clone())
        .only_explicit()
        .handle(FrontServer::new(FrontImpl {
            runs: runs.clone(),
            client: backend.client(),
        }))
        .start()
        .await
        .expect("starts");
    let client = backend.client().with_retry(RetryPolicy::new().attempts(5));
    let err = FrontClient::new(&client).charge().await.unwrap_err();
    // The nested call's 503 "no instance of `ledger`" reached no handler; `charge` did.
    assert_eq!(err.code(), 503, "{err}");
    assert_ne!(err.delivery(), Delivery::NotSent, "{err}");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "charge ran more than once");
    running.stop().await;
}

static HANDMADE_ENDPOINTS: [EndpointDescriptor; 1] = [EndpointDescriptor::unary(
    "charge",
    "charge",
    "Not idempotent: it must never run twice for one call.",
    &[],
    "String",
)];

static HANDMADE: ServiceDescriptor =
    ServiceDescriptor::new("handmade", "1.0.0", "", "Handmade", &HANDMADE_ENDPOINTS);

#[tokio::test]
async fn a_tower_endpoint_passing_on_a_nested_call_never_sent_is_not_retried_either() {
    // `front` above, built by hand from a tower service instead of `#[service]`.
    let backend = Memory::new().backend();
    let runs = Arc::new(AtomicUsize::new(0));
    let (counted, nested) = (runs.clone(), backend.client());
    let charge = Endpoint::new(tower::service_fn(move |_: Call| {
        let (runs, client) = (counted.clone(), nested.clone());
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            client
                .call_raw("ledger", "write", ContentType::Json, "{}".into())
                .await
        }
    }));
    let running = Service::builder()
        .backend(backend.clone())
        .only_explicit()
        .handle(DynHandler::new(&HANDMADE, vec![charge]))
        .start()
        .await
        .expect("starts");
    let client = backend.client().with_retry(RetryPolicy::new().attempts(5));
    let err = client
        .call_raw("handmade", "charge", ContentType::Json, "{}".into())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503, "{err}");
    assert_ne!(err.delivery(), Delivery::NotSent, "{err}");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "charge ran more than once");
    running.stop().await;
}

/// Hangs on the instance tagged `slow`, answers its tag on the others.
#[service(name = "lanes", version = "1.0.0")]
pub trait Lanes {
    #[micro(idempotent)]
    async fn tag(&self) -> Result<String, Error>;
}

struct LanesImpl(&'static str);

impl Lanes for LanesImpl {
    async fn tag(&self) -> Result<String, Error> {
        if self.0 == "slow" {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Ok(self.0.to_owned())
    }
}

async fn lanes(backend: &Backend, tag: &'static str) -> Running {
    Service::builder()
        .backend(backend.clone())
        .only_explicit()
        .handle(LanesServer::new(LanesImpl(tag)))
        .start()
        .await
        .expect("starts")
}

/// Always picks the instance `favourite` when offered it.
#[derive(Debug)]
struct Favour(String);

impl Selector for Favour {
    fn select(&self, candidates: &[Candidate<'_>]) -> Option<usize> {
        let at = candidates.iter().position(|c| c.instance.id == self.0);
        at.or((!candidates.is_empty()).then_some(0))
    }
}

#[tokio::test]
async fn a_retry_goes_to_another_instance_than_the_one_that_timed_out() {
    let backend = Memory::new().backend();
    let slow = lanes(&backend, "slow").await;
    let fast = lanes(&backend, "fast").await;
    let favourite = slow.instances()[0].id.clone();
    let client = backend
        .client()
        .with_selection(Selection::new(Favour(favourite)).breaker(0, Duration::ZERO))
        .with_retry(
            RetryPolicy::new()
                .attempts(3)
                .attempt_timeout(Duration::from_millis(100)),
        )
        .with_timeout(Duration::from_secs(5));
    let lanes = LanesClient::new(&client);
    // The first attempt of each call goes to the favourite, which hangs past the attempt's
    // timeout (an in-process 408 whose handler ran: retried, the endpoint is idempotent); the
    // retry must not go back to it.
    for _ in 0..3 {
        assert_eq!(lanes.tag().await.unwrap(), "fast");
    }
    slow.stop().await;
    fast.stop().await;
}

#[tokio::test]
async fn errors_raised_before_sending_do_not_open_the_breaker() {
    let backend = Memory::new().backend();
    let only = lanes(&backend, "only").await;
    let refusals = Arc::new(AtomicUsize::new(3));
    let left = refusals.clone();
    // A client-side layer that refuses the first calls locally, as a shed or a disconnected
    // client would: nothing reached the instance.
    let client = backend
        .client()
        .with_selection(Selection::round_robin().breaker(1, Duration::from_secs(600)))
        .layer(middleware::layer_fn(move |inner: Endpoint| {
            let left = left.clone();
            tower::service_fn(move |call: Call| {
                let inner = inner.clone();
                let refuse = left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                async move {
                    if refuse {
                        Err(Error::unavailable("refused here").with_delivery(Delivery::NotSent))
                    } else {
                        inner.oneshot(call).await
                    }
                }
            })
        }));
    let lanes = LanesClient::new(&client);
    for _ in 0..3 {
        assert_eq!(lanes.tag().await.unwrap_err().detail, "refused here");
    }
    assert_eq!(refusals.load(Ordering::SeqCst), 0);
    // The instance never failed a call: it must still be chosen.
    assert_eq!(lanes.tag().await.unwrap(), "only");
    only.stop().await;
}

/// Same name and version as `lanes`, without its endpoint: a deployment caught half-way.
#[service(name = "lanes", version = "1.0.0")]
pub trait Other {
    async fn other(&self) -> Result<u32, Error>;
}

struct OtherImpl;

impl Other for OtherImpl {
    async fn other(&self) -> Result<u32, Error> {
        Ok(7)
    }
}

#[tokio::test]
async fn a_selection_picks_only_instances_that_serve_the_endpoint() {
    let backend = Memory::new().backend();
    let serving = lanes(&backend, "serving").await;
    let other = Service::builder()
        .backend(backend.clone())
        .only_explicit()
        .handle(OtherServer::new(OtherImpl))
        .start()
        .await
        .expect("starts");
    let client = backend.client().with_selection(Selection::round_robin());
    let lanes = LanesClient::new(&client);
    for _ in 0..10 {
        assert_eq!(lanes.tag().await.unwrap(), "serving");
    }
    assert_eq!(OtherClient::new(&client).other().await.unwrap(), 7);
    serving.stop().await;
    other.stop().await;
}

#[tokio::test]
async fn a_layer_for_an_endpoint_nobody_serves_is_refused_at_start() {
    let backend = Memory::new().backend();
    let err = Service::builder()
        .backend(backend.clone())
        .only_explicit()
        .handle(LanesServer::new(LanesImpl("x")))
        .layer_endpoint("lanes", "tga", middleware::timeout(Duration::from_secs(1)))
        .start()
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.code(), 400);
    assert!(
        err.detail.contains("\"tga\"") && err.detail.contains("lanes.tag"),
        "{err}"
    );
    // Nothing was registered.
    let registry = backend.registry.clone();
    assert!(registry.get_service("lanes").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_budget_with_nonsense_arguments_does_not_panic() {
    let policy = RetryPolicy::new().budget(Duration::ZERO, u32::MAX, f32::NAN);
    let backend = Memory::new().backend();
    let client = backend.client().with_retry(policy);
    let err = LanesClient::new(&client).tag().await.unwrap_err();
    assert_eq!(err.code(), 503);
}
