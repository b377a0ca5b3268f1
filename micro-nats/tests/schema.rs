//! Endpoint schemas over a real nats-server: INFO carries a JSON Schema (2020-12) of every
//! request and reply, and an instance whose schemas differ from a running instance of the same
//! name and version is refused (or, when asked, only warned about).

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::connect;
use micro_core::prelude::*;
use micro_core::schema::{REQUEST_SCHEMA, RESPONSE_SCHEMA, SchemaCheck};
use micro_core::service::{Config, Running};
use micro_nats::Nats;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use test_support::NatsServer;

/// What `add` returns.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "micro_core::schemars")]
pub struct Total {
    /// `a + b`.
    pub total: i64,
    /// Who asked, when known.
    pub asked_by: Option<String>,
}

/// A type that derives no schema.
#[derive(Debug, Serialize, Deserialize)]
pub struct Opaque {
    /// Any byte.
    pub inner: u8,
}

/// Adds and greets.
#[service(name = "calc", version = "1.0.0")]
pub trait Calc {
    /// Says hello to `name`.
    async fn hello(&self, name: String) -> Result<String, Error>;
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> Result<Total, Error>;
    /// Takes and returns a type without a schema; `tag` may be left out.
    async fn opaque(&self, value: Opaque, tag: Option<String>) -> Result<Opaque, Error>;
}

/// `calc` 1.0.0 again, but `add` returns a bare number.
#[service(name = "calc", version = "1.0.0")]
pub trait OtherCalc {
    /// Says hello to `name`.
    async fn hello(&self, name: String) -> Result<String, Error>;
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> Result<i64, Error>;
}

/// The same shapes as [`Calc`], with other doc comments.
#[service(name = "calc", version = "1.0.0")]
pub trait Reworded {
    /// Greets.
    async fn hello(&self, name: String) -> Result<String, Error>;
    /// Sums.
    async fn add(&self, a: i64, b: i64) -> Result<Total, Error>;
}

struct Impl;

impl Calc for Impl {
    async fn hello(&self, name: String) -> Result<String, Error> {
        Ok(format!("Hello {name}"))
    }
    async fn add(&self, a: i64, b: i64) -> Result<Total, Error> {
        Ok(Total {
            total: a + b,
            asked_by: None,
        })
    }
    async fn opaque(&self, value: Opaque, _tag: Option<String>) -> Result<Opaque, Error> {
        Ok(value)
    }
}

impl OtherCalc for Impl {
    async fn hello(&self, name: String) -> Result<String, Error> {
        Ok(name)
    }
    async fn add(&self, a: i64, b: i64) -> Result<i64, Error> {
        Ok(a + b)
    }
}

impl Reworded for Impl {
    async fn hello(&self, name: String) -> Result<String, Error> {
        Ok(name)
    }
    async fn add(&self, a: i64, b: i64) -> Result<Total, Error> {
        Ok(Total {
            total: a + b,
            asked_by: None,
        })
    }
}

async fn start(
    nats: &Nats,
    service: Service,
    handler: impl micro_core::server::handler::Handler,
) -> Result<Running, Error> {
    service
        .backend(nats.backend())
        .only_explicit()
        .handle(handler)
        .start()
        .await
}

/// The INFO reply of `calc`, asked with a plain client as any NATS tool would.
async fn info(server: &NatsServer) -> Value {
    let raw = async_nats::connect(server.url()).await.unwrap();
    let reply = raw.request("$SRV.INFO.calc", Bytes::new()).await.unwrap();
    serde_json::from_slice(&reply.payload).unwrap()
}

/// The schema under `key` of endpoint `endpoint`, parsed.
fn schema(info: &Value, endpoint: &str, key: &str) -> Value {
    let endpoints = info["endpoints"].as_array().unwrap();
    let e = endpoints.iter().find(|e| e["name"] == endpoint).unwrap();
    let text = e["metadata"][key].as_str().unwrap();
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn info_carries_json_schemas_of_requests_and_replies() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = start(&nats, Service::builder(), CalcServer::new(Impl))
        .await
        .unwrap();
    let info = info(&server).await;

    let hello = schema(&info, "hello", REQUEST_SCHEMA);
    assert_eq!(
        hello["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(hello["type"], "object");
    assert_eq!(hello["description"], "Says hello to `name`.");
    assert_eq!(hello["properties"]["name"]["type"], "string");
    assert_eq!(hello["required"], json!(["name"]));
    let hello_reply = schema(&info, "hello", RESPONSE_SCHEMA);
    assert_eq!(hello_reply["type"], "string");
    assert_eq!(
        hello_reply["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );

    let add = schema(&info, "add", REQUEST_SCHEMA);
    assert_eq!(add["properties"]["a"]["type"], "integer");
    assert_eq!(add["properties"]["b"]["format"], "int64");
    assert_eq!(add["required"], json!(["a", "b"]));
    // The struct reply with its fields and the doc comments as descriptions.
    let total = schema(&info, "add", RESPONSE_SCHEMA);
    assert_eq!(total["title"], "Total");
    assert_eq!(total["description"], "What `add` returns.");
    assert_eq!(total["type"], "object");
    assert_eq!(total["properties"]["total"]["type"], "integer");
    assert_eq!(total["properties"]["total"]["description"], "`a + b`.");
    assert_eq!(
        total["properties"]["asked_by"]["type"],
        json!(["string", "null"])
    );
    assert_eq!(
        total["properties"]["asked_by"]["description"],
        "Who asked, when known."
    );

    // A type without `JsonSchema` still has a schema: anything, with its Rust name; an
    // `Option` argument is not required.
    let opaque = schema(&info, "opaque", REQUEST_SCHEMA);
    assert_eq!(
        opaque["properties"]["value"]["description"],
        "Rust type `Opaque` (no JsonSchema impl)"
    );
    assert_eq!(opaque["required"], json!(["value"]));
    assert_eq!(
        opaque["properties"]["tag"]["type"],
        json!(["string", "null"])
    );
    let opaque_reply = schema(&info, "opaque", RESPONSE_SCHEMA);
    assert_eq!(
        opaque_reply["description"],
        "Rust type `Opaque` (no JsonSchema impl)"
    );
    running.stop().await;
}

#[tokio::test]
async fn an_instance_with_other_schemas_is_refused_unless_told_to_warn() {
    let server = NatsServer::start();
    let nats = connect(&server).await;

    // Nothing else runs: the check costs no discovery timeout.
    let begun = Instant::now();
    let first = start(&nats, Service::builder(), CalcServer::new(Impl))
        .await
        .unwrap();
    assert!(
        begun.elapsed() < Duration::from_millis(250),
        "{:?}",
        begun.elapsed()
    );

    let err = start(&nats, Service::builder(), OtherCalcServer::new(Impl))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 409, "{err}");
    let text = err.detail();
    assert!(text.contains("service `calc` 1.0.0"), "{text}");
    assert!(text.contains("endpoint `add` response"), "{text}");
    assert!(text.contains(r#""type":"integer""#), "{text}");
    assert!(text.contains(r#""properties":{"asked_by""#), "{text}");
    assert!(text.contains(&first.instances()[0].id), "{text}");
    assert!(text.contains("MICRO_SCHEMA_CHECK=warn"), "{text}");
    // The refused instance left nothing behind: one instance answers.
    let instances = nats.backend().registry.get_service("calc").await.unwrap();
    assert_eq!(instances.len(), 1);

    // Told to warn (builder or configuration), it starts.
    let warned = start(
        &nats,
        Service::builder().schema_check(SchemaCheck::Warn),
        OtherCalcServer::new(Impl),
    )
    .await
    .unwrap();
    let configured = start(
        &nats,
        Service::with_config(Config::from_pairs([("schema-check", "warn")])),
        OtherCalcServer::new(Impl),
    )
    .await
    .unwrap();
    let off = start(
        &nats,
        Service::with_config(Config::from_pairs([("schema-check", "off")])),
        OtherCalcServer::new(Impl),
    )
    .await
    .unwrap();
    for r in [warned, configured, off] {
        r.stop().await;
    }

    // Same shapes with other docs, or another version: no conflict.
    let reworded = start(&nats, Service::builder(), RewordedServer::new(Impl))
        .await
        .unwrap();
    let v2 = start(
        &nats,
        Service::builder().version("2.0.0"),
        OtherCalcServer::new(Impl),
    )
    .await
    .unwrap();
    reworded.stop().await;
    v2.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn a_client_checks_its_compiled_descriptor_against_running_instances() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let client = nats.micro_client();
    let registry = client.registry().as_ref();
    // Nothing runs: nothing to disagree with.
    micro_core::schema::check_running(registry, OtherCalcClient::DESCRIPTOR)
        .await
        .unwrap();
    let running = start(&nats, Service::builder(), CalcServer::new(Impl))
        .await
        .unwrap();
    micro_core::schema::check_running(registry, CalcClient::DESCRIPTOR)
        .await
        .unwrap();
    micro_core::schema::check_running(registry, RewordedClient::DESCRIPTOR)
        .await
        .unwrap();
    let err = micro_core::schema::check_running(registry, OtherCalcClient::DESCRIPTOR)
        .await
        .unwrap_err();
    assert_eq!(err.code(), 409);
    assert!(err.detail().contains("endpoint `add` response"), "{err}");
    assert!(err.detail().contains(&running.instances()[0].id), "{err}");
    running.stop().await;
}
