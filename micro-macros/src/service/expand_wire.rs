//! The wire: one hidden request struct per method (the arguments as an object keyed by parameter
//! name), the static descriptor, and the spanned assertions that every argument and return type
//! can cross the wire.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use super::model::{Kind, Method, ServiceDef};
use crate::naming;

/// `GreeterHelloArgs`: the request struct of `method`.
pub(crate) fn args_ident(def: &ServiceDef, method: &Method) -> Ident {
    format_ident!(
        "{}{}Args",
        def.ident,
        naming::snake_to_camel(&naming::unraw(&method.ident))
    )
}

/// The request structs, one per method. They live in the same hidden `const _` block as the
/// server and client impls that use them.
///
/// Each field has its own type parameter (`GreeterHelloArgs<String>`), so that the derived serde
/// impls hold no bounds on the user's types: a type without serde support is then reported once,
/// by the `WireType` bounds (see [`wire_bounds`]), not again inside the derives.
pub(crate) fn args_structs(def: &ServiceDef) -> TokenStream {
    let private = def.runtime.private();
    let serde_crate = def.runtime.serde_crate();
    let structs = def.methods.iter().map(|method| {
        let ident = args_ident(def, method);
        let cfgs = &method.cfgs;
        let expecting = format!(
            "an object with the arguments of `{}.{}`",
            def.name, method.endpoint
        );
        let params: Vec<Ident> = (0..method.args.len())
            .map(|i| format_ident!("__MicroArg{}", i))
            .collect();
        let generics = (!params.is_empty()).then(|| quote!(<#(#params),*>));
        let fields = method.args.iter().zip(&params).map(|(arg, param)| {
            let name = &arg.ident;
            let default = arg.optional.then(|| quote!(#[serde(default)]));
            quote!(#default #name: #param)
        });
        quote! {
            #(#cfgs)*
            #[derive(#private::serde::Serialize, #private::serde::Deserialize)]
            #[serde(crate = #serde_crate, expecting = #expecting)]
            struct #ident #generics {
                #(#fields,)*
            }
        }
    });
    quote!(#(#structs)*)
}

/// The trait through which generated code moves between the stream types the user wrote and
/// the runtime's `Streaming`, which it calls with. They are the same type unless the user named
/// another `Streaming` (`tonic::Streaming<T>`, say): then each is reported once, at the user's
/// type, as not implementing the trait, whose name says what is expected (rustc adds that it is
/// implemented for micro's `Streaming`); and not again in the code around. Emitted once per
/// service, in the hidden block, when a method streams.
///
/// Without `#[diagnostic::on_unimplemented]`: under `#![no_implicit_prelude]` the `diagnostic`
/// namespace does not resolve. A trait in micro-core's `__private` could carry a message.
pub(crate) fn stream_trait(def: &ServiceDef) -> TokenStream {
    if def.methods.iter().all(|m| m.kind() == Kind::Unary) {
        return TokenStream::new();
    }
    let private = def.runtime.private();
    quote! {
        #[allow(dead_code, non_camel_case_types)]
        trait __stream_types_must_be_micro_Streaming<__MicroItem> {
            fn __micro_into(self) -> #private::Streaming<__MicroItem>;
            fn __micro_from(stream: #private::Streaming<__MicroItem>) -> Self;
        }

        #[automatically_derived]
        impl<__MicroItem> __stream_types_must_be_micro_Streaming<__MicroItem>
            for #private::Streaming<__MicroItem>
        {
            fn __micro_into(self) -> #private::Streaming<__MicroItem> {
                self
            }
            fn __micro_from(stream: #private::Streaming<__MicroItem>) -> Self {
                stream
            }
        }
    }
}

/// The request struct's type with the method's argument types: `GreeterHelloArgs<String>`.
pub(crate) fn args_type(def: &ServiceDef, method: &Method) -> TokenStream {
    let ident = args_ident(def, method);
    if method.args.is_empty() {
        quote!(#ident)
    } else {
        let tys = method.args.iter().map(|arg| &arg.ty);
        quote!(#ident<#(#tys),*>)
    }
}

/// `Ty: WireType` for every argument and the `Ok` type of `method`, each spanned at the user's
/// type. Placed in the `where` clauses of the generated impls and fns, a type without serde
/// support is reported there, at the user's type, with `WireType`'s message; inside, the bound
/// is assumed, so nothing else errors. For a stream the bound is on its item type: the items
/// cross the wire one by one, never the `Streaming` itself.
pub(crate) fn wire_bounds(def: &ServiceDef, method: &Method) -> Vec<TokenStream> {
    method
        .wire_types()
        .map(|ty| {
            let span = ty.span();
            let private = def.runtime.private_at(span);
            quote_spanned!(span=> #ty: #private::WireType)
        })
        .collect()
}

/// The `&'static ServiceDescriptor` expression.
pub(crate) fn descriptor(def: &ServiceDef) -> TokenStream {
    let private = def.runtime.private();
    let name = &def.name;
    let version = &def.version;
    let doc = &def.doc;
    let trait_name = def.ident.to_string();
    let endpoints = def.methods.iter().map(|method| {
        let cfgs = &method.cfgs;
        let endpoint = &method.endpoint;
        let method_name = naming::unraw(&method.ident);
        let doc = &method.doc;
        let fields = method.args.iter().map(|arg| {
            let name = naming::unraw(&arg.ident);
            let ty = naming::tokens_to_string(arg.ty.to_token_stream());
            quote!(#private::FieldDescriptor::new(#name, #ty))
        });
        let response = naming::tokens_to_string(method.output.wire_type().to_token_stream());
        let queue_group = method
            .queue_group
            .as_ref()
            .map(|q| quote!(.with_queue_group(#q)));
        let idempotent = method.idempotent.then(|| quote!(.idempotent()));
        let (request_fn, response_fn) = schema_fn_idents(method);
        let stream = match method.kind() {
            Kind::Unary => None,
            Kind::ServerStream => Some(quote!(.server_stream())),
            kind @ (Kind::ClientStream | Kind::Bidirectional) => {
                method.input.as_ref().map(|input| {
                    let name = naming::unraw(&input.ident);
                    let ty = naming::tokens_to_string(input.item.to_token_stream());
                    let input_fn = input_schema_fn_ident(method);
                    let bidirectional = kind == Kind::Bidirectional;
                    quote! {
                        .with_input(
                            #private::StreamInput::new(
                                #name,
                                #ty,
                                #private::Option::Some(#input_fn),
                            ),
                            #bidirectional,
                        )
                    }
                })
            }
        };
        quote! {
            #(#cfgs)*
            #private::EndpointDescriptor::unary(
                #endpoint,
                #method_name,
                #doc,
                &[#(#fields),*],
                #response,
            )#queue_group #idempotent .with_schemas(#request_fn, #response_fn) #stream
        }
    });
    let schema_fns = def.methods.iter().map(|method| schema_fns(def, method));
    let queue_group = def
        .queue_group
        .as_ref()
        .map(|q| quote!(.with_queue_group(#q)));
    quote! {
        {
            #(#schema_fns)*
            &#private::ServiceDescriptor::new(
                #name,
                #version,
                #doc,
                #trait_name,
                &[#(#endpoints),*],
            )#queue_group
        }
    }
}

/// The names of the fns that build `method`'s request and response schemas.
fn schema_fn_idents(method: &Method) -> (Ident, Ident) {
    let name = naming::unraw(&method.ident);
    (
        format_ident!("__micro_request_schema_{}", name),
        format_ident!("__micro_response_schema_{}", name),
    )
}

/// The name of the fn that builds the schema of one item of `method`'s stream argument.
fn input_schema_fn_ident(method: &Method) -> Ident {
    format_ident!("__micro_input_schema_{}", naming::unraw(&method.ident))
}

/// The two fns that build `method`'s schemas, each type's from its `JsonSchema` impl if it has
/// one (autoref specialisation, see `__private::schema`). They run when an instance starts.
fn schema_fns(def: &ServiceDef, method: &Method) -> TokenStream {
    let private = def.runtime.private();
    let cfgs = &method.cfgs;
    let doc = &method.doc;
    let (request_fn, response_fn) = schema_fn_idents(method);
    let fields = method.args.iter().map(|arg| {
        let name = naming::unraw(&arg.ident);
        let ty = &arg.ty;
        let rust = naming::tokens_to_string(ty.to_token_stream());
        let required = !arg.optional;
        quote! {
            (
                #name,
                #required,
                (&#private::schema::Probe::<#ty>::new()).micro_schema(&mut generator, #rust),
            )
        }
    });
    // A stream's schema is its item's: each message of the stream carries one.
    let ok = method.output.wire_type();
    let ok_rust = naming::tokens_to_string(ok.to_token_stream());
    let input_fn = method.input.as_ref().map(|input| {
        let input_fn = input_schema_fn_ident(method);
        let item = &input.item;
        let item_rust = naming::tokens_to_string(item.to_token_stream());
        quote! {
            #(#cfgs)*
            #[allow(unused_imports)]
            fn #input_fn() -> #private::schema::Value {
                use #private::schema::{ViaJsonSchema as _, ViaName as _};
                (&#private::schema::Probe::<#item>::new()).micro_root_schema(true, #item_rust)
            }
        }
    });
    quote! {
        #(#cfgs)*
        #[allow(unused_imports, unused_mut)]
        fn #request_fn() -> #private::schema::Value {
            use #private::schema::{ViaJsonSchema as _, ViaName as _};
            let mut generator = #private::schema::generator(true);
            let fields: #private::Vec<_> = ::core::convert::From::from([#(#fields),*]);
            #private::schema::request(generator, #doc, fields)
        }

        #(#cfgs)*
        #[allow(unused_imports)]
        fn #response_fn() -> #private::schema::Value {
            use #private::schema::{ViaJsonSchema as _, ViaName as _};
            (&#private::schema::Probe::<#ok>::new()).micro_root_schema(false, #ok_rust)
        }

        #input_fn
    }
}

/// `const _: () = assert_wire_type::<Ty>();` for the methods under `#[cfg]`, whose types cannot
/// go in the shared `where` clause of the server impl (a `where` clause cannot be `#[cfg]`-ed).
pub(crate) fn assertions(def: &ServiceDef) -> TokenStream {
    let private = def.runtime.private();
    let mut out = TokenStream::new();
    for method in def.methods.iter().filter(|m| !m.cfgs.is_empty()) {
        let cfgs = &method.cfgs;
        for ty in method.wire_types() {
            out.extend(quote_spanned! {ty.span()=>
                #(#cfgs)*
                const _: () = #private::assert_wire_type::<#ty>();
            });
        }
    }
    out
}
