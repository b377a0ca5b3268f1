//! Several `nats-server`s routed into one cluster, for failover tests.

use std::time::{Duration, Instant};

use crate::{NatsServer, RawNats, free_port};

/// A cluster of `nats-server` children on loopback, routed to each other; each node is killed
/// when the cluster is dropped.
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `size` nodes with routes between all of them and waits until a message published
    /// on each node reaches a subscriber on the first one.
    ///
    /// # Panics
    ///
    /// When a node does not start or the routes do not come up within 10 seconds.
    pub fn start(size: usize) -> NatsCluster {
        let routes: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let all = routes
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let nodes = routes
            .iter()
            .map(|port| {
                let listen = format!("127.0.0.1:{port}");
                NatsServer::start_with_args(&[
                    "--cluster_name",
                    "micro-test",
                    "--cluster",
                    &format!("nats://{listen}"),
                    "--routes",
                    &all,
                ])
            })
            .collect();
        let cluster = NatsCluster { nodes };
        cluster.wait_for_routes();
        cluster
    }

    fn wait_for_routes(&self) {
        let Some(first) = self.nodes.first() else {
            return;
        };
        let mut sub = match RawNats::connect(first.port()) {
            Ok(sub) => sub,
            Err(err) => panic!("cannot connect to the first node: {err}"),
        };
        for (i, node) in self.nodes.iter().enumerate().skip(1) {
            let subject = format!("cluster.ready.{i}");
            let ok = sub
                .subscribe(&subject, i as u64)
                .and_then(|()| sub.sync())
                .is_ok();
            assert!(ok, "cannot subscribe on the first node");
            let mut publisher = match RawNats::connect(node.port()) {
                Ok(p) => p,
                Err(err) => panic!("cannot connect to node {i}: {err}"),
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let _ = publisher.publish(subject.as_bytes(), None, b"ready");
                if sub
                    .next_message(Duration::from_millis(200))
                    .is_ok_and(|m| m.subject == subject)
                {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster's routes did not come up"
                );
            }
        }
    }

    /// The nodes, in start order.
    pub fn nodes(&self) -> &[NatsServer] {
        &self.nodes
    }

    /// Node `i`, to stop or restart it.
    pub fn node_mut(&mut self, i: usize) -> &mut NatsServer {
        &mut self.nodes[i]
    }

    /// Every node's URL, comma-separated (what `MICRO_NATS_URL` takes for a cluster).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }
}
