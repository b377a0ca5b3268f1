//! Names and the rules they follow: case conversion, service/endpoint names, versions, topics
//! and queues, doc-comment text and type strings. Pure functions, unit-tested below.
//!
//! The name, topic and queue rules themselves are in `rules.rs`, which micro-core compiles too.

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// The identifier without its `r#` prefix: `r#type` → `type`.
pub(crate) fn unraw(ident: &syn::Ident) -> String {
    use syn::ext::IdentExt;
    ident.unraw().to_string()
}

/// `UserStore` → `user-store`, `HTTPServer` → `http-server`, `Greeter2` → `greeter2`.
pub(crate) fn to_kebab_case(name: &str) -> String {
    let chars: Vec<char> = name.trim_start_matches("r#").chars().collect();
    let mut out = String::with_capacity(chars.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' {
            if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
            continue;
        }
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary =
                prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower);
            if boundary && !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// `say_hello` → `SayHello`, `r#type` → `Type`.
pub(crate) fn snake_to_camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for part in name.trim_start_matches("r#").split('_') {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

pub(crate) use crate::rules::{invalid_name, invalid_queue};

/// Why `topic` is not a valid subscription topic, if it is not.
pub(crate) fn invalid_topic(topic: &str) -> Option<&'static str> {
    crate::rules::invalid_subject(topic, true)
}

/// Why `version` is not a semantic version (<https://semver.org>), if it is not, as the
/// `semver` crate reads it (the runtime's check, `micro_core::service::validate_version`).
pub(crate) fn invalid_semver(version: &str) -> Option<String> {
    semver::Version::parse(version).err().map(|e| e.to_string())
}

/// The text of the `#[doc]` attributes: one line per attribute, the single leading space of
/// `/// text` removed, the whole trimmed.
pub(crate) fn doc_text(attrs: &[syn::Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &attr.meta
            && let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
        {
            let value = s.value();
            for line in value.split('\n') {
                lines.push(line.strip_prefix(' ').unwrap_or(line).trim_end().to_owned());
            }
        }
    }
    lines.join("\n").trim().to_owned()
}

/// A type (or any tokens) as a compact string: `Vec<Item>`, `Option<u32>`, `HashMap<String, u8>`,
/// `&'a str`, `[u8; 4]`.
pub(crate) fn tokens_to_string(tokens: TokenStream) -> String {
    let mut out = String::new();
    write_tokens(&mut out, tokens);
    out
}

fn write_tokens(out: &mut String, tokens: TokenStream) {
    // Whether the previous token was a word (ident or literal): two words need a space.
    let mut prev_word = false;
    for tt in tokens {
        match tt {
            TokenTree::Ident(ident) => {
                if prev_word {
                    out.push(' ');
                }
                out.push_str(&ident.to_string());
                prev_word = true;
            }
            TokenTree::Literal(lit) => {
                if prev_word {
                    out.push(' ');
                }
                out.push_str(&lit.to_string());
                prev_word = true;
            }
            TokenTree::Punct(punct) => {
                let c = punct.as_char();
                match c {
                    ',' | ';' => {
                        out.push(c);
                        out.push(' ');
                    }
                    '+' | '=' => {
                        out.push(' ');
                        out.push(c);
                        out.push(' ');
                    }
                    '-' if punct.spacing() == proc_macro2::Spacing::Joint => {
                        out.push_str(" -");
                    }
                    '>' if out.ends_with(" -") => out.push_str("> "),
                    _ => out.push(c),
                }
                // A lifetime's quote binds to the ident that follows.
                prev_word = false;
            }
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::None => ("", ""),
                };
                if prev_word && group.delimiter() == Delimiter::None {
                    out.push(' ');
                }
                out.push_str(open);
                write_tokens(out, group.stream());
                out.push_str(close);
                prev_word = group.delimiter() == Delimiter::None;
            }
        }
    }
    // `a, ` at the end of a group: drop the trailing space.
    while out.ends_with(' ') {
        out.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn kebab_case() {
        assert_eq!(to_kebab_case("Greeter"), "greeter");
        assert_eq!(to_kebab_case("UserStore"), "user-store");
        assert_eq!(to_kebab_case("HTTPServer"), "http-server");
        assert_eq!(to_kebab_case("MyHTTP"), "my-http");
        assert_eq!(to_kebab_case("Greeter2"), "greeter2");
        assert_eq!(to_kebab_case("V2Api"), "v2-api");
        assert_eq!(to_kebab_case("user_store"), "user-store");
        assert_eq!(to_kebab_case("r#Type"), "type");
    }

    #[test]
    fn camel_case() {
        assert_eq!(snake_to_camel("hello"), "Hello");
        assert_eq!(snake_to_camel("say_hello"), "SayHello");
        assert_eq!(snake_to_camel("r#type"), "Type");
        assert_eq!(snake_to_camel("_private__x"), "PrivateX");
        assert_eq!(snake_to_camel("get_v2"), "GetV2");
    }

    #[test]
    fn names() {
        for ok in ["greeter", "user-store", "a_b", "X9", "ping-it"] {
            assert_eq!(invalid_name(ok), None, "{ok}");
        }
        for bad in ["", "my service", "a.b", "a*", "a>", "é", "a/b"] {
            assert!(invalid_name(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn semver() {
        for ok in [
            "0.0.0",
            "1.0.0",
            "10.20.30",
            "1.1.2-prerelease+meta",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-0.3.7",
            "1.0.0-x.7.z.92",
            "1.0.0+20130313144700",
            "1.0.0-beta+exp.sha.5114f85",
            "1.0.0-alpha-a.b-c",
            "1.0.0+0.build.1-rc.10000aaa-kk-0.1",
        ] {
            assert_eq!(invalid_semver(ok), None, "{ok}");
        }
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "01.1.1",
            "1.01.1",
            "1.1.01",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-0123",
            "1.2.3-alpha..1",
            "1.2.3-alpha_1",
            "v1.2.3",
            "1.2.-3",
            "a.b.c",
            "1.2.3 ",
            " 1.2.3",
            "1.2.3+a+b",
        ] {
            assert!(invalid_semver(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn topics() {
        for ok in [
            "user.created",
            "a",
            "user.*",
            "user.>",
            "*.created",
            ">",
            "*",
        ] {
            assert_eq!(invalid_topic(ok), None, "{ok}");
        }
        for bad in [
            "",
            "user..created",
            ".a",
            "a.",
            "a b",
            "user.cr*",
            "a.>.b",
            "a>",
            "\tx",
        ] {
            assert!(invalid_topic(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn queues() {
        assert_eq!(invalid_queue("audit"), None);
        assert_eq!(invalid_queue("audit-log_2"), None);
        assert_eq!(invalid_queue("team.workers"), None);
        for bad in ["", "a b", "a*", "a>"] {
            assert!(invalid_queue(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn docs() {
        let attrs: Vec<syn::Attribute> = vec![
            syn::parse_quote!(#[doc = " Greets people."]),
            syn::parse_quote!(#[allow(dead_code)]),
            syn::parse_quote!(#[doc = ""]),
            syn::parse_quote!(#[doc = " Second   "]),
        ];
        assert_eq!(doc_text(&attrs), "Greets people.\n\nSecond");
        assert_eq!(doc_text(&[]), "");
    }

    #[test]
    fn type_strings() {
        let cases = [
            (quote!(Vec<Item>), "Vec<Item>"),
            (quote!(Option<u32>), "Option<u32>"),
            (
                quote!(std::collections::HashMap<String, Vec<u8>>),
                "std::collections::HashMap<String, Vec<u8>>",
            ),
            (quote!(()), "()"),
            (quote!((i32, String)), "(i32, String)"),
            (quote!([u8; 4]), "[u8; 4]"),
            (quote!(&'static str), "&'static str"),
            (
                quote!(Box<dyn Fn(u8) -> u8 + Send>),
                "Box<dyn Fn(u8) -> u8 + Send>",
            ),
            (
                quote!(::core::option::Option<T>),
                "::core::option::Option<T>",
            ),
        ];
        for (tokens, expected) in cases {
            assert_eq!(tokens_to_string(tokens), expected);
        }
    }
}
