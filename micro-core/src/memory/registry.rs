use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast;

use crate::Error;
use crate::registry::{
    Change, Instance, InstanceStats, Registration, Registry, ServiceSummary, WatchOptions,
};

/// In-process registry: a table of registrations and a broadcast of changes.
#[derive(Debug)]
pub struct MemoryRegistry {
    instances: Arc<Mutex<BTreeMap<String, Registration>>>,
    changes: broadcast::Sender<Change>,
}

impl Default for MemoryRegistry {
    fn default() -> Self {
        MemoryRegistry {
            instances: Arc::default(),
            changes: broadcast::channel(256).0,
        }
    }
}

type Table = Arc<Mutex<BTreeMap<String, Registration>>>;

fn lock(
    table: &Mutex<BTreeMap<String, Registration>>,
) -> MutexGuard<'_, BTreeMap<String, Registration>> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One watcher: the changes it has seen, so that after missing broadcasts (lagging behind) it
/// can catch up from the table instead of losing changes.
struct Watcher {
    rx: broadcast::Receiver<Change>,
    table: Table,
    wanted: Option<String>,
    /// id → name of the instances this watcher has reported.
    known: BTreeMap<String, String>,
    pending: VecDeque<Change>,
}

impl Watcher {
    fn wants(&self, name: &str) -> bool {
        self.wanted.as_deref().is_none_or(|w| w == name)
    }

    /// Remembers what a change reports; false when it tells nothing new.
    fn note(&mut self, change: &Change) -> bool {
        match change {
            Change::Added(i) => self.known.insert(i.id.clone(), i.name.clone()).is_none(),
            Change::Removed { id, .. } => self.known.remove(id).is_some(),
        }
    }

    /// The difference between what this watcher reported and the table now.
    fn resync(&mut self) {
        let table = lock(&self.table);
        let gone: Vec<(String, String)> = self
            .known
            .iter()
            .filter(|(id, _)| !table.contains_key(*id))
            .map(|(id, name)| (id.clone(), name.clone()))
            .collect();
        let new: Vec<Instance> = table
            .values()
            .filter(|r| self.wants(&r.instance.name) && !self.known.contains_key(&r.instance.id))
            .map(|r| r.instance.clone())
            .collect();
        drop(table);
        for (id, name) in gone {
            self.pending.push_back(Change::Removed { name, id });
        }
        self.pending.extend(new.into_iter().map(Change::Added));
    }

    async fn next(&mut self) -> Option<Change> {
        loop {
            if let Some(change) = self.pending.pop_front() {
                if self.note(&change) {
                    return Some(change);
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(change) => {
                    let name = match &change {
                        Change::Added(i) => &i.name,
                        Change::Removed { name, .. } => name,
                    };
                    if self.wants(name) {
                        self.pending.push_back(change);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(
                        missed,
                        "registry watcher lagged; catching up from the table"
                    );
                    self.resync();
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl MemoryRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn table(&self) -> MutexGuard<'_, BTreeMap<String, Registration>> {
        self.instances
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Registry for MemoryRegistry {
    fn register(&self, registration: Registration) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            let instance = registration.instance.clone();
            self.table().insert(instance.id.clone(), registration);
            // Nobody watching is fine.
            let _ = self.changes.send(Change::Added(instance));
            Ok(())
        })
    }

    fn deregister(&self, id: &str) -> BoxFuture<'_, Result<(), Error>> {
        let id = id.to_owned();
        Box::pin(async move {
            if let Some(reg) = self.table().remove(&id) {
                let _ = self.changes.send(Change::Removed {
                    name: reg.instance.name,
                    id,
                });
            }
            Ok(())
        })
    }

    fn list_services(&self) -> BoxFuture<'_, Result<Vec<ServiceSummary>, Error>> {
        Box::pin(async move {
            let mut by_name: BTreeMap<String, Vec<Instance>> = BTreeMap::new();
            for reg in self.table().values() {
                by_name
                    .entry(reg.instance.name.clone())
                    .or_default()
                    .push(reg.instance.clone());
            }
            Ok(by_name
                .into_iter()
                .map(|(name, instances)| ServiceSummary { name, instances })
                .collect())
        })
    }

    fn get_service(&self, service: &str) -> BoxFuture<'_, Result<Vec<Instance>, Error>> {
        let service = service.to_owned();
        Box::pin(async move {
            Ok(self
                .table()
                .values()
                .filter(|r| r.instance.name == service)
                .map(|r| r.instance.clone())
                .collect())
        })
    }

    fn stats(&self, service: Option<&str>) -> BoxFuture<'_, Result<Vec<InstanceStats>, Error>> {
        let service = service.map(str::to_owned);
        Box::pin(async move {
            Ok(self
                .table()
                .values()
                .filter(|r| service.as_deref().is_none_or(|s| r.instance.name == s))
                .map(Registration::snapshot)
                .collect())
        })
    }

    fn watch(
        &self,
        options: WatchOptions,
    ) -> BoxFuture<'_, Result<BoxStream<'static, Change>, Error>> {
        Box::pin(async move {
            // Subscribe before reading the table so no change falls between the two.
            let mut watcher = Watcher {
                rx: self.changes.subscribe(),
                table: self.instances.clone(),
                wanted: options.service,
                known: BTreeMap::new(),
                pending: VecDeque::new(),
            };
            watcher.resync();
            Ok(stream::unfold(watcher, |mut w| async move {
                let change = w.next().await?;
                Some((change, w))
            })
            .boxed())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use futures::StreamExt;

    use super::*;
    use crate::registry::stats::ServiceStats;

    fn registration(id: usize) -> Registration {
        Registration::new(
            Instance::new("svc", format!("id-{id}"), "1.0.0"),
            Arc::new(ServiceStats::new(0)),
        )
    }

    /// A watcher that falls more than the broadcast capacity behind catches up from the table:
    /// every instance is reported once, and removals are not lost.
    #[tokio::test]
    async fn a_lagging_watcher_catches_up() {
        let registry = MemoryRegistry::new();
        let mut watch = registry.watch(WatchOptions::default()).await.unwrap();
        for id in 0..300 {
            registry.register(registration(id)).await.unwrap();
        }
        for id in 0..10 {
            registry.deregister(&format!("id-{id}")).await.unwrap();
        }
        let mut live = BTreeSet::new();
        while live.len() < 290 {
            match tokio::time::timeout(std::time::Duration::from_secs(5), watch.next())
                .await
                .unwrap()
                .unwrap()
            {
                Change::Added(i) => assert!(live.insert(i.id), "reported twice"),
                Change::Removed { id, .. } => assert!(live.remove(&id), "unknown removal {id}"),
            }
        }
        let expected: BTreeSet<String> = (10..300).map(|i| format!("id-{i}")).collect();
        assert_eq!(live, expected);
    }
}
