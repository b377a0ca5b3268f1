//! The JSON shapes of discovery data, shared by the command line (`--json`) and the gateway.
//!
//! They are built from the registry's [`Instance`]s and [`InstanceStats`], which mirror the NATS
//! services protocol's INFO and STATS replies; endpoint documentation comes from the endpoint
//! metadata keys `doc`, `request_schema` and `response_schema` (JSON Schemas, read with
//! [`crate::schema`]), and, from micro services, `request` and `response` (Rust types).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use micro_core::registry::{Instance, InstanceStats, ServiceSummary};
use micro_core::schema::{REQUEST_SCHEMA, RESPONSE_SCHEMA};
use serde::Serialize;
use serde_json::Value;

use crate::schema::{self, FieldView};

/// One line of `micro services` / `GET /services`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ServiceRow {
    /// The service name.
    pub name: String,
    /// The distinct versions running, sorted.
    pub versions: Vec<String>,
    /// How many instances run.
    pub instances: usize,
    /// How many distinct endpoints they serve.
    pub endpoints: usize,
    /// The description of the first instance.
    pub description: String,
}

/// Summarises each service.
pub fn service_rows(services: &[ServiceSummary]) -> Vec<ServiceRow> {
    services
        .iter()
        .map(|s| ServiceRow {
            name: s.name.clone(),
            versions: versions(&s.instances),
            instances: s.instances.len(),
            endpoints: endpoints(&s.instances, &[]).len(),
            description: s
                .instances
                .iter()
                .map(|i| i.description.as_str())
                .find(|d| !d.is_empty())
                .unwrap_or_default()
                .to_owned(),
        })
        .collect()
}

fn versions(instances: &[Instance]) -> Vec<String> {
    let mut v: Vec<String> = instances.iter().map(|i| i.version.clone()).collect();
    v.sort();
    v.dedup();
    v
}

/// Everything known about one service: `micro describe` / `GET /services/{service}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ServiceDetail {
    /// The service name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// The distinct versions running.
    pub versions: Vec<String>,
    /// Its instances.
    pub instances: Vec<InstanceView>,
    /// Its endpoints (the union over instances, in declaration order).
    pub endpoints: Vec<EndpointView>,
}

/// One instance of a service.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct InstanceView {
    /// The instance id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// Its metadata.
    pub metadata: BTreeMap<String, String>,
    /// When it started (RFC 3339, UTC), when its stats were available.
    pub started: Option<String>,
    /// Seconds since it started.
    pub uptime_secs: Option<u64>,
}

/// One endpoint with its documentation and live figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct EndpointView {
    /// The endpoint name.
    pub name: String,
    /// The subject it is served on.
    pub subject: String,
    /// Its queue group (`""` for none).
    pub queue_group: String,
    /// Its doc text (metadata `doc`).
    pub doc: Option<String>,
    /// Its request shape (metadata `request`): a JSON object of field name to Rust type.
    pub request: Option<Value>,
    /// Its response type (metadata `response`).
    pub response: Option<String>,
    /// The JSON Schema of its request (metadata `request_schema`).
    pub request_schema: Option<Value>,
    /// The JSON Schema of its reply (metadata `response_schema`).
    pub response_schema: Option<Value>,
    /// The request's fields, from `request_schema`.
    pub request_fields: Vec<FieldView>,
    /// The reply's type in short (`string`, `Sum`), from `response_schema`.
    pub response_type: Option<String>,
    /// The reply's fields when it is an object, from `response_schema`.
    pub response_fields: Vec<FieldView>,
    /// A request body the endpoint accepts, built from `request_schema`; `None` without one.
    pub example: Option<Value>,
    /// All endpoint metadata.
    pub metadata: BTreeMap<String, String>,
    /// Requests served, summed over instances (when stats were available).
    pub num_requests: Option<u64>,
    /// Errors, summed over instances.
    pub num_errors: Option<u64>,
}

/// Builds the detail of `name` from its instances and (possibly empty) stats.
pub fn service_detail(
    name: &str,
    instances: &[Instance],
    stats: &[InstanceStats],
) -> ServiceDetail {
    let now = SystemTime::now();
    ServiceDetail {
        name: name.to_owned(),
        description: instances
            .iter()
            .map(|i| i.description.as_str())
            .find(|d| !d.is_empty())
            .unwrap_or_default()
            .to_owned(),
        versions: versions(instances),
        instances: instances
            .iter()
            .map(|i| {
                let started = stats.iter().find(|s| s.id == i.id).map(|s| s.started);
                InstanceView {
                    id: i.id.clone(),
                    version: i.version.clone(),
                    metadata: i.metadata.clone(),
                    started: started.map(rfc3339),
                    uptime_secs: started
                        .map(|s| now.duration_since(s).unwrap_or_default().as_secs()),
                }
            })
            .collect(),
        endpoints: endpoints(instances, stats),
    }
}

fn endpoints(instances: &[Instance], stats: &[InstanceStats]) -> Vec<EndpointView> {
    let mut out: Vec<EndpointView> = Vec::new();
    for e in instances.iter().flat_map(|i| &i.endpoints) {
        if out.iter().any(|o| o.name == e.name) {
            continue;
        }
        let request = e
            .metadata
            .get("request")
            .map(|r| serde_json::from_str::<Value>(r).unwrap_or_else(|_| Value::String(r.clone())));
        let parse = |key: &str| {
            e.metadata
                .get(key)
                .and_then(|text| serde_json::from_str::<Value>(text).ok())
                .filter(|s| s.is_object() || s.is_boolean())
        };
        let request_schema = parse(REQUEST_SCHEMA);
        let response_schema = parse(RESPONSE_SCHEMA);
        let mut view = EndpointView {
            name: e.name.clone(),
            subject: e.subject.clone(),
            queue_group: e.queue_group.clone(),
            doc: e.metadata.get("doc").cloned(),
            example: request_schema.as_ref().map(schema::example),
            request_fields: request_schema
                .as_ref()
                .map(schema::fields)
                .unwrap_or_default(),
            response_type: response_schema.as_ref().map(schema::type_name),
            response_fields: response_schema
                .as_ref()
                .map(schema::fields)
                .unwrap_or_default(),
            request_schema,
            response_schema,
            request,
            response: e.metadata.get("response").cloned(),
            metadata: e.metadata.clone(),
            num_requests: None,
            num_errors: None,
        };
        for s in stats
            .iter()
            .flat_map(|s| &s.endpoints)
            .filter(|s| s.name == e.name)
        {
            *view.num_requests.get_or_insert(0) += s.num_requests;
            *view.num_errors.get_or_insert(0) += s.num_errors;
        }
        out.push(view);
    }
    out
}

/// Live figures of one instance: `micro stats` / `GET /stats`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StatsView {
    /// The service name.
    pub name: String,
    /// The instance id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// When it started (RFC 3339, UTC).
    pub started: String,
    /// Seconds since it started.
    pub uptime_secs: u64,
    /// Per-endpoint figures.
    pub endpoints: Vec<EndpointStatsView>,
}

/// Live figures of one endpoint of one instance (times in nanoseconds, as on the wire).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct EndpointStatsView {
    /// The endpoint name.
    pub name: String,
    /// Its subject.
    pub subject: String,
    /// Requests received.
    pub num_requests: u64,
    /// Error replies sent.
    pub num_errors: u64,
    /// The last error (`"<code>:<detail>"`), `""` if none.
    pub last_error: String,
    /// Total handling time, ns.
    pub processing_time: u64,
    /// Average handling time, ns.
    pub average_processing_time: u64,
}

/// Converts registry stats to their JSON view.
pub fn stats_views(stats: &[InstanceStats]) -> Vec<StatsView> {
    let now = SystemTime::now();
    stats
        .iter()
        .map(|s| StatsView {
            name: s.name.clone(),
            id: s.id.clone(),
            version: s.version.clone(),
            started: rfc3339(s.started),
            uptime_secs: now.duration_since(s.started).unwrap_or_default().as_secs(),
            endpoints: s
                .endpoints
                .iter()
                .map(|e| EndpointStatsView {
                    name: e.name.clone(),
                    subject: e.subject.clone(),
                    num_requests: e.num_requests,
                    num_errors: e.num_errors,
                    last_error: e.last_error.clone(),
                    processing_time: nanos(e.processing_time),
                    average_processing_time: nanos(e.average_processing_time),
                })
                .collect(),
        })
        .collect()
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Formats a time as RFC 3339 in UTC with millisecond precision: `2026-11-24T04:05:29.409Z`.
pub fn rfc3339(t: SystemTime) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    // Before 1970 (a clock that is wrong) reads as the epoch, as the counters' own start does.
    let t = t.max(UNIX_EPOCH);
    time::OffsetDateTime::from(t)
        .format(FORMAT)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

/// Formats seconds as `3d4h`, `2h5m`, `4m10s` or `12s`.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_579_529_409);
        assert_eq!(rfc3339(t), "2026-11-25T04:05:29.409Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(12), "12s");
        assert_eq!(human_duration(250), "4m10s");
        assert_eq!(human_duration(7500), "2h5m");
        assert_eq!(human_duration(3 * 86_400 + 4 * 3600), "3d4h");
    }
}
