//! Streams in-process: each kind end to end, flow control, errors and cancellation, on the
//! runtime alone (a handler built by hand, as `#[service]` would build it).
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use micro_core::__private as private;
use micro_core::descriptor::{EndpointDescriptor, FieldDescriptor, ServiceDescriptor, StreamInput};
use micro_core::memory::Memory;
use micro_core::server::handler::{DynHandler, endpoint_try_fn};
use micro_core::stream::{StreamConfig, Streaming};
use micro_core::transport::Call;
use micro_core::{Client, Error, Service};
use serde::Deserialize;

static TICKS: [FieldDescriptor; 1] = [FieldDescriptor::new("n", "u64")];
static ENDPOINTS: [EndpointDescriptor; 4] = [
    EndpointDescriptor::unary("ticks", "ticks", "", &TICKS, "u64").server_stream(),
    EndpointDescriptor::unary("sum", "sum", "", &[], "u64")
        .with_input(StreamInput::new("numbers", "u64", None), false),
    EndpointDescriptor::unary("double", "double", "", &[], "u64")
        .with_input(StreamInput::new("numbers", "u64", None), true),
    EndpointDescriptor::unary("forever", "forever", "", &[], "u64").server_stream(),
];
static FEED: ServiceDescriptor = ServiceDescriptor::new("feed", "1.0.0", "", "Feed", &ENDPOINTS);

#[derive(Deserialize)]
struct TicksArgs {
    n: u64,
    #[serde(default)]
    fail_at: Option<u64>,
}

/// What the `forever` handler saw: how many items it sent, and whether its sender failed
/// (the stream was cancelled from the other end).
#[derive(Default)]
struct Seen {
    sent: AtomicU64,
    closed: AtomicBool,
    /// A late handler was dropped before it produced its stream.
    dropped_late: AtomicBool,
}

/// `forever`'s optional argument: how long the handler takes before it answers.
#[derive(Deserialize, serde::Serialize)]
struct Late {
    ms: u64,
}

/// Sets [`Seen::dropped_late`] if dropped while armed.
struct DropFlag(Arc<Seen>, bool);

impl Drop for DropFlag {
    fn drop(&mut self) {
        if self.1 {
            self.0.dropped_late.store(true, Ordering::SeqCst);
        }
    }
}

fn feed(seen: Arc<Seen>) -> DynHandler {
    let state = Arc::new(());
    DynHandler::new(
        &FEED,
        vec![
            endpoint_try_fn(state.clone(), |_, mut call: Call| {
                let args: TicksArgs = private::decode_args(&call)?;
                let open = private::stream_open(&mut call)?;
                Ok(private::serve_server_stream(
                    open,
                    call.content_type,
                    "feed.ticks",
                    async move {
                        if args.n > 1_000_000_000 {
                            return Err(Error::bad_request("too many"));
                        }
                        let items =
                            futures::stream::iter(1..=args.n).map(move |i| match args.fail_at {
                                Some(at) if i > at => {
                                    Err(Error::new(422, format!("failed after {at}")))
                                }
                                _ => Ok(i),
                            });
                        Ok(Streaming::try_new(items))
                    },
                ))
            }),
            endpoint_try_fn(state.clone(), |_, mut call: Call| {
                let open = private::stream_open(&mut call)?;
                Ok(private::serve_client_stream(
                    open,
                    call.content_type,
                    "feed.sum",
                    |mut numbers: Streaming<u64>| async move {
                        let mut sum = 0u64;
                        while let Some(n) = numbers.next().await {
                            sum += n?;
                        }
                        Ok(sum)
                    },
                ))
            }),
            endpoint_try_fn(state.clone(), |_, mut call: Call| {
                let open = private::stream_open(&mut call)?;
                Ok(private::serve_bidi_stream(
                    open,
                    call.content_type,
                    "feed.double",
                    |numbers: Streaming<u64>| async move {
                        Ok(Streaming::try_new(numbers.map(|n| n.map(|n| n * 2))))
                    },
                ))
            }),
            endpoint_try_fn(seen, |seen: Arc<Seen>, mut call: Call| {
                let late: Option<Late> = private::decode_args(&call)?;
                let open = private::stream_open(&mut call)?;
                Ok(private::serve_server_stream(
                    open,
                    call.content_type,
                    "feed.forever",
                    async move {
                        if let Some(late) = late {
                            let mut flag = DropFlag(Arc::clone(&seen), true);
                            tokio::time::sleep(Duration::from_millis(late.ms)).await;
                            flag.1 = false;
                        }
                        let (tx, items) = Streaming::channel(1);
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
                    },
                ))
            }),
        ],
    )
}

async fn start(seen: Arc<Seen>) -> (micro_core::service::Running, Client) {
    let memory = Memory::new();
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .handle(feed(seen))
        .start()
        .await
        .unwrap();
    (running, memory.client())
}

#[derive(serde::Serialize)]
struct Ticks {
    n: u64,
    fail_at: Option<u64>,
}

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("the test took too long")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stream_delivers_every_item_in_order_then_ends() {
    let (running, client) = start(Arc::default()).await;
    within(async {
        let items: Vec<u64> = client
            .server_stream::<_, u64>(
                "feed",
                "ticks",
                &Ticks {
                    n: 1000,
                    fail_at: None,
                },
            )
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(items, (1..=1000).collect::<Vec<_>>());
        // An empty stream is a stream too.
        let mut none = client
            .server_stream::<_, u64>(
                "feed",
                "ticks",
                &Ticks {
                    n: 0,
                    fail_at: None,
                },
            )
            .await
            .unwrap();
        assert!(none.next().await.is_none());
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_before_streaming_is_the_answer_to_the_open() {
    let (running, client) = start(Arc::default()).await;
    let err = within(client.server_stream::<_, u64>(
        "feed",
        "ticks",
        &Ticks {
            n: 2_000_000_000,
            fail_at: None,
        },
    ))
    .await
    .unwrap_err();
    assert_eq!(err.code(), 400, "{err}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_mid_stream_reaches_the_reader_after_the_items_before_it() {
    let (running, client) = start(Arc::default()).await;
    within(async {
        let mut items = client
            .server_stream::<_, u64>(
                "feed",
                "ticks",
                &Ticks {
                    n: 10,
                    fail_at: Some(3),
                },
            )
            .await
            .unwrap();
        for want in 1..=3 {
            assert_eq!(items.next().await.unwrap().unwrap(), want);
        }
        let err = items.next().await.unwrap().unwrap_err();
        assert_eq!(err.code(), 422, "{err}");
        assert!(items.next().await.is_none());
    })
    .await;
    let stats = client.registry().stats(Some("feed")).await.unwrap();
    let ticks = stats[0]
        .endpoints
        .iter()
        .find(|e| e.name == "ticks")
        .unwrap();
    assert_eq!((ticks.num_requests, ticks.num_errors), (1, 1));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_stream_and_a_bidirectional_stream() {
    let (running, client) = start(Arc::default()).await;
    within(async {
        let sum: u64 = client
            .client_stream("feed", "sum", &(), Streaming::iter(1..=10_000u64))
            .await
            .unwrap();
        assert_eq!(sum, 10_000 * 10_001 / 2);
        let doubled: Vec<u64> = client
            .bidi_stream::<_, u64, u64>("feed", "double", &(), Streaming::iter(1..=2_000u64))
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(doubled, (1..=2_000).map(|n| n * 2).collect::<Vec<_>>());
        // An error in the items sent reaches the handler, and its failure the caller.
        let failing = Streaming::try_new(futures::stream::iter(vec![
            Ok(1u64),
            Err(Error::new(409, "the sender failed")),
        ]));
        let err = client
            .client_stream::<_, u64, u64>("feed", "sum", &(), failing)
            .await
            .unwrap_err();
        assert_eq!(err.code(), 409, "{err}");
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_holds_at_most_its_window() {
    let (running, client) = start(Arc::default()).await;
    let client = client.with_stream_config(StreamConfig::default().window(16));
    within(async {
        let mut items = client
            .server_stream::<_, u64>(
                "feed",
                "ticks",
                &Ticks {
                    n: 100_000,
                    fail_at: None,
                },
            )
            .await
            .unwrap();
        let mut max = 0;
        let mut expected = 1;
        while let Some(item) = items.next().await {
            assert_eq!(item.unwrap(), expected);
            expected += 1;
            max = max.max(items.buffered_len());
            if expected % 10_000 == 0 {
                // Give the sender every chance to overrun the window.
                tokio::time::sleep(Duration::from_millis(5)).await;
                max = max.max(items.buffered_len());
            }
        }
        assert_eq!(expected, 100_001);
        assert!(max <= 16, "{max} items buffered with a window of 16");
        assert!(max > 0, "the sender never got ahead");
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_reader_stops_the_handler() {
    let seen = Arc::new(Seen::default());
    let (running, client) = start(seen.clone()).await;
    within(async {
        let mut items = client
            .server_stream::<_, u64>("feed", "forever", &())
            .await
            .unwrap();
        for want in 0..100 {
            assert_eq!(items.next().await.unwrap().unwrap(), want);
        }
        drop(items);
        while !seen.closed.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Credit bounds what was sent past what was read.
        assert!(seen.sent.load(Ordering::SeqCst) < 100 + 256 + 8);
        while running.in_flight() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    running.stop().await;
}

/// A transport that tampers with the frames a client receives: drops or repeats item `at`,
/// or swallows every frame after it (a peer that vanished without a word).
#[derive(Debug)]
struct Tamper {
    inner: Arc<dyn micro_core::transport::Transport>,
    at: u64,
    how: How,
    /// The first item and item count of every frame of items, received and sent.
    seen: Arc<Frames>,
}

#[derive(Debug, Default)]
struct Frames {
    received: std::sync::Mutex<Vec<(u64, u64)>>,
    sent: std::sync::Mutex<Vec<(u64, u64)>>,
}

/// Records the frames of items a client sends.
struct Recording {
    inner: Arc<dyn micro_core::stream::FrameSink>,
    seen: Arc<Frames>,
}

impl micro_core::stream::FrameSink for Recording {
    fn send(
        &self,
        frame: micro_core::stream::Frame,
    ) -> futures::future::BoxFuture<'_, Result<(), Error>> {
        if let Some(range) = items_of(&frame) {
            self.seen.sent.lock().unwrap().push(range);
        }
        self.inner.send(frame)
    }
}

#[derive(Clone, Copy, Debug)]
enum How {
    Drop,
    Repeat,
    Vanish,
    /// Only record.
    Pass,
}

impl micro_core::transport::Transport for Tamper {
    fn request(
        &self,
        call: Call,
    ) -> futures::future::BoxFuture<'_, Result<micro_core::transport::Reply, Error>> {
        self.inner.request(call)
    }

    fn listen(
        &self,
        spec: micro_core::transport::ListenSpec,
    ) -> futures::future::BoxFuture<'_, Result<micro_core::transport::Listener, Error>> {
        self.inner.listen(spec)
    }

    fn open_stream(
        &self,
        call: Call,
    ) -> futures::future::BoxFuture<'_, Result<micro_core::stream::Link, Error>> {
        let (at, how) = (self.at, self.how);
        let seen = Arc::clone(&self.seen);
        Box::pin(async move {
            let mut link = self.inner.open_stream(call).await?;
            link.sink = Arc::new(Recording {
                inner: Arc::clone(&link.sink),
                seen: Arc::clone(&seen),
            });
            let frames = std::mem::replace(&mut link.frames, futures::stream::pending().boxed());
            let mut vanished = false;
            link.frames = frames
                .flat_map(move |frame| {
                    // The frame (one item, or a batch) that carries item `at` is tampered with
                    // as a whole, as a message is lost or repeated on the wire.
                    let range = items_of(&frame);
                    if let Some(range) = range {
                        seen.received.lock().unwrap().push(range);
                    }
                    let carries = range.is_some_and(|(first, n)| (first..first + n).contains(&at));
                    let out = match how {
                        _ if vanished => vec![],
                        How::Drop if carries => vec![],
                        How::Repeat if carries => vec![copy(&frame), frame],
                        How::Vanish if carries => {
                            vanished = true;
                            vec![frame]
                        }
                        _ => vec![frame],
                    };
                    futures::stream::iter(out)
                })
                // A vanished peer's link stays open: only its silence can tell.
                .chain(futures::stream::pending())
                .boxed();
            Ok(link)
        })
    }
}

/// The first item and the item count of a frame of items.
fn items_of(frame: &micro_core::stream::Frame) -> Option<(u64, u64)> {
    use micro_core::stream::Frame;
    match frame {
        Frame::Item { seq, .. } => Some((*seq, 1)),
        Frame::Batch { first, items } => Some((*first, items.len() as u64)),
        _ => None,
    }
}

/// A copy of a frame of items.
fn copy(frame: &micro_core::stream::Frame) -> micro_core::stream::Frame {
    use micro_core::stream::Frame;
    match frame {
        Frame::Item { seq, body } => Frame::Item {
            seq: *seq,
            body: body.clone(),
        },
        Frame::Batch { first, items } => Frame::Batch {
            first: *first,
            items: items.clone(),
        },
        other => panic!("not a frame of items: {other:?}"),
    }
}

async fn tampered(
    at: u64,
    how: How,
    heartbeat: Duration,
) -> (micro_core::service::Running, Client) {
    let memory = Memory::new();
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .handle(feed(Arc::default()))
        .start()
        .await
        .unwrap();
    let transport = Arc::new(Tamper {
        inner: memory.transport().clone(),
        at,
        how,
        seen: Arc::default(),
    });
    let client = Client::new(
        transport,
        memory.broker().clone(),
        memory.registry().clone(),
    )
    .with_stream_config(StreamConfig::default().heartbeat(heartbeat));
    (running, client)
}

/// Reads a stream to its end: the items before the first error, and the error.
async fn read_all(mut items: Streaming<u64>) -> (Vec<u64>, Option<Error>) {
    let mut got = Vec::new();
    while let Some(item) = items.next().await {
        match item {
            Ok(n) => got.push(n),
            Err(err) => {
                assert!(items.next().await.is_none(), "an error ends the stream");
                return (got, Some(err));
            }
        }
    }
    (got, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_or_repeated_item_is_an_error_never_a_shorter_stream() {
    for how in [How::Drop, How::Repeat] {
        let (running, client) = tampered(500, how, Duration::from_secs(5)).await;
        let items = within(client.server_stream::<_, u64>(
            "feed",
            "ticks",
            &Ticks {
                n: 1000,
                fail_at: None,
            },
        ))
        .await
        .unwrap();
        let (got, err) = within(read_all(items)).await;
        // Every item before the tampered frame arrives (a repeated frame's once), in order,
        // then the error.
        let n = got.len() as u64;
        assert!(got.iter().copied().eq(1..=n), "{how:?}: {got:?}");
        let expected = if matches!(how, How::Drop) {
            500 - u64::from(micro_core::stream::MAX_BATCH)..500
        } else {
            500..500 + u64::from(micro_core::stream::MAX_BATCH)
        };
        assert!(expected.contains(&n), "{how:?}: {n} items");
        let err = err.unwrap_or_else(|| panic!("{how:?} went unnoticed"));
        assert_eq!(err.code(), 502, "{how:?}: {err}");
        let what = if matches!(how, How::Drop) {
            "a gap"
        } else {
            "a duplicate"
        };
        assert!(err.to_string().contains(what), "{how:?}: {err}");
        running.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_falls_silent_is_gone_after_three_heartbeats() {
    let (running, client) = tampered(10, How::Vanish, Duration::from_millis(100)).await;
    let items = within(client.server_stream::<_, u64>("feed", "forever", &()))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (got, err) = within(read_all(items)).await;
    assert!(got.len() >= 10, "{} items", got.len());
    let err = err.expect("silence went unnoticed");
    assert_eq!(err.code(), 408, "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_service_cuts_its_open_streams_off_with_an_error() {
    let memory = Memory::new();
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .shutdown_timeout(Duration::from_millis(200))
        .handle(feed(Arc::default()))
        .start()
        .await
        .unwrap();
    let client = memory.client();
    let mut items = within(client.server_stream::<_, u64>("feed", "forever", &()))
        .await
        .unwrap();
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
async fn a_configuration_out_of_bounds_is_clamped_not_fatal() {
    // Regression: a window of 0 failed every stream, and a heartbeat of `Duration::MAX`
    // overflowed an `Instant`.
    let (running, client) = start(Arc::default()).await;
    let mut config = StreamConfig::default();
    config.window = 0;
    config.heartbeat = Duration::MAX;
    let client = client.with_stream_config(config);
    within(async {
        let items: Vec<u64> = client
            .server_stream::<_, u64>(
                "feed",
                "ticks",
                &Ticks {
                    n: 50,
                    fail_at: None,
                },
            )
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(items.len(), 50);
        let sum: u64 = client
            .client_stream("feed", "sum", &(), Streaming::iter(1..=100u64))
            .await
            .unwrap();
        assert_eq!(sum, 5050);
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_ready_together_travel_in_batches_up_to_what_the_reader_takes() {
    for batch in [1, 4, micro_core::stream::MAX_BATCH] {
        let memory = Memory::new();
        let running = Service::builder()
            .backend(memory.backend())
            .only_explicit()
            .handle(feed(Arc::default()))
            .start()
            .await
            .unwrap();
        let seen = Arc::new(Frames::default());
        let transport = Arc::new(Tamper {
            inner: memory.transport().clone(),
            at: 0,
            how: How::Pass,
            seen: Arc::clone(&seen),
        });
        let client = Client::new(
            transport,
            memory.broker().clone(),
            memory.registry().clone(),
        )
        .with_stream_config(StreamConfig::default().batch(batch));
        within(async {
            let items: Vec<u64> = client
                .server_stream::<_, u64>(
                    "feed",
                    "ticks",
                    &Ticks {
                        n: 2000,
                        fail_at: None,
                    },
                )
                .await
                .unwrap()
                .map(Result::unwrap)
                .collect()
                .await;
            assert!(items.iter().copied().eq(1..=2000));
            // The client's items go to the server in batches of what the server takes.
            let sum: u64 = client
                .client_stream("feed", "sum", &(), Streaming::iter(1..=2000u64))
                .await
                .unwrap();
            assert_eq!(sum, 2000 * 2001 / 2);
        })
        .await;
        let largest = |frames: &[(u64, u64)]| frames.iter().map(|(_, n)| *n).max().unwrap_or(0);
        let received = seen.received.lock().unwrap().clone();
        let sent = seen.sent.lock().unwrap().clone();
        // Numbered without a gap, frame after frame.
        let mut next = 1;
        for (first, n) in &received {
            assert_eq!(*first, next, "batch {batch}");
            next += n;
        }
        assert_eq!(next, 2001, "batch {batch}");
        let most = largest(&received);
        assert!(most <= u64::from(batch), "batch {batch}: a frame of {most}");
        if batch > 1 {
            // Every item is ready at once: some travel together.
            assert!(most > 1, "batch {batch}: one item per frame");
        }
        assert!(largest(&sent) > 1, "the client sent one item per frame");
        running.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_at_its_callers_deadline_and_the_handler_stops() {
    // The deadline travels with the opening: the server ends the stream, and the client's
    // driver would too (over NATS, `a_stream_past_its_deadline_fails_even_if_the_server_says_nothing`).
    let seen = Arc::new(Seen::default());
    let (running, client) = start(seen.clone()).await;
    within(async {
        let context = micro_core::Context::new().with_timeout(Duration::from_millis(300));
        let mut items = context
            .scope(client.server_stream::<_, u64>("feed", "forever", &()))
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let err = loop {
            match items.next().await {
                Some(Ok(_)) => tokio::time::sleep(Duration::from_millis(1)).await,
                Some(Err(err)) => break err,
                None => panic!("a stream past its deadline ended as if complete"),
            }
        };
        assert_eq!(err.code(), 408, "{err}");
        assert!(err.to_string().contains("deadline"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        while !seen.closed.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_gives_up_before_the_stream_opens_stops_the_handler() {
    // Regression: in-process, a handler still producing its stream when its caller gave up ran
    // until it had produced it.
    let seen = Arc::new(Seen::default());
    let (running, client) = start(seen.clone()).await;
    let client = client.with_timeout(Duration::from_millis(200));
    let err = within(client.server_stream::<_, u64>("feed", "forever", &Late { ms: 5_000 }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 408, "{err}");
    let started = std::time::Instant::now();
    within(async {
        while !seen.dropped_late.load(Ordering::SeqCst) {
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "the handler ran on after its caller gave up"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        while running.in_flight() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    // Counted as a call its caller cancelled, as over NATS.
    let stats = client.registry().stats(Some("feed")).await.unwrap();
    let forever = stats[0]
        .endpoints
        .iter()
        .find(|e| e.name == "forever")
        .unwrap();
    assert_eq!((forever.num_requests, forever.num_errors), (1, 1));
    assert!(forever.last_error.contains("499"), "{}", forever.last_error);
    running.stop().await;
}
