//! Per-call context: metadata and a deadline, inherited by nested calls.
//!
//! The server runs every handler inside [`Context::scope`], so a handler reads its call's context
//! with [`Context::current`] and any client call it makes inherits the metadata and the deadline
//! without passing them by hand (tarpc passes the context explicitly; a task-local keeps service
//! traits plain Rust).

use std::future::Future;
use std::time::{Duration, Instant};

use crate::Metadata;

tokio::task_local! {
    static CURRENT: Context;
}

/// Metadata and deadline of one call.
///
/// ```
/// use std::time::Duration;
/// use micro_core::Context;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let ctx = Context::new()
///     .with_metadata("x-request-id", "r-1")
///     .with_timeout(Duration::from_secs(2));
/// ctx.scope(async {
///     let inner = Context::current();
///     assert_eq!(inner.metadata().get("x-request-id"), Some("r-1"));
///     assert!(inner.time_left().unwrap() <= Duration::from_secs(2));
/// }).await;
/// # }
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Context {
    /// String headers carried with the call.
    pub metadata: Metadata,
    /// When the caller stops waiting; `None` means the client's default timeout applies.
    pub deadline: Option<Instant>,
}

impl Context {
    /// An empty context: no metadata, no deadline.
    pub fn new() -> Self {
        Self::default()
    }

    /// The context of the call being handled on this task, or an empty one outside a call.
    pub fn current() -> Context {
        CURRENT.try_with(Context::clone).unwrap_or_default()
    }

    /// Runs `f` with the context of the call being handled, without cloning it; `None` outside a
    /// call.
    pub fn with_current<R>(f: impl FnOnce(&Context) -> R) -> Option<R> {
        CURRENT.try_with(f).ok()
    }

    /// Runs `fut` with `self` as the current context, so [`Context::current`] and client calls
    /// made inside see it.
    pub fn scope<F: Future>(self, fut: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self, fut)
    }

    /// Spawns `fut` on the tokio runtime with the current call's context, so that calls made
    /// from the spawned task carry the call's metadata and deadline.
    ///
    /// The context is a task-local: a task spawned with plain [`tokio::spawn`] starts with an
    /// empty one, and its calls then carry nothing of the call that started them. Spawn with
    /// this (or wrap the future in [`Context::current`]`().scope(..)`) whenever work done on
    /// behalf of a call moves to another task. The deadline carried is the call's: work that
    /// must outlive it should be spawned with a fresh context instead.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as [`tokio::spawn`] does.
    pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(Context::current().scope(fut))
    }

    /// No metadata and no deadline: what [`Context::current`] yields outside any call.
    pub(crate) fn is_empty(&self) -> bool {
        self.metadata.is_empty() && self.deadline.is_none()
    }

    /// Polls `fut` once with `self` as the current context and hands the context back, so a
    /// caller that polls a future once in place can keep both for later polls (the serve loop's
    /// first poll of a request).
    pub(crate) fn poll_in<F: Future + Unpin>(
        self,
        fut: &mut F,
        cx: &mut std::task::Context<'_>,
    ) -> (std::task::Poll<F::Output>, Context) {
        let mut scoped = std::pin::pin!(CURRENT.scope(self, fut));
        let polled = scoped.as_mut().poll(cx);
        // The scope puts the value back in its slot after every poll.
        (polled, scoped.take_value().unwrap_or_default())
    }

    /// Adds one metadata entry.
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key, value);
        self
    }

    /// Sets the deadline `timeout` from now, keeping an earlier deadline if there is one.
    #[must_use]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        let at = Instant::now().checked_add(timeout);
        match at {
            Some(at) => self.with_deadline(at),
            None => self,
        }
    }

    /// Sets the deadline, keeping an earlier one if there is one: a nested call never outlives
    /// its parent.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(match self.deadline {
            Some(current) if current < deadline => current,
            _ => deadline,
        });
        self
    }

    /// The metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Mutable access to the metadata.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// The deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time until the deadline: `None` without one, zero once it has passed.
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// True when there is a deadline and it has passed.
    pub fn is_expired(&self) -> bool {
        self.deadline.is_some_and(|d| d <= Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_deadline_wins() {
        let now = Instant::now();
        let early = now + Duration::from_millis(10);
        let late = now + Duration::from_secs(10);
        assert_eq!(
            Context::new()
                .with_deadline(early)
                .with_deadline(late)
                .deadline(),
            Some(early)
        );
        assert_eq!(
            Context::new()
                .with_deadline(late)
                .with_deadline(early)
                .deadline(),
            Some(early)
        );
    }

    #[test]
    fn outside_a_scope_is_empty() {
        let ctx = Context::current();
        assert!(ctx.metadata().is_empty());
        assert!(ctx.deadline().is_none());
        assert!(!ctx.is_expired());
    }

    #[tokio::test]
    async fn spawn_carries_the_context_into_the_task() {
        let ctx = Context::new().with_metadata("k", "v");
        let (carried, plain) = ctx
            .scope(async {
                let carried = Context::spawn(async {
                    Context::current().metadata().get("k").map(str::to_owned)
                });
                let plain = tokio::spawn(async {
                    Context::current().metadata().get("k").map(str::to_owned)
                });
                (carried.await.unwrap(), plain.await.unwrap())
            })
            .await;
        assert_eq!(carried.as_deref(), Some("v"));
        assert_eq!(plain, None, "a plain spawn starts with an empty context");
    }

    #[tokio::test]
    async fn poll_in_sets_current_and_hands_the_context_back() {
        let ctx = Context::new().with_metadata("k", "v");
        let mut fut = Box::pin(async {
            let first = Context::current().metadata().get("k").map(str::to_owned);
            tokio::task::yield_now().await;
            (
                first,
                Context::current().metadata().get("k").map(str::to_owned),
            )
        });
        let (polled, ctx) = std::future::poll_fn(|cx| {
            let (polled, ctx) = ctx.clone().poll_in(&mut fut, cx);
            std::task::Poll::Ready((polled.is_pending(), ctx))
        })
        .await;
        assert!(polled, "the future yields once");
        assert_eq!(ctx.metadata().get("k"), Some("v"));
        assert!(
            Context::current().metadata().is_empty(),
            "the scope ends after the poll"
        );
        // Later polls, in a scope of the context handed back, still see it.
        let (first, second) = ctx.scope(fut).await;
        assert_eq!(
            (first.as_deref(), second.as_deref()),
            (Some("v"), Some("v"))
        );
    }

    #[tokio::test]
    async fn scope_sets_current() {
        let ctx = Context::new().with_metadata("k", "v");
        let seen = ctx
            .scope(async { Context::current().metadata().get("k").map(str::to_owned) })
            .await;
        assert_eq!(seen.as_deref(), Some("v"));
    }
}
