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
    pub(crate) args: Vec<Arg>,
    pub(crate) output: Output,
}

/// One argument: a field of the request object.
pub(crate) struct Arg {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    /// `Option<_>`: may be omitted on the wire.
    pub(crate) optional: bool,
}

/// What a method returns.
pub(crate) struct Output {
    /// The whole return type as written (`Result<String, Error>`).
    pub(crate) ty: Type,
    /// The `T` of `Result<T, Error>`.
    pub(crate) ok: Type,
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
