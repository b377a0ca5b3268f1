//! The `io.nats.micro.v1.*` reply shapes, and RFC 3339 time stamps for STATS `started`.
//!
//! Field for field what ADR-32 asks (see PROTOCOL.md, "Discovery"): `metadata` always an object (also in
//! STATS, where async-nats leaves it out), `description` always a string, durations in integer
//! nanoseconds, `started` in UTC with a `Z`, endpoints in declaration order.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use micro_core::registry::{EndpointStats, Instance, InstanceStats, Registration};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `type` of PING replies.
pub(crate) const PING_TYPE: &str = "io.nats.micro.v1.ping_response";
/// `type` of INFO replies.
pub(crate) const INFO_TYPE: &str = "io.nats.micro.v1.info_response";
/// `type` of STATS replies.
pub(crate) const STATS_TYPE: &str = "io.nats.micro.v1.stats_response";

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A PING reply (also the standard fields every reply has).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ping {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) version: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) metadata: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Info<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    id: &'a str,
    version: &'a str,
    description: &'a str,
    metadata: &'a BTreeMap<String, String>,
    endpoints: Vec<InfoEndpoint<'a>>,
}

#[derive(Serialize)]
struct InfoEndpoint<'a> {
    name: &'a str,
    subject: &'a str,
    queue_group: &'a str,
    metadata: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Stats<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    id: &'a str,
    version: &'a str,
    metadata: &'a BTreeMap<String, String>,
    started: String,
    endpoints: Vec<StatsEndpoint<'a>>,
}

#[derive(Serialize)]
struct StatsEndpoint<'a> {
    name: &'a str,
    subject: &'a str,
    queue_group: &'a str,
    num_requests: u64,
    num_errors: u64,
    last_error: &'a str,
    processing_time: u64,
    average_processing_time: u64,
    /// Endpoint-specific figures; none, but present: nats-py's `EndpointStats.from_dict`
    /// requires the key.
    data: Option<()>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    // Maps of strings and plain structs always serialize.
    serde_json::to_vec(value).unwrap_or_default()
}

/// The PING reply of `instance`.
pub(crate) fn ping(instance: &Instance) -> Vec<u8> {
    to_vec(&Ping {
        kind: PING_TYPE.to_owned(),
        name: instance.name.clone(),
        id: instance.id.clone(),
        version: instance.version.clone(),
        metadata: instance.metadata.clone(),
    })
}

/// The INFO reply of `instance`.
pub(crate) fn info(instance: &Instance) -> Vec<u8> {
    to_vec(&Info {
        kind: INFO_TYPE,
        name: &instance.name,
        id: &instance.id,
        version: &instance.version,
        description: &instance.description,
        metadata: &instance.metadata,
        endpoints: instance
            .endpoints
            .iter()
            .map(|e| InfoEndpoint {
                name: &e.name,
                subject: &e.subject,
                queue_group: &e.queue_group,
                metadata: &e.metadata,
            })
            .collect(),
    })
}

/// The STATS reply of `registration`, with the counters as they are now.
pub(crate) fn stats(registration: &Registration) -> Vec<u8> {
    let snapshot = registration.snapshot();
    let instance = &registration.instance;
    to_vec(&Stats {
        kind: STATS_TYPE,
        name: &instance.name,
        id: &instance.id,
        version: &instance.version,
        metadata: &instance.metadata,
        started: format_rfc3339(snapshot.started),
        endpoints: snapshot
            .endpoints
            .iter()
            .map(|e| StatsEndpoint {
                name: &e.name,
                subject: &e.subject,
                queue_group: &e.queue_group,
                num_requests: e.num_requests,
                num_errors: e.num_errors,
                last_error: &e.last_error,
                processing_time: nanos(e.processing_time),
                average_processing_time: nanos(e.average_processing_time),
                data: None,
            })
            .collect(),
    })
}

/// Reads an INFO reply from any implementation (nats-py's `null` description and endpoint
/// metadata included).
pub(crate) fn parse_info(body: &[u8]) -> Result<Instance, String> {
    let mut value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    check_type(&value, INFO_TYPE)?;
    if let Some(obj) = value.as_object_mut() {
        for key in ["description"] {
            if obj.get(key).is_none_or(Value::is_null) {
                obj.insert(key.to_owned(), json!(""));
            }
        }
        if obj.get("metadata").is_none_or(Value::is_null) {
            obj.insert("metadata".to_owned(), json!({}));
        }
        if obj.get("endpoints").is_none_or(Value::is_null) {
            obj.insert("endpoints".to_owned(), json!([]));
        }
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// Reads a STATS reply into micro's [`InstanceStats`].
pub(crate) fn parse_stats(body: &[u8]) -> Result<InstanceStats, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    check_type(&value, STATS_TYPE)?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let count = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let started = value
        .get("started")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
        .unwrap_or(UNIX_EPOCH);
    let mut stats = InstanceStats::new(
        text(&value, "name"),
        text(&value, "id"),
        text(&value, "version"),
        started,
    );
    stats.endpoints = value
        .get("endpoints")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let mut ep =
                EndpointStats::new(text(e, "name"), text(e, "subject"), text(e, "queue_group"));
            ep.num_requests = count(e, "num_requests");
            ep.num_errors = count(e, "num_errors");
            ep.last_error = text(e, "last_error");
            ep.processing_time = Duration::from_nanos(count(e, "processing_time"));
            ep.average_processing_time = Duration::from_nanos(count(e, "average_processing_time"));
            ep
        })
        .collect();
    Ok(stats)
}

fn check_type(value: &Value, want: &str) -> Result<(), String> {
    match value.get("type").and_then(Value::as_str) {
        Some(t) if t == want => Ok(()),
        other => Err(format!("expected type `{want}`, got {other:?}")),
    }
}

/// `2026-11-24T04:05:29.409273Z`: RFC 3339 in UTC with six fraction digits, always.
///
/// Six, not nine: nats-py parses `started` with `strptime`'s `%f`, which takes at most six
/// digits, and every official client (nats.go, nats.js, nats-py) reads six.
pub(crate) fn format_rfc3339(t: SystemTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    OffsetDateTime::from(t)
        .to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        // Only a year past 9999 cannot be written; no clock says so.
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000000Z".to_owned())
}

/// Parses RFC 3339 (`Z` or a `±HH:MM` offset, any fraction length); `None` if malformed.
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let t = UNIX_EPOCH + Duration::new(1_795_493_129, 409_273_587);
        let s = format_rfc3339(t);
        // Microseconds: the nanoseconds are cut, not rounded.
        assert_eq!(s, "2026-11-24T04:05:29.409273Z");
        assert_eq!(
            parse_rfc3339(&s),
            Some(UNIX_EPOCH + Duration::new(1_795_493_129, 409_273_000))
        );
        assert_eq!(format_rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            parse_rfc3339("2026-11-24T04:05:29.409Z"),
            Some(UNIX_EPOCH + Duration::new(1_795_493_129, 409_000_000))
        );
        assert_eq!(
            parse_rfc3339("2026-11-24T05:05:29+01:00"),
            Some(UNIX_EPOCH + Duration::new(1_795_493_129, 0))
        );
        assert_eq!(
            format_rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000000Z"
        );
        for bad in [
            "",
            "2026-11-24",
            "2026-13-01T00:00:00Z",
            "2026-11-24T04:05:29",
            "x026-11-24T04:05:29Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_nats_py_info_with_nulls() {
        let body = br#"{"type":"io.nats.micro.v1.info_response","id":"5yPh","name":"pyecho","version":"1.2.3","description":null,"endpoints":[{"name":"fail","subject":"fail","queue_group":"q","metadata":null}],"metadata":{}}"#;
        let instance = parse_info(body).unwrap();
        assert_eq!(instance.description, "");
        assert_eq!(instance.endpoints[0].name, "fail");
        assert!(instance.endpoints[0].metadata.is_empty());
        assert!(parse_info(br#"{"type":"io.nats.micro.v1.ping_response"}"#).is_err());
    }

    #[test]
    fn reads_stats() {
        let body = br#"{"type":"io.nats.micro.v1.stats_response","name":"pyecho","id":"5yPh","version":"1.2.3","started":"2026-11-24T04:05:29.409Z","endpoints":[{"name":"echo","subject":"echo","queue_group":"q","num_requests":2,"num_errors":1,"last_error":"422:bad input","processing_time":67432,"average_processing_time":33716,"data":null}],"metadata":{"lang":"python"}}"#;
        let stats = parse_stats(body).unwrap();
        assert_eq!(stats.name, "pyecho");
        assert_eq!(stats.endpoints[0].num_requests, 2);
        assert_eq!(stats.endpoints[0].last_error, "422:bad input");
        assert_eq!(
            stats.endpoints[0].processing_time,
            Duration::from_nanos(67_432)
        );
        assert_eq!(format_rfc3339(stats.started), "2026-11-24T04:05:29.409000Z");
    }
}
