//! Queue groups set per service and per endpoint reach NATS and discovery.
#![allow(missing_docs)]

mod common;

use common::*;
use micro_core::prelude::*;
use micro_core::registry::Registry as _;
use test_support::NatsServer;

/// Jobs, shared by workers; audits by auditors.
#[service(name = "jobs", version = "1.0.0", queue_group = "workers")]
trait Jobs {
    async fn run(&self) -> Result<u32, Error>;
    #[micro(queue_group = "auditors")]
    async fn audit(&self) -> Result<u32, Error>;
}

struct J;

impl Jobs for J {
    async fn run(&self) -> Result<u32, Error> {
        Ok(1)
    }
    async fn audit(&self) -> Result<u32, Error> {
        Ok(2)
    }
}

#[tokio::test]
async fn service_and_endpoint_queue_groups_are_served_and_reported() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .handle(JobsServer::new(J))
        .start()
        .await
        .unwrap();
    let jobs = JobsClient::new(&nats.micro_client());
    assert_eq!(
        (jobs.run().await.unwrap(), jobs.audit().await.unwrap()),
        (1, 2)
    );

    let instances = nats.registry().get_service("jobs").await.unwrap();
    let groups: Vec<(&str, &str)> = instances[0]
        .endpoints
        .iter()
        .map(|e| (e.name.as_str(), e.queue_group.as_str()))
        .collect();
    assert_eq!(groups, [("run", "workers"), ("audit", "auditors")]);
    running.stop().await;
}
