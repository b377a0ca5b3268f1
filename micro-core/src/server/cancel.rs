//! Cancelling requests by key: the requests in flight that their callers can cancel, and the
//! cancellations that arrived before their request started (see PROTOCOL.md, "Cancellation").

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// Cancellation tokens of the requests in flight, by key; each entry numbered, so that only
/// the request that made it removes it. Also the cancellations that found no request in flight,
/// held a while for a request that has not started yet ([`Early`]).
#[derive(Debug, Default)]
pub(crate) struct Cancels {
    state: std::sync::Mutex<CancelState>,
    next: std::sync::atomic::AtomicU64,
    /// How many cancellations [`Early`] holds, read without the lock: while it holds none
    /// (nearly always), a request that starts costs one atomic load more, nothing else.
    held: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, Default)]
struct CancelState {
    running: CancelMap,
    early: Early,
}

type CancelMap = std::collections::HashMap<Box<str>, (u64, CancellationToken)>;

/// Whether `key` can name one request: a caller's own token (a NUID has 22 characters), not a
/// reply subject's fixed last token such as a sequence number.
fn plausible_key(key: &str) -> bool {
    (8..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Cancels {
    /// Whether a request in flight is registered under `key`.
    #[cfg(test)]
    pub(super) fn is_running(&self, key: &str) -> bool {
        self.lock().running.contains_key(key)
    }

    /// How many requests in flight are registered.
    #[cfg(test)]
    pub(super) fn running_len(&self) -> usize {
        self.lock().running.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CancelState> {
        // A map of tokens stays consistent whatever panicked while holding it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers `key`, unless it cannot name one request alone: too short or long, not
    /// alphanumeric, or already taken by a request in flight (two callers whose reply subjects
    /// end alike must not cancel each other's requests; neither is cancellable then). The entry
    /// lasts as long as the returned guard, wherever that is dropped: a request's task dropped
    /// before it ever ran (its runtime shutting down) takes its entry with it. A cancellation
    /// held for the key is taken: the guard's token is then cancelled already.
    pub(super) fn register(self: &Arc<Self>, key: &str) -> Option<Registered> {
        if !plausible_key(key) {
            return None;
        }
        let mut state = self.lock();
        if state.running.contains_key(key) {
            return None;
        }
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let token = CancellationToken::new();
        if self.holding() && self.take_held(&mut state, key) {
            token.cancel();
        }
        state.running.insert(key.into(), (id, token.clone()));
        Some(Registered {
            cancels: Arc::clone(self),
            key: key.into(),
            id,
            token,
        })
    }

    /// Cancels the request in flight named `key`; when there is none, holds the cancellation
    /// for a request that has not started yet. Whether a request in flight was cancelled.
    pub(super) fn cancel(&self, key: &str) -> bool {
        let mut state = self.lock();
        if let Some((_, token)) = state.running.get(key) {
            token.cancel();
            return true;
        }
        if plausible_key(key) {
            state.early.hold(key, Instant::now());
            self.count_held(&state);
        }
        false
    }

    /// Whether any cancellation is held for a request not started yet: the lock-free look
    /// every request takes before it starts.
    #[inline]
    pub(super) fn holding(&self) -> bool {
        self.held.load(std::sync::atomic::Ordering::Relaxed) > 0
    }

    /// Takes the cancellation held for `key`, if any: its request must not run.
    #[cold]
    pub(super) fn take_early(&self, key: &str) -> bool {
        let mut state = self.lock();
        self.take_held(&mut state, key)
    }

    fn take_held(&self, state: &mut CancelState, key: &str) -> bool {
        let taken = state.early.take(key, Instant::now());
        self.count_held(state);
        taken
    }

    fn count_held(&self, state: &CancelState) {
        self.held
            .store(state.early.keys.len(), std::sync::atomic::Ordering::Relaxed);
    }
}

/// Cancellations that found no request in flight, held for a request that has not started
/// yet (still in the subscription, or queued while every slot is busy), which is then dropped
/// instead of run. Bounded in number and age, oldest dropped first, so that cancellations no
/// request will match (a stranger's, or those of requests that finished as their callers gave
/// up) cannot grow it.
#[derive(Debug, Default)]
struct Early {
    /// Each key held, with its number in `order`.
    keys: std::collections::HashMap<Box<str>, u64>,
    /// Oldest first: when each key was held, and its number; a number no longer in `keys` is
    /// a key taken since.
    order: std::collections::VecDeque<(Instant, u64, Box<str>)>,
    next: u64,
}

/// Cancellations held at most for requests not started yet, per instance.
pub const MAX_EARLY_CANCELS: usize = 4096;

/// How long a cancellation is held for a request not started yet.
pub const EARLY_CANCEL_TTL: Duration = Duration::from_secs(30);

impl Early {
    fn hold(&mut self, key: &str, now: Instant) {
        self.expire(now);
        if self.keys.contains_key(key) {
            return;
        }
        while self.order.len() >= MAX_EARLY_CANCELS {
            self.drop_oldest();
        }
        let number = self.next;
        self.next += 1;
        self.keys.insert(key.into(), number);
        self.order.push_back((now, number, key.into()));
    }

    fn take(&mut self, key: &str, now: Instant) -> bool {
        self.expire(now);
        let taken = self.keys.remove(key).is_some();
        if self.keys.is_empty() {
            // Only numbers of keys taken since: nothing to keep.
            self.order.clear();
        }
        taken
    }

    fn expire(&mut self, now: Instant) {
        while self
            .order
            .front()
            .is_some_and(|(at, ..)| now.saturating_duration_since(*at) >= EARLY_CANCEL_TTL)
        {
            self.drop_oldest();
        }
    }

    fn drop_oldest(&mut self) {
        if let Some((_, number, key)) = self.order.pop_front()
            && self.keys.get(&key) == Some(&number)
        {
            self.keys.remove(&key);
        }
    }
}

/// A request's entry in [`Cancels`], removed when this is dropped.
#[derive(Debug)]
pub(crate) struct Registered {
    cancels: Arc<Cancels>,
    key: Box<str>,
    id: u64,
    /// Cancelled when the request's caller gives up.
    pub(super) token: CancellationToken,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut state = self.cancels.lock();
        if state
            .running
            .get(&self.key)
            .is_some_and(|(id, _)| *id == self.id)
        {
            state.running.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_key_names_one_request_or_none() {
        let cancels = Arc::new(Cancels::default());
        for bad in ["", "short", "has.dot.in.it", &"x".repeat(65)] {
            assert!(cancels.register(bad).is_none(), "{bad:?}");
        }
        let owner = cancels
            .register("AbCdEfGh12345678")
            .expect("a NUID-like key");
        // A second request ending alike is not cancellable: it cannot take over the first's.
        assert!(cancels.register("AbCdEfGh12345678").is_none());
        let stranger = Registered {
            cancels: Arc::clone(&cancels),
            key: owner.key.clone(),
            id: owner.id + 1,
            token: CancellationToken::new(),
        };
        drop(stranger);
        assert!(
            cancels.lock().running.contains_key("AbCdEfGh12345678"),
            "removed by a stranger"
        );
        assert!(!owner.token.is_cancelled());
        drop(owner);
        assert!(!cancels.lock().running.contains_key("AbCdEfGh12345678"));
    }

    #[test]
    fn a_cancellation_that_finds_no_request_is_held_briefly_for_one_not_started() {
        let cancels = Arc::new(Cancels::default());
        // A key that cannot name one request is not held either.
        assert!(!cancels.cancel("short"));
        assert!(!cancels.holding());
        // Held, then taken by the request it names as that registers: cancelled at once.
        assert!(!cancels.cancel("AbCdEfGh12345678"));
        assert!(cancels.holding());
        let registered = cancels.register("AbCdEfGh12345678").expect("registers");
        assert!(registered.token.is_cancelled());
        assert!(!cancels.holding());
        drop(registered);
        // Or by a request about to start, once.
        assert!(!cancels.cancel("ZyXwVuTs87654321"));
        assert!(cancels.take_early("ZyXwVuTs87654321"));
        assert!(!cancels.take_early("ZyXwVuTs87654321"));
        // A flood of keys nobody's request has holds the newest only.
        for i in 0..MAX_EARLY_CANCELS + 10 {
            cancels.cancel(&format!("flood{i:08}"));
        }
        {
            let state = cancels.lock();
            assert_eq!(state.early.keys.len(), MAX_EARLY_CANCELS);
            assert!(state.early.order.len() <= MAX_EARLY_CANCELS);
            assert!(!state.early.keys.contains_key("flood00000000"));
            assert!(
                state
                    .early
                    .keys
                    .contains_key(&*format!("flood{:08}", MAX_EARLY_CANCELS + 9))
            );
        }
        // And none for longer than its time to live.
        let mut early = Early::default();
        let now = Instant::now();
        early.hold("AbCdEfGh12345678", now);
        early.hold("ZyXwVuTs87654321", now + EARLY_CANCEL_TTL / 2);
        assert!(!early.take("AbCdEfGh12345678", now + EARLY_CANCEL_TTL));
        assert!(early.take("ZyXwVuTs87654321", now + EARLY_CANCEL_TTL));
        assert!(early.keys.is_empty() && early.order.is_empty());
    }
}
