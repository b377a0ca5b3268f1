//! Schemas: a type that derives `JsonSchema` through micro-core's re-export gets its full
//! schema, one that does not still compiles (with the "anything" schema naming it), under
//! `#![deny(warnings)]`; `#[cfg]`-ed methods and subscribers included.

#![deny(warnings)]

use micro_core::prelude::*;
use serde::{Deserialize, Serialize};

/// A point.
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "micro_core::schemars")]
pub struct Point {
    /// Across.
    pub x: i32,
}

/// No schema derived.
#[derive(Serialize, Deserialize)]
pub struct Plain {
    /// A byte.
    pub b: u8,
}

/// Both kinds.
#[service(name = "schemas", version = "1.0.0")]
pub trait Schemas {
    /// With a schema.
    async fn point(&self, p: Point, scale: Option<i32>) -> Result<Point, Error>;
    /// Without.
    async fn plain(&self, p: Plain) -> Result<Plain, Error>;
    /// No arguments, unit reply.
    async fn nothing(&self) -> Result<(), Error>;
    /// Compiled out.
    #[cfg(any())]
    async fn gone(&self, p: Plain) -> Result<Plain, Error>;
}

#[subscriber(topic = "points")]
async fn on_point(p: Point) -> Result<(), Error> {
    let _ = p.x;
    Ok(())
}

#[subscriber(topic = "plains")]
async fn on_plain(p: Plain) -> Result<(), Error> {
    let _ = p.b;
    Ok(())
}

fn main() {
    let endpoints = SchemasClient::DESCRIPTOR.endpoints;
    assert_eq!(endpoints.len(), 3);
    let point = endpoints[0].request_schema().unwrap();
    assert_eq!(point["required"][0], "p");
    assert_eq!(point["required"].as_array().map(Vec::len), Some(1));
    assert_eq!(point["properties"]["p"]["$ref"], "#/$defs/Point");
    assert_eq!(point["$defs"]["Point"]["properties"]["x"]["description"], "Across.");
    let reply = endpoints[0].response_schema().unwrap();
    assert_eq!(reply["title"], "Point");
    let plain = endpoints[1].response_schema().unwrap();
    assert_eq!(plain["description"], "Rust type `Plain` (no JsonSchema impl)");
    let nothing = endpoints[2].request_schema().unwrap();
    assert_eq!(nothing["properties"].as_object().map(|p| p.len()), Some(0));
    let events = micro_core::schema::subscriber_schemas();
    assert!(events.iter().any(|e| e.topic == "points" && e.schema["title"] == "Point"));
    assert!(events.iter().any(|e| e.topic == "plains"
        && e.schema["description"] == "Rust type `Plain` (no JsonSchema impl)"));
}
