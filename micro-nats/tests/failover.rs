//! A cluster of three routed nats-servers: when the node a service is connected to dies
//! (killed, as `kill -9` would), the service reconnects to another node and keeps serving.

mod common;

use std::time::{Duration, Instant};

use common::*;
use micro_nats::{Nats, NatsOptions};
use test_support::NatsCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_moves_to_another_node_when_its_node_dies() {
    let mut cluster = NatsCluster::start(3);
    let service = Nats::connect(
        NatsOptions::new()
            .url(&cluster.urls())
            .discovery_timeout(Duration::from_millis(250)),
    )
    .await
    .unwrap();
    let running = serve_who(&service, "a").await;
    let serving_port = service.client().server_info().port;
    let doomed = cluster
        .nodes()
        .iter()
        .position(|n| n.port() == serving_port)
        .expect("the service is connected to one of the nodes");
    // The caller sits on another node, so only the service has to move.
    let caller_node = (doomed + 1) % 3;
    let caller = Nats::connect(NatsOptions::new().url(&cluster.nodes()[caller_node].url()))
        .await
        .unwrap();
    let who = WhoClient::new(
        &caller
            .micro_client()
            .with_timeout(Duration::from_millis(500)),
    );
    for _ in 0..20 {
        assert_eq!(who.who().await.unwrap(), "a");
    }

    cluster.node_mut(doomed).stop();
    let killed = Instant::now();
    let (mut failed, mut attempted) = (0u32, 0u32);
    let recovered = loop {
        attempted += 1;
        match who.who().await {
            Ok(tag) => {
                assert_eq!(tag, "a");
                break killed.elapsed();
            }
            Err(err) => {
                assert!(matches!(err.code(), 503 | 408), "{err}");
                failed += 1;
            }
        }
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "the service did not come back within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!(
        "node killed: the service answered again after {recovered:?} ({failed} of {attempted} calls failed meanwhile)"
    );
    let moved_to = service.client().server_info().port;
    assert_ne!(moved_to, serving_port, "the service moved to another node");
    // It serves steadily from its new node, and discovery finds it there.
    for _ in 0..50 {
        assert_eq!(who.who().await.unwrap(), "a");
    }
    use micro_core::registry::Registry;
    assert_eq!(caller.registry().get_service("who").await.unwrap().len(), 1);
    assert!(service.health().healthy());
    assert_eq!(service.health().connects, 2);
    running.stop().await;
}
