//! The client: untyped calls and publishing, which generated `{Trait}Client`s wrap.

mod options;
mod retry;
mod stream;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::task::coop::cooperative;
use tower::ServiceExt;

pub use options::{CallOptions, DEFAULT_TIMEOUT};
pub use retry::RetryPolicy;

use crate::broker::{Broker, Event};
use crate::codec::ContentType;
use crate::registry::Registry;
use crate::selector::{Balancer, Selection};
use crate::server::handler::Endpoint;
use crate::transport::{Call, Reply, Transport};
use crate::{Context, Error};

/// Calls services and publishes events through a backend's transport and broker.
///
/// Cheap to clone: clones share the backend. Options set with the `with_*` methods apply to
/// every call made through the returned clone. The metadata and deadline of the call being
/// handled on the current task ([`Context::current`]) are inherited, so nested calls propagate
/// them.
#[derive(Clone)]
pub struct Client {
    backend: Arc<ClientBackend>,
    /// The client-side middleware stack, when layers were added.
    stack: Option<Endpoint>,
    options: CallOptions,
    /// Picks the instance of each call, when a selection was set.
    balancer: Option<Arc<Balancer>>,
}

struct ClientBackend {
    transport: Arc<dyn Transport>,
    broker: Arc<dyn Broker>,
    registry: Arc<dyn Registry>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("transport", &self.backend.transport)
            .field("options", &self.options)
            .field("layered", &self.stack.is_some())
            .field("selection", &self.balancer.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client over the given components.
    pub fn new(
        transport: Arc<dyn Transport>,
        broker: Arc<dyn Broker>,
        registry: Arc<dyn Registry>,
    ) -> Self {
        Client {
            backend: Arc::new(ClientBackend {
                transport,
                broker,
                registry,
            }),
            stack: None,
            options: CallOptions::default(),
            balancer: None,
        }
    }

    /// The transport calls go through.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.backend.transport
    }

    /// The broker events go through.
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.backend.broker
    }

    /// The registry services are discovered in.
    pub fn registry(&self) -> &Arc<dyn Registry> {
        &self.backend.registry
    }

    /// The options applied to every call.
    pub fn options(&self) -> &CallOptions {
        &self.options
    }

    /// A clone with these call options.
    #[must_use]
    pub fn with_options(&self, options: CallOptions) -> Client {
        Client {
            options,
            ..self.clone()
        }
    }

    /// A clone whose calls time out after `timeout` (unless the inherited deadline is earlier).
    #[must_use]
    pub fn with_timeout(&self, timeout: std::time::Duration) -> Client {
        self.with_options(self.options.clone().timeout(timeout))
    }

    /// A clone whose calls and events use `content_type`.
    #[must_use]
    pub fn with_content_type(&self, content_type: ContentType) -> Client {
        self.with_options(self.options.clone().content_type(content_type))
    }

    /// A clone that retries failed calls by `policy`: those that reached no handler always,
    /// and, for idempotent endpoints, those whose fate is unknown (see [`RetryPolicy`]).
    #[must_use]
    pub fn with_retry(&self, policy: RetryPolicy) -> Client {
        self.with_options(self.options.clone().retry(policy))
    }

    /// A clone that picks the instance of each call itself, by `selection` (strategy, version
    /// and metadata filters, circuit breaker), instead of leaving it to the queue group. Clones
    /// of the returned client share what it learns of the instances.
    #[must_use]
    pub fn with_selection(&self, selection: Selection) -> Client {
        Client {
            balancer: Some(Arc::new(Balancer::new(selection))),
            ..self.clone()
        }
    }

    /// A clone that sends this metadata entry with every call and event.
    #[must_use]
    pub fn with_metadata(&self, key: impl Into<String>, value: impl Into<String>) -> Client {
        self.with_options(self.options.clone().metadata(key, value))
    }

    /// A clone whose calls go through `layer` (a tower `Layer`) before the transport. The first
    /// layer added is the innermost. The layered service's error need only convert into
    /// tower's `BoxError` (see [`middleware::from_tower`](crate::middleware::from_tower)).
    #[must_use]
    pub fn layer<L>(&self, layer: L) -> Client
    where
        L: tower_layer::Layer<Endpoint>,
        L::Service: tower_service::Service<Call, Response = Reply> + Clone + Send + Sync + 'static,
        <L::Service as tower_service::Service<Call>>::Error: Into<tower::BoxError>,
        <L::Service as tower_service::Service<Call>>::Future: Send + 'static,
    {
        let inner = self.stack.clone().unwrap_or_else(|| {
            let transport = self.backend.transport.clone();
            Endpoint::new(tower::service_fn(move |call: Call| {
                let transport = transport.clone();
                async move { transport.request(call).await }
            }))
        });
        Client {
            stack: Some(Endpoint::new(layer.layer(inner))),
            ..self.clone()
        }
    }

    /// The context a call made now carries: the current task's context (a handler's call),
    /// plus this client's metadata, with the earlier of the inherited deadline and this client's
    /// timeout, if it has one. What [`call_raw`](Self::call_raw) and generated clients send;
    /// give it to a [`Call`] built by hand for [`call`](Self::call).
    pub fn outgoing_context(&self) -> Context {
        let ctx = self.inherited_context();
        match self.options.timeout {
            Some(timeout) => ctx.with_timeout(timeout),
            None => ctx,
        }
    }

    /// The context a stream opened now carries: the current task's context with this client's
    /// metadata, and no deadline of this client's, whose timeout bounds only the opening of a
    /// stream (an inherited deadline still bounds the whole stream).
    pub fn stream_context(&self) -> Context {
        self.inherited_context()
    }

    fn inherited_context(&self) -> Context {
        let mut ctx = Context::current();
        // The attempt number is the handler's call's own, not its nested calls'.
        if !ctx.metadata.is_empty() {
            ctx.metadata.remove(crate::metadata::keys::ATTEMPT);
        }
        if !self.options.metadata.is_empty() {
            ctx.metadata.merge(&self.options.metadata);
        }
        ctx
    }

    /// When a call made now stops waiting if no deadline comes first.
    fn wait_until(&self) -> Option<std::time::Instant> {
        std::time::Instant::now().checked_add(self.options.timeout.unwrap_or(DEFAULT_TIMEOUT))
    }

    /// Sends a prepared call and returns the raw reply. The call's own context is kept; when it
    /// sets no limit on the wait, this client's timeout does.
    pub async fn call(&self, mut call: Call) -> Result<Reply, Error> {
        if call.wait_until.is_none() {
            call.wait_until = self.wait_until();
        }
        cooperative(self.send(call)).await
    }

    /// Calls `service.endpoint` with an already-encoded body, inheriting the current context.
    /// The endpoint is taken not to be idempotent; build a [`Call`] marked
    /// [`idempotent`](Call::idempotent) for [`call`](Self::call) to have it retried after a
    /// timeout.
    pub async fn call_raw(
        &self,
        service: impl Into<Cow<'static, str>>,
        endpoint: impl Into<Cow<'static, str>>,
        content_type: ContentType,
        body: Bytes,
    ) -> Result<Reply, Error> {
        self.call_encoded(service, endpoint, content_type, body, false)
            .await
    }

    async fn call_encoded(
        &self,
        service: impl Into<Cow<'static, str>>,
        endpoint: impl Into<Cow<'static, str>>,
        content_type: ContentType,
        body: Bytes,
        idempotent: bool,
    ) -> Result<Reply, Error> {
        let mut call =
            Call::new(service, endpoint, content_type, body).with_context(self.outgoing_context());
        call.wait_until = self.wait_until();
        call.idempotent = idempotent;
        cooperative(self.send(call)).await
    }

    /// Calls `service.endpoint` with `args` encoded in this client's codec and decodes the
    /// reply; what generated clients call.
    pub async fn invoke<A, R>(
        &self,
        service: &'static str,
        endpoint: &'static str,
        args: &A,
    ) -> Result<R, Error>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.invoke_as(service, endpoint, args, false).await
    }

    /// [`invoke`](Self::invoke) for an idempotent endpoint (`#[micro(idempotent)]`): with a
    /// [`RetryPolicy`], a call whose fate is unknown is retried too.
    pub async fn invoke_idempotent<A, R>(
        &self,
        service: &'static str,
        endpoint: &'static str,
        args: &A,
    ) -> Result<R, Error>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.invoke_as(service, endpoint, args, true).await
    }

    async fn invoke_as<A, R>(
        &self,
        service: &'static str,
        endpoint: &'static str,
        args: &A,
        idempotent: bool,
    ) -> Result<R, Error>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let content_type = self.options.content_type;
        let body = content_type.encode(args).map_err(|e| {
            Error::bad_request(format!(
                "cannot encode arguments for `{service}.{endpoint}`: {e}"
            ))
        })?;
        let reply = self
            .call_encoded(service, endpoint, content_type, body, idempotent)
            .await?;
        // The service answered with something its caller cannot read: the peer's fault, as a
        // gateway would say (502), not this process's.
        reply.content_type.decode(&reply.body).map_err(|e| {
            Error::bad_gateway(format!(
                "cannot decode the reply of `{service}.{endpoint}`: {e}"
            ))
            .with_id(format!("{service}.{endpoint}"))
        })
    }

    /// Sends a call: once, or by the retry policy.
    ///
    /// Not an `async fn`: the plain path hands back the transport's own boxed future, so the
    /// futures of `invoke` and `call_raw` that await it stay small. Callers await it through
    /// tokio's [`cooperative`], as a tokio channel's receive is: a call that completes at once
    /// (in-process, or failing fast while disconnected) still uses up the task's budget, so a
    /// task looping on calls yields now and then and cannot starve the timers and tasks that
    /// share its worker.
    fn send(&self, call: Call) -> BoxFuture<'_, Result<Reply, Error>> {
        match &self.options.retry {
            None => self.send_attempt(call),
            Some(policy) => Box::pin(self.send_retrying(call, policy)),
        }
    }

    /// One attempt, to the instance the selection picks when there is one.
    fn send_attempt(&self, call: Call) -> BoxFuture<'_, Result<Reply, Error>> {
        match &self.balancer {
            // A call pinned by its caller goes where it was told.
            Some(balancer) if call.instance.is_none() => {
                Box::pin(async move { self.send_picked(call, balancer, &[]).await.0 })
            }
            _ => self.send_once(call),
        }
    }

    /// Sends `call` to the instance `balancer` picks, avoiding those in `avoid`; also yields
    /// the id of the instance it went to (`None`: none was picked).
    async fn send_picked(
        &self,
        mut call: Call,
        balancer: &Balancer,
        avoid: &[String],
    ) -> (Result<Reply, Error>, Option<String>) {
        let picked = balancer
            .pick(
                &call.service,
                &call.endpoint,
                &self.backend.registry,
                avoid,
                call.wait_deadline(),
            )
            .await;
        let mut picked = match picked {
            Ok(Some(picked)) => picked,
            // The instances cannot be called alone: the shared subject it is.
            Ok(None) => return (self.send_once(call).await, None),
            Err(err) => return (Err(err.with_id(call.id())), None),
        };
        // Sent to the subject the instance announced as its own, which an instance in another
        // language may have chosen freely.
        let id = picked.id().to_owned();
        call.instance = Some(id.clone().into());
        call.instance_subject = Some(picked.take_instance_subject().into());
        let result = self.send_once(call).await;
        picked.finish(&result);
        (result, Some(id))
    }

    /// Sends `call`, again after each failure `policy` says is safe and worth retrying, while
    /// attempts, budget and deadline allow. With a selection, a retry goes to another instance
    /// than those the call failed on, while there is another.
    async fn send_retrying(&self, call: Call, policy: &RetryPolicy) -> Result<Reply, Error> {
        let mut retrying = policy.start();
        let deadline = call.wait_deadline();
        let mut failed_on: Vec<String> = Vec::new();
        loop {
            let mut attempt = call.clone();
            attempt.wait_until = retrying.attempt_until(deadline);
            if retrying.attempt > 1 {
                attempt
                    .context
                    .metadata
                    .insert(crate::metadata::keys::ATTEMPT, retrying.attempt.to_string());
            }
            let result = match &self.balancer {
                Some(balancer) if attempt.instance.is_none() => {
                    let (result, instance) = self.send_picked(attempt, balancer, &failed_on).await;
                    if result.is_err()
                        && let Some(instance) = instance
                    {
                        failed_on.push(instance);
                    }
                    result
                }
                _ => self.send_once(attempt).await,
            };
            let err = match result {
                Ok(reply) => return Ok(reply),
                Err(err) => err,
            };
            match retrying.next(&err, call.idempotent, deadline) {
                None => return Err(err),
                Some(pause) => {
                    tracing::debug!(
                        call = %call.id(),
                        attempt = retrying.attempt,
                        error = %err,
                        "retrying"
                    );
                    pause.await;
                }
            }
        }
    }

    /// One attempt: through the transport, or through the middleware stack when layers were
    /// added.
    fn send_once(&self, call: Call) -> BoxFuture<'_, Result<Reply, Error>> {
        match &self.stack {
            // Transports bound the wait by the call's deadline themselves (the NATS one hands
            // it to the request, the in-process one to the handler), and turn down a call whose
            // deadline has passed, so no second timer or clock reading here.
            None => self.backend.transport.request(call),
            Some(stack) => Box::pin(send_layered(stack.clone(), call)),
        }
    }

    /// Publishes `event` on `topic`, encoded with this client's codec, with the current context's
    /// metadata and this client's.
    pub async fn publish<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        event: &T,
    ) -> Result<(), Error> {
        crate::broker::validate_topic(topic, false)?;
        let content_type = self.options.content_type;
        let body = content_type
            .encode(event)
            .map_err(|e| Error::bad_request(format!("cannot encode event for `{topic}`: {e}")))?;
        let ctx = self.outgoing_context();
        let event = Event::new(topic.to_owned(), content_type, body).with_metadata(ctx.metadata);
        self.backend.broker.publish(event).await
    }
}

/// Sends a call through the client's middleware stack, bounded as a whole by the call's
/// deadline: layers may wait on their own (retries, buffers).
async fn send_layered(stack: Endpoint, call: Call) -> Result<Reply, Error> {
    if call
        .wait_deadline()
        .is_some_and(|d| d <= std::time::Instant::now())
    {
        return Err(Error::timeout(format!(
            "deadline exceeded before `{}.{}` was sent",
            call.service, call.endpoint
        ))
        .with_id(call.id())
        .with_delivery(crate::error::Delivery::NotSent));
    }
    let Some(deadline) = call.wait_deadline() else {
        return stack.oneshot(call).await;
    };
    let id = call.id();
    match tokio::time::timeout_at(deadline.into(), stack.oneshot(call)).await {
        Ok(result) => result,
        Err(_) => Err(
            Error::timeout(format!("`{id}` did not answer before its deadline"))
                .with_id(id)
                .with_delivery(crate::error::Delivery::InFlight),
        ),
    }
}
