//! A started service: its serve loops, its instances in the registry, and the graceful stop.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{
    Backend, Config, EndpointLayer, INSTANCE_SUBJECT, SubscriberSpec, check_schemas, validate_name,
    validate_version,
};
use crate::registry::stats::ServiceStats;
use crate::registry::{EndpointInfo, Instance, Registration, Registry};
use crate::schema::{self};
use crate::server::handler::{Endpoint, Handler};
use crate::server::{Dispatcher, Limit, consume};
use crate::transport::{Drain, EndpointSpec, ListenSpec};
use crate::{Client, Error};

/// A started [`Service`](crate::Service): its client, its instances, and [`stop`](Running::stop).
pub struct Running {
    pub(super) client: Client,
    pub(super) backend: Backend,
    pub(super) instances: Vec<Instance>,
    pub(super) drains: Vec<Box<dyn Drain>>,
    pub(super) loops: Vec<JoinHandle<()>>,
    pub(super) tracker: TaskTracker,
    pub(super) shutdown_timeout: Duration,
    pub(super) watch: LoopWatch,
}

/// How long a stop waits for the 503 replies of requests cut off by the shutdown timeout.
const CUT_OFF_GRACE: Duration = Duration::from_secs(1);

/// How long a stop waits for the backend to confirm the last replies left the process.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Tells a serve or consume loop that ended by itself (its backend stopped delivering) from one
/// that ended because the service was stopped.
#[derive(Clone, Debug)]
pub(super) struct LoopWatch {
    stopping: Arc<AtomicBool>,
    lost: Arc<watch::Sender<Option<Error>>>,
    /// Cancelled when the shutdown timeout passes (see `Dispatcher::cut_off`).
    cut_off: CancellationToken,
}

impl Default for LoopWatch {
    fn default() -> Self {
        LoopWatch {
            stopping: Arc::default(),
            lost: Arc::new(watch::Sender::new(None)),
            cut_off: CancellationToken::new(),
        }
    }
}

impl LoopWatch {
    /// Runs `serving` (the loop of `what`) as a task, reporting it if it ends before a stop.
    fn spawn(
        &self,
        what: String,
        serving: impl Future<Output = ()> + Send + 'static,
    ) -> JoinHandle<()> {
        let watch = self.clone();
        tokio::spawn(async move {
            serving.await;
            if !watch.stopping.load(Ordering::Acquire) {
                watch.lost.send_if_modified(|lost| {
                    lost.get_or_insert_with(|| {
                        Error::unavailable(format!(
                            "{what} stopped: the backend delivers no more of them (connection lost for good?)"
                        ))
                    });
                    true
                });
            }
        })
    }
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running")
            .field("instances", &self.instances)
            .field("in_flight", &self.tracker.len())
            .finish_non_exhaustive()
    }
}

impl Running {
    /// A client on the same backend, with the configured default timeout and codec.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The backend.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The service instances being served.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// Requests and events being handled right now.
    pub fn in_flight(&self) -> usize {
        self.tracker.len()
    }

    /// Resolves when the service can no longer serve by itself: one of its serve or consume
    /// loops ended although nobody stopped it, because the backend delivers nothing more (for
    /// NATS, a connection whose reader stopped). The error says which loop. Never resolves
    /// while everything serves; [`Service::run`](crate::Service::run) waits for it beside the stop signal.
    pub fn lost(&self) -> impl Future<Output = Error> + Send + 'static {
        let mut lost = self.watch.lost.subscribe();
        async move {
            let lost = lost
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|lost| lost.clone());
            match lost {
                Some(lost) => lost,
                // The service was dropped: nothing more will be reported.
                None => std::future::pending().await,
            }
        }
    }

    pub(super) async fn serve(
        &mut self,
        config: &Config,
        handler: &dyn Handler,
        layers: &[EndpointLayer],
    ) -> Result<(), Error> {
        let descriptor = handler.descriptor();
        let version = config.version.as_deref().unwrap_or(descriptor.version);
        validate_name(descriptor.name)?;
        validate_version(version)?;
        let endpoints: Vec<Endpoint> = handler
            .endpoints()
            .into_iter()
            .zip(descriptor.endpoints)
            .map(|(e, d)| {
                layers
                    .iter()
                    .filter(|layer| layer.wraps(descriptor.name, d.name))
                    .fold(e.answering(), |inner, layer| (layer.apply)(inner))
            })
            .collect();
        if endpoints.len() != descriptor.endpoints.len() {
            return Err(Error::internal(format!(
                "service `{}` declares {} endpoints but its handler provides {}",
                descriptor.name,
                descriptor.endpoints.len(),
                endpoints.len()
            )));
        }
        let id = nuid::next().to_string();
        let queue_group = config.queue_group.clone();
        let transport = &self.backend.transport;
        let mut instance = Instance {
            name: descriptor.name.to_owned(),
            id: id.clone(),
            version: version.to_owned(),
            description: descriptor.description.to_owned(),
            metadata: config.metadata.clone(),
            endpoints: descriptor
                .endpoints
                .iter()
                .map(|e| {
                    let mut metadata = e.metadata();
                    if let Some(own) = transport.instance_subject(descriptor.name, e.name, &id) {
                        metadata.insert(INSTANCE_SUBJECT.to_owned(), own);
                    }
                    EndpointInfo {
                        name: e.name.to_owned(),
                        subject: transport.subject(descriptor.name, e.name),
                        queue_group: descriptor
                            .queue_group_of(e, queue_group.as_deref())
                            .unwrap_or_default()
                            .to_owned(),
                        metadata,
                    }
                })
                .collect(),
        };
        schema::fit(&mut instance.endpoints);
        check_schemas(
            self.backend.registry.as_ref(),
            config.schema_check,
            &instance,
        )
        .await?;
        let stats = Arc::new(ServiceStats::new(endpoints.len()));
        let dispatcher = Arc::new(Dispatcher {
            ids: descriptor
                .endpoints
                .iter()
                .map(|e| format!("{}.{}", descriptor.name, e.name))
                .collect(),
            endpoints: endpoints.into(),
            stats: stats.clone(),
            limit: Arc::new(Limit::new(config.max_concurrency)),
            tracker: self.tracker.clone(),
            cut_off: self.watch.cut_off.clone(),
            queued: Default::default(),
            cancels: Default::default(),
        });
        let spec = ListenSpec {
            service: descriptor.name.into(),
            instance_id: id,
            endpoints: descriptor
                .endpoints
                .iter()
                .map(|e| {
                    let queue = descriptor.queue_group_of(e, queue_group.as_deref());
                    EndpointSpec::new(e.name, queue.map(str::to_owned)).with_kind(e.kind)
                })
                .collect(),
            dispatch: Some(dispatcher.clone()),
        };
        let mut listener = transport.listen(spec).await?;
        if let Some(drain) = listener.take_drain() {
            self.drains.push(drain);
        }
        let what = format!("requests to `{}`", descriptor.name);
        self.loops
            .push(self.watch.spawn(what, listener.serve(dispatcher)));
        self.backend
            .registry
            .register(Registration::new(instance.clone(), stats))
            .await?;
        self.instances.push(instance);
        Ok(())
    }

    pub(super) async fn consume(
        &mut self,
        config: &Config,
        sub: SubscriberSpec,
    ) -> Result<(), Error> {
        let mut subscription = self
            .backend
            .broker
            .subscribe(&sub.topic, sub.queue.as_deref())
            .await?;
        if let Some(drain) = subscription.take_drain() {
            self.drains.push(drain);
        }
        let what = format!("events on `{}`", sub.topic);
        self.loops.push(self.watch.spawn(
            what,
            consume(
                subscription,
                sub.handler,
                sub.name,
                Arc::new(Limit::new(config.max_concurrency)),
                self.tracker.clone(),
            ),
        ));
        Ok(())
    }

    /// Stops gracefully: leaves the registry, stops taking requests and events, and waits for
    /// those in flight to finish and be answered. All of it is bounded by the shutdown timeout;
    /// past it, requests still running are cut off (answered with a 503), and whatever of the
    /// stop is left (leaving the registry, draining every intake, answering what they still
    /// held) goes on for a short grace period more before the serve loops are aborted. So
    /// once it returns, the instance has left discovery, holds no subscription, and every
    /// request it took has had its reply or its 503, however early the timeout passed.
    ///
    /// A stop whose future is dropped before it finishes (a `select!` that gave up on it) still
    /// leaves the registry and aborts the loops, as dropping a running service does.
    pub async fn stop(mut self) {
        self.watch.stopping.store(true, Ordering::Release);
        let mut leaving = Leaving {
            instances: std::mem::take(&mut self.instances),
            registry: self.backend.registry.clone(),
        };
        let drains = std::mem::take(&mut self.drains);
        let mut loops = AbortOnDrop(std::mem::take(&mut self.loops));
        let tracker = self.tracker.clone();
        let cut_off = self.watch.cut_off.clone();
        let left = CancellationToken::new();
        {
            let leave = async {
                // All at once, so nobody is sent here any more.
                leaving.now().await;
                left.cancel();
            };
            let drain = async {
                // After leaving the registry, so callers stop picking this instance first; but
                // not after the shutdown timeout: a slow deregistration must not leave the
                // intakes open, nor the requests they hold unanswered.
                tokio::select! {
                    () = left.cancelled() => {}
                    () = cut_off.cancelled() => {}
                }
                futures::future::join_all(drains.into_iter().map(|drain| drain.drain())).await;
                // The loops end once their drained intakes have yielded what was buffered.
                loops.join().await;
            };
            let graceful = async {
                futures::join!(leave, drain);
                tracker.close();
                tracker.wait().await;
            };
            let mut graceful = std::pin::pin!(graceful);
            if tokio::time::timeout(self.shutdown_timeout, graceful.as_mut())
                .await
                .is_err()
            {
                tracing::warn!(
                    in_flight = self.tracker.len(),
                    timeout = ?self.shutdown_timeout,
                    "shutdown timeout passed with requests still in flight; cutting them off"
                );
                // Requests still running are answered with a 503 rather than abandoned, and the
                // rest of the stop goes on where it was: a moment for both.
                cut_off.cancel();
                self.tracker.close();
                if tokio::time::timeout(CUT_OFF_GRACE, graceful).await.is_err() {
                    tracing::warn!(
                        grace = ?CUT_OFF_GRACE,
                        "the stop did not finish within its grace period; aborting what is left"
                    );
                }
            }
        }
        // Loops that did not end are aborted; waiting for them to go (briefly: an aborted task
        // ends at its next await) drops their subscriptions before the flush below, so that the
        // server has their UNSUB when `stop` returns.
        loops.abort();
        let _ = tokio::time::timeout(CUT_OFF_GRACE, loops.join()).await;
        // The replies just sent may still sit in the backend's buffers; a process that exits
        // once `stop` returns must not take them along.
        let transport = self.backend.transport.clone();
        match tokio::time::timeout(FLUSH_TIMEOUT, transport.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "could not flush the last replies"),
            Err(_) => {
                tracing::warn!(timeout = ?FLUSH_TIMEOUT, "flushing the last replies timed out")
            }
        }
    }
}

impl Drop for Running {
    /// Dropping a running service without [`stop`](Running::stop) stops taking requests at
    /// once (no graceful drain) and leaves the registry, so no ghost instance stays
    /// discoverable (in the shared in-process registry, or answering `$SRV` on NATS) for as
    /// long as the rest of the process lives.
    fn drop(&mut self) {
        self.watch.stopping.store(true, Ordering::Release);
        for l in &self.loops {
            l.abort();
        }
        // `stop` takes the instances; only a plain drop gets here with some.
        drop(Leaving {
            instances: std::mem::take(&mut self.instances),
            registry: self.backend.registry.clone(),
        });
    }
}

/// Serve and consume loops, aborted when dropped (a finished one is not affected).
struct AbortOnDrop(Vec<JoinHandle<()>>);

impl AbortOnDrop {
    /// Waits for every loop to end. A loop is let go of once it ended, so this may be given
    /// up on and called again.
    async fn join(&mut self) {
        while let Some(handle) = self.0.last_mut() {
            // A loop that panicked or was aborted has ended as well.
            let _ = handle.await;
            self.0.pop();
        }
    }

    fn abort(&self) {
        for l in &self.0 {
            l.abort();
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.abort();
    }
}

/// Instances still to leave the registry: [`now`](Self::now) or, if dropped before, in a task
/// of their own.
struct Leaving {
    instances: Vec<Instance>,
    registry: Arc<dyn Registry>,
}

impl Leaving {
    /// Deregisters every instance, all at once.
    async fn now(&mut self) {
        let registry = &self.registry;
        let leaving = self.instances.iter().map(|instance| async move {
            if let Err(err) = registry.deregister(&instance.id).await {
                tracing::warn!(service = %instance.name, error = %err, "could not deregister");
            }
        });
        futures::future::join_all(leaving).await;
        self.instances.clear();
    }
}

impl Drop for Leaving {
    fn drop(&mut self) {
        let instances = std::mem::take(&mut self.instances);
        if instances.is_empty() {
            return;
        }
        let registry = self.registry.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    for instance in instances {
                        if let Err(err) = registry.deregister(&instance.id).await {
                            tracing::warn!(service = %instance.name, error = %err, "could not deregister");
                        }
                    }
                });
            }
            // Outside a runtime (it is shutting down): its tasks, the `$SRV` responders among
            // them, go with it.
            Err(_) => tracing::debug!("dropped outside a runtime: not deregistering"),
        }
    }
}
