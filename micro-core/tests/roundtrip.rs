//! Every endpoint shape, in both codecs, through the generated client and server on the
#![allow(missing_docs)]
//! in-process backend.

use std::collections::BTreeMap;

use micro_core::codec::ContentType;
use micro_core::memory::Memory;
use micro_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    pub name: String,
    pub points: Vec<Point>,
    pub tags: BTreeMap<String, Option<u8>>,
    pub kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Kind {
    Open,
    Closed { filled: bool },
}

/// Every shape an endpoint can take.
#[service(name = "shapes", version = "2.1.0-rc.1")]
pub trait Shapes {
    /// No arguments.
    async fn nothing(&self) -> Result<String, Error>;
    /// One argument.
    async fn one(&self, name: String) -> Result<usize, Error>;
    /// Several arguments.
    async fn several(&self, a: i64, b: f64, c: bool, d: char) -> Result<String, Error>;
    /// A struct in, a struct out.
    async fn structs(&self, p: Point) -> Result<Point, Error>;
    /// Options both ways.
    async fn options(
        &self,
        maybe: Option<u32>,
        label: Option<String>,
    ) -> Result<Option<u32>, Error>;
    /// Vectors both ways.
    async fn vectors(&self, items: Vec<Point>) -> Result<Vec<i32>, Error>;
    /// Nested generic types.
    async fn nested(
        &self,
        shape: Shape,
        extra: Vec<Option<Vec<u8>>>,
    ) -> Result<(Shape, usize), Error>;
    /// Unit return.
    async fn unit(&self, v: u8) -> Result<(), Error>;
    /// Bytes-like payloads survive both codecs.
    async fn bytes(&self, data: Vec<u8>) -> Result<Vec<u8>, Error>;
}

struct Impl;

impl Shapes for Impl {
    async fn nothing(&self) -> Result<String, Error> {
        Ok("nothing".into())
    }
    async fn one(&self, name: String) -> Result<usize, Error> {
        Ok(name.len())
    }
    async fn several(&self, a: i64, b: f64, c: bool, d: char) -> Result<String, Error> {
        Ok(format!("{a}|{b}|{c}|{d}"))
    }
    async fn structs(&self, p: Point) -> Result<Point, Error> {
        Ok(Point { x: p.y, y: p.x })
    }
    async fn options(
        &self,
        maybe: Option<u32>,
        label: Option<String>,
    ) -> Result<Option<u32>, Error> {
        Ok(maybe.map(|m| m + label.map_or(0, |l| l.len() as u32)))
    }
    async fn vectors(&self, items: Vec<Point>) -> Result<Vec<i32>, Error> {
        Ok(items.iter().map(|p| p.x * p.y).collect())
    }
    async fn nested(
        &self,
        shape: Shape,
        extra: Vec<Option<Vec<u8>>>,
    ) -> Result<(Shape, usize), Error> {
        Ok((shape, extra.iter().flatten().map(Vec::len).sum()))
    }
    async fn unit(&self, v: u8) -> Result<(), Error> {
        if v == 0 {
            return Err(Error::bad_request("v must be positive"));
        }
        Ok(())
    }
    async fn bytes(&self, data: Vec<u8>) -> Result<Vec<u8>, Error> {
        Ok(data.into_iter().rev().collect())
    }
}

async fn start() -> micro_core::service::Running {
    Service::builder()
        .backend(Memory::new().backend())
        .only_explicit()
        .handle(ShapesServer::new(Impl))
        .start()
        .await
        .expect("service starts")
}

#[tokio::test]
async fn every_shape_in_both_codecs() {
    let running = start().await;
    for codec in [ContentType::Json, ContentType::MsgPack] {
        let c = ShapesClient::new(&running.client().with_content_type(codec));
        assert_eq!(c.nothing().await.unwrap(), "nothing");
        assert_eq!(c.one("four".into()).await.unwrap(), 4);
        assert_eq!(
            c.several(-7, 2.5, true, 'λ').await.unwrap(),
            "-7|2.5|true|λ"
        );
        assert_eq!(
            c.structs(Point { x: 1, y: 2 }).await.unwrap(),
            Point { x: 2, y: 1 }
        );
        assert_eq!(
            c.options(Some(1), Some("ab".into())).await.unwrap(),
            Some(3)
        );
        assert_eq!(c.options(None, None).await.unwrap(), None);
        assert_eq!(
            c.vectors(vec![Point { x: 2, y: 3 }, Point { x: -1, y: 4 }])
                .await
                .unwrap(),
            vec![6, -4]
        );
        assert_eq!(c.vectors(vec![]).await.unwrap(), Vec::<i32>::new());
        let shape = Shape {
            name: "tri".into(),
            points: vec![Point { x: 0, y: 0 }, Point { x: 1, y: 1 }],
            tags: BTreeMap::from([("a".to_owned(), Some(1)), ("b".to_owned(), None)]),
            kind: Kind::Closed { filled: true },
        };
        let (back, n) = c
            .nested(shape.clone(), vec![Some(vec![1, 2]), None, Some(vec![3])])
            .await
            .unwrap();
        assert_eq!(back, shape);
        assert_eq!(n, 3);
        c.unit(1).await.unwrap();
        assert_eq!(c.unit(0).await.unwrap_err().code(), 400);
        assert_eq!(c.bytes(vec![0, 255, 7]).await.unwrap(), vec![7, 255, 0]);
    }
    running.stop().await;
}

#[tokio::test]
async fn wire_format_is_an_object_keyed_by_parameter_name() {
    let running = start().await;
    let client = running.client();
    // Plain JSON, as any language would send it.
    let reply = client
        .call_raw(
            "shapes",
            "several",
            ContentType::Json,
            r#"{"a":1,"b":0.5,"c":false,"d":"x"}"#.into(),
        )
        .await
        .unwrap();
    assert_eq!(reply.content_type, ContentType::Json);
    assert_eq!(&reply.body[..], br#""1|0.5|false|x""#);
    // No payload at all for an endpoint without arguments.
    let reply = client
        .call_raw("shapes", "nothing", ContentType::Json, bytes::Bytes::new())
        .await
        .unwrap();
    assert_eq!(&reply.body[..], br#""nothing""#);
    // Option arguments may be left out.
    let reply = client
        .call_raw("shapes", "options", ContentType::Json, "{}".into())
        .await
        .unwrap();
    assert_eq!(&reply.body[..], b"null");
    // The server answers in the request's codec.
    let body = ContentType::MsgPack
        .encode(&serde_json::json!({"name": "abc"}))
        .unwrap();
    let reply = client
        .call_raw("shapes", "one", ContentType::MsgPack, body)
        .await
        .unwrap();
    assert_eq!(reply.content_type, ContentType::MsgPack);
    assert_eq!(reply.decode::<usize>().unwrap(), 3);
    running.stop().await;
}

#[tokio::test]
async fn descriptor_describes_the_trait() {
    let d = ShapesClient::DESCRIPTOR;
    assert_eq!(d.name, "shapes");
    assert_eq!(d.version, "2.1.0-rc.1");
    assert_eq!(d.description, "Every shape an endpoint can take.");
    let names: Vec<&str> = d.endpoints.iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        [
            "nothing", "one", "several", "structs", "options", "vectors", "nested", "unit", "bytes"
        ]
    );
    let several = d.endpoint("several").unwrap();
    assert_eq!(several.doc, "Several arguments.");
    assert_eq!(
        several.request_shape(),
        r#"{"a":"i64","b":"f64","c":"bool","d":"char"}"#
    );
    assert_eq!(several.response, "String");
    assert_eq!(d.endpoint("unit").unwrap().response, "()");
    assert_eq!(
        d.endpoint("nested").unwrap().request[1].ty,
        "Vec<Option<Vec<u8>>>"
    );
}
