//! Where generated code finds the runtime: `::micro_core::__private`, or `<crate>::__private`
//! when the user renamed the dependency with `crate = "..."` (tokio and serde do the same).

use proc_macro2::TokenStream;
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

    /// The serde path as a string, for `#[serde(crate = "...")]`.
    pub(crate) fn serde_crate(&self) -> String {
        let private = self.private().to_string();
        format!("{}::serde", private.replace(' ', ""))
    }
}
