//! NatsRegistry: discovery on the NATS services protocol (`$SRV.PING/INFO/STATS`).
//!
//! Registering an instance starts its `$SRV` responder, so any NATS services tool (`nats micro
//! ls`, nats-py, nats.go) sees it. Looking services up is scatter-gather: publish to
//! `$SRV.<VERB>[.<name>]` with a fresh inbox and collect the replies for the discovery timeout.
//! There is no central state: what answers is what runs.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, StatusCode};
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream};
use micro_core::Error;
use micro_core::registry::{
    Change, Instance, InstanceStats, Registration, Registry, ServiceSummary, WatchOptions,
};

use crate::error::{disconnected, flush_error, publish_error, subscribe_error};
use crate::health::Health;
use crate::srv::SrvResponder;
use crate::srv::schema::{self, PING_TYPE, Ping};
use crate::subject::{Verb, control, validate_name};

/// Discovery on the NATS services protocol (`$SRV.PING/INFO/STATS`).
///
/// Registering an instance starts its `$SRV` responder (nine plain subscriptions), so any NATS
/// services tool (`nats micro ls`, nats-py, nats.go) sees it; deregistering stops it. Looking
/// services up is scatter-gather: publish to `$SRV.<VERB>[.<name>]` with a fresh inbox and
/// collect the replies for the discovery timeout
/// ([`NatsOptions::discovery_timeout`](crate::NatsOptions::discovery_timeout)), or stop at once
/// when the server reports no responders. There is no central state: what answers is what runs.
/// [`watch`](Registry::watch) pings every `interval` and reports the differences, asking INFO
/// of each newcomer.
#[derive(Clone, Debug)]
pub struct NatsRegistry {
    client: Client,
    timeout: Duration,
    responders: Arc<Mutex<HashMap<String, SrvResponder>>>,
    health: Arc<Health>,
}

impl NatsRegistry {
    /// A registry on an existing connection; discovery collects replies for `timeout`.
    pub fn new(client: Client, timeout: Duration) -> Self {
        let health = Health::new(client.clone());
        Self::with_health(client, timeout, health)
    }

    pub(crate) fn with_health(client: Client, timeout: Duration, health: Arc<Health>) -> Self {
        NatsRegistry {
            client,
            timeout,
            responders: Arc::default(),
            health,
        }
    }

    fn responders(&self) -> MutexGuard<'_, HashMap<String, SrvResponder>> {
        self.responders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes an empty request to `subject` and collects every reply until the timeout, or
    /// none at once when the server reports no responders.
    async fn gather(&self, subject: &str) -> Result<Vec<Bytes>, Error> {
        gather(&self.client, subject, self.timeout).await
    }

    async fn infos(&self, service: Option<&str>) -> Result<Vec<Instance>, Error> {
        if let Some(s) = service {
            validate_name("service", s)?;
        }
        let subject = control(Verb::Info, service, None);
        let mut instances: Vec<Instance> = self
            .gather(&subject)
            .await?
            .iter()
            .filter_map(|body| parsed(&subject, "INFO", schema::parse_info(body)))
            .collect();
        instances.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        instances.dedup_by(|a, b| a.id == b.id);
        Ok(instances)
    }
}

/// Where instances announce that they start (`UP`, with their INFO) and stop (`DOWN`):
/// `$MICRO.REGISTRY.UP.<service>.<id>`. See PROTOCOL.md, "Discovery".
const ANNOUNCE_PREFIX: &str = "$MICRO.REGISTRY";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Announcement {
    Up,
    Down,
}

/// What an announcement's subject tells: its kind, the service and the instance id, when it is
/// an announcement for `service` (any service without one). Anything else is `None`: anyone may
/// publish here.
pub(crate) fn announced<'a>(
    subject: &'a str,
    service: Option<&str>,
) -> Option<(Announcement, &'a str, &'a str)> {
    let mut tokens = subject.rsplitn(4, '.');
    let (Some(id), Some(name), Some(kind)) = (tokens.next(), tokens.next(), tokens.next()) else {
        return None;
    };
    if service.is_some_and(|s| s != name) {
        return None;
    }
    let kind = match kind {
        "UP" => Announcement::Up,
        "DOWN" => Announcement::Down,
        _ => return None,
    };
    Some((kind, name, id))
}

/// The instance an `UP` announcement of `name`/`id` carries: its INFO, which must name the same
/// instance (the next poll corrects a lie about another one).
pub(crate) fn announced_instance(
    subject: &str,
    name: &str,
    id: &str,
    payload: &[u8],
) -> Option<Instance> {
    let instance = parsed(subject, "announced INFO", schema::parse_info(payload))?;
    if instance.id != id || instance.name != name {
        tracing::debug!(subject, "ignoring an announcement for another instance");
        return None;
    }
    Some(instance)
}

/// Publishes an announcement; a failure only delays watchers until their next poll.
async fn announce(client: &Client, kind: Announcement, name: &str, id: &str, body: Bytes) {
    let kind = match kind {
        Announcement::Up => "UP",
        Announcement::Down => "DOWN",
    };
    let subject = format!("{ANNOUNCE_PREFIX}.{kind}.{name}.{id}");
    if let Err(err) = client.publish(subject, body).await {
        tracing::debug!(error = %err, "could not announce an instance");
    }
}

/// A parsed discovery reply, or `None` with the reason logged (any NATS participant can answer
/// on `$SRV`, so a malformed reply is skipped, not fatal).
fn parsed<T, E: std::fmt::Display>(subject: &str, verb: &str, reply: Result<T, E>) -> Option<T> {
    match reply {
        Ok(value) => Some(value),
        Err(err) => {
            tracing::debug!(subject, error = %err, "ignoring a malformed {verb} reply");
            None
        }
    }
}

/// The most replies one discovery query collects: past it (a flood from a misbehaving or
/// hostile participant) the query stops early with what it has.
const MAX_REPLIES: usize = 10_000;

async fn gather(client: &Client, subject: &str, timeout: Duration) -> Result<Vec<Bytes>, Error> {
    if client.connection_state() != State::Connected {
        return Err(disconnected(&format!("query `{subject}`")));
    }
    let inbox = client.new_inbox();
    let mut replies = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| subscribe_error(&e, &inbox))?;
    client
        .publish_with_reply(subject.to_owned(), inbox, Bytes::new())
        .await
        .map_err(|e| publish_error(&e, subject))?;
    client.flush().await.map_err(|e| flush_error(&e))?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut bodies = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, replies.next()).await {
        if message.status == Some(StatusCode::NO_RESPONDERS) {
            break;
        }
        bodies.push(message.payload);
        if bodies.len() >= MAX_REPLIES {
            tracing::warn!(
                subject,
                limit = MAX_REPLIES,
                "discovery stopped early: too many replies"
            );
            break;
        }
    }
    let _ = replies.unsubscribe().await;
    Ok(bodies)
}

/// Who answers `$SRV.PING[.<name>]` right now: id → name.
async fn ping(
    client: &Client,
    service: Option<&str>,
    timeout: Duration,
) -> Result<BTreeMap<String, String>, Error> {
    let subject = control(Verb::Ping, service, None);
    let bodies = gather(client, &subject, timeout).await?;
    Ok(bodies
        .iter()
        .filter_map(|b| parsed(&subject, "PING", serde_json::from_slice::<Ping>(b)))
        .filter(|p| p.kind == PING_TYPE)
        .map(|p| (p.id, p.name))
        .collect())
}

impl Registry for NatsRegistry {
    fn register(&self, registration: Registration) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            validate_name("service", &registration.instance.name)?;
            let id = registration.instance.id.clone();
            let (name, info) = (
                registration.instance.name.clone(),
                Bytes::from(schema::info(&registration.instance)),
            );
            let responder =
                SrvResponder::start(self.client.clone(), registration, self.health.clone()).await?;
            let previous = self.responders().insert(id.clone(), responder);
            if let Some(previous) = previous {
                previous.stop().await;
            }
            // Watchers learn of the instance now instead of at their next poll; best effort,
            // the poll is the safety net.
            announce(&self.client, Announcement::Up, &name, &id, info).await;
            Ok(())
        })
    }

    fn deregister(&self, id: &str) -> BoxFuture<'_, Result<(), Error>> {
        let id = id.to_owned();
        Box::pin(async move {
            let responder = self.responders().remove(&id);
            if let Some(responder) = responder {
                let name = responder.name().to_owned();
                responder.stop().await;
                announce(&self.client, Announcement::Down, &name, &id, Bytes::new()).await;
            }
            Ok(())
        })
    }

    fn list_services(&self) -> BoxFuture<'_, Result<Vec<ServiceSummary>, Error>> {
        Box::pin(async move {
            let mut by_name: BTreeMap<String, Vec<Instance>> = BTreeMap::new();
            for instance in self.infos(None).await? {
                by_name
                    .entry(instance.name.clone())
                    .or_default()
                    .push(instance);
            }
            Ok(by_name
                .into_iter()
                .map(|(name, instances)| ServiceSummary::new(name, instances))
                .collect())
        })
    }

    fn get_service(&self, service: &str) -> BoxFuture<'_, Result<Vec<Instance>, Error>> {
        let service = service.to_owned();
        Box::pin(async move { self.infos(Some(&service)).await })
    }

    fn stats(&self, service: Option<&str>) -> BoxFuture<'_, Result<Vec<InstanceStats>, Error>> {
        let service = service.map(str::to_owned);
        Box::pin(async move {
            if let Some(s) = &service {
                validate_name("service", s)?;
            }
            let subject = control(Verb::Stats, service.as_deref(), None);
            let mut all: Vec<InstanceStats> = self
                .gather(&subject)
                .await?
                .iter()
                .filter_map(|body| parsed(&subject, "STATS", schema::parse_stats(body)))
                .collect();
            all.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
            Ok(all)
        })
    }

    fn watch(
        &self,
        options: WatchOptions,
    ) -> BoxFuture<'_, Result<BoxStream<'static, Change>, Error>> {
        Box::pin(async move {
            if let Some(s) = &options.service {
                validate_name("service", s)?;
            }
            // Announcements first, so that nothing that starts or stops during the first poll
            // is missed.
            let filter = options.service.as_deref().unwrap_or("*");
            let subject = format!("{ANNOUNCE_PREFIX}.*.{filter}.*");
            let announcements = self
                .client
                .subscribe(subject.clone())
                .await
                .map_err(|e| subscribe_error(&e, &subject))?;
            let mut watcher = Watcher {
                client: self.client.clone(),
                timeout: self.timeout,
                service: options.service,
                interval: options.interval.max(Duration::from_millis(10)),
                known: BTreeMap::new(),
                pending: VecDeque::new(),
                announcements,
                listening: true,
                next_poll: tokio::time::Instant::now(),
            };
            // The initial set is read now, so errors (no connection) surface here.
            watcher.poll().await?;
            watcher.next_poll = tokio::time::Instant::now() + watcher.interval;
            Ok(stream::unfold(watcher, |mut w| async move {
                loop {
                    if let Some(change) = w.pending.pop_front() {
                        return Some((change, w));
                    }
                    tokio::select! {
                        // Once the subscription is gone (the client closed), polls go on alone.
                        message = w.announcements.next(), if w.listening => match message {
                            Some(message) => w.heard(&message),
                            None => w.listening = false,
                        },
                        () = tokio::time::sleep_until(w.next_poll) => {
                            if let Err(err) = w.poll().await {
                                // Keep what is known through an outage instead of reporting
                                // everyone gone; the reconnect brings the next poll back.
                                tracing::debug!(error = %err, "registry watch poll failed");
                            }
                            w.next_poll = tokio::time::Instant::now() + w.interval;
                        }
                    }
                }
            })
            .boxed())
        })
    }
}

/// The state of one [`Registry::watch`] stream.
struct Watcher {
    client: Client,
    timeout: Duration,
    service: Option<String>,
    interval: Duration,
    /// id → name of the instances seen in the last poll.
    known: BTreeMap<String, String>,
    pending: VecDeque<Change>,
    /// `$MICRO.REGISTRY.<UP|DOWN>.<service>.<id>`: instances starting and stopping.
    announcements: async_nats::Subscriber,
    /// The announcements subscription still delivers.
    listening: bool,
    /// When the safety-net poll runs next (it finds instances that died without a word, and
    /// services that announce nothing: other languages').
    next_poll: tokio::time::Instant,
}

impl Watcher {
    /// Queues the change an announcement tells of. The subject names the instance; an `UP`
    /// carries its INFO, which must name the same instance. Anything else is ignored (anyone
    /// may publish here, as anyone may answer `$SRV.PING`; the next poll corrects a lie).
    fn heard(&mut self, message: &async_nats::Message) {
        let Some((kind, name, id)) = announced(&message.subject, self.service.as_deref()) else {
            return;
        };
        match kind {
            Announcement::Up => {
                if self.known.contains_key(id) {
                    return;
                }
                let Some(instance) =
                    announced_instance(&message.subject, name, id, &message.payload)
                else {
                    return;
                };
                self.known.insert(id.to_owned(), name.to_owned());
                self.pending.push_back(Change::Added(instance));
            }
            Announcement::Down if self.known.remove(id).is_some() => {
                self.pending.push_back(Change::Removed {
                    name: name.to_owned(),
                    id: id.to_owned(),
                });
            }
            Announcement::Down => {}
        }
    }

    /// Pings, and queues `Added` (with INFO details) and `Removed` for the differences.
    async fn poll(&mut self) -> Result<(), Error> {
        let now = ping(&self.client, self.service.as_deref(), self.timeout).await?;
        for (id, name) in &self.known {
            if !now.contains_key(id) {
                self.pending.push_back(Change::Removed {
                    name: name.clone(),
                    id: id.clone(),
                });
            }
        }
        for (id, name) in &now {
            if self.known.contains_key(id) {
                continue;
            }
            match self.info(name, id).await {
                Some(instance) => self.pending.push_back(Change::Added(instance)),
                None => tracing::debug!(service = %name, id = %id, "no INFO from a new instance"),
            }
        }
        // An instance whose INFO did not come is retried on the next poll.
        self.known = now
            .into_iter()
            .filter(|(id, _)| {
                self.pending
                    .iter()
                    .any(|c| matches!(c, Change::Added(i) if &i.id == id))
                    || self.known.contains_key(id)
            })
            .collect();
        Ok(())
    }

    async fn info(&self, name: &str, id: &str) -> Option<Instance> {
        let subject = control(Verb::Info, Some(name), Some(id));
        let request =
            async_nats::Request::new().timeout(Some(self.timeout.max(Duration::from_millis(100))));
        let reply = self
            .client
            .send_request(subject.clone(), request)
            .await
            .ok()?;
        parsed(&subject, "INFO", schema::parse_info(&reply.payload))
    }
}
