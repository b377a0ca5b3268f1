//! Graceful stop: requests in flight complete; nothing new is taken.
#![allow(missing_docs)]

use std::time::Duration;

use micro_core::memory::Memory;
use micro_core::prelude::*;
use micro_core::registry::Registry as _;

#[service(name = "sleeper", version = "1.0.0")]
pub trait Sleeper {
    async fn sleep(&self, ms: u64) -> Result<u64, Error>;
}

struct Impl;

impl Sleeper for Impl {
    async fn sleep(&self, ms: u64) -> Result<u64, Error> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(ms)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_lets_a_request_in_flight_complete() {
    let memory = Memory::new();
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .handle(SleeperServer::new(Impl))
        .start()
        .await
        .unwrap();
    let client = memory.client();
    let in_flight = tokio::spawn({
        let sleeper = SleeperClient::new(&client);
        async move { sleeper.sleep(300).await }
    });
    // Wait until the handler is running.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while running.in_flight() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "request never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopping = tokio::spawn(running.stop());
    // The stop waits for the request: still stopping well into the handler's 300 ms.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !stopping.is_finished(),
        "stop returned with a request in flight"
    );
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        300,
        "the request in flight completes"
    );
    stopping.await.unwrap();

    // Gone from the registry and no longer served.
    assert!(
        memory
            .registry()
            .get_service("sleeper")
            .await
            .unwrap()
            .is_empty()
    );
    let err = SleeperClient::new(&client).sleep(1).await.unwrap_err();
    assert_eq!(err.code(), 503, "{err}");
}

#[tokio::test]
async fn several_services_run_side_by_side_and_register() {
    #[service(name = "alpha", version = "1.0.0")]
    trait Alpha {
        async fn name(&self) -> Result<String, Error>;
    }
    struct A;
    impl Alpha for A {
        async fn name(&self) -> Result<String, Error> {
            Ok("alpha".into())
        }
    }
    let memory = Memory::new();
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .metadata("region", "eu")
        .handle(SleeperServer::new(Impl))
        .handle(AlphaServer::new(A))
        .start()
        .await
        .unwrap();
    let client = running.client();
    assert_eq!(AlphaClient::new(&client).name().await.unwrap(), "alpha");
    assert_eq!(SleeperClient::new(&client).sleep(1).await.unwrap(), 1);
    let services = client.registry().list_services().await.unwrap();
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["alpha", "sleeper"]);
    let sleeper = &services[1].instances[0];
    assert_eq!(sleeper.version, "1.0.0");
    assert_eq!(sleeper.id.len(), 22);
    assert_eq!(
        sleeper.metadata.get("region").map(String::as_str),
        Some("eu")
    );
    assert_eq!(sleeper.endpoints[0].subject, "sleeper.sleep");
    assert_eq!(sleeper.endpoints[0].queue_group, "q");
    assert_eq!(
        sleeper.endpoints[0]
            .metadata
            .get("request")
            .map(String::as_str),
        Some(r#"{"ms":"u64"}"#)
    );
    assert_ne!(services[0].instances[0].id, sleeper.id);
    running.stop().await;
}

#[tokio::test]
async fn queue_groups_resolve_endpoint_then_service_then_default() {
    /// Workers in their own queue group; `audit` in another.
    #[service(name = "jobs", version = "1.0.0", queue_group = "workers")]
    trait Jobs {
        async fn run(&self) -> Result<(), Error>;
        #[micro(queue_group = "auditors")]
        async fn audit(&self) -> Result<(), Error>;
    }
    struct J;
    impl Jobs for J {
        async fn run(&self) -> Result<(), Error> {
            Ok(())
        }
        async fn audit(&self) -> Result<(), Error> {
            Ok(())
        }
    }
    let memory = Memory::new();
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .handle(JobsServer::new(J))
        .handle(SleeperServer::new(Impl))
        .start()
        .await
        .unwrap();
    let groups = |name: &str| -> Vec<(String, String)> {
        running
            .instances()
            .iter()
            .find(|i| i.name == name)
            .unwrap()
            .endpoints
            .iter()
            .map(|e| (e.name.clone(), e.queue_group.clone()))
            .collect()
    };
    assert_eq!(
        groups("jobs"),
        [
            ("run".into(), "workers".into()),
            ("audit".into(), "auditors".into())
        ]
    );
    assert_eq!(groups("sleeper"), [("sleep".into(), "q".into())]);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_service_leaves_the_registry() {
    let memory = Memory::new();
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .handle(SleeperServer::new(Impl))
        .start()
        .await
        .unwrap();
    let registry = memory.backend().client().registry().clone();
    assert_eq!(registry.get_service("sleeper").await.unwrap().len(), 1);
    drop(running);
    // Deregistering runs on the runtime right after the drop.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !registry.get_service("sleeper").await.unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the dropped instance stayed registered"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // And calls find nobody.
    let err = SleeperClient::new(&memory.client())
        .sleep(1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503, "{err}");
}

/// A service served in-process (inline calls) keeps running until stopped: its serve loop must
/// not end on its own, or `run()` returns at once with "connection lost".
#[tokio::test]
async fn an_in_process_service_keeps_serving_until_stopped() {
    #[service(name = "steady", version = "1.0.0")]
    trait Steady {
        async fn ok(&self) -> Result<bool, Error>;
    }
    struct Impl;
    impl Steady for Impl {
        async fn ok(&self) -> Result<bool, Error> {
            Ok(true)
        }
    }
    let memory = Memory::new();
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .handle(SteadyServer::new(Impl))
        .start()
        .await
        .unwrap();
    let lost = tokio::time::timeout(Duration::from_millis(300), running.lost()).await;
    assert!(lost.is_err(), "the serve loop ended: {:?}", lost.ok());
    assert!(SteadyClient::new(&running.client()).ok().await.unwrap());
    running.stop().await;
}
