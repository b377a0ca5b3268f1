//! Re-emits the user's trait: `#[micro(..)]` stripped, every `async fn` rewritten to return
//! `impl Future + Send` (so generic code over `T: Trait` can be spawned on a multi-threaded
//! runtime), `Send + Sync + 'static` supertraits, docs kept, and the hidden method through which
//! `#[service]` on an impl builds the server.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Pat, ReturnType, TraitItem};

use super::model::ServiceDef;
use super::parse::{self, HELPER};

/// The hidden provided method that `#[service]` on an impl calls. Its name is what rustc prints
/// when the impl's trait lacks `#[service]` ("cannot find method ... in trait `Foo`").
pub(crate) const SERVER_FN: &str = "__micro_add_service_attribute_to_trait";

/// The trait as it is emitted, both on success and in the fallback (where it rewrites what it
/// can and leaves the rest as written).
pub(crate) fn expand(def: &ServiceDef) -> TokenStream {
    let private = def.runtime.private();
    let mut item = def.original.clone();

    for bound in [
        quote!(::core::marker::Send),
        quote!(::core::marker::Sync),
        quote!('static),
    ] {
        item.supertraits.push(syn::parse_quote!(#bound));
    }
    if item.colon_token.is_none() {
        item.colon_token = Some(Default::default());
    }

    for trait_item in &mut item.items {
        let TraitItem::Fn(f) = trait_item else {
            continue;
        };
        f.attrs.retain(|a| !a.path().is_ident(HELPER));
        parse::repair_streaming(&mut f.sig);
        if f.default.is_none() {
            // Patterns are not allowed without a body (E0642); parse.rs has reported them, so
            // do not let rustc report them again.
            for input in &mut f.sig.inputs {
                if let FnArg::Typed(pat_ty) = input
                    && !matches!(&*pat_ty.pat, Pat::Ident(p) if p.by_ref.is_none() && p.mutability.is_none() && p.subpat.is_none())
                {
                    *pat_ty.pat = Pat::Wild(syn::PatWild {
                        attrs: Vec::new(),
                        underscore_token: Default::default(),
                    });
                }
            }
        }
        if f.sig.asyncness.take().is_none() {
            continue;
        }
        let (output, span) = match &f.sig.output {
            ReturnType::Default => (quote!(()), f.sig.paren_token.span.close()),
            ReturnType::Type(_, ty) => (quote!(#ty), ty.span()),
        };
        f.sig.output = syn::parse_quote_spanned! {span=>
            -> impl #private::Future<Output = #output> + ::core::marker::Send
        };
        if let Some(block) = &f.default {
            f.default = Some(syn::parse_quote_spanned!(block.span()=> { async move #block }));
        }
    }

    let server = format_ident!("{}Server", def.ident);
    let server_fn = format_ident!("{}", SERVER_FN, span = def.ident.span());
    let hidden: TokenStream = quote_spanned! {def.ident.span()=>
        /// Builds the generated server around `self`; called by `#[service]` on an impl of this
        /// trait. Not public API.
        #[doc(hidden)]
        fn #server_fn(self) -> #server<Self>
        where
            Self: ::core::marker::Sized,
        {
            #server::new(self)
        }
    };
    item.items.push(TraitItem::Verbatim(hidden));

    quote!(#item)
}
