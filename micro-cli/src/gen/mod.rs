//! `micro gen`: typed clients in other languages, written from a service's INFO.
//!
//! A service's endpoints publish JSON Schemas of their requests and replies (PROTOCOL.md,
//! "Schemas"). [`Model::from_instance`] walks them into a small language-neutral model (named
//! object types, aliases, endpoints with typed parameters and reply), which [`ts`] and [`py`]
//! print as a TypeScript package (on `@nats-io/transport-node`) and a Python package (on
//! `nats-py` and pydantic v2).
//!
//! INFO is untrusted input: any client allowed to answer `$SRV.INFO` can announce any name,
//! doc text or schema. So identifiers are rebuilt from ASCII letters and digits only (and kept
//! clear of the target languages' keywords and of the names the generated code itself uses),
//! every other string reaches the generated code only as an escaped string literal or a
//! sanitised comment, and schema walking stops at [`MAX_DEPTH`] levels and [`MAX_TYPES`]
//! named types (what lies beyond becomes "anything").
//!
//! The output is deterministic: types sorted by name, endpoints by name, fields by wire name.

pub mod py;
pub mod ts;

use std::collections::BTreeMap;

use micro_core::registry::Instance;
use micro_core::schema::{REQUEST_SCHEMA, RESPONSE_SCHEMA};
use serde_json::{Map, Value};

/// How deep schema walking goes; deeper subschemas become "anything". Real schemas nest a few
/// levels (named types are `$ref`s, which do not nest); a hostile one could nest until a
/// recursive walker overflows its stack.
pub const MAX_DEPTH: usize = 32;

/// At most this many named types are generated; further ones become "anything".
pub const MAX_TYPES: usize = 1024;

/// A type, as both target languages can spell it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Ty {
    /// Anything (`unknown` / `Any`).
    Any,
    /// JSON `null`.
    Null,
    /// `true` or `false`.
    Bool,
    /// A JSON integer.
    Int,
    /// Any JSON number.
    Number,
    /// A string.
    String,
    /// An array of the inner type.
    Array(Box<Ty>),
    /// An object with string keys and values of the inner type.
    Map(Box<Ty>),
    /// A named type of [`Model::types`].
    Named(String),
    /// One of these literal values (a schema `enum` or `const`).
    Literals(Vec<Lit>),
    /// One of these types (`oneOf`, `anyOf`, a list of `type`s, a nullable type).
    Union(Vec<Ty>),
}

/// A literal value of an enum.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Lit {
    /// A string.
    Str(String),
    /// A number, as JSON wrote it.
    Num(serde_json::Number),
    /// A boolean.
    Bool(bool),
    /// `null`.
    Null,
}

/// A property of an object type, or a parameter of an endpoint.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Field {
    /// The name on the wire (the JSON key); target languages derive identifiers from it.
    pub wire: String,
    /// Its type.
    pub ty: Ty,
    /// Whether the key must be present (listed in `required`).
    pub required: bool,
    /// Its `description`.
    pub doc: Option<String>,
}

/// What a named type is.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Shape {
    /// An object with these properties (sorted by wire name).
    Object(Vec<Field>),
    /// Another name for a type (an enum, a union, a map).
    Alias(Ty),
}

/// A named type: a `$defs` entry, a titled reply, a request, or an inline object.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NamedType {
    /// Its identifier (PascalCase, safe in both languages).
    pub name: String,
    /// Its `description`.
    pub doc: Option<String>,
    /// What it is.
    pub shape: Shape,
}

/// What an endpoint accepts.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Request {
    /// No arguments (an object schema without properties).
    Nothing,
    /// An object of these parameters, modelled as the named type.
    Params {
        /// The request's named type ([`Shape::Object`] with the same fields).
        type_name: String,
        /// The parameters, sorted by wire name.
        fields: Vec<Field>,
    },
    /// No usable schema (another implementation, or a stand-in for an oversized one): any
    /// JSON object.
    Unknown,
}

/// One endpoint.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Endpoint {
    /// Its name, as INFO gives it.
    pub name: String,
    /// The subject it is served on, as INFO announces it.
    pub subject: String,
    /// Its doc text (metadata `doc`).
    pub doc: Option<String>,
    /// What it accepts.
    pub request: Request,
    /// What it replies.
    pub response: Ty,
    /// Whether it is marked idempotent (metadata `idempotent`).
    pub idempotent: bool,
    /// A server stream (metadata `kind`): `response` is the type of its items, which the
    /// generated method yields as it reads them (as a plain reader: PROTOCOL.md, "Streams").
    pub stream: bool,
}

/// A service as the generators see it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Model {
    /// The service name (untrusted: printed only as string literals).
    pub service: String,
    /// Its version.
    pub version: String,
    /// Its description.
    pub description: String,
    /// The client class's identifier (`GreeterClient`).
    pub client_name: String,
    /// Every named type, by name.
    pub types: BTreeMap<String, NamedType>,
    /// The endpoints, sorted by name.
    pub endpoints: Vec<Endpoint>,
    /// The endpoints that take a stream (name, kind), which get no method: the generated
    /// clients read server streams, but send none.
    pub streams: Vec<(String, String)>,
}

impl Model {
    /// A sentence for the client's documentation naming the endpoints left out; `None` when
    /// none are.
    pub fn streams_note(&self) -> Option<String> {
        if self.streams.is_empty() {
            return None;
        }
        let names: Vec<String> = self
            .streams
            .iter()
            .map(|(name, kind)| format!("{name} ({kind})"))
            .collect();
        Some(format!(
            "Endpoints that take a stream have no method here: {}. Sending a stream needs the \
             micro stream protocol with credit (see the micro PROTOCOL.md, Streams).",
            names.join(", ")
        ))
    }
}

/// Names the generated code of either language defines or imports itself: a type from a
/// schema never takes one of them.
const RESERVED_TYPES: &[&str] = &[
    "Any",
    "Array",
    "BaseException",
    "BaseModel",
    "Boolean",
    "CallOptions",
    "ClassVar",
    "ConfigDict",
    "Date",
    "Dict",
    "Ellipsis",
    "Error",
    "Exception",
    "False",
    "Field",
    "Function",
    "Headers",
    "JSON",
    "List",
    "Literal",
    "Map",
    "Mapping",
    "Math",
    "MicroError",
    "Msg",
    "MsgHdrs",
    "NatsConnection",
    "None",
    "NotImplemented",
    "Number",
    "Object",
    "Optional",
    "Promise",
    "Record",
    "RegExp",
    "STATUS",
    "Set",
    "String",
    "Symbol",
    "TextDecoder",
    "TextEncoder",
    "TimeoutError",
    "True",
    "TypeAdapter",
    "TypeError",
    "Uint8Array",
    "Union",
    "ValidationError",
    "ValueError",
];

impl Model {
    /// Builds the model from one instance's INFO (its endpoints' subjects and schemas).
    pub fn from_instance(info: &Instance) -> Model {
        let client_name = format!("{}Client", pascal(&info.name));
        let mut walker = Walker::default();
        walker.reserved.push(client_name.clone());
        let mut endpoints: Vec<&micro_core::registry::EndpointInfo> =
            info.endpoints.iter().collect();
        endpoints.sort_by(|a, b| a.name.cmp(&b.name));
        endpoints.dedup_by(|a, b| a.name == b.name);
        // A server stream is read as a plain reader does; sending one needs the protocol.
        let kind = |e: &micro_core::registry::EndpointInfo| {
            e.metadata.get("kind").cloned().unwrap_or_default()
        };
        let (streaming, endpoints): (Vec<_>, Vec<_>) = endpoints
            .into_iter()
            .partition(|e| !matches!(kind(e).as_str(), "" | "unary" | "server_stream"));
        let streams = streaming
            .iter()
            .map(|e| {
                (
                    e.name.clone(),
                    e.metadata.get("kind").cloned().unwrap_or_default(),
                )
            })
            .collect();
        let endpoints = endpoints
            .into_iter()
            .map(|e| {
                let schema = |key: &str| {
                    e.metadata
                        .get(key)
                        .and_then(|s| serde_json::from_str::<Value>(s).ok())
                };
                let base = pascal(&e.name);
                let request = match schema(REQUEST_SCHEMA) {
                    Some(s) => walker.request(&s, &format!("{base}Request")),
                    None => Request::Unknown,
                };
                let response = match schema(RESPONSE_SCHEMA) {
                    Some(s) => walker.response(&s, &format!("{base}Response")),
                    None => Ty::Any,
                };
                Endpoint {
                    name: e.name.clone(),
                    subject: e.subject.clone(),
                    doc: e.metadata.get("doc").filter(|d| !d.is_empty()).cloned(),
                    request,
                    response,
                    idempotent: e.metadata.get("idempotent").is_some_and(|v| v == "true"),
                    stream: kind(e) == "server_stream",
                }
            })
            .collect();
        Model {
            service: info.name.clone(),
            version: info.version.clone(),
            description: info.description.clone(),
            client_name,
            types: walker.types,
            endpoints,
            streams,
        }
    }
}

/// One schema document being walked: its `$defs` and the names given to them so far.
struct Doc<'a> {
    defs: Option<&'a Map<String, Value>>,
    names: BTreeMap<String, String>,
}

impl<'a> Doc<'a> {
    fn new(root: &'a Value) -> Self {
        let defs = root
            .get("$defs")
            .or_else(|| root.get("definitions"))
            .and_then(Value::as_object);
        Doc {
            defs,
            names: BTreeMap::new(),
        }
    }
}

#[derive(Default)]
struct Walker {
    types: BTreeMap<String, NamedType>,
    /// The schema each name was made from: the same `$defs` entry in two endpoints' documents
    /// (a type both use) becomes one type, not `Sum` and `Sum2`.
    sources: BTreeMap<String, Value>,
    /// Names beyond [`RESERVED_TYPES`] that types may not take (the client class).
    reserved: Vec<String>,
}

/// The schema's `description`, when it is a non-empty string.
fn doc_of(s: &Value) -> Option<String> {
    s.get("description")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
}

/// True for an object schema that lists properties: a record, not a map.
fn has_properties(s: &Value) -> bool {
    s.get("properties").is_some_and(Value::is_object)
}

impl Walker {
    fn request(&mut self, root: &Value, name: &str) -> Request {
        if !has_properties(root) {
            return Request::Unknown;
        }
        let mut doc = Doc::new(root);
        let fields = self.fields(&mut doc, root, name, 1);
        if fields.is_empty() {
            return Request::Nothing;
        }
        match self.alloc(name, root) {
            Some((type_name, _)) => {
                self.types.insert(
                    type_name.clone(),
                    NamedType {
                        name: type_name.clone(),
                        doc: doc_of(root),
                        shape: Shape::Object(fields.clone()),
                    },
                );
                Request::Params { type_name, fields }
            }
            None => Request::Unknown,
        }
    }

    fn response(&mut self, root: &Value, hint: &str) -> Ty {
        let mut doc = Doc::new(root);
        self.ty(&mut doc, root, hint, 0)
    }

    /// A name for a type made from `source`: `candidate` made safe and unique, or the name an
    /// identical schema already has (then `true`: the type exists, do not walk it again).
    /// `None` past [`MAX_TYPES`].
    fn alloc(&mut self, candidate: &str, source: &Value) -> Option<(String, bool)> {
        let mut base = pascal(candidate);
        if RESERVED_TYPES.contains(&base.as_str()) || self.reserved.contains(&base) {
            base.push_str("Type");
        }
        let mut name = base.clone();
        for n in 2.. {
            match self.sources.get(&name) {
                Some(existing) if existing == source => return Some((name, true)),
                Some(_) => name = format!("{base}{n}"),
                None if self.reserved.contains(&name) => name = format!("{base}{n}"),
                None => break,
            }
        }
        if self.types.len() >= MAX_TYPES {
            return None;
        }
        self.sources.insert(name.clone(), source.clone());
        Some((name, false))
    }

    /// A named type for `s` under `candidate`'s name: an object type when it lists
    /// properties, an alias otherwise.
    fn named(&mut self, doc: &mut Doc<'_>, s: &Value, candidate: &str, depth: usize) -> Ty {
        let Some((name, exists)) = self.alloc(candidate, s) else {
            return Ty::Any;
        };
        if exists {
            return Ty::Named(name);
        }
        // A placeholder first, so a type that refers to itself (a tree) finds its name.
        self.types.insert(
            name.clone(),
            NamedType {
                name: name.clone(),
                doc: doc_of(s),
                shape: Shape::Alias(Ty::Any),
            },
        );
        let shape = if has_properties(s) {
            Shape::Object(self.fields(doc, s, &name, depth + 1))
        } else {
            Shape::Alias(self.ty_inner(doc, s, &name, depth + 1))
        };
        if let Some(t) = self.types.get_mut(&name) {
            t.shape = shape;
        }
        Ty::Named(name)
    }

    fn fields(&mut self, doc: &mut Doc<'_>, s: &Value, owner: &str, depth: usize) -> Vec<Field> {
        let Some(props) = s.get("properties").and_then(Value::as_object) else {
            return Vec::new();
        };
        let required: Vec<&str> = s
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut fields: Vec<Field> = props
            .iter()
            .map(|(wire, p)| Field {
                wire: wire.clone(),
                ty: self.ty(doc, p, &format!("{owner}{}", pascal(wire)), depth + 1),
                required: required.contains(&wire.as_str()),
                doc: doc_of(p),
            })
            .collect();
        fields.sort_by(|a, b| a.wire.cmp(&b.wire));
        fields
    }

    /// The type of subschema `s`; `hint` names it when it has to be a named type of its own
    /// (an object with properties and no title).
    fn ty(&mut self, doc: &mut Doc<'_>, s: &Value, hint: &str, depth: usize) -> Ty {
        if depth > MAX_DEPTH {
            return Ty::Any;
        }
        if let Some(reference) = s.get("$ref").and_then(Value::as_str) {
            return self.reference(doc, reference, depth);
        }
        if has_properties(s) {
            let candidate = s.get("title").and_then(Value::as_str).unwrap_or(hint);
            return self.named(doc, s, candidate, depth);
        }
        self.ty_inner(doc, s, hint, depth)
    }

    /// `ty` for a schema that is not a record.
    fn ty_inner(&mut self, doc: &mut Doc<'_>, s: &Value, hint: &str, depth: usize) -> Ty {
        if depth > MAX_DEPTH {
            return Ty::Any;
        }
        let Some(obj) = s.as_object() else {
            return Ty::Any;
        };
        if let Some(c) = obj.get("const") {
            return lit(c).map_or(Ty::Any, |l| Ty::Literals(vec![l]));
        }
        if let Some(values) = obj.get("enum").and_then(Value::as_array) {
            let lits: Option<Vec<Lit>> = values.iter().map(lit).collect();
            return match lits {
                Some(lits) if !lits.is_empty() => Ty::Literals(lits),
                _ => Ty::Any,
            };
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(members) = obj.get(key).and_then(Value::as_array) {
                let tys = members
                    .iter()
                    .enumerate()
                    .map(|(i, m)| self.ty(doc, m, &format!("{hint}{}", i + 1), depth + 1))
                    .collect();
                return union(tys);
            }
        }
        if let Some(all) = obj.get("allOf").and_then(Value::as_array)
            && let [only] = all.as_slice()
        {
            return self.ty(doc, only, hint, depth + 1);
        }
        let types: Vec<&str> = match obj.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return Ty::Any,
        };
        let tys = types
            .into_iter()
            .map(|t| match t {
                "null" => Ty::Null,
                "boolean" => Ty::Bool,
                "integer" => Ty::Int,
                "number" => Ty::Number,
                "string" => Ty::String,
                "array" => {
                    let items = obj.get("items").map_or(Ty::Any, |i| {
                        self.ty(doc, i, &format!("{hint}Item"), depth + 1)
                    });
                    Ty::Array(Box::new(items))
                }
                "object" => match obj.get("additionalProperties") {
                    Some(v @ Value::Object(_)) => Ty::Map(Box::new(self.ty(
                        doc,
                        v,
                        &format!("{hint}Value"),
                        depth + 1,
                    ))),
                    _ => Ty::Map(Box::new(Ty::Any)),
                },
                _ => Ty::Any,
            })
            .collect();
        union(tys)
    }

    fn reference(&mut self, doc: &mut Doc<'_>, reference: &str, depth: usize) -> Ty {
        let Some(key) = reference
            .strip_prefix("#/$defs/")
            .or_else(|| reference.strip_prefix("#/definitions/"))
        else {
            return Ty::Any;
        };
        // JSON Pointer escapes.
        let key = key.replace("~1", "/").replace("~0", "~");
        if let Some(name) = doc.names.get(&key) {
            return Ty::Named(name.clone());
        }
        let Some(def) = doc.defs.and_then(|d| d.get(&key)) else {
            return Ty::Any;
        };
        // Recorded before walking, so a recursive type refers to itself by name.
        let Some((name, exists)) = self.alloc(&key, def) else {
            return Ty::Any;
        };
        doc.names.insert(key.clone(), name.clone());
        if exists {
            return Ty::Named(name);
        }
        // `named` allocates again and finds the same source: undo this allocation first.
        self.sources.remove(&name);
        self.named(doc, def, &name, depth)
    }
}

/// A literal from a JSON enum value; objects and arrays are not literals.
fn lit(v: &Value) -> Option<Lit> {
    match v {
        Value::String(s) => Some(Lit::Str(s.clone())),
        Value::Number(n) => Some(Lit::Num(n.clone())),
        Value::Bool(b) => Some(Lit::Bool(*b)),
        Value::Null => Some(Lit::Null),
        _ => None,
    }
}

/// A union of `tys`, flattened and without repeats; one member is itself, none is `Any`.
pub(crate) fn union(tys: Vec<Ty>) -> Ty {
    let mut out: Vec<Ty> = Vec::new();
    for t in tys {
        let members = match t {
            Ty::Union(inner) => inner,
            Ty::Any => return Ty::Any,
            t => vec![t],
        };
        for m in members {
            // `oneOf` of `const`s (an enum whose variants have docs): one literal type.
            if let Ty::Literals(lits) = &m
                && let Some(Ty::Literals(existing)) =
                    out.iter_mut().find(|o| matches!(o, Ty::Literals(_)))
            {
                for l in lits {
                    if !existing.contains(l) {
                        existing.push(l.clone());
                    }
                }
            } else if !out.contains(&m) {
                out.push(m);
            }
        }
    }
    match out.len() {
        0 => Ty::Any,
        1 => out.swap_remove(0),
        _ => Ty::Union(out),
    }
}

/// Whether `null` is one of the values of `ty`.
pub(crate) fn is_nullable(ty: &Ty) -> bool {
    match ty {
        Ty::Null | Ty::Any => true,
        Ty::Union(m) => m.iter().any(is_nullable),
        Ty::Literals(l) => l.contains(&Lit::Null),
        _ => false,
    }
}

/// The ASCII words of `s`: runs of letters and digits, split at lower-to-upper case changes
/// (`askedBy`, `asked_by` and `Asked-By` are all `asked`, `by`).
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            cur.push(c);
        } else {
            prev_lower = false;
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A PascalCase identifier from any text: ASCII letters and digits only, never empty, never
/// starting with a digit.
pub fn pascal(s: &str) -> String {
    let mut out: String = words(s)
        .iter()
        .map(|w| {
            let mut cs = w.chars();
            cs.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + cs.as_str()
            })
        })
        .collect();
    if out.is_empty() {
        out.push_str("Type");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'T');
    }
    out
}

/// A snake_case identifier from any text (`askedBy` → `asked_by`), never empty, never starting
/// with a digit or an underscore.
pub fn snake(s: &str) -> String {
    let mut out = words(s)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_");
    if out.is_empty() {
        out.push_str("field");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "f_");
    }
    out
}

/// A camelCase identifier from any text (`asked_by` → `askedBy`).
pub fn camel(s: &str) -> String {
    let p = pascal(&snake(s));
    let mut cs = p.chars();
    cs.next().map_or_else(String::new, |c| {
        c.to_ascii_lowercase().to_string() + cs.as_str()
    })
}

/// `ident`, or `ident` with `_` appended until it is none of `taken`.
pub(crate) fn avoid(ident: String, taken: &[&str]) -> String {
    let mut ident = ident;
    while taken.contains(&ident.as_str()) {
        ident.push('_');
    }
    ident
}

/// HTTP status texts the generated clients know, from micro's own table, so errors read the
/// same in every language.
pub(crate) fn status_table() -> Vec<(u16, String)> {
    [
        400u16, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 499, 500, 501, 502, 503, 504,
    ]
    .into_iter()
    .map(|c| (c, micro_core::error::status_text(c).into_owned()))
    .collect()
}

/// A generated file: its path under the output directory and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct File {
    /// The path, relative, with `/` separators.
    pub path: String,
    /// The contents.
    pub text: String,
}

/// A package name for a registry from the service name: lowercase ASCII words joined with
/// `-` plus `-client` (`greeter-client`).
pub(crate) fn package_name(service: &str) -> String {
    let words: Vec<String> = words(service)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect();
    if words.is_empty() {
        return "micro-client".into();
    }
    format!("{}-client", words.join("-"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use micro_core::registry::EndpointInfo;
    use serde_json::json;

    /// An instance whose endpoints cover nested structs, enums, optionals, arrays and maps.
    pub(crate) fn sample() -> Instance {
        let dialect = "https://json-schema.org/draft/2020-12/schema";
        let profile_req = json!({"$schema": dialect, "type": "object",
            "description": "Looks a person up.",
            "properties": {"name": {"type": "string"},
                           "tier": {"anyOf": [{"$ref": "#/$defs/Tier"}, {"type": "null"}]}},
            "required": ["name"],
            "$defs": {"Tier": {"type": "string", "enum": ["free", "pro"], "description": "A plan."}}});
        let profile_resp = json!({"$schema": dialect, "title": "Profile", "type": "object",
        "description": "A person.",
        "properties": {
            "name": {"type": "string"},
            "nick_name": {"type": ["string", "null"], "description": "What friends say."},
            "tier": {"$ref": "#/$defs/Tier"},
            "address": {"$ref": "#/$defs/Address"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "scores": {"type": "object", "additionalProperties": {"type": "integer"}},
            "class": {"type": "integer"}
        },
        "required": ["name", "nick_name", "tier", "address", "tags", "scores", "class"],
        "$defs": {
            "Tier": {"type": "string", "enum": ["free", "pro"], "description": "A plan."},
            "Address": {"type": "object", "properties": {
                "city": {"type": "string"},
                "zip": {"type": ["string", "null"]}}, "required": ["city", "zip"]}
        }});
        let mut info = Instance::new("my-svc", "id", "1.0.0");
        info.description = "Test */ service\n\"\"\"".into();
        let mut profile = EndpointInfo::new("get_profile", "my-svc.get_profile", "q");
        profile.metadata = [
            ("doc".to_owned(), "Looks */ up.".to_owned()),
            (REQUEST_SCHEMA.to_owned(), profile_req.to_string()),
            (RESPONSE_SCHEMA.to_owned(), profile_resp.to_string()),
            ("idempotent".to_owned(), "true".to_owned()),
        ]
        .into();
        let mut ping = EndpointInfo::new("ping", "my-svc.ping", "q");
        ping.metadata = [
            (
                REQUEST_SCHEMA.to_owned(),
                json!({"type": "object", "properties": {}}).to_string(),
            ),
            (
                RESPONSE_SCHEMA.to_owned(),
                json!({"title": "string", "type": "string"}).to_string(),
            ),
        ]
        .into();
        // Another implementation's endpoint: no schemas.
        let raw = EndpointInfo::new("raw", "other.subject", "q");
        info.endpoints = vec![ping, profile, raw];
        info
    }

    #[test]
    fn server_streams_get_a_reading_method_and_sent_streams_a_note() {
        let mut info = sample();
        let mut ticks = EndpointInfo::new("ticks", "my-svc.ticks", "q");
        ticks.metadata = [("kind".to_owned(), "server_stream".to_owned())].into();
        let mut upload = EndpointInfo::new("upload", "my-svc.upload", "q");
        upload.metadata = [("kind".to_owned(), "client_stream".to_owned())].into();
        info.endpoints.push(ticks);
        info.endpoints.push(upload);
        let m = Model::from_instance(&info);
        assert!(m.endpoints.iter().any(|e| e.name == "ticks" && e.stream));
        assert!(m.endpoints.iter().all(|e| e.name != "upload"));
        assert_eq!(
            m.streams,
            [("upload".to_owned(), "client_stream".to_owned())]
        );
        let note = m.streams_note().unwrap();
        assert!(note.contains("upload (client_stream)"), "{note}");
        assert!(Model::from_instance(&sample()).streams_note().is_none());
        let ts = super::ts::index_ts(&m);
        assert!(ts.contains("upload (client_stream)"), "{ts}");
        assert!(
            ts.contains("  ticks(args: Record<string, unknown> = {}, options?: CallOptions): AsyncGenerator<unknown"),
            "{ts}"
        );
        assert!(!ts.contains("upload("), "{ts}");
        let py = super::py::init_py(&m);
        assert!(py.contains("    def ticks(\n"), "{py}");
        assert!(!py.contains("def upload("), "{py}");
    }

    #[test]
    fn walks_nested_types_enums_optionals_arrays_and_maps() {
        let m = Model::from_instance(&sample());
        assert_eq!(m.client_name, "MySvcClient");
        let names: Vec<&str> = m.types.keys().map(String::as_str).collect();
        // `Tier` appears in both documents, identically: one type.
        assert_eq!(names, ["Address", "GetProfileRequest", "Profile", "Tier"]);
        let ep: Vec<&str> = m.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(ep, ["get_profile", "ping", "raw"]);
        let get = &m.endpoints[0];
        assert!(get.idempotent);
        assert_eq!(get.response, Ty::Named("Profile".into()));
        let Request::Params { type_name, fields } = &get.request else {
            panic!("{:?}", get.request)
        };
        assert_eq!(type_name, "GetProfileRequest");
        assert_eq!(fields[1].wire, "tier");
        assert!(!fields[1].required);
        assert_eq!(
            fields[1].ty,
            Ty::Union(vec![Ty::Named("Tier".into()), Ty::Null])
        );
        let Shape::Object(profile) = &m.types["Profile"].shape else {
            panic!()
        };
        let by = |w: &str| profile.iter().find(|f| f.wire == w).unwrap().ty.clone();
        assert_eq!(by("tags"), Ty::Array(Box::new(Ty::String)));
        assert_eq!(by("scores"), Ty::Map(Box::new(Ty::Int)));
        assert_eq!(by("nick_name"), Ty::Union(vec![Ty::String, Ty::Null]));
        assert_eq!(
            m.types["Tier"].shape,
            Shape::Alias(Ty::Literals(vec![
                Lit::Str("free".into()),
                Lit::Str("pro".into())
            ]))
        );
        assert_eq!(m.endpoints[1].request, Request::Nothing);
        assert_eq!(m.endpoints[1].response, Ty::String);
        assert_eq!(m.endpoints[2].request, Request::Unknown);
        assert_eq!(m.endpoints[2].response, Ty::Any);
    }

    #[test]
    fn documented_enum_variants_are_one_literal_type() {
        let s = json!({"oneOf": [{"const": "free", "description": "Costs nothing."},
                                 {"type": "string", "enum": ["pro", "free"]}, {"type": "null"}]});
        let mut w = Walker::default();
        let mut doc = Doc::new(&s);
        assert_eq!(
            w.ty(&mut doc, &s, "Tier", 0),
            Ty::Union(vec![
                Ty::Literals(vec![Lit::Str("free".into()), Lit::Str("pro".into())]),
                Ty::Null
            ])
        );
    }

    #[test]
    fn identifiers_are_ascii_and_safe() {
        assert_eq!(pascal("Map_of_string"), "MapOfString");
        assert_eq!(pascal("9lives"), "T9lives");
        assert_eq!(pascal("\"; drop(); //"), "Drop");
        assert_eq!(pascal("ünï"), "N");
        assert_eq!(pascal(""), "Type");
        assert_eq!(snake("askedBy"), "asked_by");
        assert_eq!(snake("_id"), "id");
        assert_eq!(snake("1st"), "f_1st");
        assert_eq!(camel("get_profile"), "getProfile");
        assert_eq!(camel("HTTPThing"), "httpthing");
        assert_eq!(package_name("My_Svc"), "my-svc-client");
        assert_eq!(avoid("class".into(), &["class", "class_"]), "class__");
    }

    #[test]
    fn hostile_schemas_are_bounded() {
        // Nesting far beyond the limit ends as `Any`, without overflowing the stack.
        let mut s = json!({"type": "string"});
        for _ in 0..1_000 {
            s = json!({"type": "array", "items": s});
        }
        let mut w = Walker::default();
        let mut doc = Doc::new(&s);
        let mut ty = w.ty(&mut doc, &s, "Deep", 0);
        let mut levels = 0;
        while let Ty::Array(inner) = ty {
            ty = *inner;
            levels += 1;
        }
        assert_eq!(ty, Ty::Any);
        assert!(levels <= MAX_DEPTH + 1, "{levels}");
        // A type that refers to itself is named once.
        let tree = json!({"$ref": "#/$defs/Tree", "$defs": {"Tree": {"type": "object",
            "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Tree"}}}}}});
        let mut doc = Doc::new(&tree);
        assert_eq!(w.ty(&mut doc, &tree, "X", 0), Ty::Named("Tree".into()));
        let Shape::Object(f) = &w.types["Tree"].shape else {
            panic!()
        };
        assert_eq!(f[0].ty, Ty::Array(Box::new(Ty::Named("Tree".into()))));
        // Reserved names are avoided.
        let s = json!({"$ref": "#/$defs/Promise", "$defs": {"Promise": {"type": "string"}}});
        let mut doc = Doc::new(&s);
        assert_eq!(w.ty(&mut doc, &s, "X", 0), Ty::Named("PromiseType".into()));
    }
}
