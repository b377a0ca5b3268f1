//! What the gateway may call: the endpoints that discovery shows, remembered for a moment.
//!
//! The gateway forwards a call only to an endpoint some running instance announces in its INFO:
//! without that check, `POST /a/b` would publish to any two-token subject (a plain subscriber, an
//! inbox). Discovery takes a round trip, so what it found is kept for [`FRESH`]; an endpoint
//! missing from an older answer is looked up again (an instance may just have started).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use micro_core::registry::Instance;
use micro_core::{Client, Error};
use tokio::sync::Mutex;

/// How long a discovery answer is used as it is.
const FRESH: Duration = Duration::from_secs(5);
/// How old an answer must be before an endpoint missing from it is looked up again.
const RECHECK: Duration = Duration::from_millis(500);
/// Services remembered at most (names come from callers): past it, the cache starts over.
const MAX_SERVICES: usize = 1024;

/// The endpoints of each service discovery has shown.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    services: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    at: Instant,
    endpoints: Vec<String>,
}

impl Catalog {
    /// `Ok` when a running instance of `service` announces `endpoint`; else a `404` naming what
    /// exists.
    pub(crate) async fn check(
        &self,
        client: &Client,
        service: &str,
        endpoint: &str,
    ) -> Result<(), Error> {
        // A name that is not one NATS token would change the subject: refused, never sent.
        micro_core::service::validate_name(service)?;
        micro_core::service::validate_name(endpoint)?;
        let stale = match self.services.lock().await.get(service) {
            Some(entry) if entry.endpoints.iter().any(|e| e == endpoint) => {
                if entry.at.elapsed() < FRESH {
                    return Ok(());
                }
                true
            }
            Some(entry) => entry.at.elapsed() >= RECHECK,
            None => true,
        };
        if stale {
            // Asked without holding the lock: a slow answer holds up no other call.
            let instances = client.registry().get_service(service).await?;
            let mut services = self.services.lock().await;
            if services.len() >= MAX_SERVICES {
                services.clear();
            }
            if instances.is_empty() {
                services.remove(service);
            } else {
                services.insert(
                    service.to_owned(),
                    Entry {
                        at: Instant::now(),
                        endpoints: endpoints(&instances),
                    },
                );
            }
        }
        let services = self.services.lock().await;
        match services.get(service) {
            None => Err(Error::not_found(format!(
                "no service named `{service}` is running"
            ))),
            Some(entry) if entry.endpoints.iter().any(|e| e == endpoint) => Ok(()),
            Some(entry) => Err(Error::not_found(format!(
                "service `{service}` has no endpoint `{endpoint}`; it has: {}",
                entry.endpoints.join(", ")
            ))),
        }
    }
}

/// Every endpoint name any of `instances` announces, once each, in order.
fn endpoints(instances: &[Instance]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for endpoint in instances.iter().flat_map(|i| &i.endpoints) {
        if !names.contains(&endpoint.name) {
            names.push(endpoint.name.clone());
        }
    }
    names
}
