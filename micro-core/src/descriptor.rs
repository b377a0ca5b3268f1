//! Static descriptions of services and endpoints, emitted by `#[service]`.
//!
//! The server registers them, the registry publishes them (INFO endpoint metadata), and tools
//! such as the `micro` CLI show them, so a service documents itself from its trait.

use std::collections::BTreeMap;

/// A service as its trait declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceDescriptor {
    /// The service name (`greeter`).
    pub name: &'static str,
    /// Its version (semver).
    pub version: &'static str,
    /// The trait's doc comment.
    pub description: &'static str,
    /// The Rust trait name (`Greeter`).
    pub trait_name: &'static str,
    /// The endpoints, in declaration order.
    pub endpoints: &'static [EndpointDescriptor],
    /// The queue group of every endpoint that names none (`#[service(queue_group = "...")]`);
    /// `None` leaves it to the runtime's default (`q`, or `MICRO_QUEUE_GROUP`).
    pub queue_group: Option<&'static str>,
}

impl ServiceDescriptor {
    /// Builds a descriptor (used by generated code; `#[non_exhaustive]` keeps literals out).
    pub const fn new(
        name: &'static str,
        version: &'static str,
        description: &'static str,
        trait_name: &'static str,
        endpoints: &'static [EndpointDescriptor],
    ) -> Self {
        ServiceDescriptor {
            name,
            version,
            description,
            trait_name,
            endpoints,
            queue_group: None,
        }
    }

    /// Sets the service-level queue group (used by generated code).
    #[must_use]
    pub const fn with_queue_group(mut self, queue_group: &'static str) -> Self {
        self.queue_group = Some(queue_group);
        self
    }

    /// The queue group endpoint `endpoint` is served in: its own, else the service's, else
    /// `default` (the runtime's; `None` when queue groups are disabled).
    pub fn queue_group_of<'a>(
        &self,
        endpoint: &EndpointDescriptor,
        default: Option<&'a str>,
    ) -> Option<&'a str> {
        endpoint.queue_group.or(self.queue_group).or(default)
    }

    /// The endpoint named `name`.
    pub fn endpoint(&self, name: &str) -> Option<&'static EndpointDescriptor> {
        self.endpoints.iter().find(|e| e.name == name)
    }
}

/// How an endpoint exchanges messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointKind {
    /// One request, one reply.
    #[default]
    Unary,
}

impl EndpointKind {
    /// A short lowercase name (`unary`).
    pub const fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Unary => "unary",
        }
    }
}

/// One endpoint as its trait method declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointDescriptor {
    /// The endpoint name (the method name unless renamed).
    pub name: &'static str,
    /// The Rust method name.
    pub method: &'static str,
    /// The method's doc comment.
    pub doc: &'static str,
    /// Unary (or, later, streaming).
    pub kind: EndpointKind,
    /// The arguments: the fields of the request object, in order.
    pub request: &'static [FieldDescriptor],
    /// The `Ok` type of the return value, as written in the trait.
    pub response: &'static str,
    /// This endpoint's queue group (`#[micro(queue_group = "...")]`), if it sets one.
    pub queue_group: Option<&'static str>,
    /// `#[micro(idempotent)]`: calling it twice has the effect of calling it once, so a client
    /// may retry it after a timeout or a lost connection (the client's `RetryPolicy` decides).
    pub idempotent: bool,
}

impl EndpointDescriptor {
    /// Builds a unary endpoint descriptor (used by generated code).
    pub const fn unary(
        name: &'static str,
        method: &'static str,
        doc: &'static str,
        request: &'static [FieldDescriptor],
        response: &'static str,
    ) -> Self {
        EndpointDescriptor {
            name,
            method,
            doc,
            kind: EndpointKind::Unary,
            request,
            response,
            queue_group: None,
            idempotent: false,
        }
    }

    /// Marks the endpoint idempotent (used by generated code).
    #[must_use]
    pub const fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// Sets the endpoint's queue group (used by generated code).
    #[must_use]
    pub const fn with_queue_group(mut self, queue_group: &'static str) -> Self {
        self.queue_group = Some(queue_group);
        self
    }

    /// The request shape as a JSON object of field name to Rust type, e.g.
    /// `{"a":"i64","b":"i64"}`.
    pub fn request_shape(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = self
            .request
            .iter()
            .map(|f| (f.name.to_owned(), serde_json::Value::from(f.ty)))
            .collect();
        serde_json::Value::Object(map).to_string()
    }

    /// The metadata published for this endpoint in INFO replies: `doc`, `kind`, `request`
    /// (the request shape), `response` (the reply type) and, for an idempotent endpoint,
    /// `idempotent` = `true`.
    pub fn metadata(&self) -> BTreeMap<String, String> {
        let mut md = BTreeMap::new();
        if !self.doc.is_empty() {
            md.insert("doc".to_owned(), self.doc.to_owned());
        }
        md.insert("kind".to_owned(), self.kind.as_str().to_owned());
        md.insert("request".to_owned(), self.request_shape());
        md.insert("response".to_owned(), self.response.to_owned());
        if self.idempotent {
            md.insert("idempotent".to_owned(), "true".to_owned());
        }
        md
    }
}

/// One argument of an endpoint: a field of its request object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldDescriptor {
    /// The parameter name, which is the JSON key.
    pub name: &'static str,
    /// The Rust type as written.
    pub ty: &'static str,
}

impl FieldDescriptor {
    /// Builds a field descriptor (used by generated code).
    pub const fn new(name: &'static str, ty: &'static str) -> Self {
        FieldDescriptor { name, ty }
    }
}
