//! `#[service]`: on a trait, generate the server, client, wire types and descriptor; on an impl,
//! register the implementation. Parse → check → generate; on error, fallback plus errors.

mod check;
mod expand_client;
mod expand_impl;
mod expand_server;
mod expand_trait;
mod expand_wire;
mod fallback;
mod model;
mod parse;

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

use crate::args::{self, Key};
use crate::ctxt::Ctxt;
use model::ServiceDef;

/// Expands `#[service(args)] item`.
pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    match syn::parse2::<syn::Item>(input.clone()) {
        Ok(syn::Item::Trait(item)) => expand_trait_item(args, &item),
        Ok(syn::Item::Impl(item)) => expand_impl_item(args, item),
        Ok(other) => {
            let err = syn::Error::new_spanned(
                crate::item_head(&other),
                "`#[service]` goes on a trait (the service definition) or on an impl of that \
                 trait (the implementation to register)",
            );
            with_error(other.into_token_stream(), err)
        }
        Err(err) => with_error(input, err),
    }
}

fn expand_trait_item(args: TokenStream, item: &syn::ItemTrait) -> TokenStream {
    let cx = Ctxt::new();
    let args = args::parse(
        &cx,
        args,
        "#[service]",
        &[Key::Name, Key::Version, Key::QueueGroup, Key::Crate],
    );
    let def = parse::parse_trait(&cx, &args, item);
    check::check(&cx, &def);
    match cx.check() {
        Ok(()) => generate(&def),
        Err(err) => with_error(fallback::service_trait(&def), err),
    }
}

fn expand_impl_item(args: TokenStream, item: syn::ItemImpl) -> TokenStream {
    let cx = Ctxt::new();
    let args = args::parse(
        &cx,
        args,
        "#[service]",
        &[Key::Name, Key::Version, Key::State, Key::Crate],
    );
    let def = parse::parse_impl(&cx, &args, &item);
    match (cx.check(), def) {
        (Ok(()), Some(def)) => expand_impl::expand(&def),
        (Err(err), _) => with_error(fallback::service_impl(item), err),
        (Ok(()), None) => fallback::service_impl(item),
    }
}

/// Everything `#[service]` on a valid trait produces.
fn generate(def: &ServiceDef) -> TokenStream {
    let trait_item = expand_trait::expand(def);
    let server_struct = expand_server::server_struct(def);
    let client_struct = expand_client::client_struct(def, expand_wire::descriptor(def));
    let args_structs = expand_wire::args_structs(def);
    let handler_impl = expand_server::handler_impl(def);
    let client_methods = expand_client::client_methods(def);
    let assertions = expand_wire::assertions(def);
    let stream_trait = expand_wire::stream_trait(def);
    quote! {
        #trait_item
        #server_struct
        #client_struct
        #assertions

        const _: () = {
            #stream_trait
            #args_structs
            #handler_impl
            #client_methods
        };
    }
}

/// `tokens` followed by the errors as `compile_error!`s.
pub(crate) fn with_error(mut tokens: TokenStream, err: syn::Error) -> TokenStream {
    tokens.extend(err.into_compile_error());
    tokens
}

pub(crate) use parse::result_ok_type;
