//! Choosing the instance over a real nats-server: pinned calls, each strategy, the version
//! and metadata filters, the circuit breaker, and instances that leave.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::connect;
use micro_core::client::RetryPolicy;
use micro_core::codec::ContentType;
use micro_core::prelude::*;
use micro_core::selector::Selection;
use micro_core::service::Running;
use micro_core::transport::Call;
use micro_nats::Nats;
use test_support::NatsServer;

/// Answers its instance's tag, after a delay, or fails while told to.
#[service(name = "lanes", version = "1.0.0")]
pub trait Lanes {
    /// The tag of the instance that answered.
    #[micro(idempotent)]
    async fn tag(&self) -> Result<String, Error>;
}

struct LanesImpl {
    tag: String,
    delay: Duration,
    failing: Arc<AtomicBool>,
}

impl Lanes for LanesImpl {
    async fn tag(&self) -> Result<String, Error> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::internal(format!("{} is failing", self.tag)));
        }
        Ok(self.tag.clone())
    }
}

struct Instance {
    running: Running,
    failing: Arc<AtomicBool>,
    _nats: Nats,
}

impl Instance {
    fn id(&self) -> String {
        self.running.instances()[0].id.clone()
    }
}

async fn start(
    server: &NatsServer,
    tag: &str,
    version: &str,
    region: &str,
    delay: Duration,
) -> Instance {
    let nats = connect(server).await;
    let failing = Arc::new(AtomicBool::new(false));
    let running = Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .version(version)
        .metadata("region", region)
        .handle(LanesServer::new(LanesImpl {
            tag: tag.to_owned(),
            delay,
            failing: failing.clone(),
        }))
        .start()
        .await
        .expect("lanes starts");
    Instance {
        running,
        failing,
        _nats: nats,
    }
}

async fn tally(client: &LanesClient, calls: usize) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..calls {
        let tag = client.tag().await.expect("call");
        *seen.entry(tag).or_default() += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_pinned_to_an_instance_reaches_only_it() {
    let server = NatsServer::start();
    let a = start(&server, "a", "1.0.0", "eu", Duration::ZERO).await;
    let b = start(&server, "b", "1.0.0", "eu", Duration::ZERO).await;
    let caller = connect(&server).await;
    let client = caller.micro_client();
    for (instance, tag) in [(&a, "a"), (&b, "b")] {
        for _ in 0..5 {
            let call = Call::new("lanes", "tag", ContentType::Json, "{}".into())
                .with_instance(instance.id());
            let reply = client.call(call).await.expect("pinned call");
            assert_eq!(reply.decode::<String>().unwrap(), tag);
        }
    }
    // An instance that is not there reached no handler: a 503 a retry may repeat.
    let call = Call::new("lanes", "tag", ContentType::Json, "{}".into()).with_instance("nosuch");
    let err = client.call(call).await.unwrap_err();
    assert_eq!(err.code(), 503, "{err}");
    assert_eq!(err.delivery(), micro_core::error::Delivery::NotSent);
    // The instance subject is announced in INFO for other languages.
    use micro_core::registry::Registry;
    let found = caller.registry().get_service("lanes").await.unwrap();
    let info = found.iter().find(|i| i.id == a.id()).unwrap();
    assert_eq!(
        info.endpoints[0]
            .metadata
            .get("instance_subject")
            .map(String::as_str),
        Some(format!("lanes.tag.{}", a.id()).as_str())
    );
    a.running.stop().await;
    b.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_and_random_spread_calls_over_every_instance() {
    let server = NatsServer::start();
    let instances = [
        start(&server, "a", "1.0.0", "eu", Duration::ZERO).await,
        start(&server, "b", "1.0.0", "eu", Duration::ZERO).await,
        start(&server, "c", "1.0.0", "eu", Duration::ZERO).await,
    ];
    let caller = connect(&server).await;
    let rr = LanesClient::new(
        &caller
            .micro_client()
            .with_selection(Selection::round_robin()),
    );
    let seen = tally(&rr, 30).await;
    assert_eq!(
        seen,
        BTreeMap::from([("a".into(), 10), ("b".into(), 10), ("c".into(), 10)])
    );
    let random = LanesClient::new(&caller.micro_client().with_selection(Selection::random()));
    let seen = tally(&random, 90).await;
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.values().all(|&n| n >= 10), "{seen:?}");
    for i in instances {
        i.running.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_outstanding_sends_fewer_calls_to_a_slow_instance() {
    let server = NatsServer::start();
    let fast = start(&server, "fast", "1.0.0", "eu", Duration::ZERO).await;
    let slow = start(&server, "slow", "1.0.0", "eu", Duration::from_millis(30)).await;
    let caller = connect(&server).await;
    let client = LanesClient::new(
        &caller
            .micro_client()
            .with_selection(Selection::least_outstanding()),
    );
    // Warm the instance list, then 200 calls at 8 in flight.
    client.tag().await.unwrap();
    use futures::StreamExt;
    let tags: Vec<String> = futures::stream::iter(0..200)
        .map(|_| {
            let client = client.clone();
            async move { client.tag().await.expect("call") }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let slow_calls = tags.iter().filter(|t| *t == "slow").count();
    assert!(
        slow_calls < 40,
        "the slow instance got {slow_calls} of 200 calls"
    );
    fast.running.stop().await;
    slow.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_semver_range_reaches_only_the_canary_and_metadata_only_its_region() {
    let server = NatsServer::start();
    let instances = [
        start(&server, "v1-eu", "1.4.0", "eu", Duration::ZERO).await,
        start(&server, "v2-eu", "2.0.0", "eu", Duration::ZERO).await,
        start(&server, "v2-us", "2.1.0", "us", Duration::ZERO).await,
    ];
    let caller = connect(&server).await;
    let canary = Selection::round_robin().version(">=2.0.0").unwrap();
    let client = LanesClient::new(&caller.micro_client().with_selection(canary.clone()));
    let seen = tally(&client, 20).await;
    assert_eq!(
        seen,
        BTreeMap::from([("v2-eu".into(), 10), ("v2-us".into(), 10)])
    );
    let eu = LanesClient::new(
        &caller
            .micro_client()
            .with_selection(canary.metadata("region", "eu")),
    );
    assert_eq!(tally(&eu, 10).await, BTreeMap::from([("v2-eu".into(), 10)]));
    // Nothing matches: a 503 naming the instances that run.
    let none = LanesClient::new(
        &caller
            .micro_client()
            .with_selection(Selection::random().version(">=3").unwrap()),
    );
    let err = none.tag().await.unwrap_err();
    assert_eq!(err.code(), 503, "{err}");
    assert!(err.detail().contains("matches version >=3"), "{err}");
    assert!(err.detail().contains("v2.1.0"), "{err}");
    for i in instances {
        i.running.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_instance_is_skipped_then_tried_again() {
    let server = NatsServer::start();
    let good = start(&server, "good", "1.0.0", "eu", Duration::ZERO).await;
    let bad = start(&server, "bad", "1.0.0", "eu", Duration::ZERO).await;
    bad.failing.store(true, Ordering::SeqCst);
    let caller = connect(&server).await;
    let cool_down = Duration::from_millis(600);
    let client = LanesClient::new(
        &caller
            .micro_client()
            .with_selection(Selection::round_robin().breaker(2, cool_down)),
    );
    // Round robin: the bad instance fails twice, then is skipped.
    let mut failed = 0;
    for _ in 0..20 {
        match client.tag().await {
            Ok(tag) => assert_eq!(tag, "good"),
            Err(err) => {
                assert_eq!(err.code(), 500, "{err}");
                failed += 1;
            }
        }
    }
    assert_eq!(failed, 2, "two failures open the breaker");
    // After the cool-down, one call tries it again; it has recovered, so it is used again.
    bad.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(cool_down + Duration::from_millis(100)).await;
    let seen = tally(&client, 20).await;
    assert!(seen.get("bad").is_some_and(|&n| n >= 5), "{seen:?}");
    good.running.stop().await;
    bad.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_retries_an_instance_that_leaves_costs_no_call() {
    let server = NatsServer::start();
    let a = start(&server, "a", "1.0.0", "eu", Duration::ZERO).await;
    let b = start(&server, "b", "1.0.0", "eu", Duration::ZERO).await;
    let caller = connect(&server).await;
    let client = LanesClient::new(
        &caller
            .micro_client()
            .with_selection(Selection::round_robin().refresh(Duration::from_millis(200)))
            .with_retry(
                RetryPolicy::new().backoff(Duration::from_millis(5), Duration::from_millis(20)),
            ),
    );
    assert_eq!(tally(&client, 10).await.len(), 2);
    b.running.stop().await;
    // Calls picked for `b` find nobody on its subject, are retried on `a`, and discovery
    // drops `b`.
    let seen = tally(&client, 40).await;
    assert_eq!(seen, BTreeMap::from([("a".into(), 40)]));
    a.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selection_finds_an_instance_that_starts_after_the_first_call() {
    let server = NatsServer::start();
    let caller = connect(&server).await;
    let client = LanesClient::new(
        &caller
            .micro_client()
            .with_timeout(Duration::from_secs(5))
            .with_selection(Selection::round_robin())
            .with_retry(
                RetryPolicy::new()
                    .attempts(100)
                    .backoff(Duration::from_millis(20), Duration::from_millis(50)),
            ),
    );
    let starting = {
        let url = server.url();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let nats = Nats::connect(micro_nats::NatsOptions::new().url(&url))
                .await
                .unwrap();
            let running = Service::builder()
                .backend(nats.backend())
                .only_explicit()
                .handle(LanesServer::new(LanesImpl {
                    tag: "late".into(),
                    delay: Duration::ZERO,
                    failing: Arc::default(),
                }))
                .start()
                .await
                .unwrap();
            (nats, running)
        })
    };
    // Nothing runs at first; the selection looks again rather than waiting out its refresh
    // period, so the call succeeds soon after the instance is up.
    let started = std::time::Instant::now();
    assert_eq!(client.tag().await.unwrap(), "late");
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
    let (_nats, running) = starting.await.unwrap();
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selection_calls_the_subject_the_instance_announces() {
    // The instance serves under a prefix its caller knows nothing of: the subject (and so the
    // instance subject) comes from discovery, not from the caller's own naming.
    let server = NatsServer::start();
    let nats = Nats::connect(
        micro_nats::NatsOptions::new()
            .url(&server.url())
            .prefix("team.prod")
            .discovery_timeout(Duration::from_millis(250)),
    )
    .await
    .expect("connects");
    let running = Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .handle(LanesServer::new(LanesImpl {
            tag: "prefixed".to_owned(),
            delay: Duration::ZERO,
            failing: Arc::new(AtomicBool::new(false)),
        }))
        .start()
        .await
        .expect("lanes starts");
    let caller = connect(&server).await;
    let client = caller
        .micro_client()
        .with_selection(Selection::round_robin());
    let lanes = LanesClient::new(&client);
    for _ in 0..3 {
        assert_eq!(lanes.tag().await.expect("call"), "prefixed");
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_given_up_on_still_takes_the_instance_away() {
    use futures::FutureExt as _;
    let server = NatsServer::start();
    let slow = start(&server, "slow", "1.0.0", "eu", Duration::from_secs(20)).await;
    let raw = common::raw(&server).await;
    // A request in flight keeps the graceful stop waiting.
    let pending = raw.request("lanes.tag", "{}".into());
    tokio::pin!(pending);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut pending)
            .await
            .is_err(),
        "the slow handler answered"
    );
    let Instance { running, _nats, .. } = slow;
    // Polled once, then dropped, as a `select!` that gave up on it would.
    assert!(running.stop().now_or_never().is_none());
    // Gone from discovery and from its subjects: PING finds no one, and a request no responder.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let answer = raw.request("$SRV.PING.lanes", "".into()).await;
        let fresh = raw.request("lanes.tag", "{}".into()).await;
        if answer.is_err() && fresh.is_err() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still answering after the stop was dropped: ping {:?}, request {:?}",
            answer.map(|m| m.payload),
            fresh.map(|m| m.payload)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_with_deadlines_shorter_than_discovery_still_find_the_instances() {
    // Discovery waits 250 ms for answers; each call gives up after 100 ms. The fetch must go on
    // without the call that started it, so a later call finds the instance.
    let server = NatsServer::start();
    let a = start(&server, "a", "1.0.0", "eu", Duration::ZERO).await;
    let caller = connect(&server).await;
    let client = caller
        .micro_client()
        .with_selection(Selection::round_robin())
        .with_timeout(Duration::from_millis(100));
    let lanes = LanesClient::new(&client);
    let mut answered = None;
    for attempt in 0..30 {
        match lanes.tag().await {
            Ok(tag) => {
                answered = Some((attempt, tag));
                break;
            }
            Err(err) => assert_eq!(err.code(), 408, "{err}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (attempt, tag) = answered.expect("no call ever found the instance");
    assert_eq!(tag, "a");
    eprintln!("first answer at call {attempt}");
    a.running.stop().await;
}

/// A `lanes` instance in another language, as a raw NATS client: it announces `instance_subject`
/// (whatever it likes, not `<subject>.<id>`) in INFO and answers there with `"announced"`, on
/// the shared subject with `"shared"`, and on the subject micro would build from its id with
/// `"built"`.
async fn foreign(
    server: &NatsServer,
    id: &str,
    instance_subject: &str,
) -> tokio::task::JoinHandle<()> {
    use futures::StreamExt as _;
    let raw = common::raw(server).await;
    let info = serde_json::json!({
        "type": "io.nats.micro.v1.info_response",
        "name": "lanes",
        "id": id,
        "version": "1.0.0",
        "description": "",
        "metadata": {},
        "endpoints": [{
            "name": "tag",
            "subject": "lanes.tag",
            "queue_group": "q",
            "metadata": {"instance_subject": instance_subject},
        }],
    })
    .to_string();
    let mut subscriptions = Vec::new();
    for (subject, answer) in [
        ("$SRV.INFO.lanes".to_owned(), info.clone()),
        ("$SRV.INFO".to_owned(), info),
        (instance_subject.to_owned(), r#""announced""#.to_owned()),
        ("lanes.tag".to_owned(), r#""shared""#.to_owned()),
        (format!("lanes.tag.{id}"), r#""built""#.to_owned()),
    ] {
        // An implausible announced subject cannot be subscribed to either.
        if let Ok(subscriber) = raw.subscribe(subject).await {
            subscriptions.push(subscriber.map(move |m| (m, answer.clone())));
        }
    }
    common::sync(&raw).await;
    tokio::spawn(async move {
        let mut all = futures::stream::select_all(subscriptions);
        while let Some((message, answer)) = all.next().await {
            if let Some(reply) = message.reply {
                let _ = raw.publish(reply, answer.into()).await;
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selection_sends_to_the_instance_subject_as_announced() {
    let server = NatsServer::start();
    let responder = foreign(&server, "FOREIGN1", "lanes.tag.elsewhere").await;
    let caller = connect(&server).await;
    let lanes = LanesClient::new(
        &caller
            .micro_client()
            .with_selection(Selection::round_robin()),
    );
    for _ in 0..3 {
        assert_eq!(lanes.tag().await.expect("call"), "announced");
    }
    responder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_implausible_instance_subject_is_not_called_the_shared_subject_is() {
    // A wildcard, and a subject outside the endpoint's (where a caller's requests must not be
    // sent because whoever answers discovery says so).
    for (id, announced) in [
        ("FOREIGN2", "lanes.tag.*.wildcard"),
        ("FOREIGN3", "elsewhere.only.me"),
    ] {
        let server = NatsServer::start();
        let responder = foreign(&server, id, announced).await;
        let caller = connect(&server).await;
        let lanes = LanesClient::new(
            &caller
                .micro_client()
                .with_selection(Selection::round_robin()),
        );
        for _ in 0..3 {
            assert_eq!(lanes.tag().await.expect("call"), "shared", "{announced}");
        }
        responder.abort();
    }
}
