//! The JSON shapes of discovery data, shared by the command line (`--json`) and the gateway.
//!
//! They are built from the registry's [`Instance`]s and [`InstanceStats`], which mirror the NATS
//! services protocol's INFO and STATS replies; endpoint documentation comes from the endpoint
//! metadata keys `doc`, `request` (a JSON object of field name to Rust type) and `response`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use micro_core::registry::{Instance, InstanceStats, ServiceSummary};
use serde::Serialize;
use serde_json::Value;

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
    /// A request body to start from, derived from `request`.
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
        let mut view = EndpointView {
            name: e.name.clone(),
            subject: e.subject.clone(),
            queue_group: e.queue_group.clone(),
            doc: e.metadata.get("doc").cloned(),
            example: request.as_ref().map(example_body),
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

/// A request body to start editing from, derived from a request shape (field name → Rust type):
/// strings `""`, numbers `0`, `bool` `false`, `Option<..>` `null`, sequences `[]`, maps and
/// other types `{}`.
///
/// ```
/// let shape = serde_json::json!({"name": "String", "age": "u32", "tags": "Vec<String>",
///                                "nick": "Option<String>", "admin": "bool"});
/// assert_eq!(
///     micro_cli::view::example_body(&shape),
///     serde_json::json!({"name": "", "age": 0, "tags": [], "nick": null, "admin": false}),
/// );
/// ```
pub fn example_body(shape: &Value) -> Value {
    match shape {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, ty)| {
                    let v = match ty {
                        Value::String(ty) => example_value(ty),
                        other => example_body(other),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::String(ty) => example_value(ty),
        _ => Value::Object(Default::default()),
    }
}

/// Type strings longer than this (in bytes) get a `null` example: they come from INFO metadata
/// that any NATS participant can send.
const MAX_TYPE_LEN: usize = 1024;

/// Types nested deeper than this (`Box<Box<…>>`, `((…))`) get a `null` example, so a crafted
/// type string cannot exhaust the stack.
const MAX_TYPE_DEPTH: usize = 16;

/// The example value of one Rust type as written in a trait; `null` for a type string too long
/// or too deeply nested to be a real signature.
pub fn example_value(ty: &str) -> Value {
    if ty.len() > MAX_TYPE_LEN {
        return Value::Null;
    }
    example_value_at(ty, 0)
}

fn example_value_at(ty: &str, depth: usize) -> Value {
    if depth > MAX_TYPE_DEPTH {
        return Value::Null;
    }
    let ty: String = ty.chars().filter(|c| !c.is_whitespace()).collect();
    let ty = ty.trim_start_matches('&').trim_start_matches("mut");
    if ty == "()" {
        return Value::Null;
    }
    if let Some(inner) = ty.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        return Value::Array(
            split_generics(inner)
                .iter()
                .map(|t| example_value_at(t, depth + 1))
                .collect(),
        );
    }
    if ty.starts_with('[') {
        return Value::Array(Vec::new());
    }
    let (path, args) = match ty.find('<') {
        Some(i) => (
            &ty[..i],
            ty[i + 1..].strip_suffix('>').unwrap_or(&ty[i + 1..]),
        ),
        None => (ty, ""),
    };
    let name = path.rsplit("::").next().unwrap_or(path);
    match name {
        "String" | "str" | "char" | "Cow" | "PathBuf" | "Path" => Value::String(String::new()),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" | "f32" | "f64" => Value::from(0),
        "bool" => Value::Bool(false),
        "Option" => Value::Null,
        "Vec" | "VecDeque" | "HashSet" | "BTreeSet" | "LinkedList" | "BinaryHeap" => {
            Value::Array(Vec::new())
        }
        "Box" | "Arc" | "Rc" => example_value_at(args, depth + 1),
        _ => Value::Object(Default::default()),
    }
}

/// Splits `A, B<C, D>, E` at top-level commas.
fn split_generics(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// Formats a time as RFC 3339 in UTC with millisecond precision: `2026-11-24T04:05:29.409Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
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
    use serde_json::json;

    #[test]
    fn examples_from_rust_types() {
        for (ty, want) in [
            ("String", json!("")),
            ("i64", json!(0)),
            ("f64", json!(0)),
            ("bool", json!(false)),
            ("Option<String>", json!(null)),
            ("Vec<u8>", json!([])),
            ("std::collections::HashMap<String, i64>", json!({})),
            ("(i64, String)", json!([0, ""])),
            ("Box<bool>", json!(false)),
            ("MyStruct", json!({})),
            ("()", json!(null)),
        ] {
            assert_eq!(example_value(ty), want, "{ty}");
        }
    }

    #[test]
    fn crafted_deep_types_are_null_not_a_stack_overflow() {
        let start = std::time::Instant::now();
        // Far past the length cap.
        for (open, close) in [("Box<", ">"), ("(", ",u8)")] {
            let deep = format!("{}u8{}", open.repeat(100_000), close.repeat(100_000));
            assert_eq!(example_value(&deep), Value::Null);
        }
        // Under the length cap but past the depth limit (`false` without the limit).
        let nested = format!("{}bool{}", "Box<".repeat(40), ">".repeat(40));
        assert!(nested.len() <= MAX_TYPE_LEN);
        assert_eq!(example_value(&nested), Value::Null);
        // Real nesting still works.
        assert_eq!(example_value("Box<Arc<Option<i64>>>"), json!(null));
        assert_eq!(example_value("Arc<Box<(i64, bool)>>"), json!([0, false]));
        assert!(start.elapsed() < Duration::from_secs(1));
    }

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
