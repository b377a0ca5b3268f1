//! `#[service]` on an impl: the impl unchanged, plus an `inventory` registration that builds the
//! implementation with `Default` and serves it, so `Service::run` finds it.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::expand_trait::SERVER_FN;
use super::model::ImplDef;
use crate::naming;

/// The impl and its registration.
pub(crate) fn expand(def: &ImplDef) -> TokenStream {
    let private = def.runtime.private();
    let item = &def.original;
    let self_ty = &def.self_ty;
    let trait_path = &def.trait_path;
    let type_name = naming::tokens_to_string(self_ty.to_token_stream());
    let server_fn = format_ident!("{}", SERVER_FN, span = trait_path.span());
    let build = quote_spanned! {self_ty.span()=>
        <#self_ty as #private::AutoRegister>::build()
    };
    let serve = quote_spanned! {trait_path.span()=>
        <#self_ty as #trait_path>::#server_fn
    };
    quote! {
        #item

        const _: () = {
            fn __micro_make() -> #private::Box<dyn #private::Handler> {
                #private::Box::new(#serve(#build))
            }

            #private::inventory::submit! {
                #private::ServiceRegistration {
                    type_name: #type_name,
                    make: __micro_make,
                }
            }
        };
    }
}
