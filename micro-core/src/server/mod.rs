//! The server side: endpoint handlers, the serve loop and its counters.
//!
//! A backend's [`Listener`] yields requests; the serve loop runs each one in its own task
//! (bounded by a concurrency limit, so a slow handler never blocks the others), inside the
//! call's [`Context`](crate::Context) and deadline, catches panics, counts statistics and hands
//! the reply back to the backend. Draining stops the intake and waits for the tasks in flight.
//! An in-process transport skips the queue and calls the same [`Dispatcher`] inline.

pub mod handler;
pub mod stats;

pub use handler::{Endpoint, EventHandler, Handler};

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use tokio::sync::{Semaphore, TryAcquireError};
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::Error;
use crate::broker::Subscription;
use crate::transport::{Call, Incoming, Listener, Reply};
use stats::ServiceStats;

/// Runs the requests of one service instance: the serve loop calls it for each request a
/// listener yields, and an in-process transport calls [`Dispatcher::dispatch`] directly.
pub struct Dispatcher {
    pub(crate) endpoints: Box<[Endpoint]>,
    /// `service.endpoint` per endpoint, the id given to errors a handler left anonymous.
    pub(crate) ids: Box<[String]>,
    pub(crate) stats: Arc<ServiceStats>,
    pub(crate) limit: Arc<Semaphore>,
    pub(crate) tracker: TaskTracker,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("endpoints", &self.ids)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// Serves requests until the listener ends (drained or closed by the backend).
    pub(crate) async fn serve(self: Arc<Self>, mut listener: Listener) {
        while let Some(incoming) = listener.next().await {
            // Waiting for a permit here stops pulling, which is the backpressure we want: the
            // backend buffers (or, for NATS, the server holds) what we cannot take yet.
            let Ok(permit) = self.limit.clone().acquire_owned().await else {
                break;
            };
            let this = self.clone();
            self.tracker.spawn(async move {
                let Incoming {
                    endpoint,
                    call,
                    responder,
                    rejected,
                    ..
                } = incoming;
                let result = match rejected {
                    None => this.handle(endpoint, call).await,
                    Some(err) => {
                        this.stats.record_request(endpoint);
                        this.stats.record_done(endpoint, Duration::ZERO, Some(&err));
                        Err(err)
                    }
                };
                drop(permit);
                let was_ok = result.is_ok();
                if let Err(err) = responder.respond(result).await {
                    tracing::warn!(error = %err, "could not send a reply");
                    // The caller gets an error (or nothing) instead of the reply: count it.
                    if was_ok {
                        this.stats.record_error(endpoint, &err);
                    }
                }
            });
        }
    }

    /// Counts, checks the deadline, runs the handler (catching panics) and names the error.
    async fn handle(&self, index: usize, call: Call) -> Result<Reply, Error> {
        let started = Instant::now();
        self.stats.record_request(index);
        let result = match self.endpoints.get(index) {
            None => Err(Error::not_found(format!(
                "unknown endpoint `{}` on service `{}`",
                call.endpoint, call.service
            ))),
            Some(_) if call.wait_deadline().is_some_and(|d| d <= Instant::now()) => {
                Err(Error::timeout(format!(
                    "deadline exceeded before `{}.{}` was handled",
                    call.service, call.endpoint
                )))
            }
            Some(endpoint) => {
                let id = self.ids.get(index).map_or("", String::as_str);
                run_handler(endpoint, id, call).await
            }
        };
        let result = result.map_err(|mut err| {
            if err.id.is_empty() {
                if let Some(id) = self.ids.get(index) {
                    err.id.clone_from(id);
                }
            }
            err
        });
        self.stats
            .record_done(index, started.elapsed(), result.as_ref().err());
        result
    }
}

impl Dispatcher {
    /// Serves `call` on endpoint number `endpoint` in the caller's own task.
    ///
    /// A transport whose callers live in the same process (the in-process one) calls this
    /// instead of queueing an [`Incoming`]: no channel hop, no task and no thread wake-up per
    /// call. It applies exactly what the serve loop applies: the concurrency limit, the
    /// deadline, panic catching, statistics and in-flight tracking for graceful stop.
    pub async fn dispatch(&self, endpoint: usize, call: Call) -> Result<Reply, Error> {
        let stopping = || Error::unavailable(format!("`{}` is stopping", call.service));
        let _permit = match self.limit.try_acquire() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(stopping()),
            // At the concurrency limit: wait for a slot, but not past the deadline.
            Err(TryAcquireError::NoPermits) => match call.wait_deadline() {
                None => self.limit.acquire().await.map_err(|_| stopping())?,
                Some(deadline) => {
                    match tokio::time::timeout_at(deadline.into(), self.limit.acquire()).await {
                        Ok(permit) => permit.map_err(|_| stopping())?,
                        Err(_) => {
                            return Err(Error::timeout(format!(
                                "`{}.{}` waited for a free slot until its deadline",
                                call.service, call.endpoint
                            ))
                            .with_id(call.id()));
                        }
                    }
                }
            },
        };
        // A call routed here just before a stop drained the route must not start after it.
        if self.tracker.is_closed() {
            return Err(stopping());
        }
        // Counted like a spawned task, so a graceful stop waits for inline calls too.
        let _token = self.tracker.token();
        self.handle(endpoint, call).await
    }
}

/// Runs the handler inside the call's context and deadline, turning a panic into a 500; `id`
/// (`service.endpoint`) names the endpoint in those errors.
async fn run_handler(endpoint: &Endpoint, id: &str, call: Call) -> Result<Reply, Error> {
    let deadline = call.wait_deadline();
    let context = call.context.clone();
    let fut = AssertUnwindSafe(context.scope(endpoint.handle(call))).catch_unwind();
    let outcome = match deadline {
        Some(deadline) => match tokio::time::timeout_at(deadline.into(), fut).await {
            Ok(outcome) => outcome,
            Err(_) => {
                return Err(Error::timeout(format!(
                    "`{id}` did not finish before its deadline"
                )));
            }
        },
        None => fut.await,
    };
    outcome.unwrap_or_else(|panic| {
        let what = panic_message(panic.as_ref());
        tracing::error!(endpoint = id, panic = %what, "handler panicked");
        Err(Error::internal(format!("`{id}` panicked: {what}")))
    })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Feeds every event of `subscription` to `handler`, one task per event; an error or a panic is
/// logged with the topic and the loop goes on.
pub(crate) async fn consume(
    mut subscription: Subscription,
    handler: EventHandler,
    name: &'static str,
    limit: Arc<Semaphore>,
    tracker: TaskTracker,
) {
    while let Some(event) = subscription.next().await {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let handler = handler.clone();
        tracker.spawn(async move {
            let topic = event.topic.clone();
            let ctx = crate::Context {
                metadata: event.metadata.clone(),
                deadline: None,
            };
            let fut = AssertUnwindSafe(ctx.scope(handler.oneshot(event))).catch_unwind();
            match fut.await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::error!(topic = %topic, subscriber = name, error = %err, "subscriber failed");
                }
                Err(panic) => {
                    tracing::error!(topic = %topic, subscriber = name, panic = %panic_message(panic.as_ref()), "subscriber panicked");
                }
            }
            drop(permit);
        });
    }
}
