//! NatsTransport: request/reply over NATS core, endpoints as queue-group subscriptions.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, ready};
use std::time::Duration;

use arc_swap::ArcSwap;

use async_nats::client::PublishErrorKind;
use async_nats::connection::State;
use async_nats::{Client, HeaderMap, Message, Request, Subject, Subscriber};
use bytes::Bytes;
use futures::future::{BoxFuture, Either, FutureExt};
use futures::stream::StreamExt;
use micro_core::Error;
use micro_core::codec::ContentType;
use micro_core::transport::{
    Call, Drain, Incoming, Intake, ListenSpec, Listener, Reply, Respond, Transport,
};
use tokio::sync::oneshot;

use crate::error::{disconnected, publish_error, request_error, subscribe_error};
use crate::headers;
use crate::health::{self, Health};
use crate::subject::{Subjects, validate_queue_group};

/// Request/reply on NATS: a call to `greeter.hello` is a NATS request to subject
/// `[<prefix>.]greeter.hello`, answered by one instance of the queue group (`q` by default).
///
/// See the [crate docs](crate) for the headers on the wire.
#[derive(Clone, Debug)]
pub struct NatsTransport {
    client: Client,
    subjects: Subjects,
    /// Checked subjects of the endpoints called so far, so a call neither validates nor
    /// formats its subject: read without a lock, copied on the rare insert.
    resolved: Arc<ArcSwap<SubjectCache>>,
    health: Arc<Health>,
    /// Subscriptions per queue-group endpoint; `None`: one per runtime worker but one.
    intakes: Option<usize>,
}

/// service → endpoint → subject, with the number of subjects held so a full cache is seen
/// without walking it.
///
/// Hashed with foldhash: SipHash of the two names was a tenth of the instructions a call
/// spent in micro on the client side. foldhash is still seeded per process, which is enough
/// for names that may come from callers (a gateway's).
///
/// Names borrowed from `'static` strings (every call of a generated client) are first looked
/// up by their addresses in `statics`: comparing two addresses and two lengths per entry costs
/// a fraction of hashing and comparing the names (which was about 300 instructions of the 1,400
/// a call spent in micro on the client side).
#[derive(Clone, Debug, Default)]
struct SubjectCache {
    len: usize,
    subjects: HashMap<Box<str>, HashMap<Box<str>, Subject, Hasher>, Hasher>,
    statics: Vec<StaticSubject>,
}

type Hasher = foldhash::fast::RandomState;

/// The subject of a pair of `'static` names, known by their addresses.
#[derive(Clone, Debug)]
struct StaticSubject {
    service: &'static str,
    endpoint: &'static str,
    subject: Subject,
}

/// Entries of [`SubjectCache::statics`] at most: a linear scan stays cheaper than hashing for
/// a client that calls this many endpoints; further names go through the hashed map only.
const STATIC_SUBJECTS: usize = 16;

impl SubjectCache {
    fn get(&self, service: &str, endpoint: &str) -> Option<&Subject> {
        self.subjects
            .get(service)
            .and_then(|endpoints| endpoints.get(endpoint))
    }

    /// The subject of two `'static` names, by address. Sound because the same address and
    /// length of immutable static memory always hold the same text; the same text at another
    /// address is only a miss, answered by [`get`](Self::get).
    fn get_static(&self, service: &'static str, endpoint: &'static str) -> Option<&Subject> {
        self.statics
            .iter()
            .find(|s| std::ptr::eq(s.service, service) && std::ptr::eq(s.endpoint, endpoint))
            .map(|s| &s.subject)
    }
}

/// Past this many cached subjects (names from a gateway are caller-chosen), new ones are built
/// per call instead of cached.
const SUBJECT_CACHE_LIMIT: usize = 4096;

impl NatsTransport {
    /// A transport on an existing connection.
    pub fn new(client: Client, subjects: Subjects) -> Self {
        let health = Health::new(client.clone());
        Self::with_health(client, subjects, health)
    }

    pub(crate) fn with_health(client: Client, subjects: Subjects, health: Arc<Health>) -> Self {
        NatsTransport {
            client,
            subjects,
            resolved: Arc::default(),
            health,
            intakes: None,
        }
    }

    /// Sets how many subscriptions each endpoint with a queue group gets (see
    /// [`NatsOptions::intakes`](crate::NatsOptions::intakes)); `None`: one per runtime worker but one.
    #[must_use]
    pub fn with_intakes(mut self, intakes: Option<usize>) -> Self {
        self.intakes = intakes.map(|n| n.clamp(1, MAX_SHARDS));
        self
    }

    /// The subject scheme.
    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }

    /// The subject of `service.endpoint`, checked once and then cached.
    // `&Cow`, not `&str`: a borrowed name is looked up by its `'static` address.
    #[allow(clippy::ptr_arg)]
    fn subject(
        &self,
        service: &Cow<'static, str>,
        endpoint: &Cow<'static, str>,
    ) -> Result<Subject, Error> {
        let cache = self.resolved.load();
        let statics = match (service, endpoint) {
            (Cow::Borrowed(service), Cow::Borrowed(endpoint)) => Some((*service, *endpoint)),
            _ => None,
        };
        if let Some((service, endpoint)) = statics
            && let Some(subject) = cache.get_static(service, endpoint)
        {
            return Ok(subject.clone());
        }
        if let Some(subject) = cache.get(service, endpoint) {
            let subject = subject.clone();
            if statics.is_some() && cache.statics.len() < STATIC_SUBJECTS {
                drop(cache);
                self.remember(service, endpoint, statics, &subject);
            }
            return Ok(subject);
        }
        let subject = Subject::from(self.subjects.endpoint(service, endpoint)?);
        // A subject built from a `String` turns into a shared one on its first clone, which
        // allocates; cloned once here, every later clone of the cached one is a counter bump.
        let _shared = subject.clone();
        // Full: build the subject per call and leave the cache alone (copying it on every miss
        // would cost a whole-map clone per call).
        if cache.len >= SUBJECT_CACHE_LIMIT
            && (statics.is_none() || cache.statics.len() >= STATIC_SUBJECTS)
        {
            return Ok(subject);
        }
        drop(cache);
        self.remember(service, endpoint, statics, &subject);
        Ok(subject)
    }

    /// Adds `subject` to the cache, by name and, for `'static` names, by address (each while
    /// there is room).
    fn remember(
        &self,
        service: &str,
        endpoint: &str,
        statics: Option<(&'static str, &'static str)>,
        subject: &Subject,
    ) {
        self.resolved.rcu(|cache| {
            // Another call may have filled the cache or added this subject meanwhile.
            let by_name = cache.len < SUBJECT_CACHE_LIMIT && cache.get(service, endpoint).is_none();
            let by_address = statics.filter(|&(service, endpoint)| {
                cache.statics.len() < STATIC_SUBJECTS
                    && cache.get_static(service, endpoint).is_none()
            });
            if !by_name && by_address.is_none() {
                return Arc::clone(cache);
            }
            let mut cache = SubjectCache::clone(cache);
            if by_name {
                cache
                    .subjects
                    .entry(service.into())
                    .or_default()
                    .insert(endpoint.into(), subject.clone());
                cache.len += 1;
            }
            if let Some((service, endpoint)) = by_address {
                cache.statics.push(StaticSubject {
                    service,
                    endpoint,
                    subject: subject.clone(),
                });
            }
            Arc::new(cache)
        });
    }

    /// Sends `call`. The checks and the request are made here, before anything is boxed, and
    /// the boxed future is async-nats's own request with the reading of the reply mapped onto
    /// it: an `async fn` would also keep the call and every local in its state (440 bytes more
    /// than the request's 1,088), to be copied into its box and freed with it on every call.
    fn send(&self, call: Call) -> BoxFuture<'_, Result<Reply, Error>> {
        let (subject, headers, timeout) = match self.prepare(&call) {
            Ok(prepared) => prepared,
            Err(err) => return Box::pin(std::future::ready(Err(err.with_id(call.id())))),
        };
        let Call {
            service,
            endpoint,
            content_type,
            body,
            ..
        } = call;
        // The request's own reply token, so that a caller who gives up can name it.
        let token = nuid::next();
        let mut request = Request::new()
            .payload(body)
            .reply_token(token.as_str().to_owned());
        if let Some(headers) = headers {
            request = request.headers(headers);
        }
        if timeout.is_some() {
            request = request.timeout(timeout);
        }
        let mut cancel = CancelOnDrop {
            client: &self.client,
            subjects: &self.subjects,
            service: service.clone(),
            token: Some(token),
        };
        Box::pin(
            self.client
                .send_request(subject, request)
                // The guard lives in the closure: dropped unrun (the caller gave up), it tells
                // the server; run, it is disarmed unless the wait ran out.
                .map(move |sent| {
                    let timed_out = matches!(&sent, Err(err) if err.kind() == async_nats::client::RequestErrorKind::TimedOut);
                    // A stream's first item is not a reply: the caller fails (see `read_reply`),
                    // and the server, which would stream on for nobody, is told.
                    let streamed = matches!(&sent, Ok(message) if headers::get(message.headers.as_ref(), micro_core::metadata::keys::SEQ).is_some());
                    if !timed_out && !streamed {
                        cancel.disarm();
                    }
                    sent
                })
                .map(move |sent| match sent {
                    Ok(message) if health::malformed(&message).is_some() => {
                        Err(malformed_reply(&message, &service, &endpoint))
                    }
                    Ok(message) => headers::read_reply(
                        message.headers.as_ref(),
                        message.payload,
                        content_type,
                        &service,
                        &endpoint,
                    ),
                    Err(err) => Err(request_error(&err, &service, &endpoint)),
                }),
        )
    }

    /// The subject, headers and time to wait of `call`; an error when it cannot be sent (bad
    /// names, disconnected, deadline passed, metadata NATS cannot carry).
    fn prepare(
        &self,
        call: &Call,
    ) -> Result<(Subject, Option<HeaderMap>, Option<Duration>), Error> {
        let subject = match (&call.instance, &call.instance_subject) {
            // Pinned, to the subject the instance announced as its own: used as it is, after the
            // same checks as any subject discovery announced.
            (Some(_), Some(own)) => {
                crate::subject::validate_subject(own)?;
                Subject::from(own.as_ref())
            }
            // Pinned: the instance's own subject as micro builds it, one token more (see
            // `instance_subject`).
            (Some(id), None) => {
                crate::subject::validate_name("instance id", id)?;
                Subject::from(format!("{}.{id}", self.shared_subject(call)?))
            }
            (None, _) => self.shared_subject(call)?,
        };
        if self.client.connection_state() != State::Connected {
            return Err(disconnected(&format!("call `{}`", call.id())));
        }
        if self.health.reader_stopped() {
            return Err(reader_stopped(&call.id()));
        }
        let timeout = call
            .wait_deadline()
            .map(|d| d.saturating_duration_since(std::time::Instant::now()));
        if timeout == Some(Duration::ZERO) {
            return Err(Error::timeout(format!(
                "deadline exceeded before `{}` was sent",
                call.id()
            ))
            .with_delivery(micro_core::error::Delivery::NotSent));
        }
        let headers = headers::outgoing(
            call.content_type,
            &call.body,
            &call.context.metadata,
            call.context.deadline,
        )?;
        Ok((subject, headers, timeout))
    }

    /// The subject every instance of `call`'s endpoint serves it on: the one discovery
    /// announced, when the call carries it, or the one built from the names.
    #[inline]
    fn shared_subject(&self, call: &Call) -> Result<Subject, Error> {
        match &call.subject {
            // Announced by the endpoint in discovery: used as it is, after the same checks.
            Some(subject) => {
                crate::subject::validate_subject(subject)?;
                Ok(Subject::from(subject.as_ref()))
            }
            None => self.subject(&call.service, &call.endpoint),
        }
    }

    async fn start_listening(&self, spec: ListenSpec) -> Result<Listener, Error> {
        // One intake per endpoint and runtime worker (see `Listener::sharded`): the subscriptions
        // of an endpoint share its queue group, so the server spreads its requests over them.
        // An endpoint without a queue group gets every request on every subscription, so it has
        // one.
        let workers = self.intakes.unwrap_or_else(default_intakes);
        let mut subscribers = Vec::with_capacity(spec.endpoints.len() * workers);
        let mut names = Vec::with_capacity(spec.endpoints.len());
        for (index, endpoint) in spec.endpoints.iter().enumerate() {
            let subject = self.subjects.endpoint(&spec.service, &endpoint.name)?;
            match &endpoint.queue_group {
                Some(queue) => {
                    validate_queue_group(queue)?;
                    for _ in 0..workers {
                        // A request that finds the intake's buffer full is refused at once
                        // with a 503 (the patched async-nats answers it), never dropped in
                        // silence.
                        let subscriber = self
                            .client
                            .subscribe_requests(subject.clone(), Some(queue.clone()))
                            .await
                            .map_err(|e| subscribe_error(&e, &subject))?;
                        subscribers.push((index, subscriber));
                    }
                }
                None => {
                    let subscriber = self
                        .client
                        .subscribe_requests(subject.clone(), None)
                        .await
                        .map_err(|e| subscribe_error(&e, &subject))?;
                    subscribers.push((index, subscriber));
                }
            }
            // This instance alone also serves the endpoint on a subject of its own, so a caller
            // can pick the instance (no queue group: no other instance subscribes to it).
            let own = format!("{subject}.{}", spec.instance_id);
            let subscriber = self
                .client
                .subscribe_requests(own.clone(), None)
                .await
                .map_err(|e| subscribe_error(&e, &own))?;
            subscribers.push((index, subscriber));
            // Borrowed from the descriptor: naming a request's endpoint costs nothing.
            names.push((endpoint.name.clone(), endpoint.kind.is_stream()));
        }
        // Cancellations from callers who gave up, for the requests this instance runs. An
        // intake of its own, so it is drained with the others, and it yields no request.
        if spec.dispatch.is_some() {
            let subject = self.subjects.cancel(&spec.service);
            let subscriber = self
                .client
                .subscribe(subject.clone())
                .await
                .map_err(|e| subscribe_error(&e, &subject))?;
            subscribers.push((CANCELS, subscriber));
        }
        // The subscriptions reach the server before `listen` returns, so a call made right after
        // a service starts finds it.
        barrier(&self.client).await?;
        // Shared, not cloned per request: cloning an async-nats client costs several atomics and
        // a channel sender (it showed in profiles of the serving process).
        let client = Arc::new(self.client.clone());
        let names: Arc<[(Cow<'static, str>, bool)]> = names.into();
        let intakes = subscribers
            .into_iter()
            .map(|subscriber| {
                let (client, health) = (Arc::clone(&client), self.health.clone());
                let (service, names) = (spec.service.clone(), Arc::clone(&names));
                let dispatch = spec.dispatch.clone();
                pump(&self.client, vec![subscriber], move |index, message| {
                    if index == CANCELS {
                        cancel(dispatch.as_deref(), &message);
                        return None;
                    }
                    to_incoming(&client, &health, &service, &names, index, message)
                })
            })
            .collect();
        Ok(Listener::sharded(intakes))
    }
}

/// The endpoint index the cancellation subscription's messages carry.
const CANCELS: usize = usize::MAX;

/// Cancels the request a cancellation names, if this instance runs it, or has the dispatcher
/// hold it a while for a request not started yet. Anything else on the subject (a malformed
/// key) is ignored: the key is all there is to act on.
fn cancel(dispatch: Option<&micro_core::server::Dispatcher>, message: &Message) {
    let (Some(dispatch), Some(key)) = (dispatch, cancel_key(&message.payload)) else {
        return;
    };
    if dispatch.cancel(key) {
        tracing::debug!(key, "request cancelled by its caller");
    }
}

/// The key a cancellation's body names, if it can name one: UTF-8, and no longer than a key
/// can be.
pub(crate) fn cancel_key(payload: &[u8]) -> Option<&str> {
    std::str::from_utf8(payload)
        .ok()
        .filter(|key| key.len() <= MAX_CANCEL_KEY)
}

/// The longest key a cancellation may carry (a NUID has 22 characters).
const MAX_CANCEL_KEY: usize = 64;

/// Intakes per endpoint at most, whatever the number of runtime workers.
const MAX_SHARDS: usize = 64;

/// Intakes per endpoint by default: one per runtime worker but one, at least one.
///
/// Under load the connection's own task (async-nats reads and writes the socket in one task)
/// keeps about one worker busy; an intake loop more than the other workers can run only adds
/// thread wake-ups. On the 2-core bench machine two intakes served 3–5% fewer calls than one
/// (BENCHMARKS.md); a handler that computes for long is spawned onto every worker anyway.
fn default_intakes() -> usize {
    tokio::runtime::Handle::try_current()
        .map_or(1, |runtime| runtime.metrics().num_workers())
        .saturating_sub(1)
        .clamp(1, MAX_SHARDS)
}

/// Tells the instances of a service that the request with this reply token was given up on,
/// unless disarmed (`token` taken) first. Costs nothing until then: the message is built and
/// sent, in a task of its own, only when the caller gives up.
struct CancelOnDrop<'a> {
    client: &'a Client,
    subjects: &'a Subjects,
    service: Cow<'static, str>,
    token: Option<nuid::NUIDStr>,
}

impl CancelOnDrop<'_> {
    /// The request finished: nothing to cancel.
    fn disarm(&mut self) {
        self.token = None;
    }
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        let Some(token) = self.token.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let client = self.client.clone();
        let subject = self.subjects.cancel(&self.service);
        let token = Bytes::copy_from_slice(token.as_bytes());
        runtime.spawn(async move {
            // Best effort: a cancellation that cannot be sent leaves the handler to its deadline.
            if let Err(err) = client.publish(subject, token).await {
                tracing::debug!(error = %err, "could not send a cancellation");
            }
        });
    }
}

impl Transport for NatsTransport {
    fn open_stream(&self, call: Call) -> BoxFuture<'_, Result<micro_core::stream::Link, Error>> {
        Box::pin(async move {
            let id = call.id();
            let (subject, headers, _) = self.prepare(&call).map_err(|e| e.with_id(id.clone()))?;
            let cancel = self.subjects.cancel(&call.service);
            crate::stream::open(&self.client, subject, headers, cancel, call).await
        })
    }

    fn request(&self, call: Call) -> BoxFuture<'_, Result<Reply, Error>> {
        self.send(call)
    }

    fn listen(&self, spec: ListenSpec) -> BoxFuture<'_, Result<Listener, Error>> {
        Box::pin(self.start_listening(spec))
    }

    fn subject(&self, service: &str, endpoint: &str) -> String {
        self.subjects.endpoint_unchecked(service, endpoint)
    }

    /// The endpoint's subject with the instance id as one more token: `greeter.hello.<id>`.
    fn instance_subject(&self, service: &str, endpoint: &str, instance: &str) -> Option<String> {
        Some(format!(
            "{}.{instance}",
            self.subjects.endpoint_unchecked(service, endpoint)
        ))
    }

    /// Waits for the server to echo a message sent after everything else: async-nats buffers
    /// what is published, and a process exiting right after the last reply was handed over
    /// would otherwise take that reply with it.
    fn flush(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(barrier(&self.client))
    }
}

/// Turns one request message into an [`Incoming`]: a rejected one (415) when its
/// `Content-Type` names a codec we cannot read, `None` when it has no reply subject.
// `&Cow`, not `&str`: cloning the `Cow` keeps a name borrowed from the descriptor free, where
// `&str` would force an allocation per request.
#[allow(clippy::ptr_arg)]
#[inline]
fn to_incoming(
    client: &Arc<Client>,
    health: &Health,
    service: &Cow<'static, str>,
    names: &[(Cow<'static, str>, bool)],
    index: usize,
    message: Message,
) -> Option<Incoming<NatsResponder>> {
    let (endpoint, streams) = names.get(index)?.clone();
    let malformed = health::malformed(&message).map(|why| {
        health.count_malformed(&message.subject, why);
        Error::bad_request(format!(
            "cannot read the request to `{service}.{endpoint}`: {why}"
        ))
    });
    let Some(reply_to) = message.reply else {
        if malformed.is_none() {
            health.count_without_reply(&message.subject);
        }
        return None;
    };
    let hdrs = message.headers.as_ref();
    let read = match malformed {
        Some(err) => Err(err),
        None => headers::content_type(hdrs, &message.payload),
    };
    let content_type = match read {
        Ok(ct) => ct,
        Err(err) => {
            // Answer rather than drop, so the caller gets a 415 instead of a timeout; through the
            // server, so STATS counts it.
            let err = err.with_id(format!("{service}.{endpoint}"));
            let responder = NatsResponder {
                client: Arc::clone(client),
                reply_to,
                content_type: ContentType::Json,
                labelled: true,
            };
            let call = Call::new(
                service.clone(),
                endpoint,
                ContentType::Json,
                message.payload,
            );
            return Some(Incoming::rejected(index, call, responder, err));
        }
    };
    let mut call = Call::new(service.clone(), endpoint, content_type, message.payload);
    // Only a request with headers has metadata, a deadline or a label (most have none).
    let labelled = match hdrs {
        None => false,
        Some(_) => {
            call.context.metadata = headers::metadata(hdrs);
            call.context.deadline = headers::deadline(hdrs);
            headers::get(hdrs, micro_core::metadata::keys::CONTENT_TYPE).is_some()
        }
    };
    if streams {
        match crate::stream::accepted(
            client,
            hdrs,
            &reply_to,
            content_type,
            labelled,
            service,
            &call.endpoint,
        ) {
            Ok(open) => call.stream = Some(Box::new(open)),
            Err(err) => {
                let responder = NatsResponder {
                    client: Arc::clone(client),
                    reply_to,
                    content_type,
                    labelled,
                };
                let err = err.with_id(call.id());
                return Some(Incoming::rejected(index, call, responder, err));
            }
        }
    }
    Some(Incoming::new(
        index,
        call,
        NatsResponder {
            client: Arc::clone(client),
            reply_to,
            content_type,
            labelled,
        },
    ))
}

/// The error of a call whose reply async-nats could not read (its headers were malformed): the
/// peer's fault, as a gateway would say (502).
fn malformed_reply(message: &Message, service: &str, endpoint: &str) -> Error {
    let why = health::malformed(message).unwrap_or("malformed message");
    Error::bad_gateway(format!(
        "cannot read the reply of `{service}.{endpoint}`: {why}"
    ))
    .with_id(format!("{service}.{endpoint}"))
}

/// The error of a call made after the connection's reader stopped for good.
fn reader_stopped(id: &str) -> Error {
    Error::unavailable(format!(
        "cannot call `{id}`: the NATS connection stopped reading and will receive nothing more; \
         restart the process"
    ))
    .with_id(id.to_owned())
}

/// Publishes the answer to a request's reply subject.
struct NatsResponder {
    client: Arc<Client>,
    reply_to: Subject,
    content_type: ContentType,
    /// Whether the request named its codec; the reply does the same.
    labelled: bool,
}

impl Respond for NatsResponder {
    fn cancel_key(&self) -> Option<&str> {
        // The caller's NUID: async-nats's shared inbox ends every reply subject with the
        // request's own token (our clients choose it, see `send`).
        self.reply_to
            .rsplit('.')
            .next()
            .filter(|key| !key.is_empty())
    }

    fn respond(
        self,
        reply: Result<Reply, Error>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let (headers, body) = headers::reply(reply, self.content_type, self.labelled);
        match headers {
            // The common reply: no headers, and small enough. Only this path sits inline in the
            // serve loop (the rest is boxed), which keeps the loop's state, copied for every
            // request, small. The subject is moved into the publish rather than cloned, as a
            // clone of a subject read off the wire costs an allocation; the size is checked
            // first because a refused reply needs the subject again for the 413.
            None if body.len() <= self.client.max_payload() => {
                let NatsResponder {
                    client, reply_to, ..
                } = self;
                Either::Left(async move {
                    // Pinned where it is built: `.await` on the call would copy async-nats's
                    // publish future (568 bytes) once more.
                    let mut publishing = std::pin::pin!(client.publish(reply_to, body));
                    std::future::poll_fn(|cx| publishing.as_mut().poll(cx))
                        .await
                        .map_err(|e| publish_error(&e, "the reply subject"))
                })
            }
            headers => Either::Right(Box::pin(
                self.respond_with_headers(headers.unwrap_or_default(), body),
            )),
        }
    }
}

impl NatsResponder {
    /// Sends a reply with headers (an error, a labelled or relabelled reply, metadata), or one
    /// too large for the server, which becomes a 413 instead of a timeout for the caller.
    async fn respond_with_headers(self, headers: HeaderMap, body: Bytes) -> Result<(), Error> {
        let NatsResponder {
            client,
            reply_to,
            content_type,
            ..
        } = self;
        match client
            .publish_with_headers(reply_to.clone(), headers, body)
            .await
        {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == PublishErrorKind::MaxPayloadExceeded => {
                let too_big = Error::payload_too_large(format!(
                    "the reply is larger than the NATS server accepts: {err}"
                ));
                let (headers, body) = headers::reply(Err(too_big), content_type, true);
                client
                    .publish_with_headers(reply_to.clone(), headers.unwrap_or_default(), body)
                    .await
                    .map_err(|e| publish_error(&e, &reply_to))?;
                Err(publish_error(&err, &reply_to))
            }
            Err(err) => Err(publish_error(&err, &reply_to)),
        }
    }
}

/// Merges `subscribers` into one [`Intake`], converting each message with
/// `convert(index_of_subscriber, message)` (`None` skips one). The stream polls the
/// subscriptions itself, in the consumer's task: no task or channel in between, so a request
/// costs no extra thread hop. Draining first passes a [`barrier`] (every message the server
/// routed to us before it is read and buffered), then sends UNSUB for every subscription
/// (async-nats `Subscriber::drain`); what was buffered is still yielded, then the stream ends.
///
/// async-nats drops a draining subscription on its next poll rather than on the PONG of the
/// drain, so a message the server routes in the instant between the barrier and the UNSUB can
/// still be lost; the barrier keeps that window to about one round trip.
pub(crate) fn intake<T, F>(client: &Client, subscribers: Vec<Subscriber>, convert: F) -> Intake<T>
where
    T: Send + 'static,
    F: FnMut(usize, Message) -> Option<T> + Send + Unpin + 'static,
{
    let subscribers = subscribers.into_iter().enumerate().collect();
    let (stream, drain) = pump(client, subscribers, convert);
    Intake::new(Box::pin(stream), drain)
}

/// The stream and drain handle behind an [`intake`], unboxed, for a consumer that takes the
/// stream's own type (the server's loop).
fn pump<T, F>(
    client: &Client,
    subscribers: Vec<(usize, Subscriber)>,
    convert: F,
) -> (Pump<F>, Box<dyn Drain>)
where
    T: Send + 'static,
    F: FnMut(usize, Message) -> Option<T> + Send + Unpin + 'static,
{
    let (drain_tx, drain_rx) = oneshot::channel::<()>();
    let merged = Merged {
        streams: subscribers
            .into_iter()
            .map(|(index, subscriber)| Indexed { index, subscriber })
            .collect(),
        start: 0,
    };
    let pump = Pump {
        client: client.clone(),
        convert,
        drain_rx: Some(drain_rx),
        phase: Phase::Open(merged),
    };
    (
        pump,
        Box::new(IntakeDrain {
            request: Some(drain_tx),
        }),
    )
}

/// A subscription whose messages carry the index of their endpoint.
struct Indexed {
    index: usize,
    subscriber: Subscriber,
}

impl futures::Stream for Indexed {
    type Item = (usize, Message);

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let index = self.index;
        self.subscriber
            .poll_next_unpin(cx)
            .map(|m| m.map(|m| (index, m)))
    }
}

/// The subscriptions of one intake, polled in turn from a rotating start (so none starves).
///
/// A service has a handful of endpoints, so polling each one per wake-up is cheaper than
/// `SelectAll`'s per-stream task and wake-up queue, which showed on the hot path.
struct Merged {
    streams: Vec<Indexed>,
    start: usize,
}

impl Merged {
    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Indexed> {
        self.streams.iter_mut()
    }
}

impl futures::Stream for Merged {
    type Item = (usize, Message);

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let this = &mut *self;
        let mut i = 0;
        while i < this.streams.len() {
            let at = (this.start + i) % this.streams.len();
            match this.streams[at].poll_next_unpin(cx) {
                std::task::Poll::Ready(Some(item)) => {
                    this.start = at + 1;
                    return std::task::Poll::Ready(Some(item));
                }
                std::task::Poll::Ready(None) => {
                    // Closed (drained or unsubscribed): stop polling it.
                    this.streams.remove(at);
                    i = 0;
                }
                std::task::Poll::Pending => i += 1,
            }
        }
        if this.streams.is_empty() {
            std::task::Poll::Ready(None)
        } else {
            std::task::Poll::Pending
        }
    }
}

/// The stream behind an [`intake`]. Written as a hand-made stream rather than an `async` loop:
/// a request then moves once, from the subscription to the consumer, where an `unfold` of an
/// `async` block moved it (and the whole state) several times per request, which showed in
/// profiles as memcpy.
struct Pump<F> {
    client: Client,
    convert: F,
    /// The drain request, until it comes (or its sender is dropped).
    drain_rx: Option<oneshot::Receiver<()>>,
    phase: Phase,
}

/// Where an intake is in its life.
enum Phase {
    /// Taking messages.
    Open(Merged),
    /// Passing a barrier, then sending UNSUB for every subscription; yields the subscriptions
    /// back, and whether the server was reachable.
    Draining(BoxFuture<'static, (Merged, bool)>),
    /// Yielding what the server routed before the drain, until async-nats closes the
    /// subscriptions or `give_up` passes.
    Flushing {
        merged: Merged,
        give_up: Pin<Box<tokio::time::Sleep>>,
    },
    /// The grace period passed: yield what is buffered without waiting, then end.
    Last(Merged),
    Done,
}

impl<F, T> futures::Stream for Pump<F>
where
    F: FnMut(usize, Message) -> Option<T> + Unpin,
{
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        // Looked at first, so a drain cannot starve behind a steady flow of messages; without
        // registering for a wake-up, which is done only before yielding `Pending` (below), as
        // registering on every message showed on the hot path.
        if let Some(request) = &mut this.drain_rx {
            match request.try_recv() {
                Ok(()) => this.start_drain(),
                Err(oneshot::error::TryRecvError::Empty) => {}
                // The handle was dropped without asking: keep serving.
                Err(oneshot::error::TryRecvError::Closed) => this.drain_rx = None,
            }
        }
        loop {
            let merged = match &mut this.phase {
                Phase::Open(merged) | Phase::Flushing { merged, .. } | Phase::Last(merged) => {
                    merged
                }
                Phase::Draining(draining) => {
                    let (merged, connected) = ready!(draining.as_mut().poll(cx));
                    // Disconnected, async-nats only handles the drain after a reconnect: end
                    // with what is buffered instead of waiting for it.
                    let grace = if connected {
                        DRAIN_GRACE
                    } else {
                        Duration::ZERO
                    };
                    this.phase = Phase::Flushing {
                        merged,
                        give_up: Box::pin(tokio::time::sleep(grace)),
                    };
                    continue;
                }
                Phase::Done => return Poll::Ready(None),
            };
            match merged.poll_next_unpin(cx) {
                Poll::Ready(Some((index, message))) => {
                    if let Some(item) = (this.convert)(index, message) {
                        return Poll::Ready(Some(item));
                    }
                }
                Poll::Ready(None) => {
                    this.phase = Phase::Done;
                    return Poll::Ready(None);
                }
                Poll::Pending => match &mut this.phase {
                    Phase::Flushing { give_up, .. } => {
                        ready!(give_up.as_mut().poll(cx));
                        if let Phase::Flushing { merged, .. } =
                            std::mem::replace(&mut this.phase, Phase::Done)
                        {
                            this.phase = Phase::Last(merged);
                        }
                    }
                    Phase::Last(_) => {
                        this.phase = Phase::Done;
                        return Poll::Ready(None);
                    }
                    _ => {
                        // Nothing to yield: be woken by a drain request as well as by a message.
                        if let Some(request) = &mut this.drain_rx
                            && let Poll::Ready(request) = Pin::new(request).poll(cx)
                        {
                            this.drain_rx = None;
                            if request.is_ok() {
                                this.start_drain();
                                continue;
                            }
                        }
                        return Poll::Pending;
                    }
                },
            }
        }
    }
}

impl<F> Pump<F> {
    /// Leaves the `Open` phase for `Draining`; a stream that already ended stays ended.
    fn start_drain(&mut self) {
        self.drain_rx = None;
        if !matches!(self.phase, Phase::Open(_)) {
            return;
        }
        if let Phase::Open(merged) = std::mem::replace(&mut self.phase, Phase::Done) {
            self.phase = Phase::Draining(Box::pin(drain_all(self.client.clone(), merged)));
        }
    }
}

/// Confirms with the server that everything routed to us so far has arrived, then sends UNSUB
/// for every subscription (async-nats `Subscriber::drain`).
async fn drain_all(client: Client, mut merged: Merged) -> (Merged, bool) {
    let connected = barrier(&client).await.is_ok();
    for subscriber in merged.iter_mut() {
        if let Err(err) = subscriber.subscriber.drain().await {
            tracing::warn!(error = %err, "could not drain a subscription");
        }
    }
    (merged, connected)
}

/// How long a drained intake waits for async-nats to close its subscriptions.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// The drain handle of an [`intake`].
struct IntakeDrain {
    request: Option<oneshot::Sender<()>>,
}

impl Drain for IntakeDrain {
    fn drain(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        // The stream does the draining on its next poll (it owns the subscriptions), so this
        // only asks: waiting here would deadlock a consumer that drains before reading the rest.
        // An Err means the stream already ended: nothing left to drain.
        if let Some(request) = self.request.take() {
            let _ = request.send(());
        }
        Box::pin(async {})
    }
}

/// How long [`barrier`] waits for its echo.
const BARRIER_TIMEOUT: Duration = Duration::from_secs(5);

/// Returns once the server has processed everything this connection sent before (subscriptions
/// included) and everything it routed to us before that point has been read.
///
/// async-nats's `flush` only empties the socket buffer, so it is no such barrier. This one
/// publishes to a fresh inbox it subscribed and waits for the echo: the server handles one
/// connection's operations in order and writes to it in order.
pub(crate) async fn barrier(client: &Client) -> Result<(), Error> {
    if client.connection_state() != State::Connected {
        // No echo can come back; do not wait for it.
        return Err(disconnected("confirm subscriptions with the server"));
    }
    let subject = client.new_inbox();
    let mut echo = client
        .subscribe(subject.clone())
        .await
        .map_err(|e| subscribe_error(&e, &subject))?;
    client
        .publish(subject.clone(), Bytes::new())
        .await
        .map_err(|e| publish_error(&e, &subject))?;
    let outcome = tokio::time::timeout(BARRIER_TIMEOUT, echo.next()).await;
    let _ = echo.unsubscribe().await;
    match outcome {
        Ok(Some(_)) => Ok(()),
        _ => Err(Error::unavailable(format!(
            "the NATS server did not confirm the subscriptions within {BARRIER_TIMEOUT:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transport whose connection never comes up (nothing listens on port 1): enough for the
    /// subject cache, which never touches the network.
    async fn offline(prefix: Option<&str>) -> NatsTransport {
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect("127.0.0.1:1")
            .await
            .expect("with retry_on_initial_connect, connect returns at once");
        NatsTransport::new(client, Subjects::new(prefix).unwrap())
    }

    /// The subject of two `'static` names, through the cache.
    fn subject(t: &NatsTransport, service: &'static str, endpoint: &'static str) -> String {
        t.subject(&Cow::Borrowed(service), &Cow::Borrowed(endpoint))
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn static_and_owned_names_resolve_alike() {
        let t = offline(Some("acme")).await;
        assert_eq!(subject(&t, "greeter", "hello"), "acme.greeter.hello");
        assert_eq!(subject(&t, "greeter", "hello"), "acme.greeter.hello");
        // The same text, owned: found by name.
        let owned = t
            .subject(&Cow::Owned("greeter".into()), &Cow::Owned("hello".into()))
            .unwrap();
        assert_eq!(owned.as_str(), "acme.greeter.hello");
        // The same text at another static address: a miss by address, the same subject.
        let elsewhere: &'static str = Box::leak(String::from("greeter").into_boxed_str());
        assert_eq!(subject(&t, elsewhere, "hello"), "acme.greeter.hello");
        let cache = t.resolved.load();
        assert_eq!((cache.len, cache.statics.len()), (1, 2));
    }

    #[tokio::test]
    async fn past_the_static_entries_names_still_resolve() {
        let t = offline(None).await;
        let names: Vec<&'static str> = (0..STATIC_SUBJECTS * 2)
            .map(|i| &*Box::leak(format!("e{i}").into_boxed_str()))
            .collect();
        for round in 0..2 {
            for (i, name) in names.iter().enumerate() {
                assert_eq!(
                    subject(&t, "svc", name),
                    format!("svc.e{i}"),
                    "round {round}"
                );
            }
        }
        let cache = t.resolved.load();
        assert_eq!(cache.statics.len(), STATIC_SUBJECTS);
        assert_eq!(cache.len, STATIC_SUBJECTS * 2);
    }

    #[tokio::test]
    async fn invalid_names_are_refused_and_not_cached() {
        let t = offline(None).await;
        for (service, endpoint) in [("bad name", "hello"), ("greeter", "a.b"), ("greeter", ">")] {
            let err = t
                .subject(&Cow::Borrowed(service), &Cow::Borrowed(endpoint))
                .unwrap_err();
            assert_eq!(err.code, 400, "{service}.{endpoint}: {err}");
        }
        let cache = t.resolved.load();
        assert_eq!((cache.len, cache.statics.len()), (0, 0));
    }
}
