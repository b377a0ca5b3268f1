//! Does one instance use every core it is given, and do waiting handlers cost the serve loop
//! nothing? `cargo run --release --example bench_cores`.
//!
//! Two workloads, each served by a child process (so the driving client, in this process, takes
//! little of the serving runtime) over a NATS server started on a free loopback port, and driven
//! at 64 calls in flight:
//!
//! - **CPU-bound**: a handler doing about 200 µs of computation per call (a fixed amount of
//!   work, calibrated once before serving), served by one instance on a runtime of 1 worker
//!   and of 2 workers. The ratio of the two is what the second core adds.
//! - **Waiting**: a handler that awaits a 1 ms timer, served by micro and by raw async-nats
//!   spawning a task per request (each on 2 workers). Waiting handlers should be limited by how
//!   many run at once, not by the loop that takes requests in.
//!
//! Rows are measured in interleaved rounds and reported as medians; see BENCHMARKS.md.
//! `--smoke` runs a few calls per row so CI keeps the binary working.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use micro::nats::{Nats, NatsOptions};
use micro::prelude::*;
use test_support::NatsServer;

/// The served workloads.
#[service(name = "cores", version = "1.0.0")]
pub trait Cores {
    /// Computes for about 200 µs and returns a checksum of the work.
    async fn compute(&self, seed: u64) -> Result<u64, Error>;
    /// Waits 1 ms and echoes `n`.
    async fn wait(&self, n: u32) -> Result<u32, Error>;
}

struct CoresImpl {
    /// Rounds of [`work`] that take about 200 µs on this machine.
    rounds: u64,
}

impl Cores for CoresImpl {
    async fn compute(&self, seed: u64) -> Result<u64, Error> {
        Ok(work(seed, self.rounds))
    }

    async fn wait(&self, n: u32) -> Result<u32, Error> {
        tokio::time::sleep(WAIT).await;
        Ok(n)
    }
}

/// How long the waiting handler waits.
const WAIT: Duration = Duration::from_millis(1);

/// CPU work the optimiser cannot remove: `rounds` steps of a xorshift generator.
fn work(seed: u64, rounds: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    std::hint::black_box(x)
}

/// Rounds of [`work`] that take about `target` on this thread.
fn calibrate(target: Duration) -> u64 {
    let mut rounds = 1_000u64;
    loop {
        let started = Instant::now();
        work(7, rounds);
        let took = started.elapsed();
        if took >= Duration::from_millis(20) {
            let per_round = took.as_secs_f64() / rounds as f64;
            return ((target.as_secs_f64() / per_round) as u64).max(1);
        }
        rounds *= 2;
    }
}

/// Command line of the cores bench.
#[derive(Debug, Parser)]
#[command(about = "micro on one and two cores: CPU-bound and waiting handlers")]
struct Args {
    /// Calls per measurement (each row, each round).
    #[arg(long, default_value_t = 20_000)]
    calls: usize,
    /// Interleaved rounds per row.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// A few calls per row: checks that everything runs, measures nothing.
    #[arg(long)]
    smoke: bool,
    /// Internal: serve on `--nats-url` until stdin closes (`micro` or `raw`).
    #[arg(long, hide = true)]
    serve: Option<String>,
    /// Internal: worker threads of the serving runtime.
    #[arg(long, hide = true, default_value_t = 2)]
    workers: usize,
    /// Internal: the NATS server to serve on.
    #[arg(long, hide = true)]
    nats_url: Option<String>,
    /// Internal: rounds of work per CPU-bound call (calibrated once, by the driving process).
    #[arg(long, hide = true, default_value_t = 1)]
    work_rounds: u64,
}

/// Calls in flight for every row.
const IN_FLIGHT: usize = 64;

fn main() -> Result<(), String> {
    let args = Args::parse();
    if let Some(kind) = &args.serve {
        let url = args.nats_url.clone().ok_or("--serve needs --nats-url")?;
        let rounds = args.work_rounds;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.workers)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        return runtime.block_on(serve(kind, &url, rounds));
    }
    // The driving side needs little: one thread, apart from the servers' runtimes.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(drive(args))
}

/// The child process: serves until its stdin closes.
async fn serve(kind: &str, url: &str, rounds: u64) -> Result<(), String> {
    let nats = Nats::connect(NatsOptions::new().url(url))
        .await
        .map_err(|e| e.to_string())?;
    let running = match kind {
        "micro" => Some(
            Service::builder()
                .backend(nats.backend())
                .only_explicit()
                .handle(CoresServer::new(CoresImpl { rounds }))
                .start()
                .await
                .map_err(|e| e.to_string())?,
        ),
        "raw" => {
            serve_raw(nats.client().clone()).await?;
            None
        }
        other => return Err(format!("unknown server kind `{other}`")),
    };
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

/// Raw async-nats, a task per request: the usual way to serve handlers that wait.
async fn serve_raw(client: async_nats::Client) -> Result<(), String> {
    let mut sub = client
        .queue_subscribe("raw.wait", "q".to_owned())
        .await
        .map_err(|e| e.to_string())?;
    client.flush().await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Some(reply_to) = msg.reply else { continue };
            let client = client.clone();
            tokio::spawn(async move {
                tokio::time::sleep(WAIT).await;
                let _ = client.publish(reply_to, msg.payload).await;
            });
        }
    });
    Ok(())
}

/// A served child process, stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

fn spawn_server(kind: &str, workers: usize, url: &str, work: u64) -> Result<Server, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (workers, work) = (workers.to_string(), work.to_string());
    Command::new(exe)
        .args(["--serve", kind, "--workers", &workers, "--nats-url", url])
        .args(["--work-rounds", &work])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map(Server)
        .map_err(|e| format!("cannot start the server process: {e}"))
}

/// One measured configuration.
#[derive(Clone, Copy, Debug)]
enum Row {
    ComputeOn(usize),
    WaitMicro,
    WaitRaw,
}

impl Row {
    fn label(self) -> String {
        match self {
            Row::ComputeOn(1) => "CPU-bound (~200 µs), micro, 1 worker".to_owned(),
            Row::ComputeOn(n) => format!("CPU-bound (~200 µs), micro, {n} workers"),
            Row::WaitMicro => "waits 1 ms, micro, 2 workers".to_owned(),
            Row::WaitRaw => "waits 1 ms, raw async-nats (task per request), 2 workers".to_owned(),
        }
    }
}

async fn drive(args: Args) -> Result<(), String> {
    let (calls, rounds) = if args.smoke {
        (200, 1)
    } else {
        (args.calls, args.rounds.max(1))
    };
    // Calibrated once, here, so that every server does the same work per call.
    let work = calibrate(Duration::from_micros(200));
    let nats_server = NatsServer::start();
    let url = nats_server.url();
    let nats = Nats::connect(NatsOptions::new().url(&url))
        .await
        .map_err(|e| e.to_string())?;
    let client = CoresClient::new(&nats.micro_client());
    let raw = nats.client().clone();
    println!(
        "machine: {} cores; {calls} calls per row and round at {IN_FLIGHT} in flight; {rounds} \
         interleaved rounds; medians\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let rows = [
        Row::ComputeOn(1),
        Row::ComputeOn(2),
        Row::WaitMicro,
        Row::WaitRaw,
    ];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    for round in 0..rounds {
        for k in 0..rows.len() {
            // Every other round in reverse order, so no row always goes first.
            let i = if round % 2 == 0 {
                k
            } else {
                rows.len() - 1 - k
            };
            let row = rows[i];
            let _server = match row {
                Row::ComputeOn(workers) => spawn_server("micro", workers, &url, work)?,
                Row::WaitMicro => spawn_server("micro", 2, &url, work)?,
                Row::WaitRaw => spawn_server("raw", 2, &url, work)?,
            };
            let rate = match row {
                Row::ComputeOn(_) => {
                    wait_served(|| async { client.compute(1).await.map(drop) }).await?;
                    rate(|| async { client.compute(1).await.map(drop) }, calls).await?
                }
                Row::WaitMicro => {
                    wait_served(|| async { client.wait(1).await.map(drop) }).await?;
                    rate(|| async { client.wait(1).await.map(drop) }, calls).await?
                }
                Row::WaitRaw => {
                    let call = || async {
                        raw.request("raw.wait", Bytes::from_static(b"1"))
                            .await
                            .map(drop)
                            .map_err(|e| Error::unavailable(e.to_string()))
                    };
                    wait_served(call).await?;
                    rate(call, calls).await?
                }
            };
            rates[i].push(rate);
        }
    }
    let medians: Vec<f64> = rates.iter_mut().map(|r| median(r)).collect();
    println!("| workload | calls/s | ratio |");
    println!("|---|---|---|");
    for (i, row) in rows.iter().enumerate() {
        let ratio = match row {
            Row::ComputeOn(2) => format!("{:.2}× of 1 worker", medians[i] / medians[0]),
            Row::WaitMicro => format!("{:.2}× raw", medians[i] / medians[3]),
            _ => "—".to_owned(),
        };
        println!("| {} | {:.0} | {ratio} |", row.label(), medians[i]);
    }
    Ok(())
}

/// Calls until one succeeds (the child process is connecting), for at most 10 s.
async fn wait_served<F, Fut>(call: F) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let started = Instant::now();
    loop {
        match call().await {
            Ok(()) => return Ok(()),
            Err(err) if started.elapsed() > Duration::from_secs(10) => {
                return Err(format!("the server process never answered: {err}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Calls per second with [`IN_FLIGHT`] calls outstanding at all times.
async fn rate<F, Fut>(call: F, calls: usize) -> Result<f64, String>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    let mut sent = 0;
    while sent < calls.min(IN_FLIGHT) {
        pending.push(call());
        sent += 1;
    }
    while let Some(result) = pending.next().await {
        result.map_err(|e| e.to_string())?;
        if sent < calls {
            pending.push(call());
            sent += 1;
        }
    }
    Ok(calls as f64 / started.elapsed().as_secs_f64())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}
