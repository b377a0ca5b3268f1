//! Reading the endpoint JSON Schemas that INFO carries (`request_schema`, `response_schema`):
//! the fields to show, a short type for each, and an example body the endpoint accepts.
//!
//! The schemas come from any NATS participant, so everything here is bounded: nesting and
//! `$ref` chains past [`MAX_DEPTH`] give up (`null`, `any`) instead of recursing further, and
//! one reading visits at most [`MAX_VISITS`] schema nodes, since a schema that names the same
//! subschema several times per level (a `$ref` in many properties, a type listed many times)
//! makes the work grow exponentially with its depth while its text grows linearly.

use serde::Serialize;
use serde_json::{Map, Value};

/// How deep a schema is followed (nesting and `$ref`s together).
pub const MAX_DEPTH: usize = 16;

/// How many schema nodes one call of [`fields`], [`type_name`] or [`example`] visits at most;
/// past it, what is left shows as `any` or `null`. Far more than a schema within micro's
/// published size limit has, `$ref`s followed included.
pub const MAX_VISITS: usize = 10_000;

/// What is left of a call's [`MAX_VISITS`].
struct Budget(std::cell::Cell<usize>);

impl Budget {
    fn new() -> Self {
        Budget(std::cell::Cell::new(MAX_VISITS))
    }

    /// Takes one visit; `false` once none are left.
    fn take(&self) -> bool {
        let left = self.0.get();
        if left == 0 {
            return false;
        }
        self.0.set(left - 1);
        true
    }
}

/// The most items an example array gets.
const MAX_EXAMPLE_ITEMS: u64 = 4;

/// One property of an object schema, as `micro describe` and the dashboard show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FieldView {
    /// The property (JSON key).
    pub name: String,
    /// A short type: `string`, `integer (int64)`, `array of Point`, `string | null`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Whether the schema lists it as required.
    pub required: bool,
    /// Its description (the field's doc comment), if any.
    pub description: Option<String>,
}

/// The properties of `schema` (a root document) when it describes an object, in the order
/// the schema lists them; empty otherwise.
pub fn fields(schema: &Value) -> Vec<FieldView> {
    // One budget for every property's type: a schema can have many properties.
    let budget = Budget::new();
    let Some(object) = resolve(schema, schema, 0) else {
        return Vec::new();
    };
    let Some(properties) = object.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let required: Vec<&str> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    properties
        .iter()
        .map(|(name, s)| FieldView {
            name: name.clone(),
            ty: type_at(s, 0, &budget),
            required: required.contains(&name.as_str()),
            description: s
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
        .collect()
}

/// A short name of the type `schema` describes, `$ref`s shown by their definition's name.
pub fn type_name(schema: &Value) -> String {
    type_at(schema, 0, &Budget::new())
}

fn type_at(schema: &Value, depth: usize, budget: &Budget) -> String {
    if depth > MAX_DEPTH || !budget.take() {
        return "any".to_owned();
    }
    let Some(s) = schema.as_object() else {
        return "any".to_owned();
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    if let Some(c) = s.get("const") {
        return c.to_string();
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        let shown: Vec<String> = options.iter().map(Value::to_string).collect();
        return format!("one of {}", shown.join(", "));
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = s.get(key).and_then(Value::as_array) {
            let shown: Vec<String> = options
                .iter()
                .map(|o| type_at(o, depth + 1, budget))
                .collect();
            return shown.join(" | ");
        }
    }
    let one = |ty: &str| -> String {
        match ty {
            "array" => match s.get("prefixItems").and_then(Value::as_array) {
                Some(items) => {
                    let shown: Vec<String> = items
                        .iter()
                        .map(|i| type_at(i, depth + 1, budget))
                        .collect();
                    format!("[{}]", shown.join(", "))
                }
                None => match s.get("items") {
                    Some(items) => format!("array of {}", type_at(items, depth + 1, budget)),
                    None => "array".to_owned(),
                },
            },
            "object" => match (s.get("properties"), s.get("additionalProperties")) {
                (None, Some(values)) if values.is_object() => {
                    format!("map of {}", type_at(values, depth + 1, budget))
                }
                _ => s
                    .get("title")
                    .and_then(Value::as_str)
                    .map_or_else(|| "object".to_owned(), str::to_owned),
            },
            other => match s.get("format").and_then(Value::as_str) {
                Some(format) => format!("{other} ({format})"),
                None => other.to_owned(),
            },
        }
    };
    match s.get("type") {
        Some(Value::String(ty)) => one(ty),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .map(one)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".to_owned(),
    }
}

/// The object a schema stands for, following `$ref`s into the root's `$defs`.
fn resolve<'a>(schema: &'a Value, root: &'a Value, depth: usize) -> Option<&'a Map<String, Value>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let s = schema.as_object()?;
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(pointer(root, r)?, root, depth + 1),
        None => Some(s),
    }
}

/// The schema a local `$ref` (`#/$defs/Point`, `#`) points at.
fn pointer<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let path = reference.strip_prefix('#')?;
    if path.is_empty() {
        return Some(root);
    }
    root.pointer(path)
}

/// A value valid for `schema` (a root document), to start a call from: the schema's own
/// `examples`, `default`, `const` or first `enum` value where it has one; otherwise `"World"`
/// for a string, `1` (or the nearest bound) for a number, one item for an array, every
/// property for an object, and `null` for what the schema leaves open.
///
/// ```
/// let schema = serde_json::json!({
///     "type": "object",
///     "properties": {"name": {"type": "string"}, "count": {"type": "integer", "minimum": 3}},
///     "required": ["name"],
/// });
/// assert_eq!(
///     micro_cli::schema::example(&schema),
///     serde_json::json!({"name": "World", "count": 3}),
/// );
/// ```
pub fn example(schema: &Value) -> Value {
    example_at(schema, schema, 0, &Budget::new())
}

fn example_at(schema: &Value, root: &Value, depth: usize, budget: &Budget) -> Value {
    if depth > MAX_DEPTH || !budget.take() {
        return Value::Null;
    }
    let Some(s) = schema.as_object() else {
        return Value::Null;
    };
    if let Some(first) = s
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(v) = s.get("default").or_else(|| s.get("const")) {
        return v.clone();
    }
    if let Some(first) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        return pointer(root, r).map_or(Value::Null, |target| {
            example_at(target, root, depth + 1, budget)
        });
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = s.get(key).and_then(Value::as_array) {
            // The first alternative that is not `null`: a value shows more than its absence.
            let pick = options
                .iter()
                .find(|o| o.get("type").and_then(Value::as_str) != Some("null"))
                .or_else(|| options.first());
            return pick.map_or(Value::Null, |o| example_at(o, root, depth + 1, budget));
        }
    }
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for part in all {
            match example_at(part, root, depth + 1, budget) {
                Value::Object(fields) => merged.extend(fields),
                other if all.len() == 1 => return other,
                _ => {}
            }
        }
        return Value::Object(merged);
    }
    let ty = match s.get("type") {
        Some(Value::String(ty)) => ty.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if s.contains_key("properties") => "object",
        _ => return Value::Null,
    };
    let number = |key: &str| s.get(key).and_then(Value::as_f64);
    match ty {
        "string" => Value::String(example_string(s)),
        "integer" => {
            let mut n: i64 = 1;
            if let Some(min) = number("minimum") {
                n = n.max(min.ceil() as i64);
            }
            if let Some(min) = number("exclusiveMinimum") {
                n = n.max(min.floor() as i64 + 1);
            }
            if let Some(max) = number("maximum") {
                n = n.min(max.floor() as i64);
            }
            if let Some(max) = number("exclusiveMaximum") {
                n = n.min(max.ceil() as i64 - 1);
            }
            Value::from(n)
        }
        "number" => {
            let mut n = 1.5;
            if let Some(min) = number("minimum").or_else(|| number("exclusiveMinimum")) {
                n = f64::max(n, min + 1.0);
            }
            if let Some(max) = number("maximum").or_else(|| number("exclusiveMaximum")) {
                n = f64::min(n, max - 1.0);
            }
            serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
        }
        "boolean" => Value::Bool(true),
        "array" => {
            if let Some(items) = s.get("prefixItems").and_then(Value::as_array) {
                return Value::Array(
                    items
                        .iter()
                        .map(|i| example_at(i, root, depth + 1, budget))
                        .collect(),
                );
            }
            let min = s.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            let max = s
                .get("maxItems")
                .and_then(Value::as_u64)
                .unwrap_or(u64::MAX);
            let count = min.max(1).min(max).min(MAX_EXAMPLE_ITEMS);
            match s.get("items") {
                // Each item is built, not cloned, so that every one is paid for: copies of
                // copies would grow the example exponentially with the nesting.
                Some(items) if items.is_object() => Value::Array(
                    (0..count)
                        .map(|_| example_at(items, root, depth + 1, budget))
                        .collect(),
                ),
                _ => Value::Array(Vec::new()),
            }
        }
        "object" => Value::Object(
            s.get("properties")
                .and_then(Value::as_object)
                .map(|props| {
                    props
                        .iter()
                        .map(|(k, v)| (k.clone(), example_at(v, root, depth + 1, budget)))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        _ => Value::Null,
    }
}

/// `"World"`, or a value of the string's `format`, fitted to its length bounds.
fn example_string(s: &Map<String, Value>) -> String {
    let base = match s.get("format").and_then(Value::as_str) {
        Some("date-time") => "2026-01-01T00:00:00Z",
        Some("date") => "2026-01-01",
        Some("time") => "00:00:00Z",
        Some("uuid") => "00000000-0000-0000-0000-000000000000",
        Some("email") => "user@example.com",
        Some("uri") => "https://example.com/",
        Some("ipv4") => "127.0.0.1",
        Some("ipv6") => "::1",
        _ => "World",
    };
    let mut text = base.to_owned();
    let len = |key: &str| {
        s.get(key)
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
    };
    if let Some(max) = len("maxLength")
        && text.chars().count() > max
    {
        text = text.chars().take(max).collect();
    }
    if let Some(min) = len("minLength").map(|m| m.min(1024))
        && text.chars().count() < min
    {
        text.push_str(&"!".repeat(min - text.chars().count()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn examples_follow_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "initial": {"type": "string", "minLength": 1, "maxLength": 1},
                "age": {"type": "integer", "format": "uint32", "minimum": 0},
                "ratio": {"type": "number"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "boolean"}]},
                "nick": {"type": ["string", "null"]},
                "point": {"$ref": "#/$defs/Point"},
                "kind": {"oneOf": [{"type": "string", "enum": ["Open"]}, {"type": "object"}]},
                "when": {"type": "string", "format": "date-time"},
                "anything": {"description": "Rust type `Foo` (no JsonSchema impl)"},
            },
            "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "integer"}}}},
        });
        assert_eq!(
            example(&schema),
            json!({
                "name": "World", "initial": "W", "age": 1, "ratio": 1.5, "tags": ["World"],
                "pair": [1, true], "nick": "World", "point": {"x": 1}, "kind": "Open",
                "when": "2026-01-01T00:00:00Z", "anything": null,
            })
        );
        assert_eq!(
            example(&json!({"type": "string", "examples": ["Ada"]})),
            json!("Ada")
        );
        assert_eq!(
            example(&json!({"type": "integer", "maximum": -3})),
            json!(-3)
        );
        assert_eq!(example(&json!(true)), Value::Null);
    }

    #[test]
    fn fields_with_types_and_docs() {
        let schema = json!({
            "title": "Sum",
            "type": "object",
            "properties": {
                "total": {"type": "integer", "format": "int64", "description": "`a + b`."},
                "asked_by": {"type": ["string", "null"]},
                "points": {"type": "array", "items": {"$ref": "#/$defs/Point"}},
                "tags": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
            "required": ["total"],
        });
        let f = fields(&schema);
        assert_eq!(f.len(), 4);
        assert_eq!(f[0].name, "asked_by");
        assert_eq!(f[0].ty, "string | null");
        assert!(!f[0].required);
        assert_eq!(f[1].ty, "array of Point");
        assert_eq!(f[2].ty, "map of integer");
        assert_eq!(f[3].name, "total");
        assert_eq!(f[3].ty, "integer (int64)");
        assert!(f[3].required);
        assert_eq!(f[3].description.as_deref(), Some("`a + b`."));
        assert_eq!(type_name(&schema), "Sum");
        assert!(fields(&json!({"type": "string"})).is_empty());
    }

    #[test]
    fn crafted_schemas_are_bounded() {
        // A `$ref` to itself, and nesting far past the limit.
        let cyclic = json!({"$ref": "#"});
        assert_eq!(example(&cyclic), Value::Null);
        assert!(fields(&cyclic).is_empty());
        let mut deep = json!({"type": "string"});
        for _ in 0..500 {
            deep = json!({"type": "array", "items": deep});
        }
        let start = std::time::Instant::now();
        let _ = example(&deep);
        let _ = type_name(&deep);
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    /// Schemas whose work grows exponentially with their depth although their text grows
    /// linearly: each level names the next one several times (a `$ref` in many properties, a
    /// type listed many times, an array of several items). Found while writing the `schema`
    /// fuzz target (RELIABILITY.md, "Fuzzing"); before the visit budget, none of them finished.
    #[test]
    fn schemas_that_fan_out_are_bounded_in_time_and_size() {
        let refs: Map<String, Value> = (0..10)
            .map(|i| (format!("p{i}"), json!({"$ref": "#"})))
            .collect();
        let fan_out_refs = json!({"type": "object", "properties": refs});
        let mut fan_out_types = json!({"type": "string"});
        let mut fan_out_items = json!({"type": "string"});
        for _ in 0..MAX_DEPTH {
            fan_out_types = json!({"type": vec!["array"; 8], "items": fan_out_types});
            fan_out_items = json!({"type": "array", "minItems": 4, "items": fan_out_items});
        }
        for schema in [fan_out_refs, fan_out_types, fan_out_items] {
            let start = std::time::Instant::now();
            let shown = example(&schema);
            let ty = type_name(&schema);
            let listed = fields(&schema);
            assert!(
                start.elapsed() < std::time::Duration::from_secs(1),
                "{:?}",
                start.elapsed()
            );
            let size = serde_json::to_vec(&shown).unwrap().len();
            assert!(size < 1024 * 1024, "an example of {size} bytes");
            assert!(ty.len() < 1024 * 1024, "a type of {} bytes", ty.len());
            let listed: usize = listed.iter().map(|f| f.ty.len()).sum();
            assert!(listed < 1024 * 1024, "fields' types of {listed} bytes");
        }
    }
}
