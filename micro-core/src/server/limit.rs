//! The concurrency limit of a served instance.
//!
//! Every request takes a slot, so this sits on the hot path twice per request. tokio's
//! `Semaphore` locks a mutex on every release (to hand permits to waiters in order); this one
//! costs one compare-and-swap to take a slot and one atomic subtraction to give it back, and
//! touches the waiter list only when someone waits, which is only at the limit.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use tokio::sync::Notify;

/// At most `max` slots taken at once.
#[derive(Debug)]
pub(crate) struct Limit {
    max: usize,
    taken: AtomicUsize,
    /// Tasks waiting for a slot; a release wakes one only when this is non-zero.
    waiting: AtomicUsize,
    freed: Notify,
}

/// A slot, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot<'a>(&'a Limit);

/// A slot that owns a handle to its limit, for a request that outlives the borrow.
#[derive(Debug)]
pub(crate) struct OwnedSlot(Arc<Limit>);

impl Limit {
    pub(crate) fn new(max: usize) -> Self {
        Limit {
            max,
            taken: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            freed: Notify::new(),
        }
    }

    /// Takes a slot if one is free.
    pub(crate) fn try_take(&self) -> Option<Slot<'_>> {
        // Lazily: a `Slot` built and dropped would give back a slot never taken.
        self.try_reserve().then(|| Slot(self))
    }

    /// Takes a slot, waiting for one to be freed if none is.
    pub(crate) async fn take(&self) -> Slot<'_> {
        self.reserve().await;
        Slot(self)
    }

    /// [`take`](Self::take), for a slot that must outlive the borrow.
    pub(crate) async fn take_owned(self: &Arc<Self>) -> OwnedSlot {
        self.reserve().await;
        OwnedSlot(Arc::clone(self))
    }

    fn try_reserve(&self) -> bool {
        // SeqCst: pairs with `give_back`, so a waiter and a releaser cannot both miss each
        // other (see `reserve`).
        let mut taken = self.taken.load(SeqCst);
        loop {
            if taken >= self.max {
                return false;
            }
            match self
                .taken
                .compare_exchange_weak(taken, taken + 1, SeqCst, SeqCst)
            {
                Ok(_) => return true,
                Err(now) => taken = now,
            }
        }
    }

    async fn reserve(&self) {
        while !self.try_reserve() {
            // Register for a wake-up first, then say so, then look again: a release after the
            // second look sees `waiting` and wakes us; one before it left a free slot for the
            // second look to find.
            let mut freed = pin!(self.freed.notified());
            freed.as_mut().enable();
            // Counted down on drop too: the serve loop drops a wait whenever a request arrives
            // meanwhile, and a count left behind would make every release notify for nobody.
            let _waiting = WaitingGuard::new(&self.waiting);
            if self.try_reserve() {
                return;
            }
            freed.await;
        }
    }

    /// Slots taken now.
    pub(crate) fn taken(&self) -> usize {
        self.taken.load(SeqCst)
    }

    fn give_back(&self) {
        self.taken.fetch_sub(1, SeqCst);
        if self.waiting.load(SeqCst) > 0 {
            // A waiter woken for a slot someone else took looks again and waits again;
            // tokio passes on a wake-up whose waiter went away.
            self.freed.notify_one();
        }
    }
}

impl Slot<'_> {
    /// The same slot, owning a handle to `limit` (the limit it was taken from), for a request
    /// that moves on to a task of its own.
    pub(crate) fn into_owned(self, limit: &Arc<Limit>) -> OwnedSlot {
        debug_assert!(std::ptr::eq(self.0, Arc::as_ptr(limit)));
        // Handed over, not given back: the owned slot gives it back when dropped.
        std::mem::forget(self);
        OwnedSlot(Arc::clone(limit))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.give_back();
    }
}

impl Drop for OwnedSlot {
    fn drop(&mut self) {
        self.0.give_back();
    }
}

/// One waiter in [`Limit::waiting`], for as long as it lives.
struct WaitingGuard<'a>(&'a AtomicUsize);

impl<'a> WaitingGuard<'a> {
    fn new(waiting: &'a AtomicUsize) -> Self {
        waiting.fetch_add(1, SeqCst);
        WaitingGuard(waiting)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_wait_given_up_is_no_longer_counted() {
        let limit = Limit::new(1);
        let held = limit.try_take();
        assert!(held.is_some());
        for _ in 0..3 {
            // Waits, then is dropped unfinished (the serve loop does this when a request
            // arrives while it waits for a slot).
            let gave_up = tokio::time::timeout(Duration::from_millis(5), limit.take()).await;
            assert!(gave_up.is_err());
        }
        assert_eq!(limit.waiting.load(SeqCst), 0);
        drop(held);
        assert!(limit.try_take().is_some());
    }

    #[test]
    fn slots_up_to_the_limit() {
        let limit = Limit::new(2);
        let a = limit.try_take();
        let b = limit.try_take();
        assert!(a.is_some() && b.is_some());
        assert!(limit.try_take().is_none());
        drop(a);
        assert!(limit.try_take().is_some());
        assert_eq!(limit.taken(), 1);
    }

    #[tokio::test]
    async fn a_waiter_gets_the_freed_slot() {
        let limit = Arc::new(Limit::new(1));
        let held = limit.take_owned().await;
        let waiter = tokio::spawn({
            let limit = limit.clone();
            async move {
                let _slot = limit.take_owned().await;
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter got the slot")
            .unwrap();
        assert_eq!(limit.taken(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_the_limit_under_contention() {
        let limit = Arc::new(Limit::new(3));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (limit, peak) = (limit.clone(), peak.clone());
                tokio::spawn(async move {
                    for _ in 0..200 {
                        let _slot = limit.take().await;
                        peak.fetch_max(limit.taken(), SeqCst);
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("no waiter is forgotten")
                .unwrap();
        }
        assert_eq!(peak.load(SeqCst), 3);
        assert_eq!(limit.taken(), 0);
    }
}
