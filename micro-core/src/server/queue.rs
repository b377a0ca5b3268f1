//! What a serve loop holds while every slot of its instance is busy, within the instance's
//! bounds.

use crate::transport::Incoming;

/// Counters of the requests queued while saturated, shared by an instance's serve loops.
#[derive(Debug, Default)]
pub(crate) struct Queued {
    requests: std::sync::atomic::AtomicUsize,
    bytes: std::sync::atomic::AtomicUsize,
}

impl Queued {
    /// Counts a request in, unless the bounds are reached (`force` counts it anyway: the request
    /// that found no slot keeps its place).
    pub(super) fn add(&self, len: usize, force: bool) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let requests = self.requests.fetch_add(1, Relaxed);
        let bytes = self.bytes.fetch_add(len, Relaxed);
        if !force && (requests >= MAX_QUEUED || bytes + len > MAX_QUEUED_BYTES) {
            self.remove(len);
            return false;
        }
        true
    }

    pub(super) fn remove(&self, len: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.requests.fetch_sub(1, Relaxed);
        self.bytes.fetch_sub(len, Relaxed);
    }
}

/// Requests one serve loop took while every slot is busy, within the instance's bounds
/// ([`Queued`]).
pub(super) struct Queue<'a, R> {
    pub(super) waiting: std::collections::VecDeque<Incoming<R>>,
    counts: &'a Queued,
    /// The backend's stream has ended: nothing more to take.
    pub(super) ended: bool,
}

/// Requests queued at most while every slot is busy, per instance.
pub const MAX_QUEUED: usize = 8192;
/// Bytes of request bodies queued at most while every slot is busy, per instance.
pub const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

impl<'a, R> Queue<'a, R> {
    pub(super) fn new(counts: &'a Queued) -> Self {
        Queue {
            waiting: std::collections::VecDeque::new(),
            counts,
            ended: false,
        }
    }

    pub(super) fn pop(&mut self) -> Option<Incoming<R>> {
        let incoming = self.waiting.pop_front()?;
        self.counts.remove(incoming.call.body.len());
        Some(incoming)
    }

    /// Puts back the request that found no slot (it keeps its place, whatever the bounds).
    pub(super) fn push_front(&mut self, incoming: Incoming<R>) {
        self.counts.add(incoming.call.body.len(), true);
        self.waiting.push_front(incoming);
    }

    /// Queues `incoming`, or hands it back when the instance's queue is full.
    pub(super) fn push(&mut self, incoming: Incoming<R>) -> Option<Incoming<R>> {
        if !self.counts.add(incoming.call.body.len(), false) {
            return Some(incoming);
        }
        self.waiting.push_back(incoming);
        None
    }
}

impl<R> Drop for Queue<'_, R> {
    fn drop(&mut self) {
        for incoming in &self.waiting {
            self.counts.remove(incoming.call.body.len());
        }
    }
}
