//! JSON Schemas (2020-12) of what endpoints take and return, and the check that instances of
//! one service agree on them.
//!
//! `#[service]` gives every endpoint a request schema (an object of the method's arguments) and
//! a response schema (the `Ok` type), produced with [`schemars`] from the types' own
//! [`JsonSchema`](schemars::JsonSchema) impls, doc comments included. A type without one still
//! compiles: its schema is the "anything" schema with a description naming the Rust type. The
//! schemas are computed once, when an instance starts, and published in INFO endpoint metadata
//! under [`REQUEST_SCHEMA`] and [`RESPONSE_SCHEMA`] (see PROTOCOL.md, "Schemas").
//!
//! Before an instance starts serving, [`check`] compares its schemas with those of running
//! instances of the same name and version; by default a difference refuses the start
//! ([`SchemaCheck`]).

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value, json};

use crate::registry::{EndpointInfo, Instance};

/// Endpoint metadata key of the request schema: a JSON Schema 2020-12 document, as a string.
pub const REQUEST_SCHEMA: &str = "request_schema";

/// Endpoint metadata key of the response schema: a JSON Schema 2020-12 document, as a string.
pub const RESPONSE_SCHEMA: &str = "response_schema";

/// Endpoint metadata key of the schema of one item of the stream an endpoint takes (client and
/// bidirectional streams): a JSON Schema 2020-12 document, as a string.
pub const INPUT_SCHEMA: &str = "input_schema";

/// Environment variable (and `--micro-schema-check` flag) that sets the [`SchemaCheck`].
pub const SCHEMA_CHECK_VAR: &str = "MICRO_SCHEMA_CHECK";

/// The largest schema, in bytes of compact JSON, published in full; a larger one is replaced
/// by a [stand-in](omitted) that still lets instances compare shapes.
pub const MAX_SCHEMA_BYTES: usize = 16 * 1024;

/// The most bytes of schemas one instance publishes in INFO, all endpoints together. Past it,
/// the largest schemas become stand-ins until the rest fits, so an INFO reply stays far below
/// NATS's default 1 MiB payload limit whatever the service declares.
pub const MAX_INSTANCE_SCHEMA_BYTES: usize = 256 * 1024;

/// The keyword of a stand-in schema that holds the omitted schema's size and fingerprint.
pub const OMITTED_KEYWORD: &str = "x-micro-omitted";

/// The `$schema` of every schema micro produces.
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// What a starting instance does when a running instance of the same name and version
/// announces different schemas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaCheck {
    /// Refuse to start, with an error naming the endpoint and both shapes (the default): calls
    /// load-balanced across the two would fail to decode half the time.
    #[default]
    Refuse,
    /// Log a warning and start anyway (a rolling upgrade that knowingly changes a shape).
    Warn,
    /// Do not look.
    Off,
}

impl SchemaCheck {
    /// The spelling of [`SCHEMA_CHECK_VAR`]: `refuse`, `warn` or `off`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SchemaCheck::Refuse => "refuse",
            SchemaCheck::Warn => "warn",
            SchemaCheck::Off => "off",
        }
    }
}

impl fmt::Display for SchemaCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A [`SchemaCheck`] spelling that is none of `refuse`, `warn`, `off`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected `refuse`, `warn` or `off`, got `{0}`")]
pub struct ParseSchemaCheckError(String);

impl FromStr for SchemaCheck {
    type Err = ParseSchemaCheckError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "refuse" | "error" | "on" | "" => Ok(SchemaCheck::Refuse),
            "warn" => Ok(SchemaCheck::Warn),
            "off" | "none" => Ok(SchemaCheck::Off),
            _ => Err(ParseSchemaCheckError(s.to_owned())),
        }
    }
}

/// Which schema of an endpoint differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// The request (the arguments).
    Request,
    /// The response (the `Ok` value, or the items of a stream the endpoint answers with).
    Response,
    /// The items of the stream the endpoint takes.
    Input,
    /// The endpoint's kind (unary, or which stream): metadata `kind`, not a schema.
    Kind,
}

impl Part {
    /// `request`, `response`, `input` or `kind`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Part::Request => "request",
            Part::Response => "response",
            Part::Input => "input",
            Part::Kind => "kind",
        }
    }

    /// The metadata key of this part.
    pub const fn key(self) -> &'static str {
        match self {
            Part::Request => REQUEST_SCHEMA,
            Part::Response => RESPONSE_SCHEMA,
            Part::Input => INPUT_SCHEMA,
            Part::Kind => "kind",
        }
    }
}

/// One endpoint whose schema differs between two instances of one name and version.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mismatch {
    /// The endpoint name.
    pub endpoint: String,
    /// Which of its schemas differs.
    pub part: Part,
    /// The id of the other instance.
    pub other_id: String,
    /// The shape this instance announces (compact JSON, annotations left out).
    pub ours: String,
    /// The shape the other instance announces.
    pub theirs: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "endpoint `{}` {}: {} here, {} in instance {}",
            self.endpoint,
            self.part.as_str(),
            self.ours,
            self.theirs,
            self.other_id
        )
    }
}

/// Running instances of a service, of the same name and version, announce schemas that differ
/// from this one's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "service `{service}` {version}: running instances announce different schemas: {}",
    list(.mismatches)
)]
#[non_exhaustive]
pub struct Incompatible {
    /// The service name.
    pub service: String,
    /// The version both announce.
    pub version: String,
    /// Every difference found.
    pub mismatches: Vec<Mismatch>,
}

fn list(mismatches: &[Mismatch]) -> String {
    mismatches
        .iter()
        .map(Mismatch::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Incompatible {
    /// The `409` a refused start returns: the differences and what to do about them.
    pub fn refusal(&self) -> crate::Error {
        crate::Error::conflict(format!(
            "{self}; give this build another service name or version, or set \
             {SCHEMA_CHECK_VAR}=warn to start anyway"
        ))
    }
}

impl From<Incompatible> for crate::Error {
    fn from(err: Incompatible) -> Self {
        crate::Error::conflict(err.to_string())
    }
}

/// Compares `ours` with every instance in `others` of the same name and version (itself and
/// instances of other versions are skipped). Endpoints only one side has, and schemas only one
/// side publishes (another implementation, an older micro), are not differences: only two
/// schemas that both exist and describe different shapes are.
pub fn check(ours: &Instance, others: &[Instance]) -> Result<(), Incompatible> {
    let mismatches: Vec<Mismatch> = others
        .iter()
        .filter(|o| o.id != ours.id && o.name == ours.name && o.version == ours.version)
        .flat_map(|o| compare(ours, o))
        .collect();
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(Incompatible {
            service: ours.name.clone(),
            version: ours.version.clone(),
            mismatches,
        })
    }
}

/// Compares the schemas a client was compiled with (`descriptor`, e.g.
/// `GreeterClient::DESCRIPTOR`) with those of every running instance of its service, of any
/// version (a client's calls go to any of them unless a `Selection` says otherwise): a `409`
/// naming each endpoint whose request or reply differs, or the discovery error.
///
/// ```
/// # use micro_core::prelude::*;
/// # #[service(name = "checked", version = "1.0.0")]
/// # pub trait Checked { async fn get(&self) -> Result<u8, Error>; }
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
/// let client = micro_core::memory::Memory::new().client();
/// micro_core::schema::check_running(client.registry().as_ref(), CheckedClient::DESCRIPTOR).await?;
/// # Ok(()) }
/// ```
pub async fn check_running(
    registry: &dyn crate::registry::Registry,
    descriptor: &crate::descriptor::ServiceDescriptor,
) -> Result<(), crate::Error> {
    let mut ours = Instance::new(descriptor.name, "(this client)", descriptor.version);
    ours.endpoints = descriptor
        .endpoints
        .iter()
        .map(|e| {
            let mut info = EndpointInfo::new(e.name, "", "");
            info.metadata = e.metadata();
            info
        })
        .collect();
    let running = registry.get_service(descriptor.name).await?;
    let mismatches: Vec<Mismatch> = running.iter().flat_map(|o| compare(&ours, o)).collect();
    if mismatches.is_empty() {
        Ok(())
    } else {
        let incompatible = Incompatible {
            service: ours.name,
            version: ours.version,
            mismatches,
        };
        Err(crate::Error::conflict(format!(
            "{incompatible}; this client was built from another definition of the service"
        )))
    }
}

/// The endpoints on which `ours` and `theirs` publish schemas of different shapes.
pub fn compare(ours: &Instance, theirs: &Instance) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for mine in &ours.endpoints {
        let Some(other) = theirs.endpoints.iter().find(|e| e.name == mine.name) else {
            continue;
        };
        // A unary endpoint and a stream cannot serve each other's callers, whatever the types.
        let kind = |e: &crate::registry::EndpointInfo| {
            e.metadata
                .get(Part::Kind.key())
                .map_or("unary", String::as_str)
                .to_owned()
        };
        let (a, b) = (kind(mine), kind(other));
        if a != b {
            out.push(Mismatch {
                endpoint: mine.name.clone(),
                part: Part::Kind,
                other_id: theirs.id.clone(),
                ours: a,
                theirs: b,
            });
            continue;
        }
        for part in [Part::Request, Part::Response, Part::Input] {
            let (Some(a), Some(b)) = (
                mine.metadata.get(part.key()),
                other.metadata.get(part.key()),
            ) else {
                continue;
            };
            if !same_shape(a, b) {
                out.push(Mismatch {
                    endpoint: mine.name.clone(),
                    part,
                    other_id: theirs.id.clone(),
                    ours: display_shape(a),
                    theirs: display_shape(b),
                });
            }
        }
    }
    out
}

/// Whether two published schemas (full or stand-ins) describe the same shape.
fn same_shape(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (Published::parse(a), Published::parse(b)) {
        (Published::Full(a), Published::Full(b)) => shape(&a) == shape(&b),
        (a, b) => a.fingerprint() == b.fingerprint(),
    }
}

/// A schema as read back from metadata.
enum Published {
    Full(Value),
    Omitted(Option<Fingerprint>),
    /// Not JSON: compared as text.
    Text(String),
}

impl Published {
    fn parse(text: &str) -> Published {
        match serde_json::from_str::<Value>(text) {
            Ok(value) => match value.get(OMITTED_KEYWORD) {
                Some(omitted) => Published::Omitted(Fingerprint::read(omitted)),
                None => Published::Full(value),
            },
            Err(_) => Published::Text(text.to_owned()),
        }
    }

    fn fingerprint(&self) -> Option<Fingerprint> {
        match self {
            Published::Full(value) => Some(Fingerprint::of(value)),
            Published::Omitted(fp) => *fp,
            Published::Text(text) => Some(Fingerprint::of(&Value::String(text.clone()))),
        }
    }
}

/// The size and 64-bit FNV-1a hash of a schema's [shape](shape): enough to tell shapes apart
/// when one of them was too large to publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint {
    bytes: u64,
    fnv1a64: u64,
}

impl Fingerprint {
    fn of(schema: &Value) -> Fingerprint {
        let text = shape(schema).to_string();
        Fingerprint {
            bytes: text.len() as u64,
            fnv1a64: fnv1a64(text.as_bytes()),
        }
    }

    fn read(omitted: &Value) -> Option<Fingerprint> {
        Some(Fingerprint {
            bytes: omitted.get("shape_bytes")?.as_u64()?,
            fnv1a64: u64::from_str_radix(omitted.get("shape_fnv1a64")?.as_str()?, 16).ok()?,
        })
    }
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Keywords that document a schema without changing what it accepts: left out when shapes are
/// compared, so that editing a doc comment is not an incompatibility.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$comment",
    "title",
    "description",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Keywords whose value maps names (not keywords) to schemas.
const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// `schema` without its annotation keywords (`title`, `description`, `examples`, ...): what two
/// instances must agree on.
pub fn shape(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !ANNOTATIONS.contains(&k.as_str()))
                .map(|(k, v)| {
                    let v = match v {
                        Value::Object(inner) if SCHEMA_MAPS.contains(&k.as_str()) => Value::Object(
                            inner.iter().map(|(n, s)| (n.clone(), shape(s))).collect(),
                        ),
                        other => shape(other),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        other => other.clone(),
    }
}

/// How long a shape may be in an error message before it is cut.
const MAX_SHOWN: usize = 400;

fn display_shape(text: &str) -> String {
    let shown = match Published::parse(text) {
        Published::Full(value) => shape(&value).to_string(),
        Published::Omitted(_) => "(a schema too large to publish)".to_owned(),
        Published::Text(text) => text,
    };
    if shown.len() <= MAX_SHOWN {
        return shown;
    }
    let mut end = MAX_SHOWN;
    while !shown.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &shown[..end])
}

/// The compact JSON published for `schema`: the schema itself, or a stand-in when it is longer
/// than [`MAX_SCHEMA_BYTES`].
pub fn encode(schema: &Value) -> String {
    let text = schema.to_string();
    if text.len() <= MAX_SCHEMA_BYTES {
        text
    } else {
        omitted(schema, text.len()).to_string()
    }
}

/// The stand-in of a schema too large to publish: accepts anything, says so, and carries the
/// schema's size and the fingerprint of its shape, so the compatibility check still works.
pub fn omitted(schema: &Value, bytes: usize) -> Value {
    let fp = Fingerprint::of(schema);
    json!({
        "$schema": DIALECT,
        "description": format!(
            "schema omitted from INFO: {bytes} bytes, over micro's limit of {MAX_SCHEMA_BYTES}"
        ),
        OMITTED_KEYWORD: {
            "bytes": bytes,
            "shape_bytes": fp.bytes,
            "shape_fnv1a64": format!("{:016x}", fp.fnv1a64),
        },
    })
}

/// Keeps the schemas of `endpoints` within [`MAX_INSTANCE_SCHEMA_BYTES`] together, replacing
/// the largest by stand-ins first.
pub fn fit(endpoints: &mut [EndpointInfo]) {
    let total = |endpoints: &[EndpointInfo]| -> usize {
        endpoints
            .iter()
            .flat_map(|e| [REQUEST_SCHEMA, RESPONSE_SCHEMA].map(|k| e.metadata.get(k)))
            .flatten()
            .map(String::len)
            .sum()
    };
    while total(endpoints) > MAX_INSTANCE_SCHEMA_BYTES {
        let largest = endpoints
            .iter_mut()
            .flat_map(|e| {
                e.metadata
                    .iter_mut()
                    .filter(|(k, _)| *k == REQUEST_SCHEMA || *k == RESPONSE_SCHEMA)
                    .map(|(_, v)| v)
            })
            .filter(|v| !v.contains(OMITTED_KEYWORD))
            .max_by_key(|v| v.len());
        let Some(largest) = largest else { return };
        let bytes = largest.len();
        let stand_in = match serde_json::from_str::<Value>(largest) {
            Ok(schema) => omitted(&schema, bytes),
            Err(_) => omitted(&Value::String(largest.clone()), bytes),
        };
        *largest = stand_in.to_string();
    }
}

/// One `#[subscriber]` fn linked into this binary, with the JSON Schema of the events it takes.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct EventSchema {
    /// The topic it subscribes to (wildcards allowed).
    pub topic: &'static str,
    /// Its queue group, if any.
    pub queue: Option<&'static str>,
    /// The fn's path.
    pub handler: &'static str,
    /// The JSON Schema (2020-12) of the event type.
    pub schema: Value,
}

/// The event schemas of every `#[subscriber]` linked into this binary, for tools and for
/// publishers to check against (subscribers announce nothing in INFO: they are not endpoints
/// of a service).
pub fn subscriber_schemas() -> Vec<EventSchema> {
    crate::__private::registered_subscribers()
        .map(|r| EventSchema {
            topic: r.topic,
            queue: r.queue,
            handler: r.name,
            schema: (r.event_schema)(),
        })
        .collect()
}

/// A schema generator with micro's settings: JSON Schema 2020-12, describing what a value
/// deserializes from (`deserialize`) or serializes to.
pub(crate) fn generator(deserialize: bool) -> schemars::SchemaGenerator {
    let settings = schemars::generate::SchemaSettings::draft2020_12();
    let settings = if deserialize {
        settings.for_deserialize()
    } else {
        settings.for_serialize()
    };
    settings.into_generator()
}

/// The schema of a type without a `JsonSchema` impl: anything, named.
pub(crate) fn unknown(rust: &str) -> Value {
    json!({ "description": format!("Rust type `{rust}` (no JsonSchema impl)") })
}

/// A root document around `schema`, with the definitions the generator collected.
pub(crate) fn root(mut generator: schemars::SchemaGenerator, schema: Value) -> Value {
    let mut object = match schema {
        Value::Object(map) => map,
        Value::Bool(true) => Map::new(),
        other => {
            let mut map = Map::new();
            map.insert("allOf".to_owned(), Value::Array(vec![other]));
            map
        }
    };
    let mut out = Map::new();
    out.insert("$schema".to_owned(), Value::from(DIALECT));
    out.append(&mut object);
    let defs = generator.take_definitions(true);
    if !defs.is_empty() {
        out.insert("$defs".to_owned(), Value::Object(defs));
    }
    Value::Object(out)
}

/// The request object of an endpoint: one property per argument, required unless optional.
pub(crate) fn request_object(
    generator: schemars::SchemaGenerator,
    doc: &str,
    fields: Vec<(&str, bool, Value)>,
) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, is_required, schema) in fields {
        if is_required {
            required.push(Value::from(name));
        }
        properties.insert(name.to_owned(), schema);
    }
    let mut object = Map::new();
    if !doc.is_empty() {
        object.insert("description".to_owned(), Value::from(doc));
    }
    object.insert("type".to_owned(), Value::from("object"));
    object.insert("properties".to_owned(), Value::Object(properties));
    if !required.is_empty() {
        object.insert("required".to_owned(), Value::Array(required));
    }
    root(generator, Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, version: &str, response: &Value) -> Instance {
        let mut i = Instance::new("calc", id, version);
        let mut e = EndpointInfo::new("add", "calc.add", "q");
        e.metadata
            .insert(RESPONSE_SCHEMA.to_owned(), encode(response));
        i.endpoints.push(e);
        i
    }

    #[test]
    fn annotations_do_not_count() {
        let a = json!({"type": "object", "description": "one", "properties": {"description": {"type": "string", "title": "x"}}});
        let b = json!({"type": "object", "description": "two", "properties": {"description": {"type": "string"}}});
        assert_eq!(shape(&a), shape(&b));
        // A property named like an annotation is still a property.
        let c = json!({"type": "object", "properties": {}});
        assert_ne!(shape(&a), shape(&c));
    }

    #[test]
    fn a_different_shape_of_the_same_version_is_incompatible() {
        let ours = instance("A", "1.0.0", &json!({"type": "integer"}));
        let same = instance(
            "B",
            "1.0.0",
            &json!({"type": "integer", "description": "d"}),
        );
        let other = instance("C", "1.0.0", &json!({"type": "object"}));
        let newer = instance("D", "2.0.0", &json!({"type": "object"}));
        assert_eq!(check(&ours, &[same, newer.clone()]), Ok(()));
        let err = check(&ours, &[other, newer]).unwrap_err();
        assert_eq!(err.mismatches.len(), 1);
        assert_eq!(err.mismatches[0].other_id, "C");
        let text = err.to_string();
        assert!(text.contains("endpoint `add` response"), "{text}");
        assert!(text.contains(r#"{"type":"integer"}"#), "{text}");
        assert!(text.contains(r#"{"type":"object"}"#), "{text}");
        assert!(
            err.refusal().detail().contains("MICRO_SCHEMA_CHECK=warn"),
            "{text}"
        );
    }

    #[test]
    fn a_stream_and_a_unary_endpoint_of_one_version_are_incompatible() {
        let unary = instance("A", "1.0.0", &json!({"type": "integer"}));
        let mut stream = instance("B", "1.0.0", &json!({"type": "integer"}));
        stream.endpoints[0]
            .metadata
            .insert("kind".to_owned(), "server_stream".to_owned());
        let err = check(&unary, &[stream.clone()]).unwrap_err();
        assert_eq!(err.mismatches.len(), 1);
        assert_eq!(err.mismatches[0].part, Part::Kind);
        assert_eq!(
            (
                err.mismatches[0].ours.as_str(),
                err.mismatches[0].theirs.as_str()
            ),
            ("unary", "server_stream")
        );
        // An announced `unary` is the same as none (a service in another language).
        let mut labelled = instance("C", "1.0.0", &json!({"type": "integer"}));
        labelled.endpoints[0]
            .metadata
            .insert("kind".to_owned(), "unary".to_owned());
        assert_eq!(check(&unary, &[labelled]), Ok(()));
        // The items a stream takes are compared too.
        let takes = |id: &str, schema: Value| {
            let mut i = stream.clone();
            i.id = id.to_owned();
            i.endpoints[0]
                .metadata
                .insert(INPUT_SCHEMA.to_owned(), encode(&schema));
            i
        };
        let (ints, strings) = (
            takes("D", json!({"type": "integer"})),
            takes("E", json!({"type": "string"})),
        );
        let err = check(&ints, &[strings]).unwrap_err();
        assert_eq!(err.mismatches[0].part, Part::Input);
    }

    #[test]
    fn large_schemas_become_comparable_stand_ins() {
        let big = |n: usize| {
            let props: Map<String, Value> = (0..n)
                .map(|i| (format!("field_{i:05}"), json!({"type": "string"})))
                .collect();
            json!({"type": "object", "properties": props})
        };
        let encoded = encode(&big(2000));
        assert!(encoded.len() < 1024, "{encoded}");
        assert!(encoded.contains(OMITTED_KEYWORD));
        // A stand-in and the full schema of the same shape agree; another shape does not.
        assert!(same_shape(&encoded, &big(2000).to_string()));
        assert!(!same_shape(&encoded, &encode(&big(2001))));

        let mut endpoints: Vec<EndpointInfo> = (0..40)
            .map(|i| {
                let mut e = EndpointInfo::new(format!("e{i}"), "s", "q");
                e.metadata
                    .insert(REQUEST_SCHEMA.to_owned(), encode(&big(300)));
                e
            })
            .collect();
        fit(&mut endpoints);
        let total: usize = endpoints
            .iter()
            .map(|e| e.metadata[REQUEST_SCHEMA].len())
            .sum();
        assert!(total <= MAX_INSTANCE_SCHEMA_BYTES, "{total}");
        assert!(
            endpoints
                .iter()
                .any(|e| !e.metadata[REQUEST_SCHEMA].contains(OMITTED_KEYWORD))
        );
    }

    #[test]
    fn schema_check_spellings() {
        assert_eq!("warn".parse(), Ok(SchemaCheck::Warn));
        assert_eq!("OFF".parse(), Ok(SchemaCheck::Off));
        assert_eq!("refuse".parse(), Ok(SchemaCheck::Refuse));
        assert!("maybe".parse::<SchemaCheck>().is_err());
    }
}
