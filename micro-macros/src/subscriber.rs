//! `#[subscriber(topic = "...", queue = "...")]` on `async fn f(event: T) -> Result<(), Error>`
//! (or `async fn f(event: T, state: S)`, with `S` from the service's state): keep the fn and
//! register it with `inventory` so `Service::run` subscribes it. Small enough to
//! keep parse, check and generate in one file; split it like `service/` when it grows.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{FnArg, Ident, ReturnType, Type};

use crate::args::{self, Key};
use crate::ctxt::Ctxt;
use crate::naming;
use crate::paths::Runtime;
use crate::service::with_error;

/// A `#[subscriber]` fn as plain data.
struct SubscriberDef {
    ident: Ident,
    event: Type,
    /// The type of the second argument: state given to the service, cloned for every event.
    state: Option<Type>,
    topic: String,
    queue: Option<String>,
    runtime: Runtime,
}

/// Expands `#[subscriber(args)] item`.
pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = match syn::parse2::<syn::Item>(input.clone()) {
        Ok(syn::Item::Fn(item)) => item,
        Ok(other) => {
            let err = syn::Error::new_spanned(
                crate::item_head(&other),
                "`#[subscriber]` goes on an `async fn` that takes the event, as in \
                 `async fn on_user_created(event: UserCreated) -> Result<(), Error>`",
            );
            return with_error(other.into_token_stream(), err);
        }
        Err(err) => return with_error(input, err),
    };
    let cx = Ctxt::new();
    let args = args::parse(
        &cx,
        args,
        "#[subscriber]",
        &[Key::Topic, Key::Queue, Key::Crate],
    );
    let def = parse(&cx, &args, &item);
    match (cx.check(), def) {
        (Ok(()), Some(def)) => generate(&def, &item),
        (Err(err), _) => with_error(item.into_token_stream(), err),
        (Ok(()), None) => item.into_token_stream(),
    }
}

fn parse(cx: &Ctxt, args: &args::Args, item: &syn::ItemFn) -> Option<SubscriberDef> {
    let sig = &item.sig;
    let ident = &sig.ident;

    let topic = match &args.topic {
        Some(arg) => {
            let topic = arg.value.value();
            if let Some(why) = naming::invalid_topic(&topic) {
                cx.error_spanned_by(
                    &arg.value,
                    format!(
                        "invalid topic `{topic}`: {why}; a topic is dot-separated tokens such as \
                         `user.created`, with `*` for one token and `>` for the rest"
                    ),
                );
            }
            Some(topic)
        }
        None => {
            cx.error_at(
                proc_macro2::Span::call_site(),
                "missing `topic`: write `#[subscriber(topic = \"user.created\")]`",
            );
            None
        }
    };
    let queue = args.queue.as_ref().map(|arg| {
        let queue = arg.value.value();
        if let Some(why) = naming::invalid_queue(&queue) {
            cx.error_spanned_by(
                &arg.value,
                format!(
                    "invalid queue `{queue}`: {why}; a queue group is a name without spaces or wildcards, such as `audit`"
                ),
            );
        }
        queue
    });

    if sig.asyncness.is_none() {
        cx.error_spanned_by(
            sig.fn_token,
            format!("`#[subscriber]` fns must be `async`: write `async fn {ident}`"),
        );
    }
    if let Some(constness) = &sig.constness {
        cx.error_spanned_by(constness, "`#[subscriber]` fns cannot be `const`");
    }
    if let Some(unsafety) = &sig.unsafety {
        cx.error_spanned_by(unsafety, "`#[subscriber]` fns cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(abi, "`#[subscriber]` fns cannot have an `extern` ABI");
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            "`#[subscriber]` fns cannot be generic: the event is decoded into one concrete type",
        );
    }

    let mut event = None;
    let mut state = None;
    let mut typed = 0;
    for input in &sig.inputs {
        let i = typed;
        if let FnArg::Typed(_) = input {
            typed += 1;
        }
        match input {
            FnArg::Receiver(r) => cx.error_spanned_by(
                r,
                "`#[subscriber]` cannot be used on a method: write a free `async fn` that takes \
                 the event",
            ),
            FnArg::Typed(_) if i > 1 => cx.error_spanned_by(
                input,
                "a `#[subscriber]` fn takes the event and, optionally, one state value: remove \
                 this one, or put the values in the event or the state type",
            ),
            FnArg::Typed(pat_ty) if i == 1 => {
                let is_context = matches!(&*pat_ty.ty, Type::Path(p)
                    if p.path.segments.last().is_some_and(|s| s.ident == "Context"));
                if is_context {
                    cx.error_spanned_by(
                        &pat_ty.ty,
                        "the event's context is not an argument: read it with \
                         `Context::current()` inside the fn (a second argument is a state value \
                         given with `Service::from_env().state(value)`)",
                    );
                } else if check_owned(cx, &pat_ty.ty) {
                    state = Some((*pat_ty.ty).clone());
                }
            }
            FnArg::Typed(pat_ty) => {
                if check_owned(cx, &pat_ty.ty) {
                    event = Some((*pat_ty.ty).clone());
                }
            }
        }
    }
    if sig.inputs.is_empty() {
        cx.error_at(
            sig.paren_token.span.join(),
            format!(
                "a `#[subscriber]` fn takes exactly one argument, the event: write \
                 `async fn {ident}(event: MyEvent)`"
            ),
        );
    }

    match &sig.output {
        ReturnType::Default => cx.error_at(
            sig.paren_token.span.close(),
            "missing return type: a `#[subscriber]` fn returns `Result<(), Error>`",
        ),
        ReturnType::Type(_, ty) => {
            let unit = crate::service::result_ok_type(ty)
                .is_some_and(|ok| matches!(&ok, Type::Tuple(t) if t.elems.is_empty()));
            if !unit {
                cx.error_spanned_by(
                    ty,
                    "expected `Result<(), Error>`: a `#[subscriber]` fn returns `Ok(())` or a \
                     `micro_core::Error`",
                );
            }
        }
    }

    Some(SubscriberDef {
        ident: ident.clone(),
        event: event?,
        state,
        topic: topic?,
        queue,
        runtime: Runtime::new(args.krate()),
    })
}

/// Reports references and `impl Trait` in the event type; true when there were none.
fn check_owned(cx: &Ctxt, ty: &Type) -> bool {
    struct Finder<'a> {
        cx: &'a Ctxt,
        ok: bool,
    }
    impl VisitMut for Finder<'_> {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            match ty {
                Type::Reference(r) => {
                    self.cx.error_spanned_by(
                        &*r,
                        "the event of a `#[subscriber]` fn must be an owned type, since it is \
                         decoded from the wire: use an owned type such as `String`",
                    );
                    self.ok = false;
                }
                Type::ImplTrait(t) => {
                    self.cx.error_spanned_by(
                        &*t,
                        "`impl Trait` is not supported as a `#[subscriber]` event: use a \
                         concrete type that implements `Deserialize`",
                    );
                    self.ok = false;
                }
                _ => visit_mut::visit_type_mut(self, ty),
            }
        }
    }
    let mut finder = Finder { cx, ok: true };
    finder.visit_type_mut(&mut ty.clone());
    finder.ok
}

fn generate(def: &SubscriberDef, item: &syn::ItemFn) -> TokenStream {
    let private = def.runtime.private();
    let ident = &def.ident;
    let event = &def.event;
    let topic = &def.topic;
    let queue = match &def.queue {
        Some(queue) => quote!(#private::Option::Some(#queue)),
        None => quote!(#private::Option::None),
    };
    let name = format!("::{}", naming::unraw(ident));
    let handler = match &def.state {
        None => quote_spanned! {event.span()=>
            #private::subscriber_fn::<#event, _, _>(#ident)
        },
        Some(state) => {
            let who = format!("the `#[subscriber]` fn `{}`", naming::unraw(ident));
            quote_spanned! {state.span()=>
                {
                    let __value = #private::state_of::<#state>(__state, #who)?;
                    #private::subscriber_fn::<#event, _, _>(move |__event: #event| {
                        #ident(__event, <#state as ::core::clone::Clone>::clone(&__value))
                    })
                }
            }
        }
    };
    let event_rust = naming::tokens_to_string(quote::ToTokens::to_token_stream(event));
    quote! {
        #item

        const _: () = {
            #[allow(unused_variables)]
            fn __micro_make(
                __state: &#private::State,
            ) -> #private::Result<#private::EventHandler, #private::Error> {
                #private::Result::Ok(#handler)
            }

            // The event's JSON Schema, from its `JsonSchema` impl when it has one (see
            // `__private::schema`); built only when asked for.
            #[allow(unused_imports)]
            fn __micro_event_schema() -> #private::schema::Value {
                use #private::schema::{ViaJsonSchema as _, ViaName as _};
                (&#private::schema::Probe::<#event>::new()).micro_root_schema(true, #event_rust)
            }

            #private::inventory::submit! {
                #private::SubscriberRegistration {
                    topic: #topic,
                    queue: #queue,
                    name: ::core::concat!(::core::module_path!(), #name),
                    make: __micro_make,
                    event_schema: __micro_event_schema,
                }
            }
        };
    }
}
