use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

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
    instances: Mutex<BTreeMap<String, Registration>>,
    changes: broadcast::Sender<Change>,
}

impl Default for MemoryRegistry {
    fn default() -> Self {
        MemoryRegistry {
            instances: Mutex::default(),
            changes: broadcast::channel(256).0,
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
            let rx = self.changes.subscribe();
            let wanted = options.service;
            let current: Vec<Change> = self
                .table()
                .values()
                .filter(|r| wanted.as_deref().is_none_or(|s| r.instance.name == s))
                .map(|r| Change::Added(r.instance.clone()))
                .collect();
            let live = stream::unfold(rx, |mut rx| async move {
                loop {
                    match rx.recv().await {
                        Ok(change) => return Some((change, rx)),
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "registry watcher lagged");
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            })
            .filter(move |change| {
                let keep = match (&wanted, change) {
                    (None, _) => true,
                    (Some(s), Change::Added(i)) => &i.name == s,
                    (Some(s), Change::Removed { name, .. }) => name == s,
                };
                futures::future::ready(keep)
            });
            Ok(stream::iter(current).chain(live).boxed())
        })
    }
}
