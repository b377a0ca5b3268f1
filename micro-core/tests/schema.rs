//! The schema check on the in-process backend: a second instance of the same name and version
//! with another reply shape is refused; the same shape starts.

use micro_core::memory::Memory;
use micro_core::prelude::*;
use micro_core::schema::{RESPONSE_SCHEMA, SchemaCheck};

/// Counts.
#[service(name = "counter", version = "1.0.0")]
pub trait Counter {
    /// The count.
    async fn get(&self) -> Result<u64, Error>;
}

/// `counter` 1.0.0 with a text count.
#[service(name = "counter", version = "1.0.0")]
pub trait TextCounter {
    /// The count, spelled out.
    async fn get(&self) -> Result<String, Error>;
}

struct Impl;

impl Counter for Impl {
    async fn get(&self) -> Result<u64, Error> {
        Ok(1)
    }
}

impl TextCounter for Impl {
    async fn get(&self) -> Result<String, Error> {
        Ok("one".into())
    }
}

#[tokio::test]
async fn in_process_instances_are_checked_too() {
    let memory = Memory::new();
    let first = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .handle(CounterServer::new(Impl))
        .start()
        .await
        .unwrap();
    let schema = &first.instances()[0].endpoints[0].metadata[RESPONSE_SCHEMA];
    assert!(schema.contains(r#""format":"uint64""#), "{schema}");

    let same = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .handle(CounterServer::new(Impl))
        .start()
        .await
        .unwrap();
    let err = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .handle(TextCounterServer::new(Impl))
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.code(), 409);
    assert!(err.detail().contains("endpoint `get` response"), "{err}");
    assert!(err.detail().contains(r#"{"type":"string"}"#), "{err}");
    let warned = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .schema_check(SchemaCheck::Warn)
        .handle(TextCounterServer::new(Impl))
        .start()
        .await
        .unwrap();
    warned.stop().await;
    same.stop().await;
    first.stop().await;
}

/// An order was placed.
#[derive(Debug, serde::Serialize, serde::Deserialize, JsonSchema)]
#[schemars(crate = "micro_core::schemars")]
pub struct OrderPlaced {
    /// The order's id.
    pub id: u64,
}

#[subscriber(topic = "order.placed")]
async fn on_order(_event: OrderPlaced) -> Result<(), Error> {
    Ok(())
}

#[test]
fn subscribers_carry_the_schema_of_their_event() {
    let all = micro_core::schema::subscriber_schemas();
    let order = all
        .iter()
        .find(|s| s.topic == "order.placed")
        .expect("the subscriber is registered");
    assert!(order.handler.ends_with("::on_order"), "{}", order.handler);
    assert_eq!(order.queue, None);
    let schema = &order.schema;
    assert_eq!(schema["$schema"], micro_core::schema::DIALECT);
    assert_eq!(schema["title"], "OrderPlaced");
    assert_eq!(schema["description"], "An order was placed.");
    assert_eq!(schema["properties"]["id"]["type"], "integer");
    assert_eq!(schema["properties"]["id"]["description"], "The order's id.");
    assert_eq!(schema["required"], serde_json::json!(["id"]));
}
