//! Stopping an instance while calls stream in: with another instance of the service running,
//! no call is lost, calls cut off by the shutdown timeout get an error reply, not silence, and
//! a timeout that passes before the drains leaves no subscription and no call unanswered.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use micro_core::Service;
use micro_nats::{Nats, NatsOptions};
use test_support::NatsServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_stops_lose_no_call_while_another_instance_serves() {
    let server = NatsServer::start();
    let caller = connect(&server).await;
    let shapes = ShapesClient::new(&caller.micro_client().with_timeout(Duration::from_secs(5)));
    // The instance that stays, and one to stop in each round.
    let steady = connect(&server).await;
    let _steady = serve_shapes(&steady).await;
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    for round in 0..10 {
        let leaving = connect(&server).await;
        let running = serve_shapes(&leaving).await;
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..64)
            .map(|_| {
                let (shapes, stop, ok, failed) =
                    (shapes.clone(), stop.clone(), ok.clone(), failed.clone());
                tokio::spawn(async move {
                    // Bounded: until told to stop, then 50 more, at most 20,000 in all.
                    let mut after = 0;
                    for _ in 0..20_000 {
                        match shapes.nothing().await {
                            Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                            Err(err) => {
                                eprintln!("round {round}: {err}");
                                failed.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                        if stop.load(Ordering::Relaxed) {
                            after += 1;
                            if after >= 50 {
                                break;
                            }
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(150)).await;
        running.stop().await;
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.await.unwrap();
        }
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("10 stops under load: {ok} calls answered, {failed} failed");
    assert!(ok > 10 * 64 * 50, "{ok} calls succeeded");
    assert_eq!(failed, 0, "{failed} of {} calls failed", ok + failed);
}

#[tokio::test]
async fn calls_cut_off_by_the_shutdown_timeout_get_a_503() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .shutdown_timeout(Duration::from_millis(300))
        .handle(ShapesServer::new(ShapesImpl))
        .start()
        .await
        .unwrap();
    let caller = connect(&server).await;
    let shapes = ShapesClient::new(&caller.micro_client().with_timeout(Duration::from_secs(10)));
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let shapes = shapes.clone();
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                (shapes.slow(5_000).await, started.elapsed())
            })
        })
        .collect();
    // All five are running.
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.stop().await;
    for call in calls {
        let (result, took) = call.await.unwrap();
        let err = result.unwrap_err();
        assert_eq!(err.code, 503, "{err}");
        assert!(err.detail.contains("shut"), "{err}");
        assert!(took < Duration::from_secs(3), "answered after {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_whose_timeout_passes_before_it_left_discovery_still_drains_and_answers_all() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = Service::builder()
        .backend(nats.backend())
        .only_explicit()
        // Passed at once: while the instance is still leaving discovery, before any drain.
        .shutdown_timeout(Duration::ZERO)
        .max_concurrency(1)
        .handle(ShapesServer::new(ShapesImpl))
        .start()
        .await
        .unwrap();
    let caller = connect(&server).await;
    let shapes = ShapesClient::new(&caller.micro_client().with_timeout(Duration::from_secs(10)));
    // One runs; the others wait for its slot.
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let shapes = shapes.clone();
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                (shapes.slow(5_000).await, started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = std::time::Instant::now();
    running.stop().await;
    let took = stopping.elapsed();
    // Once the stop returns, nothing of the instance is left on the server: neither its
    // discovery subjects nor its endpoints' subscriptions (a request gets "no responders" at
    // once, not silence).
    let raw = raw(&server).await;
    for subject in ["$SRV.PING.shapes", "shapes.nothing"] {
        let answer = tokio::time::timeout(
            Duration::from_secs(2),
            raw.request(subject, bytes::Bytes::from_static(b"{}")),
        )
        .await
        .unwrap_or_else(|_| panic!("`{subject}` swallowed a request after the stop"));
        match answer {
            Err(err) => assert_eq!(
                err.kind(),
                async_nats::client::RequestErrorKind::NoResponders,
                "{subject}: {err}"
            ),
            Ok(message) => panic!("`{subject}` answered after the stop: {message:?}"),
        }
    }
    // Every call, the running one and those queued behind it, had its 503.
    for call in calls {
        let (result, waited) = call.await.unwrap();
        let err = result.unwrap_err();
        assert_eq!(err.code, 503, "{err}");
        assert!(waited < Duration::from_secs(3), "answered after {waited:?}");
    }
    assert!(took < Duration::from_secs(4), "the stop took {took:?}");
}

/// The environment variable that makes this test binary the instance process of
/// `replies_finished_during_a_stop_survive_the_process_exiting_right_after`: its server's URL.
const CHILD_URL: &str = "MICRO_DRAIN_TEST_CHILD_URL";

/// Calls in flight when the child process stops.
const CHILD_CALLS: usize = 20;

/// A process that stops its service and exits at once (`Service::run` returning from `main`)
/// still delivers the replies of the calls it finished while stopping: the stop waits until
/// the server has them, rather than leaving them in the connection's buffers to die with the
/// process.
#[test]
fn replies_finished_during_a_stop_survive_the_process_exiting_right_after() {
    if let Ok(url) = std::env::var(CHILD_URL) {
        return child_instance(&url);
    }
    let server = NatsServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Without the flush the race was lost in about a third of such tests (one reply or most of
    // them): ten processes, to catch it.
    for round in 0..10 {
        // This same test, run again as a child process that serves, stops and exits.
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "replies_finished_during_a_stop_survive_the_process_exiting_right_after",
                "--nocapture",
            ])
            .env(CHILD_URL, server.url())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        while !line.contains("serving") {
            line.clear();
            let n = std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
            assert!(n > 0, "round {round}: the child exited before serving");
        }
        let results = rt.block_on(async {
            let caller = connect(&server).await;
            let shapes =
                ShapesClient::new(&caller.micro_client().with_timeout(Duration::from_secs(5)));
            let calls = (0..CHILD_CALLS).map(|_| {
                let shapes = shapes.clone();
                async move { shapes.slow(200).await }
            });
            futures::future::join_all(calls).await
        });
        let status = child.wait().unwrap();
        assert!(status.success(), "round {round}: child {status}");
        let failed: Vec<_> = results.into_iter().filter_map(Result::err).collect();
        assert!(
            failed.is_empty(),
            "round {round}: {} of {CHILD_CALLS} calls failed: {failed:?}",
            failed.len()
        );
    }
}

/// The child: serves until `CHILD_CALLS` calls are in flight (at most 10 s), stops, and exits
/// the process at once.
fn child_instance(url: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let nats = Nats::connect(NatsOptions::new().url(url)).await.unwrap();
        let running = Service::builder()
            .backend(nats.backend())
            .only_explicit()
            .handle(ShapesServer::new(ShapesImpl))
            .start()
            .await
            .unwrap();
        println!("serving");
        let started = std::time::Instant::now();
        while running.in_flight() < CHILD_CALLS && started.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        running.stop().await;
    });
    // As a `main` that returns would, without waiting for anything else.
    std::process::exit(0);
}
