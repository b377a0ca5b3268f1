//! Where generated code finds the runtime: `::micro_core::__private` or `::micro::__private`,
//! whichever the program depends on, or `<crate>::__private` when the user names the path with
//! `crate = "..."` (tokio and serde do the same).

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};

/// The runtime support module that generated code calls, as a token path.
#[derive(Clone)]
pub(crate) struct Runtime {
    krate: TokenStream,
}

impl Runtime {
    /// The runtime behind `krate` (the `crate = "..."` argument), or the one the program
    /// depends on: the `micro` facade when it is a dependency, else `micro-core` (under
    /// whatever name the program gave either in its Cargo.toml).
    pub(crate) fn new(krate: Option<&syn::Path>) -> Self {
        let krate = match krate {
            Some(path) => path.to_token_stream(),
            None => dependency(),
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

/// The path of the runtime crate in the program being compiled, from its Cargo.toml.
fn dependency() -> TokenStream {
    use proc_macro_crate::{FoundCrate, crate_name};
    let named = |found: FoundCrate, itself: &str| {
        // A crate's own tests, examples and doc tests are crates of their own: they reach it by
        // its name, as any dependent does.
        let name = match found {
            FoundCrate::Itself => itself.to_owned(),
            FoundCrate::Name(name) => name,
        };
        let ident = syn::Ident::new(&name, Span::call_site());
        quote!(::#ident)
    };
    // The facade first: it is what users depend on, and a program with `micro` in its
    // dependencies and `micro-core` only among its dev-dependencies (which Cargo.toml lookups
    // cannot tell apart) must still build.
    if let Ok(found) = crate_name("micro") {
        return named(found, "micro");
    }
    if let Ok(found) = crate_name("micro-core") {
        return named(found, "micro_core");
    }
    // No Cargo.toml to read (a build outside cargo): the runtime's own name.
    quote!(::micro_core)
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
