use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::ArcSwap;

use futures::future::BoxFuture;
use futures::stream;
use tokio::sync::{mpsc, oneshot};

use crate::Error;
use crate::error::Delivery;
use crate::server::Dispatcher;
use crate::stream::{Connect, Frame, FrameSink, Link, StreamOpen};
use crate::transport::{Call, Drain, Incoming, ListenSpec, Listener, Reply, Respond, Transport};

/// How many requests may wait for one instance before callers wait in turn.
const INSTANCE_BUFFER: usize = 1024;

/// In-process request/reply: calls go round-robin to the instances of a service and run in the
/// caller's task (see [`Dispatcher::dispatch`]).
///
/// Routing a call takes no lock: the table is read through an [`ArcSwap`] and replaced whole
/// when an instance starts or stops (rare), and the round-robin position is an atomic counter.
#[derive(Debug, Default)]
pub struct MemoryTransport {
    routes: Arc<ArcSwap<Routes>>,
}

/// Hashed with foldhash: a call looks up two names, and SipHash was most of that.
type Hasher = foldhash::fast::RandomState;

#[derive(Clone, Debug, Default)]
struct Routes {
    services: HashMap<String, Arc<ServiceRoute>, Hasher>,
}

#[derive(Debug, Default)]
struct ServiceRoute {
    instances: Vec<Arc<InstanceRoute>>,
    /// Where the round-robin goes next; shared by the copies of the table an update makes.
    next: Arc<AtomicUsize>,
}

#[derive(Debug)]
struct InstanceRoute {
    id: String,
    endpoints: HashMap<String, usize, Hasher>,
    target: Target,
}

/// How a call reaches an instance.
#[derive(Clone, Debug)]
enum Target {
    /// In the caller's task, through the server's dispatcher (the fast path).
    Inline(Arc<Dispatcher>),
    /// Through the instance's listener, for servers that gave no dispatcher.
    Queue(mpsc::Sender<Incoming<OneshotResponder>>),
}

impl MemoryTransport {
    /// A transport with no services.
    pub fn new() -> Self {
        Self::default()
    }

    fn route(&self, call: &Call) -> Result<(usize, Target), Error> {
        let routes = self.routes.load();
        let unavailable = || {
            Error::unavailable(format!(
                "no instance of service `{}` is running",
                call.service
            ))
            .with_delivery(Delivery::NotSent)
        };
        let service = routes
            .services
            .get(call.service.as_ref())
            .ok_or_else(unavailable)?;
        let instance = match &call.instance {
            // Pinned: that instance or none.
            Some(id) => service
                .instances
                .iter()
                .find(|instance| instance.id == id.as_ref())
                .ok_or_else(|| {
                    Error::unavailable(format!(
                        "instance `{id}` of service `{}` is not running",
                        call.service
                    ))
                    .with_delivery(Delivery::NotSent)
                })?,
            None => {
                let count = service.instances.len();
                let pick = service.next.fetch_add(1, Ordering::Relaxed) % count.max(1);
                service.instances.get(pick).ok_or_else(unavailable)?
            }
        };
        match instance.endpoints.get(call.endpoint.as_ref()) {
            Some(&index) => Ok((index, instance.target.clone())),
            None => Err(Error::not_found(format!(
                "unknown endpoint `{}` on service `{}`",
                call.endpoint, call.service
            ))),
        }
    }
}

/// A call through an instance's listener (a server that gave no dispatcher), waiting for the
/// reply until the call's deadline.
async fn queued(
    index: usize,
    tx: mpsc::Sender<Incoming<OneshotResponder>>,
    call: Call,
) -> Result<Reply, Error> {
    let (reply_tx, reply_rx) = oneshot::channel();
    let id = call.id();
    let deadline = call.wait_deadline();
    let exchange = async {
        tx.send(Incoming::new(index, call, OneshotResponder(reply_tx)))
            .await
            .map_err(|_| {
                Error::unavailable(format!("`{id}` stopped before the call"))
                    .with_delivery(Delivery::NotSent)
            })?;
        reply_rx.await.unwrap_or_else(|_| {
            Err(
                Error::unavailable(format!("`{id}` stopped before answering"))
                    .with_delivery(Delivery::InFlight),
            )
        })
    };
    match deadline {
        None => exchange.await,
        Some(deadline) => tokio::time::timeout_at(deadline.into(), exchange)
            .await
            .unwrap_or_else(|_| {
                Err(
                    Error::timeout(format!("`{id}` did not answer before its deadline"))
                        .with_id(id.clone())
                        .with_delivery(Delivery::InFlight),
                )
            }),
    }
}

struct OneshotResponder(oneshot::Sender<Result<Reply, Error>>);

impl Respond for OneshotResponder {
    async fn respond(self, reply: Result<Reply, Error>) -> Result<(), Error> {
        self.0
            .send(reply)
            .map_err(|_| Error::unavailable("the caller went away before the reply"))
    }
}

/// Removes an instance from the routing table; on drain or when its listener is dropped.
struct RouteGuard {
    routes: Arc<ArcSwap<Routes>>,
    service: String,
    id: String,
    /// For an instance called inline: the sender that keeps its listener open until drained.
    keep_open: std::sync::Mutex<Option<mpsc::Sender<Incoming<OneshotResponder>>>>,
}

impl RouteGuard {
    fn remove(&self) {
        self.routes.rcu(|routes| {
            let mut routes = Routes::clone(routes);
            if let Some(service) = routes.services.get(&self.service) {
                let instances: Vec<_> = service
                    .instances
                    .iter()
                    .filter(|i| i.id != self.id)
                    .cloned()
                    .collect();
                if instances.is_empty() {
                    routes.services.remove(&self.service);
                } else {
                    let next = service.next.clone();
                    routes.services.insert(
                        self.service.clone(),
                        Arc::new(ServiceRoute { instances, next }),
                    );
                }
            }
            routes
        });
    }
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        self.remove();
    }
}

impl Drain for Arc<RouteGuard> {
    fn drain(self: Box<Self>) -> BoxFuture<'static, ()> {
        // Once out of the table no new request can reach the instance; the channel then closes
        // when the last in-progress sender is dropped, and the listener ends after yielding what
        // was buffered.
        self.remove();
        self.keep_open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        Box::pin(async {})
    }
}

/// One direction of an in-process stream: frames move as values, in order.
struct ChannelSink(mpsc::UnboundedSender<Frame>);

impl FrameSink for ChannelSink {
    fn send(&self, frame: Frame) -> BoxFuture<'_, Result<(), Error>> {
        let sent = self
            .0
            .send(frame)
            .map_err(|_| Error::unavailable("the other end of the stream went away"));
        Box::pin(std::future::ready(sent))
    }
}

/// The server's end of an in-process stream, made with the client's and handed over once.
struct HandOver(std::sync::Mutex<Option<Link>>);

impl HandOver {
    /// The server has not connected yet: its handler is still producing its answer.
    fn pending(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }
}

/// The opener's direction of an in-process stream: a cancel sent before the server connected
/// stops the opening call itself, as its handler would otherwise run until it produced its
/// stream (over NATS, `$MICRO.CANCEL` does the same).
struct OpenerSink {
    frames: ChannelSink,
    server: Arc<HandOver>,
    opening: tokio::task::AbortHandle,
}

impl FrameSink for OpenerSink {
    fn send(&self, frame: Frame) -> BoxFuture<'_, Result<(), Error>> {
        if matches!(frame, Frame::Cancel) && self.server.pending() {
            self.opening.abort();
        }
        self.frames.send(frame)
    }
}

impl Connect for HandOver {
    fn connect(&self) -> BoxFuture<'static, Result<Link, Error>> {
        let link = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .ok_or_else(|| Error::internal("the stream was already connected"));
        Box::pin(std::future::ready(link))
    }
}

fn channel_frames(
    mut rx: mpsc::UnboundedReceiver<Frame>,
) -> futures::stream::BoxStream<'static, Frame> {
    Box::pin(stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

impl Transport for MemoryTransport {
    fn open_stream(&self, mut call: Call) -> BoxFuture<'_, Result<Link, Error>> {
        let (index, target) = match self.route(&call) {
            Ok(route) => route,
            Err(err) => return Box::pin(std::future::ready(Err(err))),
        };
        let (to_server, server_frames) = mpsc::unbounded_channel();
        let (to_client, client_frames) = mpsc::unbounded_channel();
        let server = Link::new(
            channel_frames(server_frames),
            Arc::new(ChannelSink(to_client.clone())),
        );
        let asked = call.stream.take();
        let hand_over = Arc::new(HandOver(std::sync::Mutex::new(Some(server))));
        call.stream = Some(Box::new(
            StreamOpen::accepted(
                asked.as_ref().and_then(|open| open.window),
                asked.as_ref().and_then(|open| open.heartbeat),
                Arc::clone(&hand_over) as Arc<dyn Connect>,
            )
            .with_batch(asked.as_ref().and_then(|open| open.batch))
            .with_bytes(asked.as_ref().and_then(|open| open.bytes)),
        ));
        // The caller's wait bounds the opening only (the client waits for the open frame); the
        // stream then lasts as long as its ends want.
        call.wait_until = None;
        // In a task of its own, as a stream outlives the call that opens it; its answer (the
        // end marker, the error) follows the items, in order.
        let opening = tokio::spawn(async move {
            let answer = match target {
                Target::Inline(dispatch) => dispatch.dispatch(index, call).await,
                Target::Queue(tx) => queued(index, tx, call).await,
            };
            let _ = to_client.send(Frame::from_reply(answer));
        });
        let client = Link::new(
            channel_frames(client_frames),
            Arc::new(OpenerSink {
                frames: ChannelSink(to_server),
                server: hand_over,
                opening: opening.abort_handle(),
            }),
        );
        Box::pin(std::future::ready(Ok(client)))
    }

    fn request(&self, call: Call) -> BoxFuture<'_, Result<Reply, Error>> {
        // Routed before boxing, so the box holds only the path taken: the inline one is a
        // fraction of the queued one's size, and copying the larger future into its box was the
        // largest copy of an in-process call.
        match self.route(&call) {
            Ok((index, Target::Inline(dispatch))) => {
                Box::pin(async move { dispatch.dispatch(index, call).await })
            }
            Ok((index, Target::Queue(tx))) => Box::pin(queued(index, tx, call)),
            Err(err) => Box::pin(std::future::ready(Err(err))),
        }
    }

    fn listen(&self, spec: ListenSpec) -> BoxFuture<'_, Result<Listener, Error>> {
        Box::pin(async move {
            let (tx, mut rx) = mpsc::channel(INSTANCE_BUFFER);
            let endpoints = spec
                .endpoints
                .iter()
                .enumerate()
                .map(|(i, e)| (e.name.to_string(), i))
                .collect();
            // Calls made inline never go through the channel, but the listener must still last
            // until drained: the guard keeps a sender until then.
            let (target, keep_open) = match spec.dispatch {
                Some(dispatch) => (Target::Inline(dispatch), Some(tx)),
                None => (Target::Queue(tx), None),
            };
            let instance = Arc::new(InstanceRoute {
                id: spec.instance_id.clone(),
                endpoints,
                target,
            });
            self.routes.rcu(|routes| {
                let mut routes = Routes::clone(routes);
                let (mut instances, next) = match routes.services.get(spec.service.as_ref()) {
                    Some(service) => (service.instances.clone(), service.next.clone()),
                    None => (Vec::new(), Arc::default()),
                };
                instances.push(instance.clone());
                routes.services.insert(
                    spec.service.to_string(),
                    Arc::new(ServiceRoute { instances, next }),
                );
                routes
            });
            let guard = Arc::new(RouteGuard {
                routes: self.routes.clone(),
                service: spec.service.into_owned(),
                id: spec.instance_id,
                keep_open: std::sync::Mutex::new(keep_open),
            });
            let held = guard.clone();
            let incoming = stream::poll_fn(move |cx| {
                let _held = &held;
                rx.poll_recv(cx)
            });
            Ok(Listener::new(Box::pin(incoming), Box::new(guard)))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::codec::ContentType;
    use crate::server::handler::endpoint_fn;
    use crate::transport::EndpointSpec;

    /// Without a dispatcher, requests queue to the listener, a serve loop answers them through
    /// the responder; a drained listener ends its loop and later calls are refused.
    #[tokio::test]
    async fn queued_path_without_dispatcher() {
        let transport = Arc::new(MemoryTransport::new());
        let mut listener = transport
            .listen(ListenSpec {
                service: "echo".into(),
                instance_id: "i1".into(),
                endpoints: vec![EndpointSpec::new("say", None)],
                dispatch: None,
            })
            .await
            .unwrap();
        let drain = listener.take_drain().unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let echo = endpoint_fn(
            served.clone(),
            |served: Arc<AtomicUsize>, call: Call| async move {
                served.fetch_add(1, Ordering::SeqCst);
                Ok(Reply::new(ContentType::Json, call.body))
            },
        );
        let server = tokio::spawn(listener.serve(Dispatcher::for_tests("echo", vec![echo])));
        let reply = transport
            .request(Call::new("echo", "say", ContentType::Json, "\"hi\"".into()))
            .await
            .unwrap();
        assert_eq!(&reply.body[..], b"\"hi\"");
        let err = transport
            .request(Call::new("echo", "shout", ContentType::Json, "{}".into()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), 404);
        drain.drain().await;
        tokio::time::timeout(std::time::Duration::from_secs(5), server)
            .await
            .expect("the drained listener ends its loop")
            .unwrap();
        assert_eq!(served.load(Ordering::SeqCst), 1);
        let err = transport
            .request(Call::new("echo", "say", ContentType::Json, "{}".into()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), 503);
    }

    /// Calls alternate between the instances of a service; one that drains gets no more.
    #[tokio::test]
    async fn calls_go_round_robin_and_skip_a_drained_instance() {
        let transport = MemoryTransport::new();
        let mut drains = Vec::new();
        for name in ["a", "b"] {
            let answer = endpoint_fn(Arc::new(name), |name: Arc<&'static str>, _| async move {
                Ok(Reply::new(ContentType::Json, format!("\"{name}\"").into()))
            });
            let mut listener = transport
                .listen(ListenSpec {
                    service: "rr".into(),
                    instance_id: name.into(),
                    endpoints: vec![EndpointSpec::new("who", None)],
                    dispatch: Some(Dispatcher::for_tests("rr", vec![answer])),
                })
                .await
                .unwrap();
            drains.push(listener.take_drain().unwrap());
        }
        let who = async || {
            let reply = transport
                .request(Call::new("rr", "who", ContentType::Json, "{}".into()))
                .await
                .unwrap();
            String::from_utf8(reply.body.to_vec()).unwrap()
        };
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(who().await);
        }
        seen.sort();
        assert_eq!(seen, ["\"a\"", "\"a\"", "\"b\"", "\"b\""]);
        drains.remove(0).drain().await;
        for _ in 0..3 {
            assert_eq!(who().await, "\"b\"");
        }
        drains.remove(0).drain().await;
        let err = transport
            .request(Call::new("rr", "who", ContentType::Json, "{}".into()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), 503);
    }
}
