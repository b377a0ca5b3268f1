//! Every argument and reply shape, through the generated client and server on the in-process
//! backend, and how each looks in the descriptor.

#![deny(warnings)]

use std::collections::BTreeMap;

use micro_core::memory::Memory;
use micro_core::prelude::*;
use serde::{Deserialize, Serialize};

/// A user struct.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// X.
    pub x: i32,
    /// Y.
    pub y: i32,
}

/// Every shape.
#[service(version = "2.0.0-rc.1+build.5")]
pub trait ShapeShifter {
    /// No arguments.
    async fn none(&self) -> Result<String, Error>;
    /// One argument.
    async fn one(&self, name: String) -> Result<usize, Error>;
    /// Several arguments.
    async fn several(&self, a: i64, b: f64, c: bool) -> Result<String, Error>;
    /// A struct both ways.
    async fn point(&self, p: Point) -> Result<Point, Error>;
    /// Options may be omitted.
    async fn maybe(&self, n: Option<u32>, label: Option<String>) -> Result<Option<u32>, Error>;
    /// Vectors.
    async fn vectors(&self, items: Vec<Point>) -> Result<Vec<i32>, Error>;
    /// Nested generics.
    async fn nested(
        &self,
        map: BTreeMap<String, Vec<Option<u8>>>,
    ) -> Result<(usize, Vec<String>), Error>;
    /// Unit reply.
    async fn unit(&self, v: u8) -> Result<(), Error>;
    /// A fixed-size array.
    async fn array(&self, bytes: [u8; 4]) -> Result<std::result::Result<u8, String>, Error>;
}

#[derive(Default)]
struct Impl;

#[service]
impl ShapeShifter for Impl {
    async fn none(&self) -> Result<String, Error> {
        Ok("none".into())
    }
    async fn one(&self, name: String) -> Result<usize, Error> {
        Ok(name.len())
    }
    async fn several(&self, a: i64, b: f64, c: bool) -> Result<String, Error> {
        Ok(format!("{a} {b} {c}"))
    }
    async fn point(&self, p: Point) -> Result<Point, Error> {
        Ok(Point { x: p.y, y: p.x })
    }
    async fn maybe(&self, n: Option<u32>, label: Option<String>) -> Result<Option<u32>, Error> {
        Ok(n.map(|n| n + label.map_or(0, |l| u32::try_from(l.len()).unwrap_or(u32::MAX))))
    }
    async fn vectors(&self, items: Vec<Point>) -> Result<Vec<i32>, Error> {
        Ok(items.iter().map(|p| p.x + p.y).collect())
    }
    async fn nested(
        &self,
        map: BTreeMap<String, Vec<Option<u8>>>,
    ) -> Result<(usize, Vec<String>), Error> {
        Ok((map.values().flatten().flatten().count(), map.into_keys().collect()))
    }
    async fn unit(&self, _v: u8) -> Result<(), Error> {
        Ok(())
    }
    async fn array(&self, bytes: [u8; 4]) -> Result<std::result::Result<u8, String>, Error> {
        Ok(Ok(bytes.iter().sum()))
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let d = ShapeShifterClient::DESCRIPTOR;
    assert_eq!(d.name, "shape-shifter");
    assert_eq!(d.version, "2.0.0-rc.1+build.5");
    assert_eq!(d.trait_name, "ShapeShifter");
    assert_eq!(d.description, "Every shape.");
    let shape = |name: &str| {
        let e = d.endpoint(name).expect(name);
        let fields: Vec<String> = e.request.iter().map(|f| format!("{}: {}", f.name, f.ty)).collect();
        (fields.join(", "), e.response)
    };
    assert_eq!(shape("none"), (String::new(), "String"));
    assert_eq!(shape("several"), ("a: i64, b: f64, c: bool".into(), "String"));
    assert_eq!(shape("maybe"), ("n: Option<u32>, label: Option<String>".into(), "Option<u32>"));
    assert_eq!(
        shape("nested"),
        ("map: BTreeMap<String, Vec<Option<u8>>>".into(), "(usize, Vec<String>)")
    );
    assert_eq!(shape("unit"), ("v: u8".into(), "()"));
    assert_eq!(shape("array"), ("bytes: [u8; 4]".into(), "std::result::Result<u8, String>"));
    let names: Vec<&str> = d.endpoints.iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        ["none", "one", "several", "point", "maybe", "vectors", "nested", "unit", "array"]
    );

    let memory = Memory::new();
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .handle(ShapeShifterServer::new(Impl))
        .start()
        .await?;
    let c = ShapeShifterClient::new(&running.client());
    assert_eq!(c.none().await?, "none");
    assert_eq!(c.one("four".into()).await?, 4);
    assert_eq!(c.several(1, 2.5, true).await?, "1 2.5 true");
    assert_eq!(c.point(Point { x: 1, y: 2 }).await?, Point { x: 2, y: 1 });
    assert_eq!(c.maybe(Some(1), Some("ab".into())).await?, Some(3));
    assert_eq!(c.maybe(None, None).await?, None);
    assert_eq!(c.vectors(vec![Point { x: 1, y: 2 }]).await?, vec![3]);
    let map = BTreeMap::from([("k".to_owned(), vec![Some(1), None])]);
    assert_eq!(c.nested(map).await?, (1, vec!["k".to_owned()]));
    c.unit(1).await?;
    assert_eq!(c.array([1, 2, 3, 4]).await?, Ok(10));

    // The wire shape: arguments as an object keyed by name, `Option`s may be omitted, the
    // reply is the bare value.
    let raw = running.client();
    let reply: Option<u32> = raw.invoke("shape-shifter", "maybe", &serde_json_like::Empty {}).await?;
    assert_eq!(reply, None);
    let reply: String = raw
        .invoke("shape-shifter", "several", &serde_json_like::Several { a: 2, b: 0.5, c: false })
        .await?;
    assert_eq!(reply, "2 0.5 false");
    running.stop().await;
    Ok(())
}

mod serde_json_like {
    use serde::Serialize;

    #[derive(Serialize)]
    pub(crate) struct Empty {}

    #[derive(Serialize)]
    pub(crate) struct Several {
        pub(crate) a: i64,
        pub(crate) b: f64,
        pub(crate) c: bool,
    }
}
