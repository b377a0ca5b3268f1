//! Server streams against raw NATS: `cargo run --release --example bench_stream`.
//!
//! One workload, a server stream of items of about 100 bytes, served by a child process (this
//! binary run again with `--serve`) over a NATS server started on a free loopback port and read
//! in this process, through these paths:
//!
//! - **micro**: the generated `FeedClient::items(n)` of a `#[service]` trait whose handler
//!   answers with `Streaming::iter`, read with `StreamExt::next`, in MessagePack and in JSON,
//!   with the default credit window ([`StreamConfig::default`]), and again in MessagePack with
//!   one item per message (`StreamConfig::batch(1)`), as a reader that takes no batches gets;
//! - **raw credit stream**: the same protocol written by hand on async-nats (an inbox per end,
//!   items numbered in `Micro-Seq`, the reader granting half a window each time it has taken
//!   half a window, an end marker), with the same window: what micro's streams are measured
//!   against;
//! - **raw fire-and-forget**: the child publishes the items to the reader's inbox as fast as it
//!   can, with no flow control at all; the reader counts what arrives (a slow consumer loses
//!   messages, and the report says how many);
//! - **framed fire-and-forget**: the same, each item with a `Micro-Seq` header and a reply
//!   subject, as a stream's items are: what the framing costs without the flow control.
//!
//! Each path runs in interleaved rounds, a fresh child per path and round, and is reported as
//! the median items/s with the median of the ratios measured within each round. The whole table
//! is measured once per reader runtime (`--reader-threads`): on one thread, and on two workers.
//!
//! Then the memory row: `--memory-items` items through a micro stream (MessagePack) whose reader
//! takes them at a tenth (`--slowdown`) of the rate micro's reader reached unthrottled, with the
//! resident set of the reader (this process) and of the serving child at the start, every tenth
//! of the items, and at the end: with credit, neither should grow with the items.
//!
//! `--smoke` runs a few hundred items per row so CI keeps the binary working. See BENCHMARKS.md.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::{HeaderMap, Message, Subject};
use bytes::Bytes;
use clap::Parser;
use futures::{FutureExt as _, StreamExt as _};
use micro::codec::ContentType;
use micro::nats::{Nats, NatsOptions};
use micro::prelude::*;
use micro::stream::StreamConfig;
use serde::{Deserialize, Serialize};
use test_support::NatsServer;
use tokio::time::Instant;

/// One item of the stream: its number and a filler that brings it to about 100 bytes encoded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    /// Its number, from 1.
    pub seq: u64,
    /// [`PAYLOAD`].
    pub payload: String,
}

/// The streaming service.
#[service(name = "feed", version = "1.0.0")]
pub trait Feed {
    /// Items 1 to `n`.
    async fn items(&self, n: u64) -> Result<Streaming<Item>, Error>;
}

struct FeedImpl;

impl Feed for FeedImpl {
    async fn items(&self, n: u64) -> Result<Streaming<Item>, Error> {
        Ok(Streaming::iter((1..=n).map(|seq| Item {
            seq,
            payload: PAYLOAD.to_owned(),
        })))
    }
}

/// The filler of an [`Item`]: 80 bytes, so that an item is about 100 bytes in either codec.
const PAYLOAD: &str =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqr";

/// The size of a raw item's body.
const RAW_SIZE: usize = 100;

/// The subject the raw credit server takes stream requests on.
const RAW_STREAM: &str = "raw.items";
/// The subject the raw fire-and-forget server takes requests on.
const RAW_FIRE: &str = "raw.fire";
/// The subject the raw fire-and-forget server takes requests for framed items on.
const RAW_FRAMED: &str = "raw.framed";

/// How long any reader or raw server waits for the next message before it gives up.
const IDLE: Duration = Duration::from_secs(15);
/// Messages between two resets of a reader's idle deadline (resetting a timer per message
/// would cost every path a timer-wheel update per item).
const IDLE_EVERY: u64 = 1024;

/// Command line of the stream bench.
#[derive(Debug, Parser)]
#[command(
    about = "micro's server streams against raw NATS: throughput, and memory under a slow reader"
)]
struct Args {
    /// Items per stream (each row, each round).
    #[arg(long, default_value_t = 1_000_000)]
    items: u64,
    /// Interleaved rounds per throughput row.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Items through the slow reader of the memory row.
    #[arg(long, default_value_t = 10_000_000)]
    memory_items: u64,
    /// The credit window of micro's streams and of the raw credit stream (default: micro's,
    /// `StreamConfig::default()`).
    #[arg(long)]
    window: Option<u32>,
    /// How many times slower than micro's unthrottled reader the memory row's reader is.
    #[arg(long, default_value_t = 10)]
    slowdown: u32,
    /// Only the throughput rows.
    #[arg(long, conflicts_with = "memory_only")]
    no_memory: bool,
    /// Only the memory row (its rate measured by one unthrottled stream of `--items` first).
    #[arg(long)]
    memory_only: bool,
    /// A few hundred items per row: checks that everything runs, measures nothing.
    #[arg(long)]
    smoke: bool,
    /// The reader's runtimes, one table each: 1 is a current-thread runtime (the reader and
    /// async-nats's connection task share one thread), more a multi-threaded one of that many
    /// workers. The memory row reads on the first.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2])]
    reader_threads: Vec<usize>,
    /// Internal: the memory row's reader pace in items/s, set when the bench runs that row in
    /// a fresh process of its own (so that the reader's RSS is the stream's, not what the
    /// throughput rows left in the allocator).
    #[arg(long, hide = true)]
    reader_rate: Option<f64>,
    /// Internal: serve on `--nats-url` until stdin closes (`micro`, `credit` or `fire`).
    #[arg(long, hide = true)]
    serve: Option<String>,
    /// For profiling: read one stream of `--items` from a `--serve` process on `--nats-url`
    /// (`msgpack`, `json`, `unbatched`, `credit`, `fire` or `framed`) and print its rate.
    #[arg(long, hide = true)]
    read: Option<String>,
    /// The NATS server of `--serve` and `--read`.
    #[arg(long, hide = true)]
    nats_url: Option<String>,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    if let Some(kind) = &args.serve {
        let url = args.nats_url.clone().ok_or("--serve needs --nats-url")?;
        return runtime(2)?.block_on(serve(kind, &url));
    }
    if let Some(kind) = &args.read {
        let url = args.nats_url.clone().ok_or("--read needs --nats-url")?;
        let threads = args.reader_threads.first().copied().unwrap_or(1);
        return runtime(threads)?.block_on(read_only(kind, &url, args.items, args.window));
    }
    drive(&args)
}

/// A runtime of `threads` threads: a current-thread one for 1.
fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, String> {
    match threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
    .map_err(|e| e.to_string())
}

// The serving side, in the child process.

/// The child process: serves one kind of stream until its stdin closes.
async fn serve(kind: &str, url: &str) -> Result<(), String> {
    let nats = Nats::connect(NatsOptions::new().url(url))
        .await
        .map_err(|e| e.to_string())?;
    let client = nats.client().clone();
    let running = match kind {
        "micro" => Some(
            Service::builder()
                .backend(nats.backend())
                .only_explicit()
                .handle(FeedServer::new(FeedImpl))
                .start()
                .await
                .map_err(|e| e.to_string())?,
        ),
        "credit" => {
            serve_credit(client.clone()).await?;
            None
        }
        "fire" => {
            serve_fire(client.clone()).await?;
            None
        }
        other => return Err(format!("unknown server kind `{other}`")),
    };
    // Once nats-server has seen every subscription, say so: the reader starts then.
    round_trip(&client).await?;
    println!("ready");
    // Stdin closing is the signal to stop; read on a blocking thread.
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        let _ = std::io::stdin().read_line(&mut sink);
    })
    .await;
    if let Some(running) = running {
        running.stop().await;
    }
    Ok(())
}

/// Returns once nats-server has processed everything this connection sent before: a message to
/// ourselves comes back after it. (`flush` only writes the buffer out.)
async fn round_trip(client: &async_nats::Client) -> Result<(), String> {
    let inbox = Subject::from(client.new_inbox());
    let mut sub = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| e.to_string())?;
    client
        .publish(inbox, Bytes::new())
        .await
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(IDLE, sub.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err("the connection closed".to_owned()),
        Err(_) => Err(format!("nats-server did not answer within {IDLE:?}")),
    }
}

/// The body of raw item `seq`: [`RAW_SIZE`] bytes, the number first, made per item as micro
/// encodes each of its items.
fn raw_body(seq: u64) -> Bytes {
    let mut body = vec![b'x'; RAW_SIZE];
    body[..8].copy_from_slice(&seq.to_le_bytes());
    Bytes::from(body)
}

fn header<'a>(message: &'a Message, key: &str) -> Option<&'a str> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(key))
        .map(|v| v.as_str())
}

fn number(message: &Message, key: &str) -> Result<u64, String> {
    header(message, key)
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("a message without a valid `{key}` header"))
}

/// The raw credit stream's server: a task per stream, as micro runs a stream.
async fn serve_credit(client: async_nats::Client) -> Result<(), String> {
    let mut requests = client
        .subscribe(RAW_STREAM)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let client = client.clone();
            tokio::spawn(async move {
                if let Err(err) = credit_stream(&client, request).await {
                    eprintln!("raw credit stream: {err}");
                }
            });
        }
    });
    Ok(())
}

/// One raw credit stream: items to the opener's inbox, each with this end's inbox as reply
/// subject (where credit comes back), sent only with credit, then the end marker.
async fn credit_stream(client: &async_nats::Client, request: Message) -> Result<(), String> {
    let reply = request
        .reply
        .clone()
        .ok_or("a stream request without an inbox")?;
    let mut credit = number(&request, "Micro-Credit")?;
    let n: u64 = std::str::from_utf8(&request.payload)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or("a stream request without an item count")?;
    let inbox = Subject::from(client.new_inbox());
    let mut credits = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| e.to_string())?;
    for seq in 1..=n {
        // Credit that arrived meanwhile, taken without waiting; then a wait while none is left.
        while let Some(Some(grant)) = credits.next().now_or_never() {
            credit += number(&grant, "Micro-Credit")?;
        }
        while credit == 0 {
            match tokio::time::timeout(IDLE, credits.next()).await {
                Ok(Some(grant)) => credit += number(&grant, "Micro-Credit")?,
                Ok(None) => return Err("the subscription closed".to_owned()),
                Err(_) => return Err(format!("no credit for {IDLE:?}: the reader is gone")),
            }
        }
        let mut headers = HeaderMap::new();
        headers.insert("Micro-Seq", seq.to_string().as_str());
        client
            .publish_with_reply_and_headers(reply.clone(), inbox.clone(), headers, raw_body(seq))
            .await
            .map_err(|e| e.to_string())?;
        credit -= 1;
    }
    let mut headers = HeaderMap::new();
    headers.insert("Micro-Stream", "end");
    headers.insert("Micro-Seq", n.to_string().as_str());
    client
        .publish_with_headers(reply, headers, Bytes::new())
        .await
        .map_err(|e| e.to_string())?;
    client.flush().await.map_err(|e| e.to_string())
}

/// The raw fire-and-forget server: publishes the items asked for to the request's reply
/// subject as fast as it can, then an empty message; on [`RAW_FRAMED`], each item with a
/// `Micro-Seq` header and a reply subject, as a stream's items are.
async fn serve_fire(client: async_nats::Client) -> Result<(), String> {
    for (subject, framed) in [(RAW_FIRE, false), (RAW_FRAMED, true)] {
        let mut requests = client.subscribe(subject).await.map_err(|e| e.to_string())?;
        let client = client.clone();
        tokio::spawn(async move {
            while let Some(request) = requests.next().await {
                let Some(reply) = request.reply else { continue };
                let Some(n) = std::str::from_utf8(&request.payload)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                else {
                    continue;
                };
                let inbox = Subject::from(client.new_inbox());
                for seq in 1..=n {
                    let published = if framed {
                        let mut headers = HeaderMap::new();
                        headers.insert("Micro-Seq", seq.to_string().as_str());
                        client
                            .publish_with_reply_and_headers(
                                reply.clone(),
                                inbox.clone(),
                                headers,
                                raw_body(seq),
                            )
                            .await
                    } else {
                        client.publish(reply.clone(), raw_body(seq)).await
                    };
                    if published.is_err() {
                        break;
                    }
                }
                let _ = client.publish(reply, Bytes::new()).await;
                let _ = client.flush().await;
            }
        });
    }
    Ok(())
}

/// A served child process, stopped when dropped.
struct Server(Child);

impl Server {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// Starts a child serving `kind` and waits (at most 15 s) until it says it is ready.
async fn spawn_server(kind: &str, url: &str) -> Result<Server, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(["--serve", kind, "--nats-url", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the server process: {e}"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or("the server process has no stdout")?;
    let server = Server(child);
    // One line, or the end of its output if it fails: a blocking read, on a blocking thread.
    let ready = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    match tokio::time::timeout(Duration::from_secs(15), ready).await {
        Ok(Ok(Ok(line))) if line.trim() == "ready" => Ok(server),
        Ok(Ok(Ok(line))) => Err(format!(
            "the {kind} server process did not start: `{}`",
            line.trim()
        )),
        Ok(Ok(Err(e))) => Err(format!("cannot read the {kind} server process: {e}")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "the {kind} server process was not ready within 15 s"
        )),
    }
}

// The reading side, in this process.

/// How a stream was read.
#[derive(Clone, Copy, Debug)]
struct Read {
    /// Items that arrived.
    items: u64,
    /// From the opening request to the last item (or the end marker).
    took: Duration,
}

impl Read {
    fn rate(self) -> f64 {
        self.items as f64 / self.took.as_secs_f64()
    }
}

/// Reads `n` items through micro's generated client, checking their numbers.
async fn read_micro(feed: &FeedClient, n: u64) -> Result<Read, String> {
    let started = Instant::now();
    let mut items = feed.items(n).await.map_err(|e| e.to_string())?;
    let mut seen = 0u64;
    let idle = tokio::time::sleep(IDLE);
    tokio::pin!(idle);
    loop {
        tokio::select! {
            biased;
            item = items.next() => match item {
                Some(Ok(item)) => {
                    seen += 1;
                    if item.seq != seen {
                        return Err(format!("item {} arrived where {seen} was due", item.seq));
                    }
                    if seen.is_multiple_of(IDLE_EVERY) {
                        idle.as_mut().reset(Instant::now() + IDLE);
                    }
                }
                Some(Err(err)) => return Err(format!("the micro stream failed: {err}")),
                None => break,
            },
            () = &mut idle => return Err(format!("the micro stream was silent for {IDLE:?}")),
        }
    }
    if seen != n {
        return Err(format!("the micro stream ended after {seen} of {n} items"));
    }
    Ok(Read {
        items: seen,
        took: started.elapsed(),
    })
}

/// Reads `n` items of the raw credit stream, granting half of `window` at a time.
async fn read_credit(client: &async_nats::Client, n: u64, window: u64) -> Result<Read, String> {
    let started = Instant::now();
    let inbox = Subject::from(client.new_inbox());
    let mut sub = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| e.to_string())?;
    let mut headers = HeaderMap::new();
    headers.insert("Micro-Credit", window.to_string().as_str());
    client
        .publish_with_reply_and_headers(RAW_STREAM, inbox, headers, n.to_string().into())
        .await
        .map_err(|e| e.to_string())?;
    let half = (window / 2).max(1);
    let (mut seen, mut granted) = (0u64, window);
    let mut server: Option<Subject> = None;
    let idle = tokio::time::sleep(IDLE);
    tokio::pin!(idle);
    loop {
        let message = tokio::select! {
            biased;
            message = sub.next() => message.ok_or("the raw stream's subscription closed")?,
            () = &mut idle => return Err(format!("the raw stream was silent for {IDLE:?}")),
        };
        if let Some(status) = message.status {
            return Err(format!("the raw stream answered with status {status}"));
        }
        if header(&message, "Micro-Stream") == Some("end") {
            let count = number(&message, "Micro-Seq")?;
            if count != seen {
                return Err(format!("the end marker counts {count}, {seen} arrived"));
            }
            break;
        }
        let seq = number(&message, "Micro-Seq")?;
        if seq != seen + 1 || message.payload.len() != RAW_SIZE {
            return Err(format!("raw item {seq} arrived where {} was due", seen + 1));
        }
        seen += 1;
        if seen.is_multiple_of(IDLE_EVERY) {
            idle.as_mut().reset(Instant::now() + IDLE);
        }
        if server.is_none() {
            server = message.reply.clone();
        }
        if seen + window - granted >= half {
            let to = server
                .clone()
                .ok_or("a raw item without the server's inbox")?;
            let mut headers = HeaderMap::new();
            headers.insert("Micro-Credit", half.to_string().as_str());
            client
                .publish_with_headers(to, headers, Bytes::new())
                .await
                .map_err(|e| e.to_string())?;
            granted += half;
        }
    }
    if seen != n {
        return Err(format!("the raw stream ended after {seen} of {n} items"));
    }
    Ok(Read {
        items: seen,
        took: started.elapsed(),
    })
}

/// What the fire-and-forget reader saw.
#[derive(Clone, Copy, Debug)]
struct Fired {
    read: Read,
    /// async-nats dropped messages because the subscription's buffer was full.
    slow_consumer: bool,
    /// The connection was lost (nats-server drops a client that falls too far behind).
    disconnects: u64,
    /// The end message arrived (it is lost too when the reader fell behind).
    ended: bool,
}

/// Asks the fire-and-forget server on `subject` for `n` items and counts what arrives, on a
/// connection of its own (so that a reader nats-server cuts off as a slow consumer harms no
/// other row).
async fn read_fire(url: &str, subject: &'static str, n: u64) -> Result<Fired, String> {
    let slow = Arc::new(AtomicU64::new(0));
    let disconnects = Arc::new(AtomicU64::new(0));
    let (slow_seen, disconnects_seen) = (Arc::clone(&slow), Arc::clone(&disconnects));
    let client = async_nats::ConnectOptions::new()
        .event_callback(move |event| {
            match event {
                async_nats::Event::SlowConsumer(_) => {
                    slow_seen.fetch_add(1, Ordering::Relaxed);
                }
                async_nats::Event::Disconnected => {
                    disconnects_seen.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
            async {}
        })
        .connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let inbox = Subject::from(client.new_inbox());
    let mut sub = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| e.to_string())?;
    // The subscription is in place before the request: nats-server reads a connection in order.
    let started = Instant::now();
    client
        .publish_with_reply(subject, inbox, n.to_string().into())
        .await
        .map_err(|e| e.to_string())?;
    let mut seen = 0u64;
    // Where the last reset found the count: if the end message is lost, the rate up to there.
    let mut checkpoint = (0u64, started);
    let mut ended = false;
    let idle = tokio::time::sleep(IDLE);
    tokio::pin!(idle);
    let end = loop {
        let message = tokio::select! {
            biased;
            message = sub.next() => message,
            () = &mut idle => None,
        };
        let Some(message) = message else {
            break checkpoint;
        };
        if let Some(status) = message.status {
            return Err(format!("the fire-and-forget server answered {status}"));
        }
        if message.payload.is_empty() {
            ended = true;
            break (seen, Instant::now());
        }
        seen += 1;
        if seen.is_multiple_of(IDLE_EVERY) {
            let now = Instant::now();
            checkpoint = (seen, now);
            idle.as_mut().reset(now + IDLE);
        }
    };
    let (items, at) = if ended { (seen, end.1) } else { end };
    Ok(Fired {
        read: Read {
            items,
            took: at - started,
        },
        slow_consumer: slow.load(Ordering::Relaxed) > 0,
        disconnects: disconnects.load(Ordering::Relaxed),
        ended,
    })
}

/// One measured path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Row {
    MicroMsgPack,
    MicroJson,
    MicroUnbatched,
    RawCredit,
    RawFire,
    FramedFire,
}

impl Row {
    fn label(self) -> &'static str {
        match self {
            Row::MicroMsgPack => "micro, MessagePack (`FeedClient::items`)",
            Row::MicroJson => "micro, JSON",
            Row::MicroUnbatched => {
                "micro, MessagePack, one item per message (`StreamConfig::batch(1)`)"
            }
            Row::RawCredit => "raw async-nats credit stream, same window (baseline)",
            Row::RawFire => "raw async-nats fire-and-forget publish (no flow control)",
            Row::FramedFire => "the same, each item with `Micro-Seq` and a reply subject",
        }
    }

    fn server(self) -> &'static str {
        match self {
            Row::MicroMsgPack | Row::MicroJson | Row::MicroUnbatched => "micro",
            Row::RawCredit => "credit",
            Row::RawFire | Row::FramedFire => "fire",
        }
    }
}

/// What the reader needs for every path.
struct Readers {
    url: String,
    msgpack: FeedClient,
    json: FeedClient,
    unbatched: FeedClient,
    raw: async_nats::Client,
    window: u64,
    /// The connection the others use.
    _nats: Nats,
}

impl Readers {
    /// Connects the readers of every path (the fire-and-forget one connects per stream).
    async fn connect(url: &str, config: StreamConfig) -> Result<Readers, String> {
        let nats = Nats::connect(NatsOptions::new().url(url))
            .await
            .map_err(|e| e.to_string())?;
        let client = nats.micro_client().with_stream_config(config);
        Ok(Readers {
            url: url.to_owned(),
            msgpack: FeedClient::new(&client.with_content_type(ContentType::MsgPack)),
            json: FeedClient::new(&client),
            unbatched: FeedClient::new(
                &client
                    .with_content_type(ContentType::MsgPack)
                    .with_stream_config(config.batch(1)),
            ),
            raw: nats.client().clone(),
            window: u64::from(config.window),
            _nats: nats,
        })
    }

    /// Reads one stream of `n` items through `row`.
    async fn read(&self, row: Row, n: u64) -> Result<(Read, Option<Fired>), String> {
        match row {
            Row::MicroMsgPack => Ok((read_micro(&self.msgpack, n).await?, None)),
            Row::MicroJson => Ok((read_micro(&self.json, n).await?, None)),
            Row::MicroUnbatched => Ok((read_micro(&self.unbatched, n).await?, None)),
            Row::RawCredit => Ok((read_credit(&self.raw, n, self.window).await?, None)),
            Row::RawFire | Row::FramedFire => {
                let subject = if row == Row::RawFire {
                    RAW_FIRE
                } else {
                    RAW_FRAMED
                };
                let fired = read_fire(&self.url, subject, n).await?;
                Ok((fired.read, Some(fired)))
            }
        }
    }
}

/// `--read`: one stream from a server someone else started, for profiling either end.
async fn read_only(kind: &str, url: &str, n: u64, window: Option<u32>) -> Result<(), String> {
    let config = window.map_or_else(StreamConfig::default, |w| StreamConfig::default().window(w));
    let readers = Readers::connect(url, config).await?;
    let row = match kind {
        "msgpack" => Row::MicroMsgPack,
        "json" => Row::MicroJson,
        "unbatched" => Row::MicroUnbatched,
        "credit" => Row::RawCredit,
        "fire" => Row::RawFire,
        "framed" => Row::FramedFire,
        other => return Err(format!("unknown stream kind `{other}`")),
    };
    let (read, _) = readers.read(row, n).await?;
    println!(
        "{} items in {:.3} s: {:.0} items/s",
        read.items,
        read.took.as_secs_f64(),
        read.rate()
    );
    Ok(())
}

/// The reader's side: every table, each reader layout on a runtime of its own.
fn drive(args: &Args) -> Result<(), String> {
    let (items, rounds, memory_items) = if args.smoke {
        (300, 1, 2_000)
    } else {
        (
            args.items.max(1),
            args.rounds.max(1),
            args.memory_items.max(10),
        )
    };
    let layouts: Vec<usize> = match args.reader_threads.as_slice() {
        [] => vec![1],
        some => some.iter().map(|&n| n.max(1)).collect(),
    };
    let nats_server = NatsServer::start();
    let url = nats_server.url();
    let config = match args.window {
        Some(window) => StreamConfig::default().window(window),
        None => StreamConfig::default(),
    };
    let sample = Item {
        seq: items / 2,
        payload: PAYLOAD.to_owned(),
    };
    let size = |content_type: ContentType| {
        content_type
            .encode(&sample)
            .map(|body| body.len())
            .map_err(|e| e.to_string())
    };
    let version = Command::new("nats-server")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    if args.reader_rate.is_none() {
        println!(
            "machine: {} cores; {version}; item bodies: MessagePack {} bytes, JSON {} bytes, raw \
         {RAW_SIZE} bytes; window {}; the server in a child process on 2 workers\n",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            size(ContentType::MsgPack)?,
            size(ContentType::Json)?,
            config.window,
        );
    }
    // micro's MessagePack rate on the first layout: the memory row's reference.
    let mut micro_rate = None;
    if !args.memory_only {
        for &threads in &layouts {
            let rate = runtime(threads)?.block_on(async {
                let readers = Readers::connect(&url, config).await?;
                throughput(&readers, items, rounds, threads).await
            })?;
            micro_rate.get_or_insert(rate);
        }
    }
    if args.no_memory {
        return Ok(());
    }
    let slowdown = f64::from(args.slowdown.max(1));
    if let Some(rate) = micro_rate {
        // The memory row in a fresh reader process: this one's heap holds what the
        // fire-and-forget rows buffered.
        drop(nats_server);
        return memory_process(args, rate / slowdown, layouts[0]);
    }
    runtime(layouts[0])?.block_on(async {
        let readers = Readers::connect(&url, config).await?;
        let rate = match args.reader_rate {
            Some(rate) => rate,
            None => {
                let _server = spawn_server("micro", &url).await?;
                read_micro(&readers.msgpack, items).await?.rate() / slowdown
            }
        };
        memory(&readers, memory_items, rate, layouts[0]).await
    })
}

/// Runs the memory row in a new process of this binary, its reader at `rate` items/s, and
/// waits for it (its own loops are bounded by their idle timeouts).
fn memory_process(args: &Args, rate: f64, threads: usize) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = Command::new(exe);
    command
        .args(["--memory-only", "--reader-rate", &format!("{rate:.3}")])
        .args(["--memory-items", &args.memory_items.to_string()])
        .args(["--reader-threads", &threads.to_string()]);
    if let Some(window) = args.window {
        command.args(["--window", &window.to_string()]);
    }
    if args.smoke {
        command.arg("--smoke");
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot start the memory row's process: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the memory row's process failed ({status})"))
    }
}

/// The throughput rows; returns micro's MessagePack median, the memory row's reference.
async fn throughput(
    readers: &Readers,
    items: u64,
    rounds: usize,
    threads: usize,
) -> Result<f64, String> {
    let rows = [
        Row::MicroMsgPack,
        Row::MicroJson,
        Row::MicroUnbatched,
        Row::RawCredit,
        Row::RawFire,
        Row::FramedFire,
    ];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    let mut fired: Vec<(Row, Fired)> = Vec::new();
    let warm_up = items.clamp(1, 10_000);
    for round in 0..rounds {
        for k in 0..rows.len() {
            // Every other round in reverse order, so no row always goes first.
            let i = if round % 2 == 0 {
                k
            } else {
                rows.len() - 1 - k
            };
            let row = rows[i];
            let _server = spawn_server(row.server(), &readers.url).await?;
            readers.read(row, warm_up).await?;
            let (read, fire) = readers.read(row, items).await?;
            rates[i].push(read.rate());
            fired.extend(fire.map(|f| (row, f)));
        }
    }
    let paired = |a: usize, b: usize| -> f64 {
        let mut ratios: Vec<f64> = rates[a].iter().zip(&rates[b]).map(|(x, y)| x / y).collect();
        median(&mut ratios)
    };
    let position = |row: Row| rows.iter().position(|&r| r == row).unwrap_or(0);
    let (credit, fire) = (position(Row::RawCredit), position(Row::RawFire));
    println!(
        "## Server-stream throughput, {}: {items} items per stream, {rounds} interleaved \
         rounds, medians\n",
        layout(threads)
    );
    println!(
        "| path | items/s | vs raw credit stream (target ≥ 0.8×) | vs fire-and-forget \
         (target ≥ 0.5×) |"
    );
    println!("|---|---|---|---|");
    let mut medians = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let micro = matches!(
            row,
            Row::MicroMsgPack | Row::MicroJson | Row::MicroUnbatched
        );
        let vs = |base: usize, applies: bool| {
            if i == base {
                "1.00×".to_owned()
            } else if applies {
                format!("{:.2}×", paired(i, base))
            } else {
                "—".to_owned()
            }
        };
        let m = median(&mut rates[i].clone());
        medians.push(m);
        println!(
            "| {} | {m:.0} | {} | {} |",
            row.label(),
            vs(credit, micro),
            vs(fire, i != fire)
        );
    }
    let rounds_of = |i: usize| {
        rates[i]
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("\nitems/s per round, first round first:");
    for (i, row) in rows.iter().enumerate() {
        println!("- {}: {}", row.label(), rounds_of(i));
    }
    for fire_row in [Row::RawFire, Row::FramedFire] {
        let received: Vec<String> = fired
            .iter()
            .filter(|(row, _)| *row == fire_row)
            .map(|(_, f)| {
                let mut what = format!("{} of {items}", f.read.items);
                if f.slow_consumer {
                    what.push_str(" (async-nats dropped the rest: slow consumer)");
                }
                if !f.ended {
                    what.push_str(", end message lost");
                }
                if f.disconnects > 0 {
                    what.push_str(&format!(", {} disconnects", f.disconnects));
                }
                what
            })
            .collect();
        if !received.is_empty() {
            println!(
                "\n{}: received per round: {}",
                fire_row.label(),
                received.join("; ")
            );
        }
    }
    println!();
    Ok(medians[0])
}

/// Resident and peak resident set size of `pid` (`self` for this process), in KiB.
fn rss_kib(pid: &str) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// `n` items through a micro stream whose reader takes them at `rate` items/s, with the
/// resident sets of both ends every tenth of the way.
async fn memory(readers: &Readers, n: u64, rate: f64, threads: usize) -> Result<(), String> {
    let server = spawn_server("micro", &readers.url).await?;
    let server_pid = server.pid().to_string();
    let rss = |what: &str, pid: &str| {
        rss_kib(pid).ok_or(format!("cannot read the {what}'s /proc status"))
    };
    let mut moments = vec![(
        "start".to_owned(),
        0u64,
        Duration::ZERO,
        rss("reader", "self")?,
        rss("server", &server_pid)?,
    )];
    // The reader sleeps every `batch` items until its schedule says the next batch is due:
    // about every 5 ms, as a sleep per item would be coarser than the items' pace.
    let batch = ((rate / 200.0) as u64).max(1);
    let tenth = (n / 10).max(1);
    let started = Instant::now();
    let mut items = readers.msgpack.items(n).await.map_err(|e| e.to_string())?;
    let mut seen = 0u64;
    let mut most_buffered = 0usize;
    let idle = tokio::time::sleep(IDLE);
    tokio::pin!(idle);
    loop {
        let item = tokio::select! {
            biased;
            item = items.next() => item,
            () = &mut idle => return Err(format!("the micro stream was silent for {IDLE:?}")),
        };
        match item {
            Some(Ok(item)) => {
                seen += 1;
                if item.seq != seen {
                    return Err(format!("item {} arrived where {seen} was due", item.seq));
                }
            }
            Some(Err(err)) => return Err(format!("the micro stream failed: {err}")),
            None => break,
        }
        if seen.is_multiple_of(batch) {
            most_buffered = most_buffered.max(items.buffered_len());
            let due = started + Duration::from_secs_f64(seen as f64 / rate);
            tokio::time::sleep_until(due).await;
            idle.as_mut().reset(Instant::now() + IDLE);
        }
        if seen.is_multiple_of(tenth) {
            moments.push((
                format!("{}%", seen * 100 / n),
                seen,
                started.elapsed(),
                rss("reader", "self")?,
                rss("server", &server_pid)?,
            ));
        }
    }
    if seen != n {
        return Err(format!("the micro stream ended after {seen} of {n} items"));
    }
    let took = started.elapsed();
    moments.push((
        "end".to_owned(),
        seen,
        took,
        rss("reader", "self")?,
        rss("server", &server_pid)?,
    ));
    drop(server);
    println!(
        "## Memory: {n} items, MessagePack, {} in a fresh process, at {rate:.0} items/s \
         (micro's unthrottled rate divided by the slowdown), sleeping every {batch} items\n",
        layout(threads)
    );
    println!(
        "| moment | items | elapsed s | reader RSS KiB | reader peak KiB | server RSS KiB | server peak KiB |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (moment, items, at, reader, server) in &moments {
        println!(
            "| {moment} | {items} | {:.1} | {} | {} | {} | {} |",
            at.as_secs_f64(),
            reader.0,
            reader.1,
            server.0,
            server.1
        );
    }
    // From the first tenth (the stream and its buffers set up) to the end.
    let growth = |rss: fn(&Moment) -> u64| {
        let first = moments.get(1).map_or(0, rss) as f64;
        let last = moments.last().map_or(0, rss) as f64;
        (last - first) / first * 100.0
    };
    println!(
        "\n{n} items in {:.1} s ({:.0} items/s); RSS from 10% to the end: reader {:+.1}%, \
         server {:+.1}%; most items buffered for the reader: {most_buffered} (window {})",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        growth(|m| m.3.0),
        growth(|m| m.4.0),
        readers.window,
    );
    Ok(())
}

/// One row of the memory table: moment, items, elapsed, reader and server (RSS, peak) KiB.
type Moment = (String, u64, Duration, (u64, u64), (u64, u64));

/// How the reader runs, for the tables' titles.
fn layout(threads: usize) -> String {
    match threads {
        0 | 1 => "reader on one thread".to_owned(),
        n => format!("reader on {n} worker threads"),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}
