//! Where the requests of one endpoint run: in the serve loop's first poll, or spawned (see
//! [Where a request runs](super#where-a-request-runs)).

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio_util::task::TaskTracker;

/// How long a request may run in the serve loop's first poll before it counts against its
/// endpoint (see [Where a request runs](super#where-a-request-runs)). A spawned task costs a
/// microsecond or two, so past this, spawning costs the handler under 5% and lets the other
/// cores share the work.
pub const INLINE_BUDGET: Duration = Duration::from_micros(50);

/// First polls over [`INLINE_BUDGET`] in a row before an endpoint's requests are spawned
/// straight away: one slow poll may be the machine (preemption), three are the handler.
const STRIKES: u8 = 3;

/// Requests spawned straight away before an endpoint is tried inline again.
const SPAWN_SPELL: u32 = 1024;

/// Where the requests of one endpoint run: first polled in the serve loop's own task, or
/// spawned at once (see [Where a request runs](super#where-a-request-runs)). Only the serve
/// loop's task touches it, so it needs no synchronisation.
#[derive(Clone, Debug, Default)]
pub(super) struct Lane {
    /// First polls over budget in a row.
    strikes: u8,
    /// Requests left to spawn at once before trying inline again.
    spawn_left: u32,
}

impl Lane {
    /// Whether the next request is polled in the serve loop first (`false`: spawned at once).
    pub(super) fn inline(&mut self) -> bool {
        if self.spawn_left > 0 {
            self.spawn_left -= 1;
            false
        } else {
            true
        }
    }

    /// Notes how long a request that finished in its first poll held the loop up.
    pub(super) fn ran(&mut self, took: Duration) {
        if took > INLINE_BUDGET {
            self.strikes += 1;
            if self.strikes >= STRIKES {
                self.strikes = 0;
                self.spawn_left = SPAWN_SPELL;
            }
        } else {
            self.strikes = 0;
        }
    }

    /// Runs `request`: one poll here, then, if it is still pending, in a task of its own (kept
    /// by `tracker`, so a graceful stop waits for it). A request yields how long its handler
    /// ran, which, for one that finished in this poll, is what it held the loop up: measured
    /// once for statistics, so the loop reads no clock of its own.
    pub(super) async fn run<F>(&mut self, mut request: Pin<Box<F>>, tracker: &TaskTracker)
    where
        F: Future<Output = Duration> + Send + 'static,
    {
        if !self.inline() {
            tracker.spawn(request);
            return;
        }
        // Counted like a task while it runs here, so `Running::in_flight` sees it.
        let token = tracker.token();
        let outcome = std::future::poll_fn(|cx| Poll::Ready(request.as_mut().poll(cx))).await;
        drop(token);
        match outcome {
            Poll::Ready(took) => self.ran(took),
            // It waits: it holds up nothing once in its own task.
            Poll::Pending => {
                tracker.spawn(request);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_slow_poll_is_forgiven() {
        let mut lane = Lane::default();
        let slow = INLINE_BUDGET * 2;
        let tracker = TaskTracker::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            for took in [slow, slow, Duration::ZERO, slow, slow] {
                let request = Box::pin(async move {
                    std::thread::sleep(took);
                    took
                });
                lane.run(request, &tracker).await;
            }
        });
        // Two slow, one fast, two slow: never three in a row.
        assert_eq!((lane.strikes, lane.spawn_left), (2, 0));
    }
}
