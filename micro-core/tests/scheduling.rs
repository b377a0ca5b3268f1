//! In-process calls take part in tokio's cooperative scheduling: tasks looping on calls that
//! are ready at once still let timers and other tasks on their workers run.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use micro_core::memory::Memory;
use micro_core::prelude::*;

#[service(name = "busy", version = "1.0.0")]
pub trait Busy {
    /// Answers at once.
    async fn ping(&self, n: u32) -> Result<u32, Error>;
}

struct Impl;

impl Busy for Impl {
    async fn ping(&self, n: u32) -> Result<u32, Error> {
        Ok(n + 1)
    }
}

#[test]
fn a_timer_fires_while_tasks_loop_on_in_process_calls() {
    // Every loop stops at `stop`, or on its own after a while, so a regression fails the test
    // instead of leaving threads spinning.
    const LOOP_LIMIT: Duration = Duration::from_secs(20);
    let stop = Arc::new(AtomicBool::new(false));
    let (fired_tx, fired) = std::sync::mpsc::channel();
    let loops = stop.clone();
    let runtime_thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let running = Service::builder()
                .backend(Memory::new().backend())
                .only_explicit()
                .handle(BusyServer::new(Impl))
                .start()
                .await
                .expect("service starts");
            let client = BusyClient::new(&running.client());
            let began = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..16 {
                let (client, stop) = (client.clone(), loops.clone());
                tasks.push(tokio::spawn(async move {
                    let mut calls = 0u64;
                    while !stop.load(Ordering::Relaxed) && began.elapsed() < LOOP_LIMIT {
                        let n = client.ping(1).await.expect("call");
                        assert_eq!(n, 2);
                        calls += 1;
                    }
                    calls
                }));
            }
            // Spawned after the loops, so it competes with them for the workers.
            let timer = tokio::spawn(async move {
                let asked = Instant::now();
                tokio::time::sleep(Duration::from_millis(20)).await;
                asked.elapsed()
            });
            let waited = timer.await.expect("timer task");
            let _ = fired_tx.send(waited);
            loops.store(true, Ordering::Relaxed);
            let mut calls = 0;
            for task in tasks {
                calls += task.await.expect("loop task");
            }
            assert!(calls > 0, "the loops made calls");
        });
    });
    let waited = fired.recv_timeout(Duration::from_secs(10));
    stop.store(true, Ordering::Relaxed);
    let waited = waited.expect("the timer fired while 16 tasks looped on in-process calls");
    assert!(
        waited < Duration::from_secs(5),
        "the timer fired late: {waited:?}"
    );
    runtime_thread.join().expect("runtime thread");
}
