//! Streams over a real nats-server: each kind in both codecs, flow control, errors,
//! cancellation from either side, a peer that vanishes, a gap on the wire, many streams at once,
//! STATS and a stream cut off by a stopping service.

#![allow(missing_docs, missing_debug_implementations)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use bytes::Bytes;
use common::*;
use futures::{StreamExt as _, TryStreamExt as _};
use micro_core::codec::ContentType;
use micro_core::prelude::*;
use micro_core::registry::Registry as _;
use micro_core::stream::StreamConfig;
use serde::{Deserialize, Serialize};
use test_support::NatsServer;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// One item of `ticks`.
pub struct Tick {
    pub seq: u64,
    pub label: String,
}

/// Streams of every kind.
#[service(name = "feed", version = "1.0.0")]
pub trait Feed {
    /// `n` ticks; fails with 422 after `fail_after` of them, if set.
    async fn ticks(&self, n: u64, fail_after: Option<u64>) -> Result<Streaming<Tick>, Error>;
    /// The sum of the numbers sent.
    async fn sum(&self, numbers: Streaming<u64>) -> Result<u64, Error>;
    /// Each number sent, doubled.
    async fn double(&self, numbers: Streaming<u64>) -> Result<Streaming<u64>, Error>;
    /// Counts up until its reader goes away.
    async fn forever(&self) -> Result<Streaming<u64>, Error>;
    /// Reads `take` numbers, then stops reading and answers how many it read.
    async fn take(&self, take: u64, numbers: Streaming<u64>) -> Result<u64, Error>;
    /// Takes `ms` to produce its (empty) stream.
    async fn late(&self, ms: u64) -> Result<Streaming<u64>, Error>;
    /// `n` strings of `size` bytes each.
    async fn big(&self, n: u64, size: usize) -> Result<Streaming<String>, Error>;
    /// The total length of the strings sent.
    async fn measure(&self, strings: Streaming<String>) -> Result<u64, Error>;
    /// Holds the strings sent without reading them, for `ms`.
    async fn hold(&self, ms: u64, strings: Streaming<String>) -> Result<u64, Error>;
    /// `rounds` times: 120 small strings, then 10 of `LARGE` bytes.
    async fn mixed(&self, rounds: u32) -> Result<Streaming<String>, Error>;
}

/// What the handlers saw, for the tests to check.
#[derive(Default)]
pub struct Seen {
    /// Items `forever` handed to its stream.
    pub sent: AtomicU64,
    /// `forever`'s sender failed: its reader is gone.
    pub closed: AtomicBool,
}

#[derive(Clone, Default)]
pub struct FeedImpl(Arc<Seen>);

impl Feed for FeedImpl {
    async fn ticks(&self, n: u64, fail_after: Option<u64>) -> Result<Streaming<Tick>, Error> {
        let ticks = futures::stream::iter(1..=n).map(move |seq| match fail_after {
            Some(after) if seq > after => Err(Error::new(422, format!("failed after {after}"))),
            _ => Ok(Tick {
                seq,
                label: format!("tick {seq}"),
            }),
        });
        Ok(Streaming::try_new(ticks))
    }

    async fn sum(&self, mut numbers: Streaming<u64>) -> Result<u64, Error> {
        let mut sum = 0;
        while let Some(n) = numbers.next().await {
            sum += n?;
        }
        Ok(sum)
    }

    async fn double(&self, numbers: Streaming<u64>) -> Result<Streaming<u64>, Error> {
        Ok(Streaming::try_new(numbers.map(|n| n.map(|n| n * 2))))
    }

    async fn forever(&self) -> Result<Streaming<u64>, Error> {
        let (tx, items) = Streaming::channel(1);
        let seen = Arc::clone(&self.0);
        tokio::spawn(async move {
            for i in 0u64.. {
                if tx.send(i).await.is_err() {
                    seen.closed.store(true, Ordering::SeqCst);
                    return;
                }
                seen.sent.fetch_add(1, Ordering::SeqCst);
            }
        });
        Ok(items)
    }

    async fn take(&self, take: u64, mut numbers: Streaming<u64>) -> Result<u64, Error> {
        let mut read = 0;
        while read < take {
            match numbers.next().await {
                Some(n) => {
                    n?;
                    read += 1;
                }
                None => break,
            }
        }
        Ok(read)
    }

    async fn late(&self, ms: u64) -> Result<Streaming<u64>, Error> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(Streaming::empty())
    }

    async fn big(&self, n: u64, size: usize) -> Result<Streaming<String>, Error> {
        Ok(Streaming::iter((0..n).map(move |_| "x".repeat(size))))
    }

    async fn mixed(&self, rounds: u32) -> Result<Streaming<String>, Error> {
        let round = (0..120)
            .map(|_| "s".to_owned())
            .chain((0..10).map(|_| "L".repeat(LARGE)));
        let items: Vec<String> = (0..rounds).flat_map(|_| round.clone()).collect();
        Ok(Streaming::iter(items))
    }

    async fn hold(&self, ms: u64, strings: Streaming<String>) -> Result<u64, Error> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        drop(strings);
        Ok(0)
    }

    async fn measure(&self, mut strings: Streaming<String>) -> Result<u64, Error> {
        let mut total = 0;
        while let Some(s) = strings.next().await {
            total += s?.len() as u64;
        }
        Ok(total)
    }
}

async fn serve(
    server: &NatsServer,
    feed: FeedImpl,
) -> (micro_core::service::Running, micro_nats::Nats) {
    let nats = connect(server).await;
    let running = Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .handle(FeedServer::new(feed))
        .start()
        .await
        .unwrap();
    (running, nats)
}

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("the test took too long")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_in_both_codecs() {
    let server = NatsServer::start();
    let (running, nats) = serve(&server, FeedImpl::default()).await;
    for codec in [ContentType::Json, ContentType::MsgPack] {
        let feed = FeedClient::new(&nats.micro_client().with_content_type(codec));
        within(async {
            let ticks: Vec<Tick> = feed
                .ticks(500, None)
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            assert_eq!(ticks.len(), 500, "{codec:?}");
            assert!(
                ticks
                    .iter()
                    .enumerate()
                    .all(|(i, t)| t.seq == i as u64 + 1 && t.label == format!("tick {}", i + 1))
            );
            assert_eq!(
                feed.sum(Streaming::iter(1..=1000)).await.unwrap(),
                500_500,
                "{codec:?}"
            );
            let doubled: Vec<u64> = feed
                .double(Streaming::iter(1..=300))
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            assert_eq!(
                doubled,
                (1..=300).map(|n| n * 2).collect::<Vec<_>>(),
                "{codec:?}"
            );
            // An error mid-stream arrives after the items before it, with its code.
            let mut ticks = feed.ticks(10, Some(4)).await.unwrap();
            for seq in 1..=4 {
                assert_eq!(ticks.next().await.unwrap().unwrap().seq, seq);
            }
            let err = ticks.next().await.unwrap().unwrap_err();
            assert_eq!(err.code(), 422, "{codec:?}: {err}");
            assert!(ticks.next().await.is_none());
        })
        .await;
    }
    // A stream is one request in STATS, an error mid-stream one error.
    let stats = nats.registry().stats(Some("feed")).await.unwrap();
    let ticks = stats[0]
        .endpoints
        .iter()
        .find(|e| e.name == "ticks")
        .unwrap();
    assert_eq!((ticks.num_requests, ticks.num_errors), (4, 2));
    // The kinds are announced.
    let instances = nats.registry().get_service("feed").await.unwrap();
    let kind = |name: &str| {
        instances[0]
            .endpoints
            .iter()
            .find(|e| e.name == name)
            .unwrap()
            .metadata["kind"]
            .clone()
    };
    assert_eq!(kind("ticks"), "server_stream");
    assert_eq!(kind("sum"), "client_stream");
    assert_eq!(kind("double"), "bidirectional");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_items_with_the_reader_holding_at_most_its_window() {
    const N: u64 = 1_000_000;
    let server = NatsServer::start();
    let (running, nats) = serve(&server, FeedImpl::default()).await;
    let client = nats.micro_client().with_content_type(ContentType::MsgPack);
    let feed = FeedClient::new(&client.with_stream_config(StreamConfig::default().window(256)));
    within(async {
        let mut ticks = feed.ticks(N, None).await.unwrap();
        let (mut next, mut most) = (1, 0);
        while let Some(tick) = ticks.next().await {
            assert_eq!(tick.unwrap().seq, next);
            next += 1;
            most = most.max(ticks.buffered_len());
            if next % 100_000 == 0 {
                // A pause, for the sender to run ahead if it could.
                tokio::time::sleep(Duration::from_millis(20)).await;
                most = most.max(ticks.buffered_len());
            }
        }
        assert_eq!(next, N + 1);
        assert!(most <= 256, "{most} items buffered with a window of 256");
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_holds_the_sender_back_and_dropping_it_stops_the_handler() {
    let server = NatsServer::start();
    let feed_impl = FeedImpl::default();
    let seen = Arc::clone(&feed_impl.0);
    let (running, nats) = serve(&server, feed_impl).await;
    let feed = FeedClient::new(
        &nats
            .micro_client()
            .with_stream_config(StreamConfig::default().window(32)),
    );
    within(async {
        let mut items = feed.forever().await.unwrap();
        for want in 0..200 {
            assert_eq!(items.next().await.unwrap().unwrap(), want);
            if want % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                // The sender runs at most a window (and its own one-item channel) ahead.
                let sent = seen.sent.load(Ordering::SeqCst);
                assert!(
                    sent <= want + 1 + 32 + 2,
                    "{sent} sent when {want} were read"
                );
            }
        }
        drop(items);
        while !seen.closed.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        while running.in_flight() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_stops_reading_stops_the_sender() {
    let server = NatsServer::start();
    let (running, nats) = serve(&server, FeedImpl::default()).await;
    let feed = FeedClient::new(
        &nats
            .micro_client()
            .with_stream_config(StreamConfig::default().window(16)),
    );
    let pulled = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&pulled);
    let numbers = Streaming::new(futures::stream::iter(0u64..).inspect(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    }));
    let read = within(feed.take(10, numbers)).await.unwrap();
    assert_eq!(read, 10);
    // An endless stream was pulled only as far as the server's credit allowed.
    let pulled = pulled.load(Ordering::SeqCst);
    assert!(pulled <= 10 + 16 + 16, "{pulled} items pulled");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_streams_at_once_on_one_connection() {
    let server = NatsServer::start();
    let (running, nats) = serve(&server, FeedImpl::default()).await;
    let feed = FeedClient::new(&nats.micro_client());
    let streams = (0..300).map(|_| {
        let feed = feed.clone();
        async move {
            let ticks: Vec<Tick> = feed.ticks(100, None).await?.try_collect().await?;
            Ok::<_, Error>(ticks.len())
        }
    });
    let counts = within(futures::future::join_all(streams)).await;
    assert!(counts.iter().all(|c| matches!(c, Ok(100))), "{counts:?}");
    running.stop().await;
}

/// A raw NATS client playing the server of `feed.ticks`: accepts the stream, sends the items
/// given (their numbers as written), then falls silent.
async fn fake_server(server: &NatsServer, seqs: Vec<u64>) -> tokio::task::JoinHandle<()> {
    let messages = seqs
        .into_iter()
        .map(|seq| {
            let mut item = HeaderMap::new();
            item.insert("Micro-Seq", seq.to_string().as_str());
            (item, tick_body(seq))
        })
        .collect();
    fake_server_sending(server, messages).await
}

/// A tick as the fake server sends it, in JSON.
fn tick_body(seq: u64) -> Bytes {
    serde_json::to_vec(&Tick {
        seq,
        label: String::new(),
    })
    .unwrap()
    .into()
}

/// A batch's body as PROTOCOL.md writes it: each item's length (4 bytes, big-endian), then
/// the item.
fn batch_body(items: &[Bytes]) -> Bytes {
    let mut body = Vec::new();
    for item in items {
        body.extend_from_slice(&u32::try_from(item.len()).unwrap().to_be_bytes());
        body.extend_from_slice(item);
    }
    body.into()
}

/// The items of a batch's body, read as PROTOCOL.md writes it.
fn batch_items(mut body: &[u8]) -> Vec<Vec<u8>> {
    let mut items = Vec::new();
    while !body.is_empty() {
        let (len, rest) = body.split_at(4);
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        items.push(rest[..len].to_vec());
        body = &rest[len..];
    }
    items
}

/// [`fake_server`], sending the messages given (headers and body) after the open frame.
async fn fake_server_sending(
    server: &NatsServer,
    messages: Vec<(HeaderMap, Bytes)>,
) -> tokio::task::JoinHandle<()> {
    let raw = raw(server).await;
    let mut requests = raw.subscribe("feed.ticks").await.unwrap();
    sync(&raw).await;
    tokio::spawn(async move {
        let Some(request) = requests.next().await else {
            return;
        };
        let reply = request.reply.unwrap();
        let inbox = raw.new_inbox();
        let _frames = raw.subscribe(inbox.clone()).await.unwrap();
        let mut open = HeaderMap::new();
        open.insert("Micro-Stream", "open");
        open.insert("Micro-Credit", "0");
        raw.publish_with_reply_and_headers(
            reply.clone(),
            async_nats::Subject::from(inbox.clone()),
            open,
            Bytes::new(),
        )
        .await
        .unwrap();
        for (headers, body) in messages {
            raw.publish_with_reply_and_headers(
                reply.clone(),
                async_nats::Subject::from(inbox.clone()),
                headers,
                body,
            )
            .await
            .unwrap();
        }
        raw.flush().await.unwrap();
        // Silent from here on, as a killed process would be.
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_on_the_wire_is_an_error() {
    let server = NatsServer::start();
    let _fake = fake_server(&server, vec![1, 2, 4]).await;
    let nats = connect(&server).await;
    let feed = FeedClient::new(&nats.micro_client());
    let mut ticks = within(feed.ticks(3, None)).await.unwrap();
    assert_eq!(ticks.next().await.unwrap().unwrap().seq, 1);
    assert_eq!(ticks.next().await.unwrap().unwrap().seq, 2);
    let err = within(ticks.next()).await.unwrap().unwrap_err();
    assert_eq!(err.code(), 502, "{err}");
    assert!(err.to_string().contains("a gap"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_on_the_wire_are_read_and_a_malformed_one_is_an_error() {
    let server = NatsServer::start();
    let batch = |first: u64, seqs: std::ops::RangeInclusive<u64>, claimed: usize| {
        let items: Vec<Bytes> = seqs.map(tick_body).collect();
        let mut headers = HeaderMap::new();
        headers.insert("Micro-Seq", first.to_string().as_str());
        headers.insert("Micro-Batch", claimed.to_string().as_str());
        (headers, batch_body(&items))
    };
    // Items 1-3 in a batch, then a batch that claims three items but carries two.
    let _fake = fake_server_sending(&server, vec![batch(1, 1..=3, 3), batch(4, 4..=5, 3)]).await;
    let nats = connect(&server).await;
    let feed = FeedClient::new(&nats.micro_client());
    let mut ticks = within(feed.ticks(6, None)).await.unwrap();
    for seq in 1..=3 {
        assert_eq!(ticks.next().await.unwrap().unwrap().seq, seq);
    }
    let err = within(ticks.next()).await.unwrap().unwrap_err();
    assert_eq!(err.code(), 502, "{err}");
    assert!(err.to_string().contains("not a valid batch"), "{err}");
    assert!(
        within(ticks.next()).await.is_none(),
        "an error ends the stream"
    );
}

/// What a raw reader of `feed.ticks` with `n` items receives: the item messages (headers and
/// the items each carries), up to the end marker.
async fn read_raw(
    server: &NatsServer,
    n: u64,
    batch: Option<&str>,
) -> Vec<(HeaderMap, Vec<Vec<u8>>)> {
    let raw = raw(server).await;
    let inbox = raw.new_inbox();
    let mut frames = raw.subscribe(inbox.clone()).await.unwrap();
    let mut open = HeaderMap::new();
    open.insert("Micro-Credit", "1000");
    open.insert("Content-Type", "application/json");
    if let Some(batch) = batch {
        open.insert("Micro-Batch", batch);
    }
    raw.publish_with_reply_and_headers(
        "feed.ticks",
        async_nats::Subject::from(inbox),
        open,
        Bytes::from(format!(r#"{{"n":{n}}}"#)),
    )
    .await
    .unwrap();
    let mut messages = Vec::new();
    within(async {
        while let Some(frame) = frames.next().await {
            match header(&frame, "Micro-Stream") {
                Some("end") => break,
                Some(_) => continue,
                None => {}
            }
            assert!(header(&frame, "Micro-Seq").is_some(), "{frame:?}");
            let items = match header(&frame, "Micro-Batch") {
                Some(_) => batch_items(&frame.payload),
                None => vec![frame.payload.to_vec()],
            };
            messages.push((frame.headers.clone().unwrap_or_default(), items));
        }
    })
    .await;
    messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_gets_batches_only_if_it_takes_them_as_documented() {
    let server = NatsServer::start();
    let (running, _nats) = serve(&server, FeedImpl::default()).await;
    for batch in [None, Some("1"), Some("16")] {
        let messages = read_raw(&server, 300, batch).await;
        let mut next = 1;
        for (headers, items) in &messages {
            // Numbered by the first item, the rest following without a gap.
            let first: u64 = headers.get("Micro-Seq").unwrap().as_str().parse().unwrap();
            assert_eq!(first, next, "{batch:?}");
            if let Some(n) = headers.get("Micro-Batch") {
                let n: usize = n.as_str().parse().unwrap();
                assert_eq!(n, items.len(), "{batch:?}");
                assert!((2..=16).contains(&n), "{batch:?}: a batch of {n}");
            }
            // The codec was fixed at opening: items are not labelled one by one.
            assert!(headers.get("Content-Type").is_none(), "{batch:?}");
            for item in items {
                let tick: Tick = serde_json::from_slice(item).unwrap();
                assert_eq!(tick.seq, next, "{batch:?}");
                next += 1;
            }
        }
        assert_eq!(next, 301, "{batch:?}: every item once");
        let batched = messages.iter().any(|(h, _)| h.get("Micro-Batch").is_some());
        // The handler's items are all ready at once: a reader that takes batches gets some.
        assert_eq!(
            batched,
            batch == Some("16"),
            "{batch:?}: {} messages",
            messages.len()
        );
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_past_its_deadline_fails_even_if_the_server_says_nothing() {
    // Regression: once open, a client's stream outlived its caller's deadline when the server
    // did not end it (one that ignores `Micro-Timeout`, or fell silent): it waited for the idle
    // timeout instead.
    let server = NatsServer::start();
    let _fake = fake_server(&server, vec![1]).await;
    let nats = connect(&server).await;
    let feed = FeedClient::new(&nats.micro_client());
    let context = micro_core::Context::new().with_timeout(Duration::from_millis(500));
    let mut ticks = within(context.scope(feed.ticks(3, None))).await.unwrap();
    assert_eq!(ticks.next().await.unwrap().unwrap().seq, 1);
    let started = Instant::now();
    let err = within(ticks.next()).await.unwrap().unwrap_err();
    assert_eq!(err.code(), 408, "{err}");
    assert!(err.to_string().contains("deadline"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_vanishes_is_detected_within_the_idle_timeout() {
    let server = NatsServer::start();
    let _fake = fake_server(&server, vec![1]).await;
    let nats = connect(&server).await;
    let heartbeat = Duration::from_millis(100);
    let feed = FeedClient::new(
        &nats
            .micro_client()
            .with_stream_config(StreamConfig::default().heartbeat(heartbeat)),
    );
    let mut ticks = within(feed.ticks(3, None)).await.unwrap();
    assert_eq!(ticks.next().await.unwrap().unwrap().seq, 1);
    let started = Instant::now();
    let err = within(ticks.next()).await.unwrap().unwrap_err();
    assert_eq!(err.code(), 408, "{err}");
    let waited = started.elapsed();
    assert!(
        waited >= heartbeat * 2 && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_vanishes_is_detected_and_the_handler_stopped() {
    let server = NatsServer::start();
    let feed_impl = FeedImpl::default();
    let seen = Arc::clone(&feed_impl.0);
    let (running, _nats) = serve(&server, feed_impl).await;
    // A raw client opens `forever` with a 50 ms heartbeat, reads the open frame, then says
    // nothing more, as a killed process would.
    let raw = raw(&server).await;
    let inbox = raw.new_inbox();
    let mut frames = raw.subscribe(inbox.clone()).await.unwrap();
    let mut open = HeaderMap::new();
    open.insert("Micro-Credit", "4");
    open.insert("Micro-Heartbeat", "50");
    raw.publish_with_reply_and_headers(
        "feed.forever",
        async_nats::Subject::from(inbox),
        open,
        Bytes::new(),
    )
    .await
    .unwrap();
    let first = within(frames.next()).await.unwrap();
    assert_eq!(header(&first, "Micro-Stream"), Some("open"));
    let started = Instant::now();
    within(async {
        while !seen.closed.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    // Only the credit granted was sent.
    assert!(seen.sent.load(Ordering::SeqCst) <= 4 + 2);
    // The frames that did come: the items, heartbeats, and the timeout that ended the stream.
    let mut items = 0;
    while let Ok(Some(frame)) =
        tokio::time::timeout(Duration::from_millis(500), frames.next()).await
    {
        if header(&frame, "Nats-Service-Error-Code").is_some() {
            assert_eq!(header(&frame, "Nats-Service-Error-Code"), Some("408"));
            break;
        }
        if header(&frame, "Micro-Seq").is_some() {
            items += 1;
        }
    }
    assert_eq!(items, 4);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_service_ends_its_open_streams_with_an_error() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .shutdown_timeout(Duration::from_millis(300))
        .handle(FeedServer::new(FeedImpl::default()))
        .start()
        .await
        .unwrap();
    let feed = FeedClient::new(&nats.micro_client());
    let mut items = within(feed.forever()).await.unwrap();
    assert_eq!(items.next().await.unwrap().unwrap(), 0);
    let stopping = tokio::spawn(running.stop());
    let err = within(async {
        loop {
            match items.next().await {
                Some(Ok(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
                Some(Err(err)) => break err,
                None => panic!("a cut-off stream ended as if complete"),
            }
        }
    })
    .await;
    assert_eq!(err.code(), 503, "{err}");
    assert!(err.to_string().contains("shutting down"), "{err}");
    within(stopping).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unary_caller_of_a_stream_and_a_stream_caller_of_a_unary_endpoint_fail_loudly() {
    let server = NatsServer::start();
    let (running, nats) = serve(&server, FeedImpl::default()).await;
    let client = nats.micro_client();
    // Called as a unary endpoint, a server stream answers with items: an error, not the first.
    let err = within(client.call_raw(
        "feed",
        "ticks",
        ContentType::Json,
        Bytes::from_static(b"{\"n\":3}"),
    ))
    .await
    .unwrap_err();
    assert_eq!(err.code(), 502, "{err}");
    assert!(err.to_string().contains("stream"), "{err}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_whose_process_died_is_detected_at_the_next_frame() {
    let server = NatsServer::start();
    let feed_impl = FeedImpl::default();
    let seen = Arc::clone(&feed_impl.0);
    let (running, _nats) = serve(&server, feed_impl).await;
    // A caller with a 1 s heartbeat (3 s idle timeout) whose connection then closes, as its
    // process's would if killed: its inbox goes with it.
    let raw = raw(&server).await;
    let inbox = raw.new_inbox();
    let mut frames = raw.subscribe(inbox.clone()).await.unwrap();
    let mut open = HeaderMap::new();
    open.insert("Micro-Credit", "2");
    open.insert("Micro-Heartbeat", "1000");
    raw.publish_with_reply_and_headers(
        "feed.forever",
        async_nats::Subject::from(inbox),
        open,
        Bytes::new(),
    )
    .await
    .unwrap();
    let first = within(frames.next()).await.unwrap();
    assert_eq!(header(&first, "Micro-Stream"), Some("open"));
    drop(frames);
    drop(raw);
    let started = Instant::now();
    within(async {
        while !seen.closed.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    // nats-server's "no responders" answer to the server's next frame (its first heartbeat)
    // says the inbox is gone: sooner than the idle timeout.
    let waited = started.elapsed();
    assert!(waited < Duration::from_millis(2500), "{waited:?}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_timeout_bounds_the_opening_of_a_stream() {
    let server = NatsServer::start();
    let (running, nats) = serve(&server, FeedImpl::default()).await;
    let feed = FeedClient::new(&nats.micro_client().with_timeout(Duration::from_millis(200)));
    let started = Instant::now();
    let err = within(feed.late(3_000)).await.unwrap_err();
    assert_eq!(err.code(), 408, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Within it, the stream opens and ends.
    let mut items = within(feed.late(10)).await.unwrap();
    assert!(within(items.next()).await.is_none());
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_finishes_while_the_caller_still_sends_answers_every_time() {
    // Regression: the caller's frames carried its inbox as reply subject, so once the server's
    // end was gone nats-server answered them with "no responders", which could overtake the
    // server's reply and fail a finished stream with 503.
    let server = NatsServer::start();
    let (running, nats) = serve(&server, FeedImpl::default()).await;
    let feed = FeedClient::new(
        &nats
            .micro_client()
            .with_stream_config(StreamConfig::default().window(4096)),
    );
    for round in 0..10 {
        let calls = (0..20).map(|_| feed.take(50, Streaming::iter(0u64..)));
        let results = within(futures::future::join_all(calls)).await;
        for result in results {
            assert_eq!(result.as_ref().ok(), Some(&50), "round {round}: {result:?}");
        }
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_stream_header_is_a_400_and_a_unary_caller_stops_the_stream() {
    let server = NatsServer::start();
    let feed_impl = FeedImpl::default();
    let seen = Arc::clone(&feed_impl.0);
    let (running, nats) = serve(&server, feed_impl).await;
    let raw = raw(&server).await;
    let mut open = HeaderMap::new();
    open.insert("Micro-Credit", "-1");
    let reply = within(raw.request_with_headers("feed.forever", open, Bytes::new()))
        .await
        .unwrap();
    assert_eq!(header(&reply, "Nats-Service-Error-Code"), Some("400"));
    assert!(!seen.closed.load(Ordering::SeqCst) && seen.sent.load(Ordering::SeqCst) == 0);

    // Called as a unary endpoint, `forever` would stream for nobody: the caller's failure
    // cancels it at the server.
    let err =
        within(
            nats.micro_client()
                .call_raw("feed", "forever", ContentType::Json, Bytes::new()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), 502, "{err}");
    within(async {
        while !seen.closed.load(Ordering::SeqCst) || running.in_flight() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opening_dropped_before_the_server_answered_cancels_the_handler() {
    let server = NatsServer::start();
    let (running, nats) = serve(&server, FeedImpl::default()).await;
    let feed = FeedClient::new(&nats.micro_client());
    let opening = tokio::spawn(async move { feed.late(5_000).await.map(|_| ()) });
    within(async {
        while running.in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    opening.abort();
    let started = Instant::now();
    within(async {
        while running.in_flight() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    running.stop().await;
}

/// Half the largest message of a default nats-server: items of this size make a byte window,
/// not the item window, the limit.
const LARGE: usize = 512 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_items_are_bounded_by_the_byte_window_both_ways() {
    let server = NatsServer::start();
    let (running, nats) = serve(&server, FeedImpl::default()).await;
    let feed = FeedClient::new(&nats.micro_client());
    let window = micro_core::stream::BYTE_WINDOW as usize;
    within(async {
        // A reader that does not read: what it buffers is bounded by the byte window (plus
        // the one item a sender may overshoot by), not by its window of 256 items.
        let mut strings = feed.big(60, LARGE).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let buffered = strings.buffered_len();
        assert!(
            buffered >= 2 && buffered * LARGE <= window + LARGE,
            "{buffered} large items buffered"
        );
        let mut n = 0;
        while let Some(s) = strings.next().await {
            assert_eq!(s.unwrap().len(), LARGE);
            n += 1;
        }
        assert_eq!(n, 60);
        // The other way: the client sends as the server's byte credit allows.
        let strings = Streaming::iter((0..60).map(|_| "y".repeat(LARGE)));
        assert_eq!(feed.measure(strings).await.unwrap(), 60 * LARGE as u64);
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_past_the_byte_credit_is_refused() {
    // A raw opener that ignores the server's byte credit (while keeping to its item credit)
    // cannot make the server buffer more than the byte window.
    let server = NatsServer::start();
    let (running, _nats) = serve(&server, FeedImpl::default()).await;
    let raw = raw(&server).await;
    let inbox = raw.new_inbox();
    let mut frames = raw.subscribe(inbox.clone()).await.unwrap();
    let mut open = HeaderMap::new();
    open.insert("Micro-Credit", "256");
    // It says it speaks byte credit (a peer that does not is not held to it).
    open.insert("Micro-Credit-Bytes", "8388608");
    open.insert("Content-Type", "application/json");
    raw.publish_with_reply_and_headers(
        "feed.hold",
        async_nats::Subject::from(inbox),
        open,
        Bytes::from_static(br#"{"ms":30000}"#),
    )
    .await
    .unwrap();
    let first = within(frames.next()).await.unwrap();
    assert_eq!(header(&first, "Micro-Stream"), Some("open"));
    let bytes: u64 = header(&first, "Micro-Credit-Bytes")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(bytes, micro_core::stream::BYTE_WINDOW);
    let credit: u64 = header(&first, "Micro-Credit").unwrap().parse().unwrap();
    let server_inbox = first.reply.clone().unwrap();
    // JSON strings of LARGE bytes: more bytes than granted, within the items granted.
    let item = Bytes::from(format!("\"{}\"", "z".repeat(LARGE - 2)));
    let items = (bytes as usize / LARGE + 2) as u64;
    assert!(
        items <= credit,
        "the item credit ({credit}) is the limit, not the bytes"
    );
    for seq in 1..=items {
        let mut headers = HeaderMap::new();
        headers.insert("Micro-Seq", seq.to_string().as_str());
        raw.publish_with_headers(server_inbox.clone(), headers, item.clone())
            .await
            .unwrap();
    }
    raw.flush().await.unwrap();
    let answer = within(async {
        loop {
            let frame = frames.next().await.unwrap();
            if header(&frame, "Nats-Service-Error-Code").is_some() {
                break frame;
            }
        }
    })
    .await;
    assert_eq!(header(&answer, "Nats-Service-Error-Code"), Some("400"));
    let what = header(&answer, "Nats-Service-Error").unwrap_or_default();
    assert!(what.contains("byte credit"), "{what}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_and_large_items_mixed_stay_within_the_byte_credit() {
    // Regression: the sender forgot the bytes by which its last item overshot the byte credit,
    // so a grant due on the item count (small items) let it send past what the receiver had
    // granted, and the receiver broke a healthy stream off ("sent past the byte credit").
    let server = NatsServer::start();
    let (running, nats) = serve(&server, FeedImpl::default()).await;
    let feed = FeedClient::new(&nats.micro_client());
    within(async {
        let mut strings = feed.mixed(6).await.unwrap();
        let mut n = 0;
        while let Some(s) = strings.next().await {
            let s = s.unwrap_or_else(|e| panic!("item {n}: {e}"));
            if s.len() == LARGE {
                // A reader slower on large items, so that the sender runs ahead of it.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            n += 1;
        }
        assert_eq!(n, 6 * 130);
    })
    .await;
    running.stop().await;
}
