//! `#[service]` on an impl: the impl unchanged, plus an `inventory` registration that builds the
//! implementation (with `Default`, or `From` the service's state) and serves it, so
//! `Service::run` finds it.

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
    let build = match &def.state {
        None => quote_spanned! {self_ty.span()=>
            <#self_ty as #private::AutoRegister>::build()
        },
        Some(state) => {
            let who = format!("`#[service(state = ...)] impl ... for {type_name}`");
            quote_spanned! {state.span()=>
                <#self_ty as #private::FromState<#state>>::from_state(
                    #private::state_of::<#state>(__state, #who)?
                )
            }
        }
    };
    let serve = quote_spanned! {trait_path.span()=>
        <#self_ty as #trait_path>::#server_fn
    };
    quote! {
        #item

        const _: () = {
            #[allow(unused_variables)]
            fn __micro_make(
                __state: &#private::State,
            ) -> #private::Result<#private::Box<dyn #private::Handler>, #private::Error> {
                #private::Result::Ok(#private::Box::new(#serve(#build)))
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
