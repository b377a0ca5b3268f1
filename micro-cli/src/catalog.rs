//! What the toolkit may call, and where: the endpoints that discovery shows, with the subjects
//! they announce.
//!
//! `micro call` and the gateway call only an endpoint some running instance announces in its
//! INFO, on the subject it announces there. Without the check, `POST /a/b` would publish to any
//! two-token subject (a plain subscriber, an inbox); without the announced subject, an endpoint
//! of a service in another language (ADR-32's default subject is the endpoint's name, or any
//! subject its author chose) could not be reached. For the gateway, discovery's answer is kept
//! for [`FRESH`]; an endpoint missing from an older answer is looked up again (an instance may
//! just have started).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use micro_core::descriptor::EndpointKind;
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
    /// Name, announced subject and kind of each endpoint.
    endpoints: Vec<(String, String, EndpointKind)>,
}

impl Catalog {
    /// The subject `endpoint` of `service` announces, and its kind, when a running instance
    /// announces it; else a `404` naming what exists.
    pub(crate) async fn resolve(
        &self,
        client: &Client,
        service: &str,
        endpoint: &str,
    ) -> Result<(String, EndpointKind), Error> {
        // A name that is not one NATS token would change the subject: refused, never sent.
        micro_core::service::validate_name(service)?;
        micro_core::service::validate_name(endpoint)?;
        let stale = match self.services.lock().await.get(service) {
            Some(entry) if entry.at.elapsed() < FRESH => match subject_of(entry, endpoint) {
                Some((subject, kind)) => return Ok((subject.to_owned(), kind)),
                None => entry.at.elapsed() >= RECHECK,
            },
            _ => true,
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
        lookup(services.get(service), service, endpoint)
    }
}

/// The subject `endpoint` of `service` announces among `instances` (just discovered); a `404`
/// naming what exists when none does.
pub(crate) fn endpoint_subject(
    instances: &[Instance],
    service: &str,
    endpoint: &str,
) -> Result<String, Error> {
    let entry = (!instances.is_empty()).then(|| Entry {
        at: Instant::now(),
        endpoints: endpoints(instances),
    });
    lookup(entry.as_ref(), service, endpoint).map(|(subject, _)| subject)
}

/// The kind an endpoint announces (INFO metadata `kind`); unary when it announces none (a
/// service in another language).
pub(crate) fn endpoint_kind(instances: &[Instance], endpoint: &str) -> EndpointKind {
    instances
        .iter()
        .flat_map(|i| &i.endpoints)
        .find(|e| e.name == endpoint)
        .and_then(|e| e.metadata.get("kind"))
        .and_then(|kind| EndpointKind::parse(kind))
        .unwrap_or_default()
}

fn subject_of<'a>(entry: &'a Entry, endpoint: &str) -> Option<(&'a str, EndpointKind)> {
    entry
        .endpoints
        .iter()
        .find(|(name, _, _)| name == endpoint)
        .map(|(_, subject, kind)| (subject.as_str(), *kind))
}

fn lookup(
    entry: Option<&Entry>,
    service: &str,
    endpoint: &str,
) -> Result<(String, EndpointKind), Error> {
    let Some(entry) = entry else {
        return Err(Error::not_found(format!(
            "no service named `{service}` is running"
        )));
    };
    match subject_of(entry, endpoint) {
        Some((subject, kind)) => Ok((subject.to_owned(), kind)),
        None => Err(Error::not_found(format!(
            "service `{service}` has no endpoint `{endpoint}`; it has: {}",
            entry
                .endpoints
                .iter()
                .map(|(name, _, _)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Every endpoint any of `instances` announces, once each, in order, with its subject (the
/// first instance's, should they differ).
fn endpoints(instances: &[Instance]) -> Vec<(String, String, EndpointKind)> {
    let mut found: Vec<(String, String, EndpointKind)> = Vec::new();
    for endpoint in instances.iter().flat_map(|i| &i.endpoints) {
        if !found.iter().any(|(name, _, _)| *name == endpoint.name) {
            // An instance that announces no subject is called on the one micro would build.
            let subject = if endpoint.subject.is_empty() {
                format!("{}.{}", instances[0].name, endpoint.name)
            } else {
                endpoint.subject.clone()
            };
            let kind = endpoint
                .metadata
                .get("kind")
                .and_then(|kind| EndpointKind::parse(kind))
                .unwrap_or_default();
            found.push((endpoint.name.clone(), subject, kind));
        }
    }
    found
}
