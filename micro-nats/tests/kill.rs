//! A service instance killed with SIGKILL under load: its own process, no drain, no goodbye.
//! With retries on an idempotent endpoint, no call fails; the figures go to RELIABILITY.md
//! (`cargo test -p micro-nats --test kill -- --nocapture` prints them).
//!
//! The instances are this test binary run again (`instance_process`, ignored unless
//! `MICRO_KILL_CHILD` is set), so the test needs no other binary.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use micro_core::client::RetryPolicy;
use micro_core::prelude::*;
use micro_nats::{Nats, NatsOptions};
use test_support::NatsServer;

/// Answers which process served it, after a little work.
#[service(name = "victim", version = "1.0.0")]
pub trait Victim {
    /// Idempotent: safe to send again when the instance that had it vanished.
    #[micro(idempotent)]
    async fn pid(&self) -> Result<u32, Error>;
}

struct Impl;

impl Victim for Impl {
    async fn pid(&self) -> Result<u32, Error> {
        // Long enough that a kill finds calls in flight.
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(std::process::id())
    }
}

/// The instance process: serves until killed, or until its parent goes (stdin closes).
#[test]
#[ignore = "an instance process of the kill test, run by it with MICRO_KILL_CHILD set"]
fn instance_process() {
    let Ok(url) = std::env::var("MICRO_KILL_CHILD") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let nats = Nats::connect(NatsOptions::new().url(&url).name("victim"))
            .await
            .expect("the instance connects");
        let running = Service::builder()
            .backend(nats.backend())
            .only_explicit()
            .handle(VictimServer::new(Impl))
            .start()
            .await
            .expect("the instance starts");
        println!("serving {}", running.instances()[0].id);
        // The parent holds our stdin: when it ends (the test is gone), so do we.
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await
        .ok();
    });
}

/// Kills (only) its own child when dropped.
struct Instance(Child);

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_instance(url: &str) -> Instance {
    let exe = std::env::current_exe().expect("the test binary");
    let mut child = Command::new(exe)
        .args(["--ignored", "--exact", "instance_process", "--nocapture"])
        .env("MICRO_KILL_CHILD", url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawns an instance");
    // Ready once it says so (bounded: the libtest harness prints a few lines first).
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    for _ in 0..20 {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("serving ") => return Instance(child),
            Some(Ok(_)) => continue,
            _ => break,
        }
    }
    panic!("the instance process did not start serving");
}

/// Callers without pause on the idempotent endpoint while one of two instance processes is
/// killed with SIGKILL; the calls that succeeded, those that failed, and the first error.
async fn kill_under_load(retries: bool) -> (usize, usize, Option<Error>) {
    let server = NatsServer::start();
    let url = server.url();
    let mut first = Some(spawn_instance(&url));
    let _second = spawn_instance(&url);
    let nats = common::connect(&server).await;
    let mut client = nats.micro_client().with_timeout(Duration::from_secs(5));
    if retries {
        client = client.with_retry(
            RetryPolicy::new()
                .attempts(4)
                .attempt_timeout(Duration::from_millis(500))
                .budget(Duration::from_secs(10), 1000, 1.0),
        );
    }
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None));
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for _ in 0..16 {
        let victim = VictimClient::new(&client);
        let (ok, failed, first_error, stop) = (
            ok.clone(),
            failed.clone(),
            first_error.clone(),
            stop.clone(),
        );
        callers.push(tokio::spawn(async move {
            let until = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                match victim.pid().await {
                    Ok(_) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(err) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        first_error.lock().unwrap().get_or_insert(err);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = ok.load(Ordering::Relaxed);
    assert!(before > 0, "no call succeeded before the kill");
    // SIGKILL: the process vanishes with its calls in flight.
    drop(first.take());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.await.expect("caller");
    }
    let ok = ok.load(Ordering::Relaxed);
    assert!(ok > before, "no call succeeded after the kill");
    let error = first_error.lock().unwrap().take();
    (ok, failed.load(Ordering::Relaxed), error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_retries_a_killed_instance_costs_no_call() {
    let (ok, failed, first) = kill_under_load(true).await;
    eprintln!("kill -9 with retries: {ok} calls succeeded, {failed} failed ({first:?})");
    assert_eq!(failed, 0, "calls failed although retried: first {first:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_retries_a_killed_instance_fails_its_calls_in_flight() {
    let (ok, failed, first) = kill_under_load(false).await;
    eprintln!("kill -9 without retries: {ok} calls succeeded, {failed} failed ({first:?})");
    // The calls in flight on the killed instance (with 16 callers without pause, about half of
    // them) are lost: each fails with a timeout or a lost-request error, not silently; the
    // survivor serves the rest.
    assert!(failed > 0, "no call was in flight on the killed instance?");
    let first = first.expect("an error");
    assert!(matches!(first.code(), 408 | 503), "{first}");
}
