//! The three stream kinds: a server stream, a client stream and a bidirectional one, with the
//! stream argument first, last and alone, written as `Streaming<T>` and by its full path, under
//! `#![deny(warnings)]`; with `#[micro(idempotent)]`, `#[cfg]`, and item types with and without
//! a `JsonSchema`. Checks the descriptor, then calls each through the generated client
//! in-process.

#![deny(warnings)]

use micro_core::descriptor::EndpointKind;
use micro_core::memory::Memory;
use micro_core::prelude::*;
use serde::{Deserialize, Serialize};

/// One tick.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "micro_core::schemars")]
pub struct Tick {
    /// Its number.
    pub n: u32,
}

/// A chunk of an upload.
#[derive(Debug, Serialize, Deserialize)]
pub struct Chunk {
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// What an upload amounted to.
#[derive(Debug, Serialize, Deserialize)]
pub struct Summary {
    /// The upload's name.
    pub name: String,
    /// Its size.
    pub bytes: usize,
}

/// Every kind of stream.
#[service(name = "feed", version = "1.0.0")]
pub trait Feed {
    /// `n` ticks.
    #[micro(idempotent)]
    async fn ticks(&self, n: u32) -> Result<Streaming<Tick>, Error>;
    /// An upload, the stream last.
    async fn upload(&self, name: String, chunks: Streaming<Chunk>) -> Result<Summary, Error>;
    /// The stream first.
    async fn tagged(
        &self,
        chunks: micro_core::stream::Streaming<Chunk>,
        tag: Option<String>,
    ) -> Result<usize, Error>;
    /// Both ways, the stream alone.
    async fn chat(&self, msgs: Streaming<String>) -> Result<Streaming<String>, Error>;
    /// Compiled out.
    #[cfg(any())]
    async fn gone(&self, msgs: Streaming<Chunk>) -> Result<Streaming<Chunk>, Error>;
}

#[derive(Default)]
struct MyFeed;

#[service]
impl Feed for MyFeed {
    async fn ticks(&self, n: u32) -> Result<Streaming<Tick>, Error> {
        Ok(Streaming::iter((0..n).map(|n| Tick { n })))
    }

    async fn upload(&self, name: String, chunks: Streaming<Chunk>) -> Result<Summary, Error> {
        use futures::TryStreamExt as _;
        let bytes = chunks
            .try_fold(0, |sum, chunk| async move { Ok(sum + chunk.bytes.len()) })
            .await?;
        Ok(Summary { name, bytes })
    }

    async fn tagged(
        &self,
        chunks: micro_core::stream::Streaming<Chunk>,
        tag: Option<String>,
    ) -> Result<usize, Error> {
        use futures::TryStreamExt as _;
        let chunks: Vec<Chunk> = chunks.try_collect().await?;
        Ok(chunks.len() + tag.map_or(0, |t| t.len()))
    }

    async fn chat(&self, msgs: Streaming<String>) -> Result<Streaming<String>, Error> {
        Ok(Streaming::try_new(msgs))
    }
}

fn assert_send<T: Send>(_: &T) {}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    use futures::TryStreamExt as _;

    let kinds: Vec<_> = FeedClient::DESCRIPTOR
        .endpoints
        .iter()
        .map(|e| (e.name, e.kind, e.response, e.input.map(|i| (i.name, i.ty))))
        .collect();
    assert_eq!(
        kinds,
        [
            ("ticks", EndpointKind::ServerStream, "Tick", None),
            ("upload", EndpointKind::ClientStream, "Summary", Some(("chunks", "Chunk"))),
            ("tagged", EndpointKind::ClientStream, "usize", Some(("chunks", "Chunk"))),
            ("chat", EndpointKind::Bidirectional, "String", Some(("msgs", "String"))),
        ]
    );
    let ticks = FeedClient::DESCRIPTOR.endpoint("ticks").unwrap();
    assert!(ticks.idempotent);
    // The reply schema of a stream is its item's.
    let schema = ticks.response_schema().unwrap();
    assert_eq!(schema["title"], "Tick", "{schema}");
    let upload = FeedClient::DESCRIPTOR.endpoint("upload").unwrap();
    assert_eq!(upload.request.iter().map(|f| f.name).collect::<Vec<_>>(), ["name"]);
    assert!(upload.input.unwrap().schema.is_some());

    let running = Service::builder()
        .backend(Memory::new().backend())
        .start()
        .await?;
    let feed = FeedClient::new(&running.client());
    let call = feed.ticks(3);
    assert_send(&call);
    let ticks: Vec<u32> = call.await?.map_ok(|t| t.n).try_collect().await?;
    assert_eq!(ticks, [0, 1, 2]);
    let chunks = || Streaming::iter([Chunk { bytes: vec![1, 2] }, Chunk { bytes: vec![3] }]);
    let call = feed.upload("a".into(), chunks());
    assert_send(&call);
    let summary = call.await?;
    assert_eq!((summary.name.as_str(), summary.bytes), ("a", 3));
    assert_eq!(feed.tagged(chunks(), Some("xy".into())).await?, 4);
    let call = feed.chat(Streaming::iter(["hi".to_owned(), "there".to_owned()]));
    assert_send(&call);
    let echoed: Vec<String> = call.await?.try_collect().await?;
    assert_eq!(echoed, ["hi", "there"]);
    running.stop().await;
    Ok(())
}
