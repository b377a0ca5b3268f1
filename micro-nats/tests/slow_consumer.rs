//! A flood of events at a subscriber that cannot keep up: async-nats's buffer for the
//! subscription fills and the rest is dropped (a slow consumer). Every drop is counted, the
//! warning about it is throttled, and the service goes on answering calls throughout. In a file
//! of its own: it counts the process's log lines.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use futures::StreamExt;
use micro_core::Service;
use micro_core::server::handler::event_fn;
use test_support::NatsServer;

/// async-nats's default buffer per subscription, in messages.
const SUBSCRIPTION_CAPACITY: u64 = 64 * 1024;
/// Events published: well past the buffer, so that thousands are dropped.
const FLOOD: u64 = SUBSCRIPTION_CAPACITY + 20_000;

const TOPIC: &str = "flood.events";
/// What micro logs when a subscription drops messages.
const SLOW: &str = "slow consumer";

/// The tests of this file run one at a time: each counts what the process logs.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_flood_past_a_subscribers_buffer_is_counted_logged_sparingly_and_serving_goes_on() {
    let _one = ONE_AT_A_TIME.lock().await;
    let logs = Logs::capture("warn");
    let before = logs.lines(SLOW).len();
    let server = NatsServer::start();
    let nats = connect(&server).await;
    // The subscriber takes one event at a time and holds it until the gate opens: everything
    // else waits in async-nats's buffer, and what does not fit is dropped.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let handled = Arc::new(AtomicU64::new(0));
    let handler = {
        let (gate, handled) = (gate.clone(), handled.clone());
        event_fn(move |_: u8| {
            let (gate, handled) = (gate.clone(), handled.clone());
            async move {
                if let Ok(permit) = gate.acquire().await {
                    drop(permit);
                }
                handled.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        })
    };
    let running = Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .max_concurrency(1)
        .handle(WhoServer::new(Tagged("w".into())))
        .subscribe(TOPIC, None, handler)
        .start()
        .await
        .unwrap();
    let who = WhoClient::new(&nats.micro_client().with_timeout(Duration::from_secs(2)));

    let publisher = raw(&server).await;
    let started = Instant::now();
    for _ in 0..FLOOD {
        publisher
            .publish(TOPIC, Bytes::from_static(b"1"))
            .await
            .unwrap();
    }
    sync(&publisher).await;
    // Everything the server routed to the service's connection has been read by it.
    sync(nats.client()).await;
    let flooded = started.elapsed();

    // Calls are answered at once while the subscriber is stuck and its buffer full.
    for _ in 0..10 {
        let call = Instant::now();
        assert_eq!(who.who().await.unwrap(), "w");
        assert!(
            call.elapsed() < Duration::from_secs(1),
            "{:?}",
            call.elapsed()
        );
    }
    let health = nats.health();
    assert!(health.healthy(), "{health:?}");
    assert_eq!(health.connects, 1, "the server did not cut the connection");
    assert!(
        health.slow_consumer_drops > 0,
        "no drop counted: {health:?} after {FLOOD} events"
    );

    // Open the gate: what was buffered is handled, and with what was dropped makes up all
    // that was published.
    gate.add_permits(tokio::sync::Semaphore::MAX_PERMITS);
    let opened = Instant::now();
    let mut last = (u64::MAX, Instant::now());
    loop {
        let now = handled.load(Ordering::Relaxed);
        let drops = nats.health().slow_consumer_drops;
        if now + drops >= FLOOD {
            break;
        }
        if now != last.0 {
            last = (now, Instant::now());
        }
        assert!(
            last.1.elapsed() < Duration::from_secs(5) && opened.elapsed() < Duration::from_secs(60),
            "{now} handled + {drops} counted as dropped of {FLOOD} published"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nothing more arrives after the accounts add up.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (handled, drops) = (
        handled.load(Ordering::Relaxed),
        nats.health().slow_consumer_drops,
    );
    let warned = logs.lines(SLOW).split_off(before);
    let elapsed = started.elapsed();
    eprintln!(
        "{FLOOD} events published in {flooded:?}: {handled} handled, {drops} dropped and \
         counted, {} warning lines in {elapsed:?}, handled the buffer in {:?}",
        warned.len(),
        opened.elapsed()
    );
    assert_eq!(handled + drops, FLOOD, "{handled} handled, {drops} dropped");
    assert!(
        drops >= FLOOD - SUBSCRIPTION_CAPACITY - 2,
        "{drops} dropped"
    );
    // Said, and said sparingly: at most one line a second, each with the drops since the last.
    assert!(!warned.is_empty(), "no warning logged");
    assert!(
        warned.len() as u64 <= elapsed.as_secs() + 1,
        "{} lines: {warned:#?}",
        warned.len()
    );
    assert!(warned[0].contains("dropped="), "{}", warned[0]);
    // And the service serves on.
    assert_eq!(who.who().await.unwrap(), "w");
    assert!(nats.health().healthy());
    running.stop().await;
}

/// Requests sent faster than an instance can even refuse them: one request at a time, its
/// only slot busy, and a burst of them from a raw client. The serve loop takes requests into
/// its bounded queue and refuses the rest at once with a 503; what arrives faster still waits
/// in async-nats's buffer, and what finds that full is refused with a 503 by async-nats itself
/// (counted as a drop from the buffer). Every request is answered: none waits for its
/// deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_request_burst_past_the_buffer_is_answered_every_one() {
    const BURST: u64 = 160_000;
    let _one = ONE_AT_A_TIME.lock().await;
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .max_concurrency(1)
        .handle(ShapesServer::new(ShapesImpl))
        .start()
        .await
        .unwrap();
    let caller = connect(&server).await;
    let busy = {
        let shapes = ShapesClient::new(&caller.micro_client());
        tokio::spawn(async move { shapes.slow(2_000).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Replies are read into a buffer large enough for all of them, so the drops counted are
    // the service's alone.
    let raw = async_nats::ConnectOptions::new()
        .subscription_capacity(BURST as usize + 1_000)
        .connect(server.url())
        .await
        .unwrap();
    let inbox = raw.new_inbox();
    let mut replies = raw.subscribe(format!("{inbox}.*")).await.unwrap();
    let started = Instant::now();
    for i in 0..BURST {
        raw.publish_with_reply("shapes.nothing", format!("{inbox}.{i}"), "{}".into())
            .await
            .unwrap();
    }
    sync(&raw).await;
    let sent_in = started.elapsed();
    let (mut ok, mut refused) = (0u64, 0u64);
    loop {
        let drops = nats.health().slow_consumer_drops;
        if ok + refused >= BURST {
            break;
        }
        match tokio::time::timeout(Duration::from_secs(5), replies.next()).await {
            Ok(Some(reply)) => match header(&reply, "Nats-Service-Error-Code") {
                None => ok += 1,
                Some("503") => refused += 1,
                Some(other) => panic!("unexpected error {other}"),
            },
            _ => panic!(
                "{ok} served + {refused} refused + {drops} counted as dropped of {BURST} sent"
            ),
        }
    }
    let drops = nats.health().slow_consumer_drops;
    eprintln!(
        "{BURST} requests sent in {sent_in:?}: {ok} served, {refused} refused at once with \
         503, {drops} dropped and counted, in {:?}",
        started.elapsed()
    );
    // Regression: a request dropped from the full buffer got no reply at all.
    assert_eq!(ok + refused, BURST, "every request answered");
    assert!(refused > 0, "none refused");
    assert!(
        drops <= refused,
        "{drops} dropped from the buffer, {refused} refused"
    );
    assert_eq!(busy.await.unwrap().unwrap(), 2_000);
    // And it serves on.
    let shapes = ShapesClient::new(&caller.micro_client());
    assert_eq!(shapes.slow(1).await.unwrap(), 1);
    assert!(nats.health().healthy());
    running.stop().await;
}
