//! Shared by the integration tests: services to serve and helpers to start them on a private
//! nats-server.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::Duration;

use micro_core::prelude::*;
use micro_core::service::Running;
use micro_nats::{Nats, NatsOptions};
use serde::{Deserialize, Serialize};
use test_support::NatsServer;

/// Connects to `server` with a short discovery timeout.
pub async fn connect(server: &NatsServer) -> Nats {
    Nats::connect(
        NatsOptions::new()
            .url(&server.url())
            .name("micro-nats-test")
            .discovery_timeout(Duration::from_millis(250)),
    )
    .await
    .expect("connects to the test server")
}

/// A plain async-nats client, the way a tool in another language talks to our services.
pub async fn raw(server: &NatsServer) -> async_nats::Client {
    async_nats::connect(server.url())
        .await
        .expect("raw client connects")
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Kind {
    Open,
    Closed { filled: bool },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    pub name: String,
    pub points: Vec<Point>,
    pub tags: BTreeMap<String, Option<u8>>,
    pub kind: Kind,
}

/// Waits until the server has processed what `raw` sent so far (its `flush` only empties the
/// socket buffer): publish to a subscribed inbox and wait for the echo.
pub async fn sync(raw: &async_nats::Client) {
    use futures::StreamExt;
    let inbox = raw.new_inbox();
    let mut echo = raw.subscribe(inbox.clone()).await.unwrap();
    raw.publish(inbox, bytes::Bytes::new()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), echo.next())
        .await
        .expect("echo within 5 s");
}

/// Every endpoint shape.
#[service(name = "shapes", version = "2.1.0")]
pub trait Shapes {
    /// No arguments.
    async fn nothing(&self) -> Result<String, Error>;
    /// Several arguments.
    async fn several(&self, a: i64, b: f64, c: bool, d: char) -> Result<String, Error>;
    /// A struct in, a struct out.
    async fn structs(&self, p: Point) -> Result<Point, Error>;
    /// Options both ways.
    async fn options(&self, maybe: Option<u32>) -> Result<Option<u32>, Error>;
    /// Nested generic types.
    async fn nested(
        &self,
        shape: Shape,
        extra: Vec<Option<Vec<u8>>>,
    ) -> Result<(Shape, usize), Error>;
    /// Unit return; fails for zero.
    async fn unit(&self, v: u8) -> Result<(), Error>;
    /// Bytes both ways.
    async fn bytes(&self, data: Vec<u8>) -> Result<Vec<u8>, Error>;
    /// Echoes a metadata entry and the time left of the call.
    async fn context(&self, key: String) -> Result<(Option<String>, Option<u64>), Error>;
    /// Sleeps, then answers.
    async fn slow(&self, millis: u64) -> Result<u64, Error>;
}

#[derive(Default)]
pub struct ShapesImpl;

impl Shapes for ShapesImpl {
    async fn nothing(&self) -> Result<String, Error> {
        Ok("nothing".into())
    }
    async fn several(&self, a: i64, b: f64, c: bool, d: char) -> Result<String, Error> {
        Ok(format!("{a}|{b}|{c}|{d}"))
    }
    async fn structs(&self, p: Point) -> Result<Point, Error> {
        Ok(Point { x: p.y, y: p.x })
    }
    async fn options(&self, maybe: Option<u32>) -> Result<Option<u32>, Error> {
        Ok(maybe.map(|m| m * 2))
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
    async fn context(&self, key: String) -> Result<(Option<String>, Option<u64>), Error> {
        let ctx = Context::current();
        Ok((
            ctx.metadata().get(&key).map(str::to_owned),
            ctx.time_left().map(|d| d.as_millis() as u64),
        ))
    }
    async fn slow(&self, millis: u64) -> Result<u64, Error> {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Ok(millis)
    }
}

/// Says which instance answered.
#[service(name = "who", version = "1.0.0")]
pub trait Who {
    /// The instance's tag.
    async fn who(&self) -> Result<String, Error>;
}

pub struct Tagged(pub String);

impl Who for Tagged {
    async fn who(&self) -> Result<String, Error> {
        Ok(self.0.clone())
    }
}

/// Serves `shapes` on `nats`.
pub async fn serve_shapes(nats: &Nats) -> Running {
    Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .metadata("lang", "rust")
        .handle(ShapesServer::new(ShapesImpl))
        .start()
        .await
        .expect("shapes starts")
}

/// Serves `who` answering `tag` on `nats`.
pub async fn serve_who(nats: &Nats, tag: &str) -> Running {
    Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .handle(WhoServer::new(Tagged(tag.to_owned())))
        .start()
        .await
        .expect("who starts")
}

/// A header of a raw reply.
pub fn header<'a>(msg: &'a async_nats::Message, key: &str) -> Option<&'a str> {
    msg.headers
        .as_ref()?
        .get(key)
        .map(async_nats::HeaderValue::as_str)
}

/// What the process logs through `tracing` (at `filter`, an env-filter directive), for tests
/// that count log lines. Installed once per test binary, as the global subscriber: put such a
/// test in a file of its own, so no other test's lines are counted.
#[derive(Clone, Default)]
pub struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    pub fn capture(filter: &str) -> Logs {
        static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Logs::default();
            let writer = logs.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in this test binary");
            logs
        })
        .clone()
    }

    /// The lines logged so far that contain `needle`.
    pub fn lines(&self, needle: &str) -> Vec<String> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|line| line.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut bytes) = self.0.lock() {
            bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
