//! Per-endpoint counters behind STATS replies.
//!
//! Counted the Go way (see PROTOCOL.md): every request dispatched counts, every error reply
//! counts, and processing time runs from dispatch (after a free slot was found) to the reply
//! being ready for the transport.
//! Atomics keep the hot path lock-free; only `last_error` takes a lock, and only on errors.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::{EndpointStats, Instance, InstanceStats};
use crate::Error;

/// The counters of one service instance.
#[derive(Debug)]
pub struct ServiceStats {
    started: Mutex<SystemTime>,
    endpoints: Vec<EndpointCounters>,
}

#[derive(Debug, Default)]
struct EndpointCounters {
    num_requests: AtomicU64,
    num_errors: AtomicU64,
    processing_ns: AtomicU64,
    last_error: Mutex<String>,
}

impl ServiceStats {
    /// Zeroed counters for `endpoints` endpoints, started now.
    pub fn new(endpoints: usize) -> Self {
        ServiceStats {
            started: Mutex::new(SystemTime::now()),
            endpoints: (0..endpoints)
                .map(|_| EndpointCounters::default())
                .collect(),
        }
    }

    /// Counts a request received on endpoint `index`.
    #[inline]
    pub fn record_request(&self, index: usize) {
        if let Some(c) = self.endpoints.get(index) {
            c.num_requests.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a finished request: its processing time and, for an error reply, the error.
    #[inline]
    pub fn record_done(&self, index: usize, elapsed: Duration, error: Option<&Error>) {
        let Some(c) = self.endpoints.get(index) else {
            return;
        };
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        c.processing_ns.fetch_add(ns, Ordering::Relaxed);
        if let Some(err) = error {
            c.num_errors.fetch_add(1, Ordering::Relaxed);
            let text = format!("{}:{}", err.code, err.description());
            if let Ok(mut last) = c.last_error.lock() {
                *last = text;
            }
        }
    }

    /// Counts an error reply for a request already counted as done without one: the reply was
    /// ready but could not be sent (too large for the transport, connection lost).
    pub fn record_error(&self, index: usize, error: &Error) {
        let Some(c) = self.endpoints.get(index) else {
            return;
        };
        c.num_errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = c.last_error.lock() {
            *last = format!("{}:{}", error.code, error.description());
        }
    }

    /// Zeroes every counter and restarts the clock.
    pub fn reset(&self) {
        for c in &self.endpoints {
            c.num_requests.store(0, Ordering::Relaxed);
            c.num_errors.store(0, Ordering::Relaxed);
            c.processing_ns.store(0, Ordering::Relaxed);
            if let Ok(mut last) = c.last_error.lock() {
                last.clear();
            }
        }
        if let Ok(mut started) = self.started.lock() {
            *started = SystemTime::now();
        }
    }

    /// The counters in STATS shape, named after `instance`'s endpoints.
    pub fn snapshot(&self, instance: &Instance) -> InstanceStats {
        let endpoints = instance
            .endpoints
            .iter()
            .zip(&self.endpoints)
            .map(|(info, c)| {
                let num_requests = c.num_requests.load(Ordering::Relaxed);
                let processing_time = Duration::from_nanos(c.processing_ns.load(Ordering::Relaxed));
                let average_processing_time = match u32::try_from(num_requests) {
                    Ok(0) => Duration::ZERO,
                    Ok(n) => processing_time / n,
                    Err(_) => {
                        Duration::from_nanos(c.processing_ns.load(Ordering::Relaxed) / num_requests)
                    }
                };
                let mut stats = EndpointStats {
                    name: info.name.clone(),
                    subject: info.subject.clone(),
                    queue_group: info.queue_group.clone(),
                    num_requests,
                    num_errors: c.num_errors.load(Ordering::Relaxed),
                    processing_time,
                    average_processing_time,
                    ..EndpointStats::default()
                };
                if let Ok(last) = c.last_error.lock() {
                    stats.last_error.clone_from(&last);
                }
                stats
            })
            .collect();
        InstanceStats {
            name: instance.name.clone(),
            id: instance.id.clone(),
            version: instance.version.clone(),
            started: self
                .started
                .lock()
                .map(|s| *s)
                .unwrap_or(SystemTime::UNIX_EPOCH),
            endpoints,
        }
    }
}
