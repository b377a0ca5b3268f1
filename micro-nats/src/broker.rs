//! NatsBroker: publish/subscribe over NATS core, fan-out or queue groups.

use std::sync::Arc;

use async_nats::Client;
use async_nats::connection::State;
use futures::future::BoxFuture;
use micro_core::Error;
use micro_core::broker::{Broker, Event, Subscription, validate_topic};

use crate::error::{disconnected, publish_error, subscribe_error};
use crate::headers;
use crate::health::{self, Health};
use crate::subject::validate_queue_group;
use crate::transport::{barrier, intake};

/// Events on NATS subjects: every subscriber gets each event, except that subscribers sharing a
/// queue group get it once per group. Topics are NATS subjects as they are (no prefix), with
/// the NATS wildcards when subscribing. Events carry `Content-Type` and their metadata as
/// headers.
#[derive(Clone, Debug)]
pub struct NatsBroker {
    client: Client,
    health: Arc<Health>,
}

impl NatsBroker {
    /// A broker on an existing connection.
    pub fn new(client: Client) -> Self {
        let health = Health::new(client.clone());
        Self::with_health(client, health)
    }

    pub(crate) fn with_health(client: Client, health: Arc<Health>) -> Self {
        NatsBroker { client, health }
    }

    async fn send(&self, event: Event) -> Result<(), Error> {
        validate_topic(&event.topic, false)?;
        if self.client.connection_state() != State::Connected {
            return Err(disconnected(&format!("publish to `{}`", event.topic)));
        }
        let topic = event.topic.to_string();
        match headers::outgoing(event.content_type, &event.body, &event.metadata, None)? {
            Some(headers) => {
                self.client
                    .publish_with_headers(topic, headers, event.body)
                    .await
            }
            None => self.client.publish(topic, event.body).await,
        }
        .map_err(|e| publish_error(&e, &event.topic))
    }

    async fn start(&self, topic: String, queue: Option<String>) -> Result<Subscription, Error> {
        validate_topic(&topic, true)?;
        let subscriber = match &queue {
            Some(q) => {
                validate_queue_group(q)?;
                self.client.queue_subscribe(topic.clone(), q.clone()).await
            }
            None => self.client.subscribe(topic.clone()).await,
        }
        .map_err(|e| subscribe_error(&e, &topic))?;
        barrier(&self.client).await?;
        let health = self.health.clone();
        Ok(intake(&self.client, vec![subscriber], move |_, message| {
            if let Some(why) = health::malformed(&message) {
                health.count_malformed(&message.subject, why);
                return None;
            }
            let hdrs = message.headers.as_ref();
            let content_type = match headers::content_type(hdrs, &message.payload) {
                Ok(ct) => ct,
                Err(err) => {
                    tracing::warn!(subject = %message.subject, error = %err, "dropping an event");
                    return None;
                }
            };
            Some(
                Event::new(message.subject.to_string(), content_type, message.payload)
                    .with_metadata(headers::metadata(hdrs)),
            )
        }))
    }
}

impl Broker for NatsBroker {
    fn publish(&self, event: Event) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(self.send(event))
    }

    fn subscribe(
        &self,
        topic: &str,
        queue: Option<&str>,
    ) -> BoxFuture<'_, Result<Subscription, Error>> {
        Box::pin(self.start(topic.to_owned(), queue.map(str::to_owned)))
    }
}
