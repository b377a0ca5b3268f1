//! Attribute arguments shared by both macros: `name`, `version`, `topic`, `queue` and `crate`,
//! each `key = "string"`, and the bare flag `idempotent`. Each value keeps its keyword so that a later error (a duplicate, a bad
//! value) points at what the user wrote (axum-macros `attr_parsing.rs`).

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Ident, LitStr, Token};

use crate::ctxt::Ctxt;

/// An attribute argument key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Key {
    Name,
    Version,
    Topic,
    Queue,
    QueueGroup,
    Crate,
    /// The type a registered impl is built from: `#[service(state = "AppState")]`.
    State,
    /// A bare flag: `#[micro(idempotent)]`.
    Idempotent,
}

impl Key {
    fn as_str(self) -> &'static str {
        match self {
            Key::Name => "name",
            Key::Version => "version",
            Key::Topic => "topic",
            Key::Queue => "queue",
            Key::QueueGroup => "queue_group",
            Key::Crate => "crate",
            Key::State => "state",
            Key::Idempotent => "idempotent",
        }
    }

    fn from_str(s: &str) -> Option<Key> {
        Some(match s {
            "name" => Key::Name,
            "version" => Key::Version,
            "topic" => Key::Topic,
            "queue" => Key::Queue,
            "queue_group" => Key::QueueGroup,
            "crate" => Key::Crate,
            "state" => Key::State,
            "idempotent" => Key::Idempotent,
            _ => return None,
        })
    }
}

/// One `key = "value"`, with the key's span.
#[derive(Clone)]
pub(crate) struct Arg {
    pub(crate) key: Ident,
    pub(crate) value: LitStr,
}

/// The parsed arguments; every field is `None` unless given.
#[derive(Default, Clone)]
pub(crate) struct Args {
    pub(crate) name: Option<Arg>,
    pub(crate) version: Option<Arg>,
    pub(crate) topic: Option<Arg>,
    pub(crate) queue: Option<Arg>,
    pub(crate) queue_group: Option<Arg>,
    pub(crate) state: Option<Arg>,
    pub(crate) krate: Option<(Arg, syn::Path)>,
    /// The `idempotent` flag's keyword, when given.
    pub(crate) idempotent: Option<Ident>,
}

impl Args {
    fn slot(&mut self, key: Key) -> &mut Option<Arg> {
        match key {
            Key::Name => &mut self.name,
            Key::Version => &mut self.version,
            Key::Topic => &mut self.topic,
            Key::Queue => &mut self.queue,
            Key::QueueGroup => &mut self.queue_group,
            Key::State => &mut self.state,
            Key::Crate | Key::Idempotent => {
                unreachable!("`crate` and `idempotent` are stored apart")
            }
        }
    }

    /// The `crate = "..."` override, if any.
    pub(crate) fn krate(&self) -> Option<&syn::Path> {
        self.krate.as_ref().map(|(_, path)| path)
    }
}

/// Parses `tokens` as `key = "value", ...` accepting the keys in `valid`; `attr` is the attribute
/// as the user writes it (`#[service]`) for messages. Errors go to `cx`; whatever parsed is
/// returned.
pub(crate) fn parse(cx: &Ctxt, tokens: TokenStream, attr: &str, valid: &[Key]) -> Args {
    let mut args = Args::default();
    let parser = |input: ParseStream<'_>| parse_list(cx, input, attr, valid, &mut args);
    if let Err(err) = parser.parse2(tokens) {
        cx.syn_error(err);
    }
    args
}

fn parse_list(
    cx: &Ctxt,
    input: ParseStream<'_>,
    attr: &str,
    valid: &[Key],
    args: &mut Args,
) -> syn::Result<()> {
    while !input.is_empty() {
        let key = input.call(Ident::parse_any)?;
        let key_str = key.to_string();
        let known = Key::from_str(&key_str).filter(|k| valid.contains(k));
        if known == Some(Key::Idempotent) {
            if input.peek(Token![=]) {
                return Err(syn::Error::new(
                    input.span(),
                    "`idempotent` is a flag and takes no value: write `#[micro(idempotent)]`",
                ));
            }
            if args.idempotent.is_some() {
                cx.error_spanned_by(&key, "duplicate `idempotent` argument");
            }
            args.idempotent = Some(key);
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
            continue;
        }
        if known.is_none() && key_str == "idempotent" {
            return Err(syn::Error::new(
                key.span(),
                format!(
                    "`idempotent` marks one endpoint, not `{attr}`: put `#[micro(idempotent)]` on \
                     the trait method"
                ),
            ));
        }
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                input.span(),
                format!("expected `=` after `{key_str}`, as in `{key_str} = \"...\"`"),
            ));
        }
        input.parse::<Token![=]>()?;
        let value = if input.peek(LitStr) {
            Some(input.parse::<LitStr>()?)
        } else {
            let value: syn::Expr = input.parse()?;
            cx.error_spanned_by(
                &value,
                format!("expected a string literal, as in `{key_str} = \"...\"`"),
            );
            None
        };
        match (known, value) {
            (None, _) => cx.error_spanned_by(
                &key,
                format!(
                    "unknown `{attr}` argument `{key_str}`, expected {}",
                    expected_list(valid)
                ),
            ),
            (Some(_), None) => {}
            (Some(Key::Idempotent), Some(_)) => unreachable!("flags are parsed above"),
            (Some(Key::Crate), Some(value)) => {
                if args.krate.is_some() {
                    cx.error_spanned_by(&key, "duplicate `crate` argument");
                } else {
                    match value.parse::<syn::Path>() {
                        Ok(path) => args.krate = Some((Arg { key, value }, path)),
                        Err(_) => cx.error_spanned_by(
                            &value,
                            "expected a path to the `micro_core` crate, as in `crate = \"::micro_core\"`",
                        ),
                    }
                }
            }
            (Some(k), Some(value)) => {
                let slot = args.slot(k);
                if slot.is_some() {
                    cx.error_spanned_by(&key, format!("duplicate `{key_str}` argument"));
                } else {
                    *slot = Some(Arg { key, value });
                }
            }
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(())
}

/// "one of: `name`, `version`" / "`topic`" / "no arguments".
pub(crate) fn expected_list(valid: &[Key]) -> String {
    match valid {
        [] => "no arguments".to_owned(),
        [one] => format!("`{}`", one.as_str()),
        _ => {
            let keys: Vec<String> = valid.iter().map(|k| format!("`{}`", k.as_str())).collect();
            format!("one of: {}", keys.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn run(tokens: TokenStream, valid: &[Key]) -> (Args, Vec<String>) {
        let cx = Ctxt::new();
        let args = parse(&cx, tokens, "#[service]", valid);
        let errors = match cx.check() {
            Ok(()) => Vec::new(),
            Err(err) => err.into_iter().map(|e| e.to_string()).collect(),
        };
        (args, errors)
    }

    const SERVICE: &[Key] = &[Key::Name, Key::Version, Key::Crate];

    #[test]
    fn parses_keys() {
        let (args, errors) = run(
            quote!(name = "greeter", version = "1.0.0", crate = "::my_micro",),
            SERVICE,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            args.name.map(|a| a.value.value()).as_deref(),
            Some("greeter")
        );
        assert_eq!(
            args.version.map(|a| a.value.value()).as_deref(),
            Some("1.0.0")
        );
        assert!(args.krate.is_some());
    }

    #[test]
    fn empty_is_fine() {
        let (args, errors) = run(quote!(), SERVICE);
        assert!(errors.is_empty());
        assert!(args.name.is_none());
    }

    #[test]
    fn reports_all_errors() {
        let (_, errors) = run(
            quote!(nme = "x", name = "a", name = "b", version = 1),
            SERVICE,
        );
        assert_eq!(
            errors,
            [
                "unknown `#[service]` argument `nme`, expected one of: `name`, `version`, `crate`",
                "duplicate `name` argument",
                "expected a string literal, as in `version = \"...\"`",
            ]
        );
    }

    #[test]
    fn missing_equals() {
        let (_, errors) = run(quote!(name), SERVICE);
        assert_eq!(
            errors,
            ["expected `=` after `name`, as in `name = \"...\"`"]
        );
    }
}
