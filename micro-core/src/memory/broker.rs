use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::future::BoxFuture;
use futures::stream;
use tokio::sync::mpsc;

use crate::Error;
use crate::broker::{Broker, Event, Subscription, topic_matches, validate_queue, validate_topic};
use crate::transport::Drain;

/// In-process publish/subscribe with NATS topic semantics: wildcards, fan-out, queues.
///
/// Deliveries are unbounded channels: an in-process publisher never blocks on a slow
/// subscriber and no event is dropped.
#[derive(Debug, Default)]
pub struct MemoryBroker {
    state: Arc<Mutex<State>>,
    ids: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    subs: Vec<Sub>,
    /// Round-robin position per `"<pattern> <queue>"`.
    queue_next: HashMap<String, usize>,
}

#[derive(Debug)]
struct Sub {
    id: u64,
    pattern: String,
    queue: Option<String>,
    tx: mpsc::UnboundedSender<Event>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryBroker {
    /// A broker with no subscriptions.
    pub fn new() -> Self {
        Self::default()
    }
}

struct SubGuard {
    state: Arc<Mutex<State>>,
    id: u64,
}

impl SubGuard {
    fn remove(&self) {
        lock(&self.state).subs.retain(|s| s.id != self.id);
    }
}

impl Drop for SubGuard {
    fn drop(&mut self) {
        self.remove();
    }
}

impl Drain for Arc<SubGuard> {
    fn drain(self: Box<Self>) -> BoxFuture<'static, ()> {
        self.remove();
        Box::pin(async {})
    }
}

impl Broker for MemoryBroker {
    fn publish(&self, event: Event) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            validate_topic(&event.topic, false)?;
            let mut state = lock(&self.state);
            let State { subs, queue_next } = &mut *state;
            // NATS groups queue subscribers by subscription subject and queue name.
            let mut queues: HashMap<(&str, &str), Vec<&Sub>> = HashMap::new();
            for sub in subs
                .iter()
                .filter(|s| topic_matches(&s.pattern, &event.topic))
            {
                match &sub.queue {
                    // A closed receiver is a subscription being dropped; its guard removes it.
                    None => drop(sub.tx.send(event.clone())),
                    Some(q) => queues
                        .entry((sub.pattern.as_str(), q.as_str()))
                        .or_default()
                        .push(sub),
                }
            }
            for ((pattern, queue), members) in queues {
                // Neither part may contain a space, so the key is unambiguous.
                let key = format!("{pattern} {queue}");
                let next = queue_next.entry(key).or_default();
                let pick = members[*next % members.len()];
                *next = next.wrapping_add(1);
                drop(pick.tx.send(event.clone()));
            }
            Ok(())
        })
    }

    fn subscribe(
        &self,
        topic: &str,
        queue: Option<&str>,
    ) -> BoxFuture<'_, Result<Subscription, Error>> {
        let topic = topic.to_owned();
        let queue = queue.map(str::to_owned);
        Box::pin(async move {
            validate_topic(&topic, true)?;
            if let Some(q) = &queue {
                validate_queue(q)?;
            }
            let id = self.ids.fetch_add(1, Ordering::Relaxed);
            let (tx, mut rx) = mpsc::unbounded_channel();
            lock(&self.state).subs.push(Sub {
                id,
                pattern: topic,
                queue,
                tx,
            });
            let guard = Arc::new(SubGuard {
                state: self.state.clone(),
                id,
            });
            let held = guard.clone();
            let events = stream::poll_fn(move |cx| {
                let _held = &held;
                rx.poll_recv(cx)
            });
            Ok(Subscription::new(Box::pin(events), Box::new(guard)))
        })
    }
}
