//! The `$SRV` responder each registered service instance runs.
//!
//! Nine **plain** subscriptions (never a queue group, so every instance answers):
//! `$SRV.{PING,INFO,STATS}`, `$SRV.<VERB>.<name>` and `$SRV.<VERB>.<name>.<id>`. Replies are JSON
//! without headers; the request payload is ignored (tools send `{}` or nothing).

pub(crate) mod schema;

use std::sync::Arc;

use async_nats::{Client, Subscriber};
use bytes::Bytes;
use futures::stream::{SelectAll, StreamExt};
use micro_core::Error;
use micro_core::registry::Registration;
use tokio::sync::oneshot;

use crate::error::subscribe_error;
use crate::health::{self, Health};
use crate::subject::{Verb, control};
use crate::transport::barrier;

/// A running responder; [`stop`](SrvResponder::stop) unsubscribes it.
#[derive(Debug)]
pub(crate) struct SrvResponder {
    stop: oneshot::Sender<oneshot::Sender<()>>,
    /// The service name, for the announcement that it stops.
    name: String,
}

impl SrvResponder {
    /// Subscribes the nine control subjects of `registration` and answers them until stopped.
    pub(crate) async fn start(
        client: Client,
        registration: Registration,
        health: Arc<Health>,
    ) -> Result<SrvResponder, Error> {
        let instance = &registration.instance;
        let name = instance.name.clone();
        let mut subscribers: Vec<(Verb, Subscriber)> = Vec::with_capacity(9);
        for verb in Verb::ALL {
            for subject in [
                control(verb, None, None),
                control(verb, Some(&instance.name), None),
                control(verb, Some(&instance.name), Some(&instance.id)),
            ] {
                let sub = client
                    .subscribe(subject.clone())
                    .await
                    .map_err(|e| subscribe_error(&e, &subject))?;
                subscribers.push((verb, sub));
            }
        }
        barrier(&client).await?;
        let ping = Bytes::from(schema::ping(instance));
        let info = Bytes::from(schema::info(instance));
        let (stop, mut stopped) = oneshot::channel::<oneshot::Sender<()>>();
        let mut merged: SelectAll<_> = subscribers
            .into_iter()
            .map(|(verb, s)| s.map(move |m| (verb, m)))
            .collect();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    request = &mut stopped => {
                        for sub in merged.iter_mut() {
                            // Best effort: the subscriptions also go when they are dropped.
                            let _ = sub.get_mut().unsubscribe().await;
                        }
                        // Returns once the server has processed the UNSUBs.
                        let _ = barrier(&client).await;
                        if let Ok(done) = request {
                            let _ = done.send(());
                        }
                        return;
                    }
                    next = merged.next() => {
                        let Some((verb, message)) = next else { return };
                        if let Some(why) = health::malformed(&message) {
                            health.count_malformed(&message.subject, why);
                            continue;
                        }
                        let Some(reply_to) = message.reply else { continue };
                        let body = match verb {
                            Verb::Ping => ping.clone(),
                            Verb::Info => info.clone(),
                            Verb::Stats => Bytes::from(schema::stats(&registration)),
                        };
                        if let Err(err) = client.publish(reply_to, body).await {
                            tracing::warn!(error = %err, "could not answer a $SRV request");
                        }
                    }
                }
            }
        });
        Ok(SrvResponder { stop, name })
    }

    /// The service it answers for.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Unsubscribes; returns once no more replies will be sent.
    pub(crate) async fn stop(self) {
        let (done, wait) = oneshot::channel();
        if self.stop.send(done).is_ok() {
            let _ = wait.await;
        }
    }
}
