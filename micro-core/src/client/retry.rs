//! Retrying calls that are safe to repeat: see [`RetryPolicy`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tower::retry::backoff::{Backoff, ExponentialBackoffMaker, MakeBackoff};
use tower::retry::budget::{Budget, TpsBudget};
use tower::util::rng::HasherRng;

use crate::Error;
use crate::error::{Delivery, code};

/// How a [`Client`](crate::Client) retries failed calls.
///
/// Which failures are retried follows from what the caller knows of the request's fate (the
/// error's [`Delivery`]):
///
/// | failure | retried |
/// |---|---|
/// | reached no handler: no responders, not connected, instance stopping ([`Delivery::NotSent`]) | always |
/// | fate unknown: the wait ran out, the connection was lost in flight ([`Delivery::InFlight`]) | idempotent endpoints only |
/// | a server answered 503 (overloaded, stopping, cut off) | idempotent endpoints only |
/// | any other answer: every 4xx, a 500, a 502 | never |
///
/// Every attempt, and every pause between attempts, fits inside the call's deadline: a retry
/// that could not finish before it is not started, and the last error is returned. Pauses grow
/// exponentially with random jitter (tower's [`ExponentialBackoff`](tower::retry::backoff::ExponentialBackoff)), and a shared budget
/// (tower's [`TpsBudget`]) caps retries to a share of the calls made, so that a fleet in trouble
/// is not buried under retries. Attempts after the first carry their number in the
/// [`ATTEMPT`](crate::metadata::keys::ATTEMPT) metadata entry, which the handler can read.
///
/// ```
/// use std::time::Duration;
/// use micro_core::client::RetryPolicy;
///
/// let policy = RetryPolicy::new()
///     .attempts(4)
///     .backoff(Duration::from_millis(10), Duration::from_millis(500))
///     .attempt_timeout(Duration::from_secs(1));
/// assert_eq!(policy.max_attempts(), 4);
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    attempts: u32,
    min_backoff: Duration,
    max_backoff: Duration,
    jitter: f64,
    attempt_timeout: Option<Duration>,
    budget: Arc<TpsBudget>,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("attempts", &self.attempts)
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("jitter", &self.jitter)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::new()
    }
}

impl RetryPolicy {
    /// Three attempts in all, pauses from 20 ms up to 1 s with jitter, no timeout per attempt
    /// (each attempt may use the rest of the call's deadline), and a budget allowing retries of
    /// 20% of the calls made in the last 10 s plus 10 per second.
    pub fn new() -> Self {
        RetryPolicy {
            attempts: 3,
            min_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_secs(1),
            jitter: 0.5,
            attempt_timeout: None,
            budget: Arc::new(TpsBudget::default()),
        }
    }

    /// Attempts in all, the first included (at least 1: no retries).
    #[must_use]
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The first pause and the longest one; pauses double in between, plus up to half again
    /// of random jitter. `max` is raised to `min` if it is smaller, and to 1 ms if zero.
    #[must_use]
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min).max(Duration::from_millis(1));
        self
    }

    /// Gives up on one attempt after `timeout` (within the call's deadline), so that a call to
    /// an instance that vanished without a word is retried before the deadline passes. Only an
    /// idempotent endpoint is retried after such a timeout.
    #[must_use]
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Replaces the retry budget: at most `percent` (0.0–1.0) of the calls made within `ttl`
    /// may be retried, plus `min_per_sec` retries each second whatever the traffic. Clones of a
    /// policy share one budget.
    #[must_use]
    pub fn budget(mut self, ttl: Duration, min_per_sec: u32, percent: f32) -> Self {
        // Kept inside what tower's budget accepts (it asserts), whatever the caller passes: a
        // NaN allows no retries beyond the reserve.
        let ttl = ttl.clamp(Duration::from_secs(1), Duration::from_secs(60));
        let percent = if percent.is_nan() {
            0.0
        } else {
            percent.clamp(0.0, 1.0)
        };
        let min_per_sec = min_per_sec.min(i32::MAX as u32 - 1);
        self.budget = Arc::new(TpsBudget::new(ttl, min_per_sec, percent));
        self
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.attempts
    }

    /// The timeout of one attempt, if set.
    pub fn get_attempt_timeout(&self) -> Option<Duration> {
        self.attempt_timeout
    }

    /// Whether a call that failed with `err` may be sent again.
    pub fn is_retryable(err: &Error, idempotent: bool) -> bool {
        match err.delivery() {
            Delivery::NotSent => true,
            Delivery::InFlight => idempotent,
            _ => idempotent && err.code() == code::UNAVAILABLE,
        }
    }

    /// Starts the retry state of one call.
    pub(crate) fn start(&self) -> Retrying<'_> {
        // Every call counts towards the budget that retries draw from.
        self.budget.deposit();
        let maker = ExponentialBackoffMaker::new(
            self.min_backoff,
            self.max_backoff,
            self.jitter,
            HasherRng::default(),
        );
        Retrying {
            policy: self,
            backoff: maker.ok().map(|mut maker| maker.make_backoff()),
            attempt: 1,
        }
    }
}

/// The retry state of one call.
pub(crate) struct Retrying<'a> {
    policy: &'a RetryPolicy,
    backoff: Option<tower::retry::backoff::ExponentialBackoff<HasherRng>>,
    /// The attempt being made, from 1.
    pub(crate) attempt: u32,
}

impl Retrying<'_> {
    /// After attempt [`attempt`](Self::attempt) failed with `err`: the pause to take before the
    /// next one, or `None` to give up (not retryable, attempts or budget used up, or no time
    /// left before `deadline`).
    pub(crate) fn next(
        &mut self,
        err: &Error,
        idempotent: bool,
        deadline: Option<Instant>,
    ) -> Option<tokio::time::Sleep> {
        if self.attempt >= self.policy.attempts || !RetryPolicy::is_retryable(err, idempotent) {
            return None;
        }
        let pause = self.backoff.as_mut()?.next_backoff();
        // A retry that could not even start before the deadline would only add load.
        if deadline.is_some_and(|deadline| pause.deadline().into_std() >= deadline) {
            return None;
        }
        if !self.policy.budget.withdraw() {
            tracing::debug!(error = %err, "retry budget used up: not retrying");
            return None;
        }
        self.attempt += 1;
        Some(pause)
    }

    /// When attempt [`attempt`](Self::attempt) stops waiting: the call's own limit, or sooner
    /// with a timeout per attempt.
    pub(crate) fn attempt_until(&self, call_until: Option<Instant>) -> Option<Instant> {
        let Some(timeout) = self.policy.attempt_timeout else {
            return call_until;
        };
        let own = Instant::now().checked_add(timeout);
        match (call_until, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_sent() -> Error {
        Error::unavailable("no responders").with_delivery(Delivery::NotSent)
    }

    fn in_flight() -> Error {
        Error::timeout("no answer").with_delivery(Delivery::InFlight)
    }

    #[test]
    fn any_budget_arguments_are_accepted() {
        // tower's budget asserts on these; the policy must not pass them on.
        for percent in [f32::NAN, f32::INFINITY, -1.0, 0.0, 2.0] {
            for min in [0, u32::MAX] {
                let _ = RetryPolicy::new().budget(Duration::ZERO, min, percent);
                let _ = RetryPolicy::new().budget(Duration::MAX, min, percent);
            }
        }
    }

    #[test]
    fn what_is_retried() {
        for idempotent in [false, true] {
            assert!(RetryPolicy::is_retryable(&not_sent(), idempotent));
            assert_eq!(
                RetryPolicy::is_retryable(&in_flight(), idempotent),
                idempotent
            );
            assert_eq!(
                RetryPolicy::is_retryable(&Error::unavailable("overloaded"), idempotent),
                idempotent
            );
            for answered in [
                Error::bad_request("x"),
                Error::not_found("x"),
                Error::timeout("x"),
                Error::internal("x"),
                Error::bad_gateway("x"),
            ] {
                assert!(
                    !RetryPolicy::is_retryable(&answered, idempotent),
                    "{answered}"
                );
            }
        }
    }

    #[tokio::test]
    async fn attempts_and_deadline_bound_the_retries() {
        let policy = RetryPolicy::new()
            .attempts(3)
            .backoff(Duration::from_millis(1), Duration::from_millis(2));
        let mut retrying = policy.start();
        assert!(retrying.next(&not_sent(), false, None).is_some());
        assert_eq!(retrying.attempt, 2);
        assert!(retrying.next(&not_sent(), false, None).is_some());
        assert_eq!(retrying.attempt, 3);
        assert!(
            retrying.next(&not_sent(), false, None).is_none(),
            "3 in all"
        );
        // No pause fits before a deadline that has passed.
        let mut retrying = policy.start();
        assert!(
            retrying
                .next(&not_sent(), false, Some(Instant::now()))
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_budget_caps_retries() {
        // No retries a second beyond 0% of the calls: the budget allows none.
        let policy = RetryPolicy::new()
            .attempts(10)
            .backoff(Duration::from_millis(1), Duration::from_millis(1))
            .budget(Duration::from_secs(1), 0, 0.0);
        let mut retrying = policy.start();
        assert!(retrying.next(&not_sent(), true, None).is_none());
    }

    #[test]
    fn an_attempt_timeout_shortens_the_wait() {
        let policy = RetryPolicy::new().attempt_timeout(Duration::from_millis(100));
        let retrying = policy.start();
        let far = Instant::now() + Duration::from_secs(60);
        let until = retrying.attempt_until(Some(far)).unwrap();
        assert!(until < far);
        let near = Instant::now() + Duration::from_millis(1);
        assert_eq!(retrying.attempt_until(Some(near)), Some(near));
    }
}
