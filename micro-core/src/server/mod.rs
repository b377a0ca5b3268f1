//! The server side: endpoint handlers, the serve loop and its counters.
//!
//! A backend's [`Listener`](crate::transport::Listener) yields requests; the serve loop runs
//! each one (bounded by a concurrency limit) inside the call's [`Context`] and deadline, catches
//! panics, counts statistics and hands the reply back to the backend. Draining stops the intake
//! and waits for the requests in flight. An in-process transport skips the queue and calls the
//! same [`Dispatcher`] inline.
//!
//! # Where a request runs
//!
//! A backend gives each endpoint of an instance intakes of its own (NATS: one subscription per
//! runtime worker but one, in the endpoint's queue group, which the server spreads requests
//! over), and each intake has a serve loop in a task of its own. So an instance takes requests
//! in on several workers, and one endpoint's requests never wait behind another's.
//!
//! In its loop, a request first runs for one poll, in the loop's own task. Most handlers finish
//! there (they compute an answer, or await something already ready), and such a request costs
//! no task, no scheduling and no wake-up of another thread, which on a small machine is most of
//! what serving a cheap request costs (see BENCHMARKS.md). A request still pending after that
//! poll (it awaits I/O, a timer, another service) moves to a task of its own, so it never holds
//! up the next one. An endpoint whose first polls keep taking long (CPU-heavy or blocking
//! handlers, over [`INLINE_BUDGET`] three times in a row) has its next requests spawned straight
//! away, so every worker shares them; it is tried inline again after a while, in case it was
//! only the machine that was busy. A slow first poll thus delays at most the requests queued
//! behind it in the same intake, of the same endpoint, and only until the endpoint is found out.

mod cancel;
pub mod handler;
mod lane;
mod limit;
mod queue;
/// The live counters STATS reads, kept by the serve loop (defined with the registry, which
/// reports them).
pub use crate::registry::stats;

pub use handler::{Endpoint, EventHandler, Handler};

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::broker::Subscription;
use crate::error::{Delivery, code};
use crate::transport::{Call, Incoming, Reply, Respond};
use crate::{Context, Error};
pub(crate) use cancel::{Cancels, Registered};
pub use cancel::{EARLY_CANCEL_TTL, MAX_EARLY_CANCELS};
pub use lane::INLINE_BUDGET;
use lane::Lane;
pub(crate) use limit::Limit;
use limit::{OwnedSlot, Slot};
use queue::Queue;
pub(crate) use queue::Queued;
pub use queue::{MAX_QUEUED, MAX_QUEUED_BYTES};
use stats::ServiceStats;

/// Runs the requests of one service instance: the serve loop calls it for each request a
/// listener yields, and an in-process transport calls [`Dispatcher::dispatch`] directly.
pub struct Dispatcher {
    pub(crate) endpoints: Box<[Endpoint]>,
    /// `service.endpoint` per endpoint, the id given to errors a handler left anonymous.
    pub(crate) ids: Box<[String]>,
    pub(crate) stats: Arc<ServiceStats>,
    pub(crate) limit: Arc<Limit>,
    pub(crate) tracker: TaskTracker,
    /// Cancelled when a stop's shutdown timeout passes: requests still running are cut off
    /// and answered with a 503 instead of being abandoned without a reply.
    pub(crate) cut_off: CancellationToken,
    /// Requests, and bytes of their bodies, queued by all of this instance's serve loops while
    /// every slot is busy: the queue's bounds are the instance's, however many loops it has.
    pub(crate) queued: Queued,
    /// The requests running in tasks of their own that a caller can cancel, by their key
    /// ([`Respond::cancel_key`]), and the cancellations held for requests not started yet. A
    /// request that finishes in its first poll is never registered.
    pub(crate) cancels: Arc<Cancels>,
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
    ///
    /// A request is taken apart here rather than wrapped in one boxed future: its handler's
    /// future (boxed once, by the endpoint) is polled in place, and only a request still pending
    /// after that poll is moved into a task of its own. A request answered in its first poll
    /// then costs no allocation and no copy of a large future besides its handler's own; on the
    /// bench, copying such futures was the largest cost micro added to the serving process.
    pub(crate) async fn serve<S, R>(self: Arc<Self>, requests: S)
    where
        S: Stream<Item = Incoming<R>> + Send + 'static,
        R: Respond,
    {
        let mut requests = std::pin::pin!(requests);
        // One lane per endpoint, and one shared by requests for an unknown endpoint.
        let mut lanes = vec![Lane::default(); self.endpoints.len() + 1];
        let mut queue = Queue::new(&self.queued);
        loop {
            let incoming = match queue.pop() {
                Some(incoming) => incoming,
                None if queue.ended => break,
                None => match requests.next().await {
                    Some(incoming) => incoming,
                    None => break,
                },
            };
            let (incoming, slot) = match self.limit.try_take() {
                Some(slot) => (incoming, slot),
                None => {
                    // Saturated. Requests keep being taken while a slot is awaited, so that a
                    // request's deadline counts from its arrival (one that passes while it
                    // waits is refused when its turn comes, not run), and so that none piles
                    // up unseen in the backend's buffer, which NATS empties by dropping: past
                    // the queue's bounds a request gets a fast 503 instead.
                    queue.push_front(incoming);
                    let slot = loop {
                        tokio::select! {
                            biased;
                            slot = self.limit.take() => break slot,
                            next = requests.next(), if !queue.ended => match next {
                                Some(more) => {
                                    if let Some(refused) = queue.push(more) {
                                        self.overflow(refused).await;
                                    }
                                }
                                None => queue.ended = true,
                            },
                        }
                    };
                    match queue.pop() {
                        Some(incoming) => (incoming, slot),
                        None => continue,
                    }
                }
            };
            let Incoming {
                endpoint: index,
                call,
                responder,
                rejected,
                ..
            } = incoming;
            let started = Instant::now();
            self.stats.record_request(index);
            // Its caller gave up before it started: it is not run, and nobody waits for it.
            if self.cancels.holding()
                && rejected.is_none()
                && responder
                    .cancel_key()
                    .is_some_and(|key| self.cancels.take_early(key))
            {
                self.cancelled(index, started);
                drop(slot);
                continue;
            }
            let handler = match rejected {
                None => self.start(index, call),
                Some(err) => Err(*err),
            };
            let handler = match handler {
                Ok(handler) => handler,
                Err(err) => {
                    let (result, _) = self.conclude(index, started, Err(err));
                    drop(slot);
                    self.reply(index, responder, result).await;
                    continue;
                }
            };
            let inline = lanes
                .get_mut(index.min(self.endpoints.len()))
                .is_some_and(Lane::inline);
            if !inline {
                self.spawn_waiting(index, handler, started, responder, slot);
                continue;
            }
            // Counted like a task while it runs here, so `Running::in_flight` sees it.
            let token = self.tracker.token();
            let Started {
                mut future,
                context,
                deadline,
            } = handler;
            let mut context = Some(context);
            let polled = std::future::poll_fn(|cx| {
                let context = context.take().unwrap_or_default();
                Poll::Ready(std::panic::catch_unwind(AssertUnwindSafe(|| {
                    let poll = || {
                        // This task runs in no call's context, so an empty one needs no scope
                        // (entering one costs more than the rest of the loop's bookkeeping).
                        if context.is_empty() {
                            (future.as_mut().poll(cx), context)
                        } else {
                            context.poll_in(&mut future, cx)
                        }
                    };
                    poll()
                })))
            })
            .await;
            drop(token);
            let outcome = match polled {
                Ok((Poll::Ready(result), _)) => Some(Ok(result)),
                Err(panic) => Some(Err(panic)),
                // It waits: it holds up nothing once in its own task.
                Ok((Poll::Pending, context)) => {
                    let handler = Started {
                        future,
                        context,
                        deadline,
                    };
                    self.spawn_waiting(index, handler, started, responder, slot);
                    continue;
                }
            };
            let result = self.settle(index, outcome);
            let (result, took) = self.conclude(index, started, result);
            if let Some(lane) = lanes.get_mut(index.min(self.endpoints.len())) {
                lane.ran(took);
            }
            drop(slot);
            // Awaited here, not through `reply`: one future fewer to build and move per request.
            let was_ok = result.is_ok();
            // Pinned where it is built: `.await` on the call would move the future once more
            // (a NATS reply's is over 600 bytes).
            let mut sending = std::pin::pin!(responder.respond(result));
            let sent = std::future::poll_fn(|cx| sending.as_mut().poll(cx)).await;
            self.sent(index, was_ok, sent);
        }
    }

    /// Answers a request the queue had no room for with a 503, counted in STATS.
    #[cold]
    async fn overflow<R: Respond>(&self, incoming: Incoming<R>) {
        let index = incoming.endpoint;
        self.stats.record_request(index);
        let err = Error::unavailable(format!(
            "`{}` is overloaded: {} requests are running and the queue is full; try again or \
             another instance",
            incoming.call.id(),
            self.limit.taken()
        ));
        let (result, _) = self.conclude(index, Instant::now(), Err(err));
        self.reply(index, incoming.responder, result).await;
    }

    /// Moves a request into a task of its own: one still pending after its first poll, or one
    /// whose endpoint's requests are spawned at once.
    fn spawn_waiting<R: Respond>(
        self: &Arc<Self>,
        index: usize,
        handler: Started,
        started: Instant,
        responder: R,
        slot: Slot<'_>,
    ) {
        // Registered before the task exists, so a cancellation can never come between.
        let cancel = responder
            .cancel_key()
            .and_then(|key| self.cancels.register(key));
        let request = Waiting {
            index,
            handler,
            started,
            responder,
            slot: slot.into_owned(&self.limit),
            cancel,
        };
        self.tracker.spawn(Arc::clone(self).wait_for(request));
    }

    /// Cancels the request named `key` (its caller gave up on it): its handler's future is
    /// dropped and no reply is sent. A request not started yet (queued while every slot is
    /// busy, or not yet taken from the backend) is not run when its turn comes: a key that
    /// names no request in flight is held for it, at most [`EARLY_CANCEL_TTL`] and
    /// [`MAX_EARLY_CANCELS`] keys. Whether a request in flight was cancelled.
    pub fn cancel(&self, key: &str) -> bool {
        self.cancels.cancel(key)
    }

    /// Finishes, in a task of its own, a request that waits for something.
    async fn wait_for<R: Respond>(self: Arc<Self>, request: Waiting<R>) {
        let Waiting {
            index,
            handler,
            started,
            responder,
            slot,
            cancel,
        } = request;
        // Held to the end: dropping it removes the request's entry.
        let cancelled = async {
            match &cancel {
                Some(registered) => registered.token.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            biased;
            () = cancelled => {
                // The caller is gone: the handler's future is dropped here, and nobody waits
                // for a reply.
                self.cancelled(index, started);
                drop(slot);
                return;
            }
            outcome = handler.run() => outcome,
            () = self.cut_off.cancelled() => Some(Ok(Err(self.cut_off_error(index)))),
        };
        let result = self.settle(index, outcome);
        let (result, _) = self.conclude(index, started, result);
        drop(slot);
        self.reply(index, responder, result).await;
    }

    /// Counts a request its caller cancelled, which gets no reply: as an error, so STATS shows
    /// work that was thrown away (or never done).
    #[cold]
    fn cancelled(&self, index: usize, started: Instant) {
        let err = Error::new(
            code::CLIENT_CLOSED,
            format!("`{}` was cancelled by its caller", self.id(index)),
        );
        let _ = self.conclude(index, started, Err(err));
    }

    /// The error of a request still running when the shutdown timeout passed.
    #[cold]
    fn cut_off_error(&self, index: usize) -> Error {
        Error::unavailable(format!(
            "`{}` was cut off: the service is shutting down and its shutdown timeout passed",
            self.id(index)
        ))
    }

    /// Checks that endpoint `index` exists and that the call's deadline has not passed, and
    /// starts its handler.
    #[inline]
    fn start(&self, index: usize, call: Call) -> Result<Started, Error> {
        let Some(endpoint) = self.endpoints.get(index) else {
            return Err(Error::not_found(format!(
                "unknown endpoint `{}` on service `{}`",
                call.endpoint, call.service
            )));
        };
        let deadline = call.wait_deadline();
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Err(Error::timeout(format!(
                "deadline exceeded before `{}.{}` was handled",
                call.service, call.endpoint
            ))
            .with_delivery(Delivery::NotSent));
        }
        // Cloned, not taken: the handler (or a tower layer around it) may read the call's own.
        // Most calls over NATS carry no metadata, and an empty one needs no clone call.
        let context = if call.context.metadata.is_empty() {
            Context {
                metadata: crate::Metadata::new(),
                deadline: call.context.deadline,
            }
        } else {
            call.context.clone()
        };
        // Starting runs user code too (a generated endpoint decodes the arguments, which may
        // run a hand-written `Deserialize`): a panic there is caught like one in the handler.
        let future = std::panic::catch_unwind(AssertUnwindSafe(|| endpoint.handle(call)))
            .map_err(|panic| self.panicked(index, panic.as_ref()))?;
        Ok(Started {
            future,
            context,
            deadline,
        })
    }

    /// Turns a handler's outcome into its result: a deadline that passed first (`None`) or a
    /// panic becomes an error naming the endpoint.
    #[inline]
    fn settle(&self, index: usize, outcome: Outcome) -> Result<Reply, Error> {
        let id = self.id(index);
        match outcome {
            Some(Ok(result)) => result,
            Some(Err(panic)) => Err(self.panicked(index, panic.as_ref())),
            // The handler ran and was cut off: for a caller in this process, that is a request
            // in flight whose fate is unknown (an idempotent one may be retried).
            None => Err(
                Error::timeout(format!("`{id}` did not finish before its deadline"))
                    .with_delivery(Delivery::InFlight),
            ),
        }
    }

    /// Logs a panic of endpoint `index`'s code and turns it into an error naming the endpoint.
    #[cold]
    fn panicked(&self, index: usize, panic: &(dyn std::any::Any + Send)) -> Error {
        let id = self.id(index);
        let what = panic_message(panic);
        tracing::error!(endpoint = id, panic = %what, "handler panicked");
        Error::internal(format!("`{id}` panicked: {what}"))
    }

    /// Names an anonymous error after the endpoint and counts the request as done; also
    /// yields how long it took since `started`.
    #[inline]
    fn conclude(
        &self,
        index: usize,
        started: Instant,
        result: Result<Reply, Error>,
    ) -> (Result<Reply, Error>, Duration) {
        let result = result.map_err(|mut err| {
            if err.id.is_empty() {
                self.id(index).clone_into(&mut err.id);
            }
            err
        });
        let took = started.elapsed();
        self.stats.record_done(index, took, result.as_ref().err());
        (result, took)
    }

    /// `service.endpoint` of endpoint `index` (empty for an unknown one).
    #[inline]
    fn id(&self, index: usize) -> &str {
        self.ids.get(index).map_or("", String::as_str)
    }

    /// Sends a reply; one that could not be sent is logged and counted.
    async fn reply<R: Respond>(&self, index: usize, responder: R, result: Result<Reply, Error>) {
        let was_ok = result.is_ok();
        let sent = responder.respond(result).await;
        self.sent(index, was_ok, sent);
    }

    /// Notes a reply that could not be sent.
    #[inline]
    fn sent(&self, index: usize, was_ok: bool, sent: Result<(), Error>) {
        if let Err(err) = sent {
            tracing::warn!(error = %err, "could not send a reply");
            // The caller gets an error (or nothing) instead of the reply: count it.
            if was_ok {
                self.stats.record_error(index, &err);
            }
        }
    }
}

/// An in-process call under way: counted as cancelled if its future is dropped first.
struct Unfinished<'a> {
    dispatcher: &'a Dispatcher,
    endpoint: usize,
    started: Instant,
    armed: bool,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.dispatcher.cancelled(self.endpoint, self.started);
        }
    }
}

/// What became of a handler: its result, a panic, or `None` when its deadline passed first.
type Outcome = Option<std::thread::Result<Result<Reply, Error>>>;

/// A handler started on a call: its future, with what it runs under.
struct Started {
    future: BoxFuture<'static, Result<Reply, Error>>,
    context: Context,
    deadline: Option<Instant>,
}

impl Started {
    /// Runs the handler to the end inside its context, until its deadline, catching a panic.
    async fn run(self) -> Outcome {
        let run = AssertUnwindSafe(self.context.scope(self.future)).catch_unwind();
        match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.into(), run).await.ok(),
            None => Some(run.await),
        }
    }
}

/// A request that waits for something, on its way to a task of its own.
struct Waiting<R> {
    index: usize,
    handler: Started,
    started: Instant,
    responder: R,
    slot: OwnedSlot,
    /// Its entry in [`Cancels`] when its caller can cancel it; dropped with the request,
    /// however far it got.
    cancel: Option<Registered>,
}

#[cfg(test)]
impl Dispatcher {
    /// A dispatcher for `endpoints`, named `e0`, `e1`... of service `service`.
    pub(crate) fn for_tests(service: &str, endpoints: Vec<Endpoint>) -> Arc<Dispatcher> {
        let ids = (0..endpoints.len())
            .map(|i| format!("{service}.e{i}"))
            .collect();
        Arc::new(Dispatcher {
            stats: Arc::new(ServiceStats::new(endpoints.len())),
            endpoints: endpoints.into(),
            ids,
            limit: Arc::new(Limit::new(1000)),
            tracker: TaskTracker::new(),
            cut_off: CancellationToken::new(),
            queued: Queued::default(),
            cancels: Arc::default(),
        })
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
        let stopping = || {
            Error::unavailable(format!("`{}` is stopping", call.service))
                .with_delivery(Delivery::NotSent)
        };
        let _slot = match self.limit.try_take() {
            Some(slot) => slot,
            // At the concurrency limit: wait for a slot, but not past the deadline.
            None => match call.wait_deadline() {
                None => self.limit.take().await,
                Some(deadline) => {
                    match tokio::time::timeout_at(deadline.into(), self.limit.take()).await {
                        Ok(slot) => slot,
                        Err(_) => {
                            // No handler ran: safe to send again, to this or another
                            // instance.
                            return Err(Error::timeout(format!(
                                "`{}.{}` waited for a free slot until its deadline",
                                call.service, call.endpoint
                            ))
                            .with_id(call.id())
                            .with_delivery(Delivery::NotSent));
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
        let started = Instant::now();
        self.stats.record_request(endpoint);
        // A caller that gives up drops this future: the call is counted as cancelled (499),
        // as one cancelled over NATS is.
        let mut unfinished = Unfinished {
            dispatcher: self,
            endpoint,
            started,
            armed: true,
        };
        let result = match self.start(endpoint, call) {
            // Awaited in place, never boxed by us: the deadline's timer sits inline. Biased, so
            // a call that completes at once never looks at the cut-off.
            Ok(handler) => tokio::select! {
                biased;
                outcome = handler.run() => self.settle(endpoint, outcome),
                () = self.cut_off.cancelled() => Err(self.cut_off_error(endpoint)),
            },
            Err(err) => Err(err),
        };
        unfinished.armed = false;
        self.conclude(endpoint, started, result).0
    }
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

/// Feeds every event of `subscription` to `handler`, placed like requests (see
/// [Where a request runs](self#where-a-request-runs)); an error or a panic is logged with the
/// topic and the loop goes on.
pub(crate) async fn consume(
    mut subscription: Subscription,
    handler: EventHandler,
    name: &'static str,
    limit: Arc<Limit>,
    tracker: TaskTracker,
) {
    let mut lane = Lane::default();
    while let Some(event) = subscription.next().await {
        let permit = limit.take_owned().await;
        let handler = handler.clone();
        let delivery = Box::pin(async move {
            let started = Instant::now();
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
            started.elapsed()
        });
        lane.run(delivery, &tracker).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ContentType;
    use crate::server::handler::{endpoint_fn, endpoint_try_fn};
    use crate::transport::{Drain, Listener, Respond};

    /// Sends its reply nowhere; names its request by a fixed cancellation key.
    struct Keyed(&'static str);

    impl Respond for Keyed {
        async fn respond(self, _: Result<Reply, Error>) -> Result<(), Error> {
            Ok(())
        }

        fn cancel_key(&self) -> Option<&str> {
            Some(self.0)
        }
    }

    #[test]
    fn a_request_dropped_before_it_ever_ran_leaves_no_cancel_entry() {
        let dispatcher = dispatcher(vec![endpoint_fn(Arc::new(()), |_, _| {
            std::future::pending::<Result<Reply, Error>>()
        })]);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        {
            let _entered = runtime.enter();
            let call = Call::new("t", "e0", ContentType::Json, "{}".into());
            let handler = dispatcher.start(0, call).unwrap();
            let slot = dispatcher.limit.try_take().unwrap();
            // Spawned, never polled: nothing runs the runtime before it shuts down.
            dispatcher.spawn_waiting(0, handler, Instant::now(), Keyed("AbCdEfGh12345678"), slot);
            assert!(dispatcher.cancels.is_running("AbCdEfGh12345678"));
        }
        drop(runtime);
        assert!(
            dispatcher.cancels.running_len() == 0,
            "the dropped request's entry stayed"
        );
    }
    use futures::future::BoxFuture;
    use std::sync::Mutex;
    use tokio::sync::{Notify, mpsc};

    /// Sends each reply, tagged with its endpoint, to the test.
    struct ToTest {
        endpoint: usize,
        replies: mpsc::UnboundedSender<(usize, Result<Reply, Error>)>,
    }

    impl Respond for ToTest {
        async fn respond(self, reply: Result<Reply, Error>) -> Result<(), Error> {
            let _ = self.replies.send((self.endpoint, reply));
            Ok(())
        }
    }

    struct NoDrain;

    impl Drain for NoDrain {
        fn drain(self: Box<Self>) -> BoxFuture<'static, ()> {
            Box::pin(async {})
        }
    }

    fn dispatcher(endpoints: Vec<Endpoint>) -> Arc<Dispatcher> {
        Dispatcher::for_tests("t", endpoints)
    }

    /// A serve loop fed from a channel; returns the request sender, the reply receiver and the
    /// loop's task.
    #[allow(clippy::type_complexity)]
    fn serving(
        dispatcher: Arc<Dispatcher>,
    ) -> (
        mpsc::UnboundedSender<usize>,
        mpsc::UnboundedReceiver<(usize, Result<Reply, Error>)>,
        tokio::task::JoinHandle<()>,
    ) {
        let (requests, mut incoming) = mpsc::unbounded_channel::<usize>();
        let (replies_tx, replies) = mpsc::unbounded_channel();
        let stream =
            futures::stream::poll_fn(move |cx| incoming.poll_recv(cx)).map(move |endpoint| {
                let call = Call::new("t", format!("e{endpoint}"), ContentType::Json, "{}".into());
                let responder = ToTest {
                    endpoint,
                    replies: replies_tx.clone(),
                };
                Incoming::new(endpoint, call, responder)
            });
        let listener = Listener::new(stream, Box::new(NoDrain));
        let task = tokio::spawn(listener.serve(dispatcher));
        (requests, replies, task)
    }

    fn ok() -> Result<Reply, Error> {
        Ok(Reply::new(ContentType::Json, "null".into()))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pending_request_moves_out_of_the_way_of_the_next() {
        // Endpoint 0 waits for endpoint 1, which arrives after it: had the loop waited for the
        // first, neither would ever finish.
        let gate = Arc::new(Notify::new());
        let (waiter, opener) = (gate.clone(), gate);
        let dispatcher = dispatcher(vec![
            endpoint_fn(waiter, |gate: Arc<Notify>, _| async move {
                gate.notified().await;
                ok()
            }),
            endpoint_fn(opener, |gate: Arc<Notify>, _| async move {
                gate.notify_one();
                ok()
            }),
        ]);
        let (requests, mut replies, _task) = serving(dispatcher);
        requests.send(0).unwrap();
        requests.send(1).unwrap();
        let mut done = Vec::new();
        for _ in 0..2 {
            let (endpoint, reply) = tokio::time::timeout(Duration::from_secs(5), replies.recv())
                .await
                .expect("both requests answered")
                .unwrap();
            reply.unwrap();
            done.push(endpoint);
        }
        assert_eq!(done, [1, 0]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_while_starting_a_handler_is_an_error_reply_and_the_loop_goes_on() {
        // A generated endpoint decodes its arguments (user code) before its future exists.
        let dispatcher = dispatcher(vec![
            endpoint_try_fn(Arc::new(()), |_, _| {
                if true {
                    panic!("cannot read this");
                }
                Ok(std::future::ready(ok()))
            }),
            endpoint_fn(Arc::new(()), |_, _| async { ok() }),
        ]);
        let (requests, mut replies, _task) = serving(dispatcher.clone());
        requests.send(0).unwrap();
        requests.send(1).unwrap();
        let mut next = async || {
            tokio::time::timeout(Duration::from_secs(5), replies.recv())
                .await
                .expect("answered")
                .unwrap()
        };
        let (endpoint, reply) = next().await;
        let err = reply.unwrap_err();
        assert_eq!((endpoint, err.code()), (0, 500));
        assert_eq!(err.id(), "t.e0");
        assert!(err.detail().contains("cannot read this"), "{err}");
        let (endpoint, reply) = next().await;
        assert_eq!(endpoint, 1);
        reply.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cheap_requests_run_in_the_loop_and_heavy_ones_in_tasks_of_their_own() {
        // Each handler notes the task it ran in.
        type Seen = Mutex<Vec<(usize, Option<tokio::task::Id>)>>;
        let seen: Arc<Seen> = Arc::default();
        let (light, heavy) = (seen.clone(), seen.clone());
        let dispatcher = dispatcher(vec![
            endpoint_fn(light, |seen: Arc<Seen>, _| async move {
                seen.lock().unwrap().push((0, tokio::task::try_id()));
                ok()
            }),
            endpoint_fn(heavy, |seen: Arc<Seen>, _| async move {
                // CPU-bound work, as far as the loop can tell: no await.
                std::thread::sleep(INLINE_BUDGET * 4);
                seen.lock().unwrap().push((1, tokio::task::try_id()));
                ok()
            }),
        ]);
        let (requests, mut replies, task) = serving(dispatcher.clone());
        let loop_id = task.id();
        // One at a time, so the order of `seen` is the order sent.
        let mut call = async |endpoint| {
            requests.send(endpoint).unwrap();
            let (_, reply) = tokio::time::timeout(Duration::from_secs(5), replies.recv())
                .await
                .unwrap()
                .unwrap();
            reply.unwrap();
        };
        for endpoint in [0, 1, 0, 1, 1, 0, 1, 1, 0] {
            call(endpoint).await;
        }
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        let in_loop: Vec<(usize, bool)> = seen
            .iter()
            .map(|(endpoint, task)| (*endpoint, *task == Some(loop_id)))
            .collect();
        // The light endpoint always runs in the loop. The heavy one runs there until it is over
        // budget three times in a row (a cheap request in between does not reset it: lanes are
        // per endpoint), then in tasks of its own.
        assert_eq!(
            in_loop,
            [
                (0, true),
                (1, true),
                (0, true),
                (1, true),
                (1, true),
                (0, true),
                (1, false),
                (1, false),
                (0, true),
            ]
        );
        // Once the intake ends, the loop ends, with nothing left in flight.
        drop(requests);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        // A spawned request's task ends just after its reply is sent.
        let drained = tokio::time::timeout(Duration::from_secs(5), async {
            while !dispatcher.tracker.is_empty() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        assert!(drained.await.is_ok(), "requests left in flight");
    }
}
