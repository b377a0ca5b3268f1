//! What is emitted when the input has errors: the user's item (helper attributes stripped) and
//! stubs of the generated items, so that one mistake gives one error and code using the client
//! or server keeps type-checking (thiserror `fallback.rs`, tokio `token_stream_with_error`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::model::ServiceDef;
use super::parse::HELPER;
use super::{expand_client, expand_server, expand_trait};

/// The trait, the server and client structs, and stub methods with the user's signatures.
pub(crate) fn service_trait(def: &ServiceDef) -> TokenStream {
    let private = def.runtime.private();
    let trait_item = expand_trait::expand(def);
    let server_struct = expand_server::server_struct(def);
    let server = format_ident!("{}Server", def.ident);
    let client = format_ident!("{}Client", def.ident);
    let (name, version, doc) = (&def.name, &def.version, &def.doc);
    let trait_name = def.ident.to_string();
    let descriptor = quote! {
        &#private::ServiceDescriptor::new(#name, #version, #doc, #trait_name, &[])
    };
    let client_struct = expand_client::client_struct(def, descriptor);
    let stubs = expand_client::stub_methods(def, &["new", "client"]);
    quote! {
        #trait_item
        #server_struct
        #client_struct
        #stubs

        #[automatically_derived]
        impl<T: ::core::marker::Send + ::core::marker::Sync + 'static> #private::Handler
            for #server<T>
        {
            fn descriptor(&self) -> &'static #private::ServiceDescriptor {
                #client::DESCRIPTOR
            }

            fn endpoints(&self) -> #private::Vec<#private::Endpoint> {
                #private::Vec::new()
            }
        }
    }
}

/// The impl as written, minus misplaced helper attributes.
pub(crate) fn service_impl(mut item: syn::ItemImpl) -> TokenStream {
    for impl_item in &mut item.items {
        if let syn::ImplItem::Fn(f) = impl_item {
            f.attrs.retain(|a| !a.path().is_ident(HELPER));
        }
    }
    quote!(#item)
}
