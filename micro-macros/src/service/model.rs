//! The service as plain data. Each part keeps the `syn` node it came from, so that checks and
//! generated assertions can point at the user's code.

use proc_macro2::Span;
use syn::{Attribute, Ident, LitStr, Type, Visibility};

use crate::paths::Runtime;

/// A `#[service]` trait.
pub(crate) struct ServiceDef {
    /// The trait as written (helper attributes still present).
    pub(crate) original: syn::ItemTrait,
    pub(crate) vis: Visibility,
    /// The trait name (`Greeter`).
    pub(crate) ident: Ident,
    /// The service name, and where it came from (`name = "..."`, else the trait name).
    pub(crate) name: String,
    pub(crate) name_span: Span,
    /// The version (`version = "..."` or `0.0.0`) and its literal, if given.
    pub(crate) version: String,
    pub(crate) version_lit: Option<LitStr>,
    /// `queue_group = "..."`: the queue group of every endpoint that sets none itself.
    pub(crate) queue_group: Option<LitStr>,
    /// The trait's doc comment as text.
    pub(crate) doc: String,
    pub(crate) methods: Vec<Method>,
    pub(crate) runtime: Runtime,
}

/// One trait method, which becomes one endpoint.
pub(crate) struct Method {
    /// The method as written.
    pub(crate) original: syn::TraitItemFn,
    /// The method name (`hello`).
    pub(crate) ident: Ident,
    /// The endpoint name: `#[micro(name = "...")]` or the method name.
    pub(crate) endpoint: String,
    /// Where the endpoint name came from: the `name = "..."` literal or the method name.
    pub(crate) endpoint_span: Span,
    /// `#[micro(queue_group = "...")]`: this endpoint's queue group.
    pub(crate) queue_group: Option<LitStr>,
    /// `#[micro(idempotent)]`: a call may be repeated safely, so clients may retry it after a
    /// timeout or a lost connection.
    pub(crate) idempotent: bool,
    /// `#[doc]` attributes.
    pub(crate) docs: Vec<Attribute>,
    /// `#[cfg]` and `#[cfg_attr]`, copied onto every item generated for this method.
    pub(crate) cfgs: Vec<Attribute>,
    /// The doc comment as text.
    pub(crate) doc: String,
    /// The arguments that make up the request object, in order (not the stream argument).
    pub(crate) args: Vec<Arg>,
    /// The `Streaming<T>` argument, if the method takes one.
    pub(crate) input: Option<StreamArg>,
    pub(crate) output: Output,
}

/// How an endpoint exchanges messages, from its signature.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Unary,
    ServerStream,
    ClientStream,
    Bidirectional,
}

impl Method {
    pub(crate) fn kind(&self) -> Kind {
        match (self.input.is_some(), self.output.item.is_some()) {
            (false, false) => Kind::Unary,
            (false, true) => Kind::ServerStream,
            (true, false) => Kind::ClientStream,
            (true, true) => Kind::Bidirectional,
        }
    }

    /// The types that cross the wire one value at a time: the request arguments, the items of
    /// a stream argument, and the reply or the items of a returned stream. Each must be a
    /// `WireType`; `Streaming<T>` itself never is one.
    pub(crate) fn wire_types(&self) -> impl Iterator<Item = &Type> {
        self.args
            .iter()
            .map(|arg| &arg.ty)
            .chain(self.input.as_ref().map(|input| &input.item))
            .chain(std::iter::once(self.output.wire_type()))
    }
}

/// One argument: a field of the request object.
pub(crate) struct Arg {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    /// `Option<_>`: may be omitted on the wire.
    pub(crate) optional: bool,
}

/// The `Streaming<T>` argument of a method that takes a stream.
pub(crate) struct StreamArg {
    pub(crate) ident: Ident,
    /// The whole type as written (`Streaming<Chunk>`).
    pub(crate) ty: Type,
    /// The `T` of `Streaming<T>`.
    pub(crate) item: Type,
    /// How many request arguments come before it, which is where it goes back in a call.
    pub(crate) position: usize,
}

/// What a method returns.
pub(crate) struct Output {
    /// The whole return type as written (`Result<String, Error>`).
    pub(crate) ty: Type,
    /// The `T` of `Result<T, Error>`.
    pub(crate) ok: Type,
    /// The `T` of `Result<Streaming<T>, Error>`: the method answers with a stream of them.
    pub(crate) item: Option<Type>,
}

impl Output {
    /// What one reply message carries: the stream's item, else the `Ok` type.
    pub(crate) fn wire_type(&self) -> &Type {
        self.item.as_ref().unwrap_or(&self.ok)
    }
}

/// A `#[service]` impl.
pub(crate) struct ImplDef {
    pub(crate) original: syn::ItemImpl,
    /// The implemented trait's path.
    pub(crate) trait_path: syn::Path,
    /// The implementing type.
    pub(crate) self_ty: Type,
    /// `state = "T"`: the impl is built with `From<T>` from the service's state, not `Default`.
    pub(crate) state: Option<Type>,
    pub(crate) runtime: Runtime,
}
