//! Where generated code finds the runtime: `::micro_core::__private`, or `<crate>::__private`
//! when the user renamed the dependency with `crate = "..."` (tokio and serde do the same).

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};

/// The runtime support module that generated code calls, as a token path.
#[derive(Clone)]
pub(crate) struct Runtime {
    krate: TokenStream,
}

impl Runtime {
    /// The runtime behind `krate` (the `crate = "..."` argument), or `::micro_core`.
    pub(crate) fn new(krate: Option<&syn::Path>) -> Self {
        let krate = match krate {
            Some(path) => path.to_token_stream(),
            None => quote!(::micro_core),
        };
        Runtime { krate }
    }

    /// `<crate>::__private`: the path every generated item goes through.
    pub(crate) fn private(&self) -> TokenStream {
        let krate = &self.krate;
        quote!(#krate::__private)
    }

    /// `<crate>::__private` with every token at `span`, for items that must point at the
    /// user's code (a `where` predicate's span covers all of its tokens).
    pub(crate) fn private_at(&self, span: Span) -> TokenStream {
        respan(self.private(), span)
    }

    /// The serde path as a string, for `#[serde(crate = "...")]`.
    pub(crate) fn serde_crate(&self) -> String {
        let private = self.private().to_string();
        format!("{}::serde", private.replace(' ', ""))
    }
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|tt| match tt {
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                TokenTree::Group(group)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}
