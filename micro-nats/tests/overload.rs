//! More requests than an instance can run: a request waits in its instance's queue with its
//! deadline counting from its arrival, and past the queue's bounds it gets a fast 503, never
//! silence.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use micro_core::Service;
use micro_core::registry::Registry;
use micro_core::server::MAX_QUEUED;
use micro_core::service::Running;
use test_support::NatsServer;

async fn serve_one_at_a_time(nats: &micro_nats::Nats) -> Running {
    Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .max_concurrency(1)
        .handle(ShapesServer::new(ShapesImpl))
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_request_whose_deadline_passes_while_queued_is_not_run() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_one_at_a_time(&nats).await;
    let caller = connect(&server).await;
    let shapes = ShapesClient::new(&caller.micro_client());
    // Holds the only slot for 600 ms.
    let busy = {
        let shapes = shapes.clone();
        tokio::spawn(async move { shapes.slow(600).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Twenty callers with a 200 ms deadline, queued behind it. Raw ones: our client, giving up,
    // would also cancel its request, which then is dropped as a 499 before its deadline is
    // looked at; a caller that sends no cancellation leaves the deadline alone to refuse it.
    let raw = raw(&server).await;
    let waiting: Vec<_> = (0..20)
        .map(|_| {
            let raw = raw.clone();
            tokio::spawn(async move {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Micro-Timeout", "200000");
                let request = async_nats::Request::new()
                    .headers(headers)
                    .payload(r#"{"millis":1}"#.into())
                    .timeout(Some(Duration::from_millis(200)));
                raw.send_request("shapes.slow", request).await
            })
        })
        .collect();
    for w in waiting {
        let err = w.await.unwrap().unwrap_err();
        assert_eq!(
            err.kind(),
            async_nats::client::RequestErrorKind::TimedOut,
            "{err}"
        );
    }
    assert_eq!(busy.await.unwrap().unwrap(), 600);
    sync(nats.client()).await;
    // None of the twenty ran: each was refused with a 408 when its turn came.
    let stats = nats.registry().stats(Some("shapes")).await.unwrap();
    let slow = stats[0]
        .endpoints
        .iter()
        .find(|e| e.name == "slow")
        .unwrap();
    assert_eq!((slow.num_requests, slow.num_errors), (21, 20), "{slow:?}");
    assert!(slow.last_error.starts_with("408"), "{}", slow.last_error);
    running.stop().await;
}

#[tokio::test]
async fn past_the_queue_a_request_gets_a_fast_503_and_none_goes_unanswered() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_one_at_a_time(&nats).await;
    let caller = connect(&server).await;
    let busy = {
        let shapes = ShapesClient::new(&caller.micro_client());
        tokio::spawn(async move { shapes.slow(3_000).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let raw = raw(&server).await;
    let inbox = raw.new_inbox();
    let mut replies = raw.subscribe(format!("{inbox}.*")).await.unwrap();
    let total = MAX_QUEUED + 1_000;
    for i in 0..total {
        raw.publish_with_reply("shapes.nothing", format!("{inbox}.{i}"), "{}".into())
            .await
            .unwrap();
    }
    raw.flush().await.unwrap();
    let (mut ok, mut refused, mut early) = (0, 0, 0);
    while ok + refused < total {
        let reply = tokio::time::timeout(Duration::from_secs(10), replies.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {total} answered", ok + refused))
            .unwrap();
        match header(&reply, "Nats-Service-Error-Code") {
            None => ok += 1,
            Some("503") => {
                refused += 1;
                // Refused while the slot was still busy, not once it was free.
                if !busy.is_finished() {
                    early += 1;
                }
            }
            Some(other) => panic!("unexpected error {other}"),
        }
    }
    eprintln!("sent {total}: {ok} served, {refused} refused with 503 ({early} while saturated)");
    assert!(refused >= 1_000, "{refused} refused, {ok} served");
    assert!(early >= 1_000, "{early} refused early");
    assert_eq!(busy.await.unwrap().unwrap(), 3_000);
    running.stop().await;
}
