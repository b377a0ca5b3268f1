//! The benchmark suite against raw NATS: `cargo run --release --example bench`.
//!
//! Runs one "hello" workload (request `{"name":"World"}`, reply `{"msg":"Hello World"}`) through
//! raw async-nats request/reply with serde_json by hand (the baseline), the generated client and
//! server over NATS in JSON and in MessagePack, and the in-process backend; measures sequential
//! latency and throughput at several concurrencies, in one process and in two, and prints a
//! Markdown table with each row's ratio to the baseline measured in the same run. See
//! BENCHMARKS.md for the figures and how to read them.
//!
//! `--smoke` runs a few hundred calls per row so CI keeps the binary working.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use micro::codec::ContentType;
use micro::memory::Memory;
use micro::nats::{Nats, NatsOptions};
use micro::prelude::*;
use serde::{Deserialize, Serialize};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region};
use test_support::NatsServer;

/// The system allocator, counting heap allocations (`stats_alloc`) only while [`COUNTING`] is
/// set, so the report can say how many one call costs.
///
/// Counting adds shared atomic counters to every allocation, and two threads allocating at once
/// contend for them; left on for the latency and throughput rows, it slowed every path and the
/// ones that allocate more per call most. So it is on only while the allocations are counted.
#[global_allocator]
static GLOBAL: Counting = Counting;

/// Whether [`GLOBAL`] counts allocations (in [`INSTRUMENTED_SYSTEM`]) right now.
static COUNTING: AtomicBool = AtomicBool::new(false);

struct Counting;

impl Counting {
    fn target() -> &'static dyn GlobalAlloc {
        if COUNTING.load(Ordering::Relaxed) {
            &INSTRUMENTED_SYSTEM
        } else {
            &System
        }
    }
}

#[allow(unsafe_code)] // A global allocator can only be written with `unsafe`.
// SAFETY: every method forwards to the system allocator, directly or through `stats_alloc`'s
// counting wrapper of it, so a block allocated while counting may be freed while not counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { Self::target().alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        unsafe { Self::target().alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from the system allocator, whichever way it went through.
        unsafe { Self::target().dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`.
        unsafe { Self::target().realloc(ptr, layout, new_size) }
    }
}

/// The reply of the hello workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "micro::schemars")]
pub struct HelloReply {
    /// `Hello <name>`.
    pub msg: String,
}

/// The benchmarked service.
#[service(name = "bench", version = "1.0.0")]
pub trait Bench {
    /// Says hello.
    async fn hello(&self, name: String) -> Result<HelloReply, Error>;
}

struct BenchImpl;

impl Bench for BenchImpl {
    async fn hello(&self, name: String) -> Result<HelloReply, Error> {
        Ok(HelloReply {
            msg: format!("Hello {name}"),
        })
    }
}

#[derive(Debug, Deserialize)]
struct RawRequest {
    name: String,
}

/// Command line of the bench binary.
#[derive(Debug, Parser)]
#[command(about = "micro against raw NATS: latency, throughput, memory")]
struct Args {
    /// Use this NATS server instead of starting one on a free loopback port.
    #[arg(long)]
    nats_url: Option<String>,
    /// Sequential calls measured per row (after warm-up).
    #[arg(long, default_value_t = 20_000)]
    calls: usize,
    /// Calls per throughput measurement at 16 and 128 in flight (at 1 in flight, `--calls`).
    #[arg(long, default_value_t = 600_000)]
    throughput_calls: usize,
    /// Rounds each measurement is split into (see [`measure_group`]), the calls shared among
    /// them: more rounds make the medians, and so the ratios to raw, steadier on a noisy
    /// machine. This machine slows down in bursts that outlast a round (the spread of the
    /// ratios measured in single rounds was about the same for rounds of 5,000 and of 20,000 calls),
    /// so shorter rounds, interleaved, share the bursts out more evenly among the paths.
    #[arg(long, default_value_t = 60)]
    rounds: usize,
    /// Calls for the memory-growth check (RSS after 100k and after this many).
    #[arg(long, default_value_t = 1_000_000)]
    memory_calls: usize,
    /// A few hundred calls per row: checks that everything runs, measures nothing.
    #[arg(long)]
    smoke: bool,
    /// Only the in-process rows and the allocation count (no NATS needed): for profiling.
    #[arg(long)]
    in_process_only: bool,
    /// Only drive `--load-calls` calls at `--load-in-flight` in flight against `--nats-url`
    /// (served by another `bench --serve`), for profiling the serving process. `BENCH_RAW` set
    /// drives the raw path (`BENCH_RAW=micro`: the raw client against micro's server), `BENCH_MSGPACK` the MessagePack one;
    /// `BENCH_COMPARE` splits the gap between client and server instead (see `compare_paths`),
    /// `BENCH_LOCAL` serves in the same process.
    #[arg(long, hide = true)]
    load_calls: Option<usize>,
    /// Calls in flight for `--load-calls`; 1 prints latency percentiles too.
    #[arg(long, hide = true, default_value_t = 128)]
    load_in_flight: usize,
    /// Internal: serve the workloads on `--nats-url` until stdin closes (the second process).
    #[arg(long, hide = true)]
    serve: bool,
}

/// One benchmarked path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Raw,
    Json,
    MsgPack,
    InProcess,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Raw => "raw async-nats + serde_json (baseline)",
            Mode::Json => "micro over NATS, JSON",
            Mode::MsgPack => "micro over NATS, MessagePack",
            Mode::InProcess => "micro in-process (no NATS)",
        }
    }
}

/// Something that makes one hello call.
#[derive(Clone)]
enum Caller {
    /// A client and the subject it calls (`raw.hello`, or `bench.hello` to call micro's server
    /// with a raw client when profiling).
    Raw(async_nats::Client, &'static str),
    Micro(BenchClient),
}

impl Caller {
    /// One call. The loops that time calls match on the path first and then run a loop made
    /// for that path's future type (see [`throughput`]), rather than awaiting this.
    async fn call(&self) -> Result<(), String> {
        match self {
            Caller::Raw(client, subject) => raw_call(client, subject).await,
            Caller::Micro(client) => micro_call(client).await,
        }
    }
}

async fn raw_call(client: &async_nats::Client, subject: &'static str) -> Result<(), String> {
    let body =
        serde_json::to_vec(&serde_json::json!({"name": "World"})).map_err(|e| e.to_string())?;
    let msg = client
        .request(subject, body.into())
        .await
        .map_err(|e| e.to_string())?;
    let reply: HelloReply = serde_json::from_slice(&msg.payload).map_err(|e| e.to_string())?;
    check(&reply)
}

async fn micro_call(client: &BenchClient) -> Result<(), String> {
    let reply = client
        .hello("World".to_owned())
        .await
        .map_err(|e| e.to_string())?;
    check(&reply)
}

fn check(reply: &HelloReply) -> Result<(), String> {
    if reply.msg == "Hello World" {
        Ok(())
    } else {
        Err(format!("wrong reply {reply:?}"))
    }
}

/// Serves the raw baseline: a queue subscription answering by hand, each request in the receive
/// loop itself. For a handler this cheap that is the fastest way to serve with async-nats (no
/// task, no wake-up per request): the limit micro is measured against. (Until micro served
/// requests in its loop too, this spawned a task per request, which made the baseline slower.)
async fn serve_raw(client: async_nats::Client) -> Result<(), Error> {
    let mut sub = client
        .queue_subscribe("raw.hello", "q".to_owned())
        .await
        .map_err(|e| Error::unavailable(e.to_string()))?;
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Some(reply_to) = msg.reply else { continue };
            let Ok(req) = serde_json::from_slice::<RawRequest>(&msg.payload) else {
                continue;
            };
            let reply = HelloReply {
                msg: format!("Hello {}", req.name),
            };
            if let Ok(body) = serde_json::to_vec(&reply) {
                let _ = client.publish(reply_to, Bytes::from(body)).await;
            }
        }
    });
    Ok(())
}

/// Serves both the raw baseline and the micro service on one NATS server.
async fn serve_all(url: &str) -> Result<(Nats, micro::service::Running), Error> {
    // From the environment, so `MICRO_NATS_INTAKES` can be compared; the URL is the bench's.
    let nats = Nats::connect(NatsOptions::from_env().url(url)).await?;
    serve_raw(nats.client().clone()).await?;
    let running = Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .handle(BenchServer::new(BenchImpl))
        .start()
        .await?;
    Ok((nats, running))
}

struct Row {
    mode: Mode,
    processes: u8,
    p50: Duration,
    p99: Duration,
    p999: Duration,
    throughput: Vec<f64>,
    /// p50 and each throughput cell against the raw path of the same group: the median of the
    /// ratios of each round, in which both were measured back to back. `None` without a raw
    /// path to compare with (the in-process row).
    vs_raw: Option<Vec<f64>>,
}

const CONCURRENCY: [usize; 3] = [1, 16, 128];

async fn sequential(caller: &Caller, calls: usize) -> Result<Vec<Duration>, String> {
    match caller {
        Caller::Raw(client, subject) => sequential_with(|| raw_call(client, subject), calls).await,
        Caller::Micro(client) => sequential_with(|| micro_call(client), calls).await,
    }
}

async fn sequential_with<F, Fut>(call: F, calls: usize) -> Result<Vec<Duration>, String>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        call().await?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Calls per second with `in_flight` calls outstanding at all times.
///
/// Each path runs in a loop made for its own future type: with one future type for both (an
/// `async fn` matching on the path), every call in flight would take the size of the larger
/// one, the raw path's, and the allocation holding it in `FuturesUnordered` would cost the
/// micro path what only the raw path needs.
async fn throughput(caller: &Caller, in_flight: usize, calls: usize) -> Result<f64, String> {
    match caller {
        Caller::Raw(client, subject) => {
            throughput_with(|| raw_call(client, subject), in_flight, calls).await
        }
        Caller::Micro(client) => throughput_with(|| micro_call(client), in_flight, calls).await,
    }
}

async fn throughput_with<F, Fut>(call: F, in_flight: usize, calls: usize) -> Result<f64, String>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    let mut sent = 0;
    while sent < calls.min(in_flight) {
        pending.push(call());
        sent += 1;
    }
    while let Some(result) = pending.next().await {
        result?;
        if sent < calls {
            pending.push(call());
            sent += 1;
        }
    }
    Ok(calls as f64 / started.elapsed().as_secs_f64())
}

/// Measures `paths` side by side in `--rounds` rounds, each measuring every path back to back
/// (every other round in reverse order), so a burst of noise on this shared machine hits every
/// path alike instead of one row. Latency samples are pooled; each throughput cell is the
/// median of its rounds; a ratio to raw is the median of the ratios measured within each round.
async fn measure_group(
    paths: &[(Mode, &Caller)],
    processes: u8,
    args: &Args,
) -> Result<Vec<Row>, String> {
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); paths.len()];
    // Per path, per round: the round's p50 in seconds, then its rate at each concurrency.
    let mut rounds: Vec<Vec<Vec<f64>>> = vec![Vec::new(); paths.len()];
    for (_, caller) in paths {
        for _ in 0..(args.calls / 10).max(100) {
            caller.call().await?;
        }
    }
    let rounds_n = args.rounds.max(1);
    for round in 0..rounds_n {
        // Every other round in reverse order, so no path always goes first.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..paths.len()).collect()
        } else {
            (0..paths.len()).rev().collect()
        };
        let mut measured: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
        for &i in &order {
            let mut round_samples = sequential(paths[i].1, args.calls.div_ceil(rounds_n)).await?;
            round_samples.sort_unstable();
            measured[i].push(percentile(&round_samples, 50.0).as_secs_f64());
            samples[i].extend(round_samples);
        }
        for in_flight in CONCURRENCY {
            for &i in &order {
                // One call at a time is slow (a round trip each): as many as for latency.
                let total = if in_flight == 1 {
                    args.calls
                } else {
                    args.throughput_calls
                };
                let calls = total.div_ceil(rounds_n);
                measured[i].push(throughput(paths[i].1, in_flight, calls).await?);
            }
        }
        for (i, values) in measured.into_iter().enumerate() {
            rounds[i].push(values);
        }
    }
    let raw = paths.iter().position(|(mode, _)| *mode == Mode::Raw);
    Ok(paths
        .iter()
        .enumerate()
        .map(|(i, (mode, _))| {
            let s = &mut samples[i];
            s.sort_unstable();
            let column = |path: usize, k: usize| -> Vec<f64> {
                rounds[path].iter().map(|values| values[k]).collect()
            };
            let vs_raw = raw.map(|raw| {
                (0..=CONCURRENCY.len())
                    .map(|k| {
                        let mut ratios: Vec<f64> = column(i, k)
                            .into_iter()
                            .zip(column(raw, k))
                            .map(|(a, b)| if b > 0.0 { a / b } else { 0.0 })
                            .collect();
                        median(&mut ratios)
                    })
                    .collect()
            });
            Row {
                mode: *mode,
                processes,
                p50: percentile(s, 50.0),
                p99: percentile(s, 99.0),
                p999: percentile(s, 99.9),
                throughput: (1..=CONCURRENCY.len())
                    .map(|k| median(&mut column(i, k)))
                    .collect(),
                vs_raw,
            }
        })
        .collect())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn print_table(rows: &[Row]) {
    println!(
        "| path | processes | p50 µs | p99 µs | p99.9 µs | p50 vs raw | calls/s ×1 | ×16 | ×128 | ×1 vs raw | ×16 vs raw | ×128 vs raw |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        let vs = |k: usize| {
            row.vs_raw
                .as_ref()
                .and_then(|v| v.get(k))
                .map_or("—".to_owned(), |r| format!("{r:.2}×"))
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {} |",
            row.mode.label(),
            if row.mode == Mode::InProcess {
                "1 (no NATS)".to_owned()
            } else {
                row.processes.to_string()
            },
            micros(row.p50),
            micros(row.p99),
            micros(row.p999),
            vs(0),
            row.throughput[0],
            row.throughput[1],
            row.throughput[2],
            vs(1),
            vs(2),
            vs(3),
        );
    }
}

/// Resident and peak resident set size of `pid`, in KiB, from `/proc`.
fn rss_kib(pid: u32) -> Option<(u64, u64)> {
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

/// The second process: serves on `url` until its stdin closes.
fn spawn_server_process(url: &str) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    Command::new(exe)
        .args(["--serve", "--nats-url", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the server process: {e}"))
}

async fn run(args: Args) -> Result<(), String> {
    let mut args = args;
    if args.smoke {
        args.calls = 300;
        args.throughput_calls = 300;
        args.memory_calls = 2_000;
    }
    if args.in_process_only {
        let rows = vec![in_process_rows(&args).await?];
        print_table(&rows);
        return Ok(());
    }
    let _own_server;
    let url = match &args.nats_url {
        Some(url) => url.clone(),
        None => {
            let server = NatsServer::start();
            let url = server.url();
            _own_server = server;
            url
        }
    };
    let version = Command::new("nats-server")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    println!(
        "machine: {} cores; {version}; calls per latency row: {}; per throughput cell: {} at 1 in flight, {} at 16 and 128; {} interleaved rounds\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.calls,
        args.calls,
        args.throughput_calls,
        args.rounds.max(1)
    );

    let mut rows = Vec::new();
    let client_nats = Nats::connect(NatsOptions::new().url(&url))
        .await
        .map_err(|e| e.to_string())?;
    let raw = Caller::Raw(client_nats.client().clone(), "raw.hello");
    let json = Caller::Micro(BenchClient::new(&client_nats.micro_client()));
    let msgpack = Caller::Micro(BenchClient::new(
        &client_nats
            .micro_client()
            .with_content_type(ContentType::MsgPack),
    ));

    // One process: service and client share this process (separate connections).
    {
        let (_server_nats, running) = serve_all(&url).await.map_err(|e| e.to_string())?;
        let paths = [
            (Mode::Raw, &raw),
            (Mode::Json, &json),
            (Mode::MsgPack, &msgpack),
        ];
        rows.extend(measure_group(&paths, 1, &args).await?);
        running.stop().await;
    }
    // Two processes: the service runs in a child process.
    {
        let mut child = spawn_server_process(&url)?;
        wait_until_served(&json).await?;
        let paths = [
            (Mode::Raw, &raw),
            (Mode::Json, &json),
            (Mode::MsgPack, &msgpack),
        ];
        rows.extend(measure_group(&paths, 2, &args).await?);
        drop(child.stdin.take());
        let _ = child.wait();
    }
    rows.push(in_process_rows(&args).await?);
    println!("## Latency and throughput\n");
    print_table(&rows);

    memory_report(&url, &json, &args).await
}

/// The in-process row, then the allocation count per in-process call (client and server both
/// run here, so the count covers the whole call).
async fn in_process_rows(args: &Args) -> Result<Row, String> {
    let memory = Memory::new();
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .handle(BenchServer::new(BenchImpl))
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let in_process = Caller::Micro(BenchClient::new(&memory.client()));
    let row = measure_group(&[(Mode::InProcess, &in_process)], 1, args)
        .await?
        .remove(0);
    let n = args.calls;
    COUNTING.store(true, Ordering::SeqCst);
    let region = Region::new(&INSTRUMENTED_SYSTEM);
    for _ in 0..n {
        in_process.call().await?;
    }
    let per_call = region.change().allocations as f64 / n as f64;
    COUNTING.store(false, Ordering::SeqCst);
    println!("heap allocations per in-process hello call (client + server): {per_call:.1}\n");
    running.stop().await;
    Ok(row)
}

async fn wait_until_served(caller: &Caller) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match caller.call().await {
            Ok(()) => return Ok(()),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => return Err(format!("the server process never answered: {e}")),
        }
    }
}

/// RSS of a service process: idle, after 100k calls and after `memory_calls`.
async fn memory_report(url: &str, caller: &Caller, args: &Args) -> Result<(), String> {
    let mut child = spawn_server_process(url)?;
    wait_until_served(caller).await?;
    let pid = child.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_kib(pid).ok_or("cannot read the server's /proc status")?;
    let first = (args.memory_calls / 10).max(1);
    let mut done = 1;
    let chunk = |n: usize| {
        let caller = caller.clone();
        async move {
            let mut rest = n;
            while rest > 0 {
                let batch = rest.min(100_000);
                throughput(&caller, 128, batch).await?;
                rest -= batch;
            }
            Ok::<(), String>(())
        }
    };
    chunk(first - done).await?;
    done = first;
    let after_first = rss_kib(pid).ok_or("cannot read the server's /proc status")?;
    chunk(args.memory_calls - done).await?;
    let after_all = rss_kib(pid).ok_or("cannot read the server's /proc status")?;
    let in_flight = many_in_flight(caller, if args.smoke { 500 } else { 10_000 }).await;
    drop(child.stdin.take());
    let _ = child.wait();
    let growth = (after_all.0 as f64 - after_first.0 as f64) / after_first.0 as f64 * 100.0;
    println!("\n## Memory of the service process (KiB)\n");
    println!("| moment | RSS | peak RSS |\n|---|---|---|");
    println!("| idle | {} | {} |", idle.0, idle.1);
    println!(
        "| after {first} calls | {} | {} |",
        after_first.0, after_first.1
    );
    println!(
        "| after {} calls | {} | {} |",
        args.memory_calls, after_all.0, after_all.1
    );
    println!(
        "\nRSS growth between {first} and {} calls: {growth:+.1}%",
        args.memory_calls
    );
    in_flight
}

/// `n` calls started at once all complete without error.
async fn many_in_flight(caller: &Caller, n: usize) -> Result<(), String> {
    // A generous timeout: this checks that nothing is lost or refused, not speed.
    let caller = match caller {
        Caller::Micro(c) => Caller::Micro(BenchClient::new(
            &c.client().with_timeout(Duration::from_secs(60)),
        )),
        other => other.clone(),
    };
    let caller = &caller;
    let started = Instant::now();
    let results: Vec<Result<(), String>> =
        futures::future::join_all((0..n).map(|_| caller.call())).await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    println!(
        "\n## {n} calls in flight at once\n\n{} succeeded, {failed} failed, in {:.2} s",
        n - failed,
        started.elapsed().as_secs_f64()
    );
    if failed > 0
        && let Some(Err(e)) = results.into_iter().find(Result::is_err)
    {
        return Err(format!(
            "{failed} of {n} concurrent calls failed; first: {e}"
        ));
    }
    Ok(())
}

/// `BENCH_COMPARE` with `--load-calls N`: where a gap to raw comes from. Against a
/// `bench --serve` process (or, with `BENCH_LOCAL`, a server in this process), measures three
/// paths in 30 alternating rounds of N calls: raw client to raw server, raw client to micro's
/// server, micro's client to micro's server. At `--load-in-flight 1` it compares the p50 of
/// sequential calls, above that the throughput; each line is the median of the rounds' ratios
/// to the first path. The second line is the serving side's share of the gap, the third the
/// whole of it.
async fn compare_paths(nats: &Nats, calls: usize, in_flight: usize) -> Result<(), String> {
    let callers = [
        (
            "raw client, raw server",
            Caller::Raw(nats.client().clone(), "raw.hello"),
        ),
        (
            "raw client, micro server",
            Caller::Raw(nats.client().clone(), "bench.hello"),
        ),
        (
            "micro client, micro server",
            Caller::Micro(BenchClient::new(&nats.micro_client())),
        ),
    ];
    for (_, caller) in &callers {
        for _ in 0..1000 {
            caller.call().await?;
        }
    }
    let mut ratios = vec![Vec::new(); callers.len()];
    for round in 0..30 {
        let mut measured = [0.0; 3];
        for k in 0..callers.len() {
            let i = if round % 2 == 0 {
                k
            } else {
                callers.len() - 1 - k
            };
            measured[i] = if in_flight <= 1 {
                let mut samples = sequential(&callers[i].1, calls).await?;
                samples.sort_unstable();
                percentile(&samples, 50.0).as_secs_f64()
            } else {
                throughput(&callers[i].1, in_flight, calls).await?
            };
        }
        for (i, ratio) in ratios.iter_mut().enumerate() {
            ratio.push(measured[i] / measured[0]);
        }
    }
    let what = if in_flight <= 1 {
        "p50 latency".to_owned()
    } else {
        format!("throughput at {in_flight} in flight")
    };
    for ((name, _), ratio) in callers.iter().zip(&mut ratios) {
        println!(
            "{name}: {what} {:.3}x raw (median of 30 rounds)",
            median(ratio)
        );
    }
    Ok(())
}

async fn serve_forever(url: &str) -> Result<(), String> {
    let (_nats, running) = serve_all(url).await.map_err(|e| e.to_string())?;
    // Serve until the parent closes our stdin.
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
    })
    .await;
    running.stop().await;
    Ok(())
}

fn main() {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(async {
        if args.serve {
            let url = args.nats_url.clone().ok_or("--serve needs --nats-url")?;
            serve_forever(&url).await
        } else if let Some(calls) = args.load_calls {
            let url = args
                .nats_url
                .clone()
                .ok_or("--load-calls needs --nats-url")?;
            let nats = Nats::connect(NatsOptions::new().url(&url))
                .await
                .map_err(|e| e.to_string())?;
            // `BENCH_LOCAL`: serve here too, as the bench's one-process rows do.
            let _local = match std::env::var_os("BENCH_LOCAL") {
                Some(_) => Some(serve_all(&url).await.map_err(|e| e.to_string())?),
                None => None,
            };
            if std::env::var_os("BENCH_COMPARE").is_some() {
                return compare_paths(&nats, calls, args.load_in_flight).await;
            }
            let caller = if let Some(raw) = std::env::var_os("BENCH_RAW") {
                // `BENCH_RAW=micro`: the raw client, calling micro's server.
                let subject = if raw == "micro" {
                    "bench.hello"
                } else {
                    "raw.hello"
                };
                Caller::Raw(nats.client().clone(), subject)
            } else if std::env::var_os("BENCH_MSGPACK").is_some() {
                Caller::Micro(BenchClient::new(
                    &nats.micro_client().with_content_type(ContentType::MsgPack),
                ))
            } else {
                Caller::Micro(BenchClient::new(&nats.micro_client()))
            };
            if args.load_in_flight == 1 {
                let mut samples = sequential(&caller, calls).await?;
                samples.sort_unstable();
                println!(
                    "p50 {} µs, p99 {} µs",
                    micros(percentile(&samples, 50.0)),
                    micros(percentile(&samples, 99.0))
                );
            }
            let rate = throughput(&caller, args.load_in_flight, calls).await?;
            println!("{rate:.0} calls/s");
            Ok(())
        } else {
            run(args).await
        }
    });
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
