//! Streaming endpoints as `#[service]` generates them, through the generated client and server
//! on the in-process backend: a server stream, a client stream and a bidirectional one; a
//! handler's refusal before its stream starts reaching the caller with its code; and what the
//! descriptor and INFO metadata say of each kind.

use std::future::Future;
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use micro::descriptor::EndpointKind;
use micro::memory::Memory;
use micro::prelude::*;
use serde::{Deserialize, Serialize};

/// One item of a server stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "micro::schemars")]
pub struct Tick {
    /// Its place in the stream, from 0.
    pub seq: u32,
}

/// What the bidirectional endpoint exchanges.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Msg {
    /// The text.
    pub text: String,
}

/// The three kinds of stream.
#[service(name = "stream-macro", version = "1.0.0")]
pub trait Feed {
    /// `n` ticks in order; more than 10 000 are refused before the stream starts.
    async fn ticks(&self, n: u32) -> Result<Streaming<Tick>, Error>;
    /// `offset` plus the sum of `numbers`; a negative offset is refused before reading any.
    async fn sum(&self, offset: i64, numbers: Streaming<i64>) -> Result<i64, Error>;
    /// Each message back with `prefix` before it; an empty prefix is refused.
    async fn echo(&self, msgs: Streaming<Msg>, prefix: String) -> Result<Streaming<Msg>, Error>;
}

struct MyFeed;

impl Feed for MyFeed {
    async fn ticks(&self, n: u32) -> Result<Streaming<Tick>, Error> {
        if n > 10_000 {
            return Err(Error::payload_too_large(format!("{n} ticks is too many")));
        }
        Ok(Streaming::iter((0..n).map(|seq| Tick { seq })))
    }

    async fn sum(&self, offset: i64, mut numbers: Streaming<i64>) -> Result<i64, Error> {
        if offset < 0 {
            return Err(Error::bad_request("a negative offset"));
        }
        let mut sum = offset;
        while let Some(n) = numbers.next().await {
            sum += n?;
        }
        Ok(sum)
    }

    async fn echo(&self, msgs: Streaming<Msg>, prefix: String) -> Result<Streaming<Msg>, Error> {
        if prefix.is_empty() {
            return Err(Error::conflict("an empty prefix"));
        }
        Ok(Streaming::try_new(msgs.map_ok(move |m| Msg {
            text: format!("{prefix}{}", m.text),
        })))
    }
}

/// Runs `test` against a fresh in-process instance of `MyFeed`, within a time limit.
async fn with_feed<F, Fut>(test: F)
where
    F: FnOnce(FeedClient) -> Fut,
    Fut: Future<Output = ()>,
{
    let running = Service::builder()
        .backend(Memory::new().backend())
        .only_explicit()
        .handle(FeedServer::new(MyFeed))
        .start()
        .await
        .expect("the service starts");
    let feed = FeedClient::new(&running.client());
    tokio::time::timeout(Duration::from_secs(30), test(feed))
        .await
        .expect("the test finishes within 30 s");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stream_of_1000_in_order() {
    with_feed(|feed| async move {
        let ticks: Vec<Tick> = feed
            .ticks(1000)
            .await
            .expect("opens")
            .try_collect()
            .await
            .expect("every tick");
        let expected: Vec<Tick> = (0..1000).map(|seq| Tick { seq }).collect();
        assert_eq!(ticks, expected);

        let none: Vec<Tick> = feed.ticks(0).await.unwrap().try_collect().await.unwrap();
        assert!(none.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_stream_sums() {
    with_feed(|feed| async move {
        let sum = feed.sum(5, Streaming::iter(1..=1000)).await.expect("sums");
        assert_eq!(sum, 5 + 500_500);
        assert_eq!(feed.sum(7, Streaming::empty()).await.unwrap(), 7);

        // Items the caller makes as it goes, through a channel.
        let (tx, numbers) = Streaming::channel(4);
        let feeder = tokio::spawn(async move {
            for n in [10, 20, 30] {
                tx.send(n).await.expect("the server takes it");
            }
        });
        assert_eq!(feed.sum(0, numbers).await.unwrap(), 60);
        feeder.await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidirectional_echo() {
    with_feed(|feed| async move {
        let msgs = (0..100).map(|i| Msg {
            text: i.to_string(),
        });
        let echoed: Vec<String> = feed
            .echo(Streaming::iter(msgs), "> ".into())
            .await
            .expect("opens")
            .map_ok(|m| m.text)
            .try_collect()
            .await
            .expect("every echo");
        let expected: Vec<String> = (0..100).map(|i| format!("> {i}")).collect();
        assert_eq!(echoed, expected);

        // One message at a time: each echo comes back before the next is sent.
        let (tx, msgs) = Streaming::channel(1);
        let mut echoes = feed.echo(msgs, "re: ".into()).await.expect("opens");
        for text in ["a", "b", "c"] {
            tx.send(Msg { text: text.into() }).await.unwrap();
            let echo = echoes.next().await.expect("an echo").expect("not an error");
            assert_eq!(echo.text, format!("re: {text}"));
        }
        drop(tx);
        assert!(
            echoes.next().await.is_none(),
            "the stream ends with the input"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusal_before_streaming_reaches_the_caller() {
    with_feed(|feed| async move {
        let err = feed.ticks(10_001).await.expect_err("refused");
        assert_eq!(err.code(), 413, "{err:?}");
        assert!(err.detail().contains("too many"), "{err:?}");

        let err = feed
            .sum(-1, Streaming::iter([1, 2, 3]))
            .await
            .expect_err("refused");
        assert_eq!(err.code(), 400, "{err:?}");
        assert!(err.detail().contains("negative offset"), "{err:?}");

        // A bidirectional handler is handed the caller's stream, so it runs once the stream is
        // open: its refusal may come as the stream's error rather than the opening's.
        let err = match feed
            .echo(Streaming::iter([Msg { text: "x".into() }]), String::new())
            .await
        {
            Err(err) => err,
            Ok(mut echoes) => echoes
                .next()
                .await
                .expect("an error, not the end")
                .expect_err("refused"),
        };
        assert_eq!(err.code(), 409, "{err:?}");
        assert!(err.detail().contains("empty prefix"), "{err:?}");

        // The endpoints still serve after refusing.
        let ticks: Vec<Tick> = feed.ticks(2).await.unwrap().try_collect().await.unwrap();
        assert_eq!(ticks.len(), 2);
    })
    .await;
}

#[test]
fn descriptor_kinds_and_inputs() {
    let descriptor = FeedClient::DESCRIPTOR;
    let ticks = descriptor.endpoint("ticks").unwrap();
    assert_eq!(ticks.kind, EndpointKind::ServerStream);
    assert_eq!(ticks.response, "Tick");
    assert_eq!(ticks.input, None);
    assert_eq!(
        ticks.request.iter().map(|f| f.name).collect::<Vec<_>>(),
        ["n"]
    );
    // The reply schema of a server stream is its item's.
    let schema = ticks.response_schema().unwrap();
    assert_eq!(schema["title"], "Tick", "{schema}");

    let sum = descriptor.endpoint("sum").unwrap();
    assert_eq!(sum.kind, EndpointKind::ClientStream);
    assert_eq!(sum.response, "i64");
    let input = sum.input.expect("a stream argument");
    assert_eq!((input.name, input.ty), ("numbers", "i64"));
    // The stream argument is not a field of the request object.
    assert_eq!(
        sum.request.iter().map(|f| f.name).collect::<Vec<_>>(),
        ["offset"]
    );
    let request = sum.request_schema().unwrap();
    assert!(request["properties"].get("numbers").is_none(), "{request}");
    assert_eq!(input.schema.unwrap().build()["type"], "integer");

    let echo = descriptor.endpoint("echo").unwrap();
    assert_eq!(echo.kind, EndpointKind::Bidirectional);
    assert_eq!(echo.response, "Msg");
    let input = echo.input.expect("a stream argument");
    assert_eq!((input.name, input.ty), ("msgs", "Msg"));
    assert_eq!(
        echo.request.iter().map(|f| f.name).collect::<Vec<_>>(),
        ["prefix"]
    );

    let metadata = echo.metadata();
    assert_eq!(metadata["kind"], "bidirectional");
    assert_eq!(metadata["input"], "Msg");
    assert_eq!(metadata["response"], "Msg");
    assert_eq!(ticks.metadata()["kind"], "server_stream");
    assert_eq!(sum.metadata()["kind"], "client_stream");
}
