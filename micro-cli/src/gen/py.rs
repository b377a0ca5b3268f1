//! `micro gen py`: a Python package on `nats-py`, with pydantic v2 models.
//!
//! `<module>/__init__.py` holds one `BaseModel` per object type, type aliases (`Literal[...]`,
//! `Union[...]`) after them in dependency order, `MicroError`, and the client class with one
//! `async` method per endpoint, its parameters keyword-only; `pyproject.toml` and a README go
//! next to it. Untrusted text reaches the code only as string literals in which everything
//! but printable ASCII is escaped (docstrings included), never as comments.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::{
    File, Lit, Model, NamedType, Request, Shape, Ty, avoid, is_nullable, package_name, snake,
    status_table,
};

/// Python's keywords: no identifier may be one.
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Attributes of pydantic's `BaseModel` a field must not shadow.
const MODEL_ATTRS: &[&str] = &[
    "construct",
    "copy",
    "dict",
    "fields",
    "from_orm",
    "json",
    "parse_file",
    "parse_obj",
    "parse_raw",
    "schema",
    "schema_json",
    "update_forward_refs",
    "validate",
];

/// Names every method has besides its endpoint's parameters (its own and its locals).
const METHOD_PARAMS: &[&str] = &["self", "timeout", "metadata", "args", "body", "data"];

/// A string literal valid in Python and in TOML: `\`, `"` and everything that is not printable
/// ASCII escaped, so no text can end the literal, the line or the file.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            c if (c as u32) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// The Python spelling of `ty`.
pub fn ty(t: &Ty) -> String {
    match t {
        Ty::Any => "Any".into(),
        Ty::Null => "None".into(),
        Ty::Bool => "bool".into(),
        Ty::Int => "int".into(),
        Ty::Number => "float".into(),
        Ty::String => "str".into(),
        Ty::Array(inner) => format!("list[{}]", ty(inner)),
        Ty::Map(inner) => format!("dict[str, {}]", ty(inner)),
        Ty::Named(name) => name.clone(),
        Ty::Literals(lits) => {
            let lits: Vec<String> = lits
                .iter()
                .map(|l| match l {
                    Lit::Str(s) => quoted(s),
                    Lit::Num(n) => n.to_string(),
                    Lit::Bool(true) => "True".into(),
                    Lit::Bool(false) => "False".into(),
                    Lit::Null => "None".into(),
                })
                .collect();
            format!("Literal[{}]", lits.join(", "))
        }
        Ty::Union(members) => {
            let rest: Vec<String> = members.iter().filter(|m| **m != Ty::Null).map(ty).collect();
            let inner = match rest.as_slice() {
                [] => return "None".into(),
                [one] => one.clone(),
                _ => format!("Union[{}]", rest.join(", ")),
            };
            if rest.len() < members.len() {
                format!("Optional[{inner}]")
            } else {
                inner
            }
        }
    }
}

/// The Python attribute name of each field, in order: snake_case, unique, clear of keywords,
/// `BaseModel`'s attributes, its `model_` namespace and `extra`.
fn field_names(fields: &[super::Field], extra: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for f in fields {
        let mut name = snake(&f.wire);
        if name.starts_with("model_") {
            name.insert_str(0, "field_");
        }
        let mut taken: Vec<&str> = KEYWORDS
            .iter()
            .chain(MODEL_ATTRS)
            .chain(extra)
            .copied()
            .collect();
        taken.extend(names.iter().map(String::as_str));
        names.push(avoid(name, &taken));
    }
    names
}

/// The method name of each endpoint, in `model.endpoints` order.
fn method_names(model: &Model) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for e in &model.endpoints {
        let mut taken: Vec<&str> = KEYWORDS.to_vec();
        taken.extend(names.iter().map(String::as_str));
        names.push(avoid(snake(&e.name), &taken));
    }
    names
}

/// The named types `t` mentions.
fn refs(t: &Ty, out: &mut BTreeSet<String>) {
    match t {
        Ty::Named(n) => {
            out.insert(n.clone());
        }
        Ty::Array(i) | Ty::Map(i) => refs(i, out),
        Ty::Union(ms) => ms.iter().for_each(|m| refs(m, out)),
        _ => {}
    }
}

/// The aliases in an order where each comes after the aliases it uses; one caught in a cycle
/// (which Python cannot spell) becomes `Any`.
fn alias_order(model: &Model) -> Vec<(String, Ty)> {
    let aliases: BTreeMap<&str, &Ty> = model
        .types
        .values()
        .filter_map(|t| match &t.shape {
            Shape::Alias(a) => Some((t.name.as_str(), a)),
            Shape::Object(_) => None,
        })
        .collect();
    #[derive(PartialEq)]
    enum State {
        Visiting,
        Done,
    }
    fn visit(
        name: &str,
        aliases: &BTreeMap<&str, &Ty>,
        state: &mut BTreeMap<String, State>,
        out: &mut Vec<(String, Ty)>,
    ) -> bool {
        match state.get(name) {
            Some(State::Done) => return true,
            Some(State::Visiting) => return false,
            None => {}
        }
        let Some(t) = aliases.get(name) else {
            return true;
        };
        state.insert(name.to_owned(), State::Visiting);
        let mut deps = BTreeSet::new();
        refs(t, &mut deps);
        let mut ok = true;
        for d in &deps {
            ok &= visit(d, aliases, state, out);
        }
        state.insert(name.to_owned(), State::Done);
        out.push((name.to_owned(), if ok { (*t).clone() } else { Ty::Any }));
        true
    }
    let mut state = BTreeMap::new();
    let mut out = Vec::new();
    for name in aliases.keys() {
        visit(name, &aliases, &mut state, &mut out);
    }
    out
}

/// One `BaseModel` class.
fn class(out: &mut String, t: &NamedType, fields: &[super::Field], extra: &[&str]) {
    let _ = writeln!(out, "\n\nclass {}(BaseModel):", t.name);
    if let Some(doc) = &t.doc {
        let _ = writeln!(out, "    {}", quoted(doc));
    }
    out.push_str("    model_config = ConfigDict(populate_by_name=True)\n");
    for (f, name) in fields.iter().zip(field_names(fields, extra)) {
        let annotation = if f.required || is_nullable(&f.ty) {
            ty(&f.ty)
        } else {
            ty(&super::union(vec![f.ty.clone(), Ty::Null]))
        };
        let mut args: Vec<String> = Vec::new();
        if !f.required {
            args.push("default=None".into());
        }
        if name != f.wire {
            args.push(format!("alias={}", quoted(&f.wire)));
        }
        if let Some(doc) = &f.doc {
            args.push(format!("description={}", quoted(doc)));
        }
        if args.is_empty() {
            let _ = writeln!(out, "    {name}: {annotation}");
        } else if args == ["default=None"] {
            let _ = writeln!(out, "    {name}: {annotation} = None");
        } else {
            let _ = writeln!(out, "    {name}: {annotation} = Field({})", args.join(", "));
        }
    }
}

/// The module's name: `greeter_client`.
pub fn module_name(model: &Model) -> String {
    format!("{}_client", snake(&model.service))
}

/// The package's source: `<module>/__init__.py`.
pub fn init_py(model: &Model) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Generated by `micro gen py` from the INFO of a micro service. Do not edit: run it again.\n{}",
        quoted(&format!(
            "Typed client of the micro service {} {}: {}",
            model.service, model.version, model.description
        ))
    );
    out.push_str(PY_HEAD);
    let requests: BTreeSet<&str> = model
        .endpoints
        .iter()
        .filter_map(|e| match &e.request {
            Request::Params { type_name, .. } => Some(type_name.as_str()),
            _ => None,
        })
        .collect();
    let mut classes = Vec::new();
    for t in model.types.values() {
        if let Shape::Object(fields) = &t.shape {
            let extra = if requests.contains(t.name.as_str()) {
                METHOD_PARAMS
            } else {
                &[]
            };
            class(&mut out, t, fields, extra);
            classes.push(t.name.as_str());
        }
    }
    let aliases = alias_order(model);
    if !aliases.is_empty() {
        out.push_str("\n\n");
    }
    for (name, t) in &aliases {
        let _ = writeln!(out, "{name} = {}", ty(t));
    }
    if !classes.is_empty() {
        // The classes' annotations name aliases defined after them, and one another.
        let _ = writeln!(
            out,
            "\n\nfor _model in ({},):\n    _model.model_rebuild()",
            classes.join(", ")
        );
    }
    out.push('\n');
    let methods = method_names(model);
    for (e, method) in model.endpoints.iter().zip(&methods) {
        let _ = writeln!(
            out,
            "_{}_REPLY: TypeAdapter[Any] = TypeAdapter({})",
            method.to_ascii_uppercase(),
            ty(&e.response)
        );
    }
    out.push_str(PY_RUNTIME);
    let _ = writeln!(out, "\nclass {}:", model.client_name);
    let _ = writeln!(
        out,
        "    {}",
        quoted(&format!(
            "A client of the micro service {} {}: {}{}",
            model.service,
            model.version,
            model.description,
            model
                .streams_note()
                .map(|note| format!("\n\n{note}"))
                .unwrap_or_default()
        ))
    );
    out.push_str(PY_CLIENT);
    for (e, method) in model.endpoints.iter().zip(&methods) {
        let reply = ty(&e.response);
        let mut params = vec!["self".to_owned()];
        let mut body = Vec::new();
        match &e.request {
            Request::Nothing => body.push("        body: Any = {}".to_owned()),
            Request::Unknown => {
                params.push("args: Optional[Mapping[str, Any]] = None".into());
                body.push("        body: Any = dict(args or {})".to_owned());
            }
            Request::Params { type_name, fields } => {
                params.push("*".into());
                body.push("        args: dict[str, Any] = {}".into());
                let names = field_names(fields, METHOD_PARAMS);
                // Required parameters first: Python wants those without defaults first.
                let mut order: Vec<(&super::Field, &String)> = fields.iter().zip(&names).collect();
                order.sort_by_key(|(f, _)| !f.required);
                for (f, name) in order {
                    if f.required {
                        params.push(format!("{name}: {}", ty(&f.ty)));
                        body.push(format!("        args[{}] = {name}", quoted(name)));
                    } else {
                        let t = ty(&super::union(vec![f.ty.clone(), Ty::Null]));
                        params.push(format!("{name}: {t} = None"));
                        body.push(format!(
                            "        if {name} is not None:\n            args[{}] = {name}",
                            quoted(name)
                        ));
                    }
                }
                body.push(format!(
                    "        body: Any = {type_name}(**args).model_dump(mode=\"json\", by_alias=True, exclude_unset=True)"
                ));
            }
        }
        if params.last().is_some_and(|p| p != "*") && !matches!(e.request, Request::Params { .. }) {
            params.push("*".into());
        }
        params.push("timeout: Optional[float] = None".into());
        params.push("metadata: Optional[Mapping[str, str]] = None".into());
        if e.stream {
            let _ = writeln!(
                out,
                "\n    def {method}(\n        {},\n    ) -> AsyncIterator[{reply}]:",
                params.join(",\n        ")
            );
        } else {
            let _ = writeln!(
                out,
                "\n    async def {method}(\n        {},\n    ) -> {reply}:",
                params.join(",\n        ")
            );
        }
        let mut doc = e.doc.clone().unwrap_or_default();
        if e.idempotent {
            doc.push_str("\n\nIdempotent: a call whose fate is unknown may be repeated.");
        }
        if e.stream {
            doc.push_str(STREAM_DOC);
        }
        if !doc.is_empty() {
            let _ = writeln!(out, "        {}", quoted(&doc));
        }
        for line in body {
            let _ = writeln!(out, "{line}");
        }
        let id = format!("{}.{}", model.service, e.name);
        if e.stream {
            let _ = writeln!(
                out,
                "        return self._micro_stream({}, {}, body, timeout, metadata, _{}_REPLY)",
                quoted(&e.subject),
                quoted(&id),
                method.to_ascii_uppercase(),
            );
            continue;
        }
        let _ = writeln!(
            out,
            "        data = await self._micro_call({}, {}, body, timeout, metadata)\n        \
             return _reply(_{}_REPLY, data, {})",
            quoted(&e.subject),
            quoted(&id),
            method.to_ascii_uppercase(),
            quoted(&id),
        );
    }
    let mut all: Vec<String> = vec![
        "DEFAULT_TIMEOUT".into(),
        "MicroError".into(),
        model.client_name.clone(),
    ];
    all.extend(model.types.keys().cloned());
    all.sort();
    let _ = writeln!(
        out,
        "\n\n__all__ = [{}]",
        all.iter().map(|n| quoted(n)).collect::<Vec<_>>().join(", ")
    );
    out = out.replace("__STATUS__", &status_dict());
    out
}

fn status_dict() -> String {
    let entries: Vec<String> = status_table()
        .into_iter()
        .map(|(c, t)| format!("    {c}: {},\n", quoted(&t)))
        .collect();
    format!("{{\n{}}}", entries.concat())
}

const PY_HEAD: &str = r#"
from __future__ import annotations

import asyncio
import json
import re
from typing import Any, AsyncIterator, Literal, Mapping, Optional, Union

import nats.errors
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

# How long a call waits for its reply, in seconds, when neither the client nor the call says.
DEFAULT_TIMEOUT = 5.0

_STATUS: dict[int, str] = __STATUS__


class MicroError(Exception):
    """A structured error, as micro's Rust ``micro::Error``: ``code`` is an HTTP status code,
    ``status`` its text, ``detail`` what went wrong, ``id`` who raised it (``service.endpoint``).
    A reply that did not come in time is 408; no instance serving the endpoint, 503."""

    def __init__(self, code: int, detail: str = "", id: str = "", status: Optional[str] = None) -> None:
        self.code = code
        self.detail = detail
        self.id = id
        self.status = status if status is not None else _STATUS.get(code, f"Status {code}")
        super().__init__(f"{code} {self.status}: {detail}" if detail else f"{code} {self.status}")

"#;

const PY_RUNTIME: &str = r#"
_RESERVED_HEADER = re.compile(r"(?i)nats-|content-type$|micro-timeout$")
# Printable ASCII without `:` and space: what a NATS header name can be.
_HEADER_NAME = re.compile(r"[!-9;-~]+")


def _reply_error(data: bytes, code: str, description: str, endpoint_id: str) -> MicroError:
    # The structured error of an error reply: the body when it is one, else the ADR-32 headers.
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), int):
        detail = body.get("detail")
        status = body.get("status")
        id = body.get("id")
        return MicroError(
            body["code"],
            detail if isinstance(detail, str) else "",
            id if isinstance(id, str) and id else endpoint_id,
            status if isinstance(status, str) else None,
        )
    try:
        n = int(code)
    except ValueError:
        n = 500
    return MicroError(n, description, endpoint_id)


def _reply(adapter: TypeAdapter[Any], data: Any, endpoint_id: str) -> Any:
    try:
        return adapter.validate_python(data)
    except ValidationError as e:
        raise MicroError(502, f"the reply does not match its schema: {e}", endpoint_id) from None

"#;

const PY_CLIENT: &str = r#"
    def __init__(
        self,
        nc: Any,
        timeout: float = DEFAULT_TIMEOUT,
        metadata: Optional[Mapping[str, str]] = None,
    ) -> None:
        """``nc`` is a connected ``nats.aio.client.Client``; ``timeout`` (seconds) and
        ``metadata`` apply to every call, and a call's own override them."""
        self._nc = nc
        self._timeout = timeout
        self._metadata = dict(metadata or {})

    def _micro_headers(
        self, endpoint_id: str, wait: float, metadata: Optional[Mapping[str, str]]
    ) -> dict[str, str]:
        headers: dict[str, str] = {}
        for key, value in {**self._metadata, **(metadata or {})}.items():
            if _RESERVED_HEADER.match(key):
                continue
            if not _HEADER_NAME.fullmatch(key):
                raise MicroError(
                    400,
                    f"metadata key {key!r} cannot be a NATS header: use printable ASCII without `:` or spaces",
                    endpoint_id,
                )
            if "\r" in value or "\n" in value:
                raise MicroError(
                    400,
                    f"metadata value of {key!r} cannot be a NATS header: it contains a line break",
                    endpoint_id,
                )
            headers[key] = value
        # The time left, in whole microseconds (PROTOCOL.md).
        headers["Micro-Timeout"] = str(int(wait * 1_000_000))
        return headers

    def _micro_wait(self, endpoint_id: str, timeout: Optional[float]) -> float:
        wait = self._timeout if timeout is None else timeout
        if not wait > 0:
            raise MicroError(408, "the deadline passed before the call was sent", endpoint_id)
        return wait

    async def _micro_call(
        self,
        subject: str,
        endpoint_id: str,
        body: Any,
        timeout: Optional[float],
        metadata: Optional[Mapping[str, str]],
    ) -> Any:
        wait = self._micro_wait(endpoint_id, timeout)
        headers = self._micro_headers(endpoint_id, wait, metadata)
        payload = json.dumps(body, separators=(",", ":")).encode()
        try:
            msg = await self._nc.request(subject, payload, timeout=wait, headers=headers)
        except nats.errors.NoRespondersError:
            raise MicroError(503, f"no instance serves {subject}", endpoint_id) from None
        except (nats.errors.TimeoutError, asyncio.TimeoutError):
            raise MicroError(408, f"no reply within {wait:g} s", endpoint_id) from None
        headers = msg.headers or {}
        code = headers.get("Nats-Service-Error-Code")
        if code:
            raise _reply_error(msg.data, code, headers.get("Nats-Service-Error", ""), endpoint_id)
        if not msg.data:
            return None
        try:
            return json.loads(msg.data)
        except ValueError as e:
            raise MicroError(502, f"the reply is not JSON: {e}", endpoint_id) from None

    async def _micro_stream(
        self,
        subject: str,
        endpoint_id: str,
        body: Any,
        timeout: Optional[float],
        metadata: Optional[Mapping[str, str]],
        adapter: TypeAdapter[Any],
    ) -> AsyncIterator[Any]:
        # A server stream, read as PROTOCOL.md's plain reader: the items on an inbox of its own,
        # each numbered in `Micro-Seq`, then the empty end marker with the count, or an error.
        wait = self._micro_wait(endpoint_id, timeout)
        headers = self._micro_headers(endpoint_id, wait, metadata)
        payload = json.dumps(body, separators=(",", ":")).encode()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        inbox = self._nc.new_inbox()
        sub = await self._nc.subscribe(inbox)
        try:
            await self._nc.publish(subject, payload, reply=inbox, headers=headers)
            received = 0
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    raise MicroError(408, f"the stream did not end within {wait:g} s", endpoint_id)
                try:
                    msg = await sub.next_msg(timeout=left)
                except (nats.errors.TimeoutError, asyncio.TimeoutError):
                    raise MicroError(408, f"the stream did not end within {wait:g} s", endpoint_id) from None
                hdrs = msg.headers or {}
                if hdrs.get("Status") == "503":
                    raise MicroError(503, f"no instance serves {subject}", endpoint_id)
                code = hdrs.get("Nats-Service-Error-Code")
                if code:
                    raise _reply_error(msg.data, code, hdrs.get("Nats-Service-Error", ""), endpoint_id)
                seq = hdrs.get("Micro-Seq", "")
                if hdrs.get("Micro-Stream") == "end":
                    if seq != str(received):
                        raise MicroError(
                            502, f"the end marker counts {seq} items but {received} arrived", endpoint_id
                        )
                    return
                if seq != str(received + 1):
                    raise MicroError(
                        502,
                        f"item {seq} arrived where item {received + 1} was due: the stream is not whole",
                        endpoint_id,
                    )
                received += 1
                try:
                    data = json.loads(msg.data)
                except ValueError as e:
                    raise MicroError(502, f"item {seq} is not JSON: {e}", endpoint_id) from None
                yield _reply(adapter, data, endpoint_id)
        finally:
            await sub.unsubscribe()
"#;

/// What the documentation of a server stream's method adds.
const STREAM_DOC: &str = "\n\nA server stream: ``async for`` yields the items in order as they arrive, and ends \
     after the last one; a stream that fails (or is not whole) raises ``MicroError`` after the \
     items before it. ``timeout`` bounds the whole stream. A reader without the stream protocol \
     gets no flow control: read as fast as items come. Leaving early lets the service run on to \
     the deadline.";

/// A version pip accepts (PEP 440 release numbers), from the service's (or `0.0.0`).
fn pep440(v: &str) -> &str {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if ok { v } else { "0.0.0" }
}

/// Every file of the package.
pub fn files(model: &Model) -> Vec<File> {
    let module = module_name(model);
    let name = package_name(&model.service);
    let pyproject = format!(
        "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
         [project]\nname = \"{name}\"\nversion = \"{}\"\ndescription = {}\n\
         requires-python = \">=3.9\"\ndependencies = [\"nats-py>=2.16,<3\", \"pydantic>=2,<3\"]\n\n\
         [tool.setuptools]\npackages = [\"{module}\"]\n\n\
         [tool.setuptools.package-data]\n{module} = [\"py.typed\"]\n",
        pep440(&model.version),
        quoted(&format!(
            "Typed client of the micro service {}",
            model.service
        )),
    );
    let methods = method_names(model)
        .into_iter()
        .map(|m| format!("- `{m}`\n"))
        .collect::<String>();
    let readme = format!(
        "# {name}\n\nA typed Python client of the micro service `{}` (version `{}`), generated \
         by `micro gen py` from the service's INFO. Do not edit: generate it again.\n\n\
         ```python\nimport nats\nfrom {module} import {client}, MicroError\n\n\
         nc = await nats.connect(\"nats://127.0.0.1:4222\")\n\
         client = {client}(nc, timeout=2.0, metadata={{\"x-user\": \"alice\"}})\n```\n\n\
         Every method is `async`, takes its arguments as keyword arguments, plus `timeout` \
         (seconds, sent to the service as `Micro-Timeout`) and `metadata` (sent as headers), \
         returns pydantic models, and raises `MicroError` (`code`, `status`, `detail`, `id`): \
         the service's own, 408 when no reply came in time, 503 when no instance serves the \
         endpoint.\n\nMethods:\n\n{methods}\nInstall with `pip install .`.\n",
        super::ts::md_code(&model.service),
        super::ts::md_code(&model.version),
        client = model.client_name,
    );
    vec![
        File {
            path: "pyproject.toml".into(),
            text: pyproject,
        },
        File {
            path: "README.md".into(),
            text: readme,
        },
        File {
            path: format!("{module}/__init__.py"),
            text: init_py(model),
        },
        File {
            path: format!("{module}/py.typed"),
            text: String::new(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::r#gen::tests::sample;

    #[test]
    fn models_aliases_and_methods() {
        let model = Model::from_instance(&sample());
        let py = init_py(&model);
        for expected in [
            "\n\nclass Address(BaseModel):\n    model_config = ConfigDict(populate_by_name=True)\n    \
             city: str\n    zip: Optional[str]\n",
            "\n\nclass GetProfileRequest(BaseModel):\n    \"Looks a person up.\"\n    \
             model_config = ConfigDict(populate_by_name=True)\n    name: str\n    \
             tier: Optional[Tier] = None\n",
            "    address: Address\n    class_: int = Field(alias=\"class\")\n",
            "    nick_name: Optional[str] = Field(description=\"What friends say.\")\n",
            "    scores: dict[str, int]\n    tags: list[str]\n",
            "\nTier = Literal[\"free\", \"pro\"]\n",
            "for _model in (Address, GetProfileRequest, Profile,):\n    _model.model_rebuild()\n",
            "_GET_PROFILE_REPLY: TypeAdapter[Any] = TypeAdapter(Profile)\n",
            "    async def get_profile(\n        self,\n        *,\n        name: str,\n        \
             tier: Optional[Tier] = None,\n        timeout: Optional[float] = None,\n        \
             metadata: Optional[Mapping[str, str]] = None,\n    ) -> Profile:\n",
            "        body: Any = GetProfileRequest(**args).model_dump(mode=\"json\", by_alias=True, exclude_unset=True)\n        \
             data = await self._micro_call(\"my-svc.get_profile\", \"my-svc.get_profile\", body, timeout, metadata)\n",
            "    async def ping(\n        self,\n        *,\n        timeout: Optional[float] = None,\n",
            "    async def raw(\n        self,\n        args: Optional[Mapping[str, Any]] = None,\n        *,\n",
            "class MySvcClient:\n",
            "    422: \"Unprocessable Entity\",\n",
        ] {
            assert!(py.contains(expected), "missing {expected:?} in:\n{py}");
        }
        // The description's quotes and line breaks stay inside their literal.
        assert!(py.contains("Test */ service\\n\\\"\\\"\\\""), "{py}");
        assert_eq!(py, init_py(&Model::from_instance(&sample())));
        let files = files(&model);
        assert_eq!(files[2].path, "my_svc_client/__init__.py");
        assert!(
            files[0]
                .text
                .contains("name = \"my-svc-client\"\nversion = \"1.0.0\"")
        );
    }

    #[test]
    fn literals_escape_everything_but_printable_ascii() {
        assert_eq!(quoted("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(
            quoted("\r\u{2028}\u{0}é😀"),
            "\"\\u000d\\u2028\\u0000\\u00e9\\U0001f600\""
        );
        assert_eq!(pep440("1.2.3"), "1.2.3");
        assert_eq!(pep440("1.0.0-beta\"\n"), "0.0.0");
    }

    #[test]
    fn cyclic_aliases_become_any() {
        let mut model = Model::from_instance(&sample());
        model.types.insert(
            "Loop".into(),
            NamedType {
                name: "Loop".into(),
                doc: None,
                shape: Shape::Alias(Ty::Array(Box::new(Ty::Named("Loop".into())))),
            },
        );
        let order = alias_order(&model);
        assert!(order.contains(&("Loop".into(), Ty::Any)), "{order:?}");
    }
}
