//! The attribute macros of micro: [`#[service]`](macro@service) and
//! [`#[subscriber]`](macro@subscriber).
//!
//! Use them through `micro-core` (`use micro_core::prelude::*;`), which re-exports them and
//! provides the runtime (`micro_core::__private`) that the generated code calls. This crate
//! depends on no crate of micro, so the naming rules it checks at compile time are restated at
//! run time in `micro-core` and `micro-nats`.
//!
//! Each macro parses its input into a plain model, checks it, and only then generates code
//! (`service/` and `subscriber.rs`). Every user error is collected and reported at once, at the
//! span of the offending code; the user's item is still emitted, with stubs of what would have
//! been generated, so that one mistake gives one error.
#![forbid(unsafe_code)]

mod args;
mod ctxt;
mod naming;
mod paths;
// Public in micro-core, which compiles the same file as `micro_core::naming`.
#[allow(unreachable_pub)]
mod rules;
mod service;
mod subscriber;

use proc_macro::TokenStream;
use quote::quote;

/// Turns a trait into a service definition, or registers an implementation of one.
///
/// # On a trait
///
/// ```ignore
/// use micro_core::prelude::*;
///
/// /// Greets people.
/// #[service(name = "greeter", version = "1.0.0")]
/// pub trait Greeter {
///     /// Says hello to `name`.
///     async fn hello(&self, name: String) -> Result<String, Error>;
///     #[micro(name = "ping-it")]
///     async fn ping(&self) -> Result<(), Error>;
/// }
/// ```
///
/// Every method is an endpoint. It must be an `async fn` taking `&self` and owned arguments
/// with plain names, and return `Result<T, Error>` (`micro_core::Error`). Arguments and `T`
/// must implement `serde::Serialize` and `serde::Deserialize`. On the wire, the request is an
/// object keyed by parameter name (`{"name":"World"}`, `{}` without arguments; `Option`
/// arguments may be omitted) and the reply is the bare `T` (`"Hello World"`, `null` for `()`).
///
/// A method streams when `Streaming<T>` (`micro_core::stream::Streaming`, in the prelude) is
/// its `Ok` type or the type of one of its arguments:
///
/// ```ignore
/// async fn ticks(&self, n: u32) -> Result<Streaming<Tick>, Error>;                       // server stream
/// async fn upload(&self, name: String, chunks: Streaming<Chunk>) -> Result<Summary, Error>; // client stream
/// async fn chat(&self, msgs: Streaming<Msg>) -> Result<Streaming<Msg>, Error>;            // both ways
/// ```
///
/// At most one argument may be a stream, in any position; it is not part of the request
/// object, which holds the other arguments. `Streaming` must be the whole type of the argument
/// or the whole `Ok` type (not `Option<Streaming<T>>`, `&Streaming<T>` or `Streaming<T>`
/// outside `Result`), and it is the item type `T` that must cross the wire. The descriptor
/// gives the endpoint's kind, its item types (`response` is the returned stream's item type,
/// `input` the stream argument's) and their schemas. A stream is never retried, even with
/// `#[micro(idempotent)]`.
///
/// Arguments, all optional:
///
/// | argument | default | meaning |
/// | --- | --- | --- |
/// | `name = "..."` | the trait name in kebab case (`UserStore` → `user-store`) | the service name: ASCII letters, digits, `-`, `_` |
/// | `version = "..."` | `"0.0.0"` | the service version, a semantic version |
/// | `queue_group = "..."` | the runtime's (`q`, or `MICRO_QUEUE_GROUP`) | the NATS queue group the instances of every endpoint share |
/// | `crate = "..."` | `::micro_core` | the path of `micro-core`, when the dependency is renamed |
///
/// On a method, `#[micro(name = "...")]` renames its endpoint (default: the method name) and
/// `#[micro(queue_group = "...")]` gives it its own queue group (endpoint, then service, then
/// the runtime's default, as the NATS services protocol resolves it). `#[micro(idempotent)]`
/// declares that calling it twice has the effect of calling it once: it is carried in the
/// descriptor and in INFO metadata (`idempotent` = `true`), and the generated client lets a
/// `RetryPolicy` retry its calls after a timeout or a lost connection, which is never done for
/// other endpoints (they are retried only when the call reached no handler).
///
/// Generated items, with the trait's visibility:
///
/// | item | what it is |
/// | --- | --- |
/// | `trait Greeter` | the trait, each `async fn` rewritten as `fn .. -> impl Future<Output = ..> + Send`, with `Send + Sync + 'static` supertraits, docs kept |
/// | `GreeterServer<T>` | serves a `T: Greeter`: `new(T)`, `from_arc(Arc<T>)`, `get_ref()`, `Clone`, `Debug`, and `micro_core::server::handler::Handler` |
/// | `GreeterClient` | a typed client: `new(&Client)`, `client()`, `DESCRIPTOR`, and one `async fn` per method with the trait's signature and docs |
/// | `GreeterClient::DESCRIPTOR` | the `&'static ServiceDescriptor`: name, version, docs, and per endpoint its name, method, docs, argument names and types, and reply type |
/// | hidden | one request struct per method (`GreeterHelloArgs`), compile-time checks that every argument and reply type can cross the wire, and the trait method used by `#[service]` on an impl |
///
/// Method names that would collide with the client's own (`new`, `client`) are rejected; keep
/// the endpoint name with `#[micro(name = "new")]` on a renamed method.
///
/// # On an impl
///
/// ```ignore
/// #[derive(Default)]
/// struct MyGreeter;
///
/// #[service]
/// impl Greeter for MyGreeter {
///     async fn hello(&self, name: String) -> Result<String, Error> {
///         Ok(format!("Hello {name}"))
///     }
///     async fn ping(&self) -> Result<(), Error> {
///         Ok(())
///     }
/// }
/// ```
///
/// The impl is kept as written and registered (through `inventory`), so that
/// `micro_core::Service::run` serves `GreeterServer::new(MyGreeter::default())` without being
/// told. The type must implement `Default`; for state built at run time, leave out `#[service]`
/// and hand `GreeterServer::new(value)` to the service builder. The impl takes no arguments
/// except `crate = "..."`, must be of a `#[service]` trait, and cannot be generic.
#[proc_macro_attribute]
pub fn service(args: TokenStream, input: TokenStream) -> TokenStream {
    service::expand(args.into(), input.into()).into()
}

/// Subscribes an `async fn` to a topic.
///
/// ```ignore
/// use micro_core::prelude::*;
///
/// #[subscriber(topic = "user.created", queue = "audit")]
/// async fn on_user_created(event: UserCreated) -> Result<(), Error> {
///     Ok(())
/// }
/// ```
///
/// The fn takes exactly one owned argument, the event, which must implement
/// `serde::Deserialize`, and returns `Result<(), Error>`. It is kept as written and registered
/// (through `inventory`), so that `micro_core::Service::run` subscribes it.
///
/// | argument | required | meaning |
/// | --- | --- | --- |
/// | `topic = "..."` | yes | dot-separated tokens (`user.created`); `*` matches one token, `>` (last) the rest |
/// | `queue = "..."` | no | a queue group: the subscribers sharing it receive each event once between them |
/// | `crate = "..."` | no | the path of `micro-core`, when the dependency is renamed |
#[proc_macro_attribute]
pub fn subscriber(args: TokenStream, input: TokenStream) -> TokenStream {
    subscriber::expand(args.into(), input.into()).into()
}

/// The head of an item (`struct Foo`, `fn foo`), where an error about the whole item points.
fn item_head(item: &syn::Item) -> proc_macro2::TokenStream {
    match item {
        syn::Item::Struct(i) => {
            let (kw, ident) = (&i.struct_token, &i.ident);
            quote!(#kw #ident)
        }
        syn::Item::Enum(i) => {
            let (kw, ident) = (&i.enum_token, &i.ident);
            quote!(#kw #ident)
        }
        syn::Item::Union(i) => {
            let (kw, ident) = (&i.union_token, &i.ident);
            quote!(#kw #ident)
        }
        syn::Item::Fn(i) => {
            let (kw, ident) = (&i.sig.fn_token, &i.sig.ident);
            quote!(#kw #ident)
        }
        syn::Item::Mod(i) => {
            let (kw, ident) = (&i.mod_token, &i.ident);
            quote!(#kw #ident)
        }
        syn::Item::Type(i) => {
            let (kw, ident) = (&i.type_token, &i.ident);
            quote!(#kw #ident)
        }
        syn::Item::Const(i) => {
            let (kw, ident) = (&i.const_token, &i.ident);
            quote!(#kw #ident)
        }
        syn::Item::Static(i) => {
            let (kw, ident) = (&i.static_token, &i.ident);
            quote!(#kw #ident)
        }
        syn::Item::Trait(i) => {
            let (kw, ident) = (&i.trait_token, &i.ident);
            quote!(#kw #ident)
        }
        syn::Item::Impl(i) => {
            let (kw, ty) = (&i.impl_token, &i.self_ty);
            quote!(#kw #ty)
        }
        other => quote!(#other),
    }
}
