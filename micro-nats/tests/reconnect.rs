//! A nats-server restart in the middle of a run of calls: calls fail fast while it is down and
//! succeed again once it is back, without restarting the service or the client.

mod common;

use std::time::{Duration, Instant};

use async_nats::connection::State;
use common::*;
use test_support::NatsServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_during_a_run_of_calls() {
    let mut server = NatsServer::start();
    let service_side = connect(&server).await;
    let running = serve_who(&service_side, "a").await;
    let caller = connect(&server).await;
    let client = WhoClient::new(&caller.micro_client().with_timeout(Duration::from_secs(2)));
    for _ in 0..10 {
        assert_eq!(client.who().await.unwrap(), "a");
    }

    server.stop();
    let down = Instant::now();
    while caller.client().connection_state() == State::Connected {
        assert!(
            down.elapsed() < Duration::from_secs(5),
            "the client never noticed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Calls made while disconnected fail at once with 503 instead of waiting 2 s.
    for _ in 0..5 {
        let started = Instant::now();
        let err = client.who().await.unwrap_err();
        assert_eq!(err.code(), 503, "{err}");
        assert!(err.detail().contains("not connected"), "{err}");
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
    }

    server.restart();
    let back = Instant::now();
    let mut failures = 0;
    loop {
        match client.who().await {
            Ok(tag) => {
                assert_eq!(tag, "a");
                break;
            }
            Err(err) => {
                assert!(matches!(err.code(), 503 | 408), "{err}");
                failures += 1;
                assert!(
                    back.elapsed() < Duration::from_secs(15),
                    "no recovery: {err}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    eprintln!(
        "recovered {:?} after the restart ({failures} failed calls meanwhile)",
        back.elapsed()
    );
    // Service, client and $SRV all resubscribed.
    for _ in 0..20 {
        assert_eq!(client.who().await.unwrap(), "a");
    }
    use micro_core::registry::Registry;
    let found = caller.registry().get_service("who").await.unwrap();
    assert_eq!(found.len(), 1);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_during_a_restart_end_in_an_error_not_a_hang() {
    let mut server = NatsServer::start();
    let running = serve_who(&connect(&server).await, "a").await;
    let client = WhoClient::new(
        &connect(&server)
            .await
            .micro_client()
            .with_timeout(Duration::from_millis(500)),
    );
    let worker = tokio::spawn(async move {
        let mut outcomes = Vec::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(4) {
            let t = Instant::now();
            let r = client.who().await.map_err(|e| e.code());
            outcomes.push((r, t.elapsed()));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        outcomes
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart();
    let outcomes = worker.await.unwrap();
    let ok = outcomes.iter().filter(|(r, _)| r.is_ok()).count();
    let failed: Vec<_> = outcomes
        .iter()
        .filter_map(|(r, _)| r.as_ref().err().copied())
        .collect();
    let slowest = outcomes.iter().map(|(_, d)| *d).max().unwrap();
    eprintln!(
        "{} calls: {ok} ok, {} failed ({failed:?}), slowest {slowest:?}",
        outcomes.len(),
        failed.len()
    );
    assert!(failed.iter().all(|c| *c == 503 || *c == 408), "{failed:?}");
    assert!(!failed.is_empty(), "the outage was seen");
    assert!(
        slowest < Duration::from_millis(900),
        "no call outlived its deadline: {slowest:?}"
    );
    assert!(
        outcomes.last().unwrap().0.is_ok(),
        "the last calls succeed again"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_while_disconnected_does_not_hang() {
    let mut server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_who(&nats, "a").await;
    server.stop();
    while nats.client().connection_state() == State::Connected {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    running.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_flight_when_the_connection_drops_fails_at_once() {
    let mut server = NatsServer::start();
    let running = serve_shapes(&connect(&server).await).await;
    let caller = connect(&server).await;
    let shapes = ShapesClient::new(&caller.micro_client().with_timeout(Duration::from_secs(10)));
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let shapes = shapes.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                (shapes.slow(5_000).await, started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.stop();
    for call in calls {
        let (result, took) = call.await.unwrap();
        let err = result.unwrap_err();
        assert_eq!(err.code(), 503, "{err}");
        assert!(err.detail().contains("in flight"), "{err}");
        // Not the 10 s deadline, nor the handler's 5 s.
        assert!(took < Duration::from_secs(3), "failed after {took:?}");
    }
    server.restart();
    running.stop().await;
}
