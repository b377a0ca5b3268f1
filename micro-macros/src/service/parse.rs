//! `syn::ItemTrait` / `syn::ItemImpl` → model. Rules that need only one node (one method, one
//! argument) are checked here and reported into the `Ctxt`; rules over the whole service are in
//! `check.rs`.

use quote::ToTokens;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{FnArg, GenericArgument, Pat, PathArguments, ReturnType, TraitItem, Type};

use super::model::{Arg, ImplDef, Method, Output, ServiceDef, StreamArg};
use crate::args::{self, Args, Key};
use crate::ctxt::Ctxt;
use crate::naming;
use crate::paths::Runtime;

/// The helper attribute on trait methods: `#[micro(name = "...")]`.
pub(crate) const HELPER: &str = "micro";

/// The trait → `ServiceDef`. Every problem is reported to `cx`; the result is still usable for
/// the fallback.
pub(crate) fn parse_trait(cx: &Ctxt, args: &Args, item: &syn::ItemTrait) -> ServiceDef {
    if !item.generics.params.is_empty() {
        cx.error_spanned_by(
            &item.generics,
            "a `#[service]` trait cannot be generic: its methods are called over the wire with \
             concrete types; remove the generic parameters",
        );
    }
    if let Some(auto) = &item.auto_token {
        cx.error_spanned_by(auto, "`#[service]` cannot be used on an `auto trait`");
    }
    if let Some(unsafety) = &item.unsafety {
        cx.error_spanned_by(unsafety, "a `#[service]` trait cannot be `unsafe`");
    }

    let mut methods = Vec::new();
    for trait_item in &item.items {
        match trait_item {
            TraitItem::Fn(f) => methods.push(parse_method(cx, f)),
            TraitItem::Type(t) => cx.error_spanned_by(
                t,
                "a `#[service]` trait cannot have associated types: use concrete types in the \
                 method signatures",
            ),
            TraitItem::Const(c) => cx.error_spanned_by(
                c,
                "a `#[service]` trait cannot have associated consts: only `async fn` methods \
                 become endpoints",
            ),
            other => cx.error_spanned_by(
                other,
                "a `#[service]` trait can only contain `async fn` methods",
            ),
        }
    }

    let (name, name_span) = match &args.name {
        Some(arg) => (arg.value.value(), arg.value.span()),
        None => (
            naming::to_kebab_case(&item.ident.to_string()),
            item.ident.span(),
        ),
    };
    let (version, version_lit) = match &args.version {
        Some(arg) => (arg.value.value(), Some(arg.value.clone())),
        None => ("0.0.0".to_owned(), None),
    };

    ServiceDef {
        original: item.clone(),
        vis: item.vis.clone(),
        ident: item.ident.clone(),
        name,
        name_span,
        version,
        version_lit,
        queue_group: args.queue_group.as_ref().map(|arg| arg.value.clone()),
        doc: naming::doc_text(&item.attrs),
        methods,
        runtime: Runtime::new(args.krate()),
    }
}

fn parse_method(cx: &Ctxt, f: &syn::TraitItemFn) -> Method {
    let sig = &f.sig;
    let ident = sig.ident.clone();

    // #[micro(name = "...")]
    let mut endpoint = (naming::unraw(&ident), ident.span());
    let mut queue_group = None;
    let mut idempotent = false;
    for attr in &f.attrs {
        if !attr.path().is_ident(HELPER) {
            continue;
        }
        let tokens = match &attr.meta {
            syn::Meta::List(list) => list.tokens.clone(),
            other => {
                cx.error_spanned_by(other, "expected `#[micro(name = \"...\")]`");
                continue;
            }
        };
        let parsed = args::parse(
            cx,
            tokens,
            "#[micro]",
            &[Key::Name, Key::QueueGroup, Key::Idempotent],
        );
        if let Some(name) = parsed.name {
            endpoint = (name.value.value(), name.value.span());
        }
        if let Some(queue) = parsed.queue_group {
            queue_group = Some(queue.value);
        }
        idempotent |= parsed.idempotent.is_some();
    }

    if let Some(block) = &f.default {
        cx.error_spanned_by(
            block,
            "a `#[service]` trait declares its methods without a body: move this body to the \
             `impl` of the trait",
        );
    }
    if sig.asyncness.is_none() {
        cx.error_spanned_by(
            sig.fn_token,
            format!("`#[service]` methods must be `async`: write `async fn {ident}`"),
        );
    }
    if let Some(constness) = &sig.constness {
        cx.error_spanned_by(constness, "`#[service]` methods cannot be `const`");
    }
    if let Some(unsafety) = &sig.unsafety {
        cx.error_spanned_by(unsafety, "`#[service]` methods cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(abi, "`#[service]` methods cannot have an `extern` ABI");
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            "`#[service]` methods cannot be generic: arguments and return values cross the wire, \
             so they must be concrete owned types",
        );
    } else if let Some(where_clause) = &sig.generics.where_clause {
        cx.error_spanned_by(
            where_clause,
            "`#[service]` methods cannot have a `where` clause",
        );
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned_by(variadic, "`#[service]` methods cannot be variadic");
    }

    check_receiver(cx, sig);

    let mut args = Vec::new();
    let mut stream: Option<StreamArg> = None;
    for input in sig
        .inputs
        .iter()
        .skip_while(|i| matches!(i, FnArg::Receiver(_)))
    {
        match input {
            FnArg::Receiver(r) => cx.error_spanned_by(r, "`self` must be the first argument"),
            FnArg::Typed(pat_ty) => match parse_arg(cx, pat_ty) {
                Some(Param::Request(arg)) => args.push(arg),
                Some(Param::Stream { ident, item }) => match &stream {
                    Some(first) => cx.error_spanned_by(
                        &pat_ty.ty,
                        format!(
                            "a `#[service]` method takes at most one `Streaming` argument, and \
                             `{}` already is one: send both kinds of items in one stream, as in \
                             `Streaming<E>` with an enum `E` of the two",
                            first.ident
                        ),
                    ),
                    None => {
                        stream = Some(StreamArg {
                            ident,
                            ty: (*pat_ty.ty).clone(),
                            item,
                            position: args.len(),
                        });
                    }
                },
                None => {}
            },
        }
    }

    let output = parse_output(cx, sig);

    let docs: Vec<_> = f
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .cloned()
        .collect();
    let cfgs = f
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg") || a.path().is_ident("cfg_attr"))
        .cloned()
        .collect();

    Method {
        original: f.clone(),
        doc: naming::doc_text(&docs),
        docs,
        cfgs,
        endpoint: endpoint.0,
        endpoint_span: endpoint.1,
        queue_group,
        idempotent,
        ident,
        args,
        input: stream,
        output,
    }
}

fn check_receiver(cx: &Ctxt, sig: &syn::Signature) {
    const HOW: &str = "take `&self`, as in `async fn";
    let ident = &sig.ident;
    match sig.inputs.first() {
        Some(FnArg::Receiver(r)) => {
            if r.colon_token.is_some()
                && !matches!(&*r.ty, Type::Reference(rf) if rf.mutability.is_none() && is_self(&rf.elem))
            {
                cx.error_spanned_by(
                    r,
                    format!(
                        "`self: {}` receivers are not supported by `#[service]`: {HOW} \
                         {ident}(&self, ...)`",
                        naming::tokens_to_string(r.ty.to_token_stream())
                    ),
                );
            } else if r.reference.is_none() {
                cx.error_spanned_by(
                    r,
                    format!(
                        "`#[service]` methods cannot take `self` by value: {HOW} {ident}(&self, ...)`"
                    ),
                );
            } else if r.mutability.is_some() {
                cx.error_spanned_by(
                    r,
                    format!(
                        "`#[service]` methods cannot take `&mut self`, since calls run \
                         concurrently: {HOW} {ident}(&self, ...)` and keep mutable state behind \
                         a lock"
                    ),
                );
            }
        }
        _ => cx.error_spanned_by(
            ident,
            format!(
                "`#[service]` methods need a `&self` receiver: write `async fn {ident}(&self, ...)`"
            ),
        ),
    }
}

fn is_self(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self"))
}

/// A parsed argument: a field of the request object, or the stream argument.
enum Param {
    Request(Arg),
    Stream { ident: syn::Ident, item: Type },
}

fn parse_arg(cx: &Ctxt, pat_ty: &syn::PatType) -> Option<Param> {
    let ty = &*pat_ty.ty;
    let shape = stream_shape(cx, ty, Place::Argument);
    let ok_type = match shape {
        StreamShape::Absent => check_wire_type(cx, ty, "arguments"),
        StreamShape::Whole(_) => true,
        StreamShape::Invalid => false,
    };
    let ident = match &*pat_ty.pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.mutability.is_none() && p.subpat.is_none() => {
            Some(p.ident.clone())
        }
        Pat::Wild(w) => {
            cx.error_spanned_by(
                w,
                "`#[service]` arguments need a name, which is their key on the wire: replace `_` \
                 with a plain identifier",
            );
            None
        }
        other => {
            cx.error_spanned_by(
                other,
                "`#[service]` arguments must be plain identifiers, which are their keys on the \
                 wire: use a plain identifier such as `args` and destructure it in the impl",
            );
            None
        }
    };
    if !ok_type {
        return None;
    }
    let ident = ident?;
    Some(match shape {
        StreamShape::Whole(item) => Param::Stream { ident, item: *item },
        _ => Param::Request(Arg {
            ident,
            optional: is_option(ty),
            ty: ty.clone(),
        }),
    })
}

/// Where a type that may hold `Streaming` is written, for the messages about it.
#[derive(Clone, Copy)]
enum Place {
    Argument,
    Return,
}

/// How `Streaming` appears in a type.
enum StreamShape {
    /// Nowhere.
    Absent,
    /// As the whole type, `Streaming<T>`: its `T`.
    Whole(Box<Type>),
    /// Malformed or misplaced, and reported.
    Invalid,
}

/// Finds `Streaming` in `ty` and reports every use of it but `Streaming<T>` as the whole type
/// with a `T` that can cross the wire.
fn stream_shape(cx: &Ctxt, ty: &Type, place: Place) -> StreamShape {
    let Some(segment) = streaming_segment(ty) else {
        return match find_streaming(ty) {
            Some(found) => {
                report_nested(cx, &found, place);
                StreamShape::Invalid
            }
            None => StreamShape::Absent,
        };
    };
    let Some(item) = streaming_item(segment) else {
        report_arity(cx, ty, segment);
        return StreamShape::Invalid;
    };
    if let Some(found) = find_streaming(&item) {
        report_nested(cx, &found, place);
        return StreamShape::Invalid;
    }
    if check_wire_type(cx, &item, "stream items") {
        StreamShape::Whole(Box::new(item))
    } else {
        StreamShape::Invalid
    }
}

/// The last segment of `ty`'s path when it is named `Streaming` (`Streaming<T>`,
/// `micro::Streaming<T>`, `micro_core::stream::Streaming<T>`).
fn streaming_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            p.path.segments.last().filter(|s| s.ident == "Streaming")
        }
        Type::Group(g) => streaming_segment(&g.elem),
        Type::Paren(p) => streaming_segment(&p.elem),
        _ => None,
    }
}

/// The `T` of `Streaming<T>`; `None` unless there is exactly one argument and it is a type.
fn streaming_item(segment: &syn::PathSegment) -> Option<Type> {
    let PathArguments::AngleBracketed(generics) = &segment.arguments else {
        return None;
    };
    let mut args = generics.args.iter();
    match (args.next(), args.next()) {
        (Some(GenericArgument::Type(item)), None) => Some(item.clone()),
        _ => None,
    }
}

/// A `Streaming` found inside a type: the innermost type to point at (`&Streaming<T>` itself
/// for a reference to one, whose fix is to drop the `&`).
struct Nested {
    ty: Type,
    by_ref: bool,
    /// `Streaming<T>` with its `T` as written, when it has exactly one.
    suggestion: String,
}

/// The first `Streaming` anywhere in `ty`: called where any is misplaced (inside another
/// type, or inside a stream's item type).
fn find_streaming(ty: &Type) -> Option<Nested> {
    struct Finder(Option<Nested>);
    impl Finder {
        fn found(&mut self, ty: &Type, by_ref: bool) -> bool {
            let Some(segment) = streaming_segment(ty) else {
                return false;
            };
            let suggestion = match streaming_item(segment) {
                Some(item) => format!(
                    "Streaming<{}>",
                    naming::tokens_to_string(item.to_token_stream())
                ),
                None => "Streaming<T>".to_owned(),
            };
            self.0.get_or_insert(Nested {
                ty: ty.clone(),
                by_ref,
                suggestion,
            });
            true
        }
    }
    impl VisitMut for Finder {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if self.0.is_some() {
                return;
            }
            if let Type::Reference(r) = ty
                && streaming_segment(&r.elem).is_some()
            {
                let whole = Type::Reference(r.clone());
                let segment_ty = (*r.elem).clone();
                // Point at the reference, suggest what it refers to.
                if self.found(&segment_ty, true)
                    && let Some(nested) = &mut self.0
                {
                    nested.ty = whole;
                }
                return;
            }
            if !self.found(ty, false) {
                visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    let mut finder = Finder(None);
    finder.visit_type_mut(&mut ty.clone());
    finder.0
}

/// Gives every `Streaming` in `sig` exactly one type argument (its type arguments as a tuple,
/// or `()`), so that the copies of a rejected signature that the trait and the fallback emit
/// add no error of rustc's to the one reported.
pub(crate) fn repair_streaming(sig: &mut syn::Signature) {
    struct Repair;
    impl VisitMut for Repair {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            visit_mut::visit_type_mut(self, ty);
            let Type::Path(p) = ty else { return };
            if p.qself.is_some() {
                return;
            }
            let Some(segment) = p.path.segments.last_mut() else {
                return;
            };
            if segment.ident != "Streaming" || streaming_item(segment).is_some() {
                return;
            }
            let types: Vec<&Type> = match &segment.arguments {
                PathArguments::AngleBracketed(generics) => generics
                    .args
                    .iter()
                    .filter_map(|arg| match arg {
                        GenericArgument::Type(t) => Some(t),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let item: Type = match types.as_slice() {
                [one] => (*one).clone(),
                many => syn::parse_quote!((#(#many),*)),
            };
            segment.arguments = PathArguments::AngleBracketed(syn::parse_quote!(<#item>));
        }
    }
    Repair.visit_signature_mut(sig);
}

fn report_nested(cx: &Ctxt, nested: &Nested, place: Place) {
    let suggestion = &nested.suggestion;
    let how = match place {
        Place::Argument => {
            format!("take the stream as an argument of its own, `name: {suggestion}`")
        }
        Place::Return => format!("return it as `Result<{suggestion}, Error>`"),
    };
    let msg = if nested.by_ref {
        format!(
            "a stream is passed by value, since its items arrive over the wire while the method \
             runs: write `{suggestion}` without the `&`"
        )
    } else {
        format!(
            "`Streaming` cannot be part of another type: a `#[service]` method takes a stream as \
             a whole argument and returns one as the whole `Ok` type; {how}"
        )
    };
    cx.error_spanned_by(&nested.ty, msg);
}

fn report_arity(cx: &Ctxt, ty: &Type, segment: &syn::PathSegment) {
    let types: Vec<String> = match &segment.arguments {
        PathArguments::AngleBracketed(generics) => generics
            .args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(t) => Some(naming::tokens_to_string(t.to_token_stream())),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let example = match types.as_slice() {
        [] => "`Streaming<u32>`".to_owned(),
        [one] => format!("`Streaming<{one}>`"),
        many => format!("`Streaming<({})>` for a stream of tuples", many.join(", ")),
    };
    cx.error_spanned_by(
        ty,
        format!(
            "`Streaming` takes exactly one type argument, the type of its items: write \
             `Streaming<T>`, as in {example}"
        ),
    );
}

/// Reports references and `impl Trait` anywhere in `ty`; true when there were none.
fn check_wire_type(cx: &Ctxt, ty: &Type, what: &str) -> bool {
    struct Finder<'a> {
        cx: &'a Ctxt,
        what: &'a str,
        ok: bool,
    }
    impl VisitMut for Finder<'_> {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            match ty {
                Type::Reference(r) => {
                    let owned = owned_suggestion(&r.elem);
                    self.cx.error_spanned_by(
                        &*r,
                        format!(
                            "`#[service]` {} must be owned, since they are decoded from the \
                             wire: use an owned type such as {owned}",
                            self.what
                        ),
                    );
                    self.ok = false;
                }
                Type::ImplTrait(t) => {
                    self.cx.error_spanned_by(
                        &*t,
                        format!(
                            "`impl Trait` is not supported in `#[service]` {}: use a concrete \
                             type that implements `Serialize` and `Deserialize`",
                            self.what
                        ),
                    );
                    self.ok = false;
                }
                _ => visit_mut::visit_type_mut(self, ty),
            }
        }
    }
    let mut finder = Finder { cx, what, ok: true };
    finder.visit_type_mut(&mut ty.clone());
    finder.ok
}

fn owned_suggestion(elem: &Type) -> String {
    match elem {
        Type::Path(p) if p.path.is_ident("str") => "`String`".to_owned(),
        Type::Slice(s) => format!(
            "`Vec<{}>`",
            naming::tokens_to_string(s.elem.to_token_stream())
        ),
        Type::Path(p) if p.path.is_ident("Path") => "`PathBuf`".to_owned(),
        other => format!("`{}`", naming::tokens_to_string(other.to_token_stream())),
    }
}

fn is_option(ty: &Type) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().is_some_and(|seg| {
            seg.ident == "Option" && matches!(seg.arguments, PathArguments::AngleBracketed(_))
        }),
        Type::Group(g) => is_option(&g.elem),
        Type::Paren(p) => is_option(&p.elem),
        _ => false,
    }
}

const RESULT_HELP: &str = "`#[service]` methods return `Result<T, Error>` with `micro_core::Error`";

fn parse_output(cx: &Ctxt, sig: &syn::Signature) -> Output {
    let ty = match &sig.output {
        ReturnType::Default => {
            cx.error_at(
                sig.paren_token.span.close(),
                format!("missing return type: {RESULT_HELP}, as in `-> Result<(), Error>`"),
            );
            return Output {
                ty: syn::parse_quote!(()),
                ok: syn::parse_quote!(()),
                item: None,
            };
        }
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    if let Some(err) = foreign_error_type(&ty) {
        cx.error_spanned_by(
            err,
            format!(
                "`{}` is not `micro_core::Error`: {RESULT_HELP}, the error that crosses the wire; \
                 convert other errors in the handler, as in \
                 `.map_err(|e| Error::internal(e.to_string()))`",
                naming::tokens_to_string(err.to_token_stream())
            ),
        );
        let ok = result_ok_type(&ty).unwrap_or_else(|| ty.clone());
        return Output { ok, ty, item: None };
    }
    match result_ok_type(&ty) {
        Some(ok) => {
            let item = match stream_shape(cx, &ok, Place::Return) {
                StreamShape::Absent => {
                    check_wire_type(cx, &ok, "return values");
                    None
                }
                StreamShape::Whole(item) => Some(*item),
                StreamShape::Invalid => None,
            };
            Output { ty, ok, item }
        }
        None if streaming_segment(&ty).is_some() => {
            let item = streaming_segment(&ty).and_then(streaming_item).map_or_else(
                || "T".to_owned(),
                |item| naming::tokens_to_string(item.to_token_stream()),
            );
            cx.error_spanned_by(
                &ty,
                format!(
                    "expected `Result<Streaming<T>, Error>`: {RESULT_HELP}, and a stream is the \
                     `T`, so that the method can fail before it starts streaming; write \
                     `-> Result<Streaming<{item}>, Error>`"
                ),
            );
            Output {
                ok: ty.clone(),
                ty,
                item: None,
            }
        }
        None if !is_result_like(&ty) && find_streaming(&ty).is_some() => {
            if let Some(nested) = find_streaming(&ty) {
                report_nested(cx, &nested, Place::Return);
            }
            Output {
                ok: ty.clone(),
                ty,
                item: None,
            }
        }
        None => {
            cx.error_spanned_by(
                &ty,
                format!(
                    "expected `Result<T, Error>`: {RESULT_HELP} written out (the macro cannot see \
                     through type aliases), as in `-> Result<{}, Error>`",
                    suggested_ok(&ty)
                ),
            );
            Output {
                ok: ty.clone(),
                ty,
                item: None,
            }
        }
    }
}

/// Whether `ty` is named like a `Result` (`Result<T, MyError>`, `io::Result<T>`): what is wrong
/// with it is the error type, whatever its `T`.
fn is_result_like(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident.to_string().ends_with("Result")))
}

/// What to suggest as the `T` of `Result<T, Error>` for a return type that is not of that form:
/// `String` for `String`, `T` for `Result<T, MyError>`, `String` for an alias `MyResult<String>`.
fn suggested_ok(ty: &Type) -> String {
    if let Type::Path(p) = ty
        && let Some(last) = p.path.segments.last()
        && last.ident.to_string().ends_with("Result")
    {
        if let PathArguments::AngleBracketed(args) = &last.arguments
            && let (Some(GenericArgument::Type(ok)), true) =
                (args.args.first(), last.ident != "Result")
        {
            return naming::tokens_to_string(ok.to_token_stream());
        }
        return "T".to_owned();
    }
    naming::tokens_to_string(ty.to_token_stream())
}

/// The `T` of `Result<T, Error>` (also `std::result::Result<T, micro_core::Error>`).
pub(crate) fn result_ok_type(ty: &Type) -> Option<Type> {
    let path = match ty {
        Type::Path(p) if p.qself.is_none() => &p.path,
        Type::Group(g) => return result_ok_type(&g.elem),
        Type::Paren(p) => return result_ok_type(&p.elem),
        _ => return None,
    };
    let last = path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(generics) = &last.arguments else {
        return None;
    };
    let mut types = generics.args.iter();
    let (Some(GenericArgument::Type(ok)), Some(GenericArgument::Type(err)), None) =
        (types.next(), types.next(), types.next())
    else {
        return None;
    };
    is_error_type(err).then(|| ok.clone())
}

/// The `E` of a `Result<T, E>` whose `E` is named `Error` but by a path outside micro
/// (`std::io::Error`, `io::Error`, `anyhow::Error`): the last segment alone would pass for ours.
fn foreign_error_type(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(generics) = &last.arguments else {
        return None;
    };
    let Some(GenericArgument::Type(err)) = generics.args.iter().nth(1) else {
        return None;
    };
    let Type::Path(path) = err else { return None };
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    match segments.as_slice() {
        // `Error` as imported, or a path through micro or the user's own crate.
        [_] => None,
        [.., parent, last]
            if last == "Error"
                && matches!(
                    parent.as_str(),
                    "micro_core" | "micro" | "error" | "crate" | "self" | "super" | "prelude"
                ) =>
        {
            None
        }
        [.., last] if last == "Error" => Some(err),
        _ => None,
    }
}

fn is_error_type(ty: &Type) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "Error" && s.arguments.is_none()),
        Type::Group(g) => is_error_type(&g.elem),
        _ => false,
    }
}

/// The impl → `ImplDef`, or `None` (with errors in `cx`) when it cannot be registered.
pub(crate) fn parse_impl(cx: &Ctxt, args: &Args, item: &syn::ItemImpl) -> Option<ImplDef> {
    for arg in [&args.name, &args.version].into_iter().flatten() {
        cx.error_spanned_by(
            &arg.key,
            format!(
                "`{}` belongs on the trait's `#[service]`, not on the impl: `#[service]` on an \
                 impl takes only `state = \"Type\"` (what the impl is built from)",
                arg.key
            ),
        );
    }
    for impl_item in &item.items {
        if let syn::ImplItem::Fn(f) = impl_item {
            for attr in f.attrs.iter().filter(|a| a.path().is_ident(HELPER)) {
                cx.error_spanned_by(
                    attr,
                    "`#[micro(...)]` goes on the method in the `#[service]` trait, not in the impl",
                );
            }
        }
    }
    let Some((bang, trait_path, _)) = &item.trait_ else {
        cx.error_spanned_by(
            &item.self_ty,
            "`#[service]` on an impl needs a service trait: write `#[service] impl MyTrait for \
             MyType`, where `MyTrait` has `#[service]` too",
        );
        return None;
    };
    if let Some(bang) = bang {
        cx.error_spanned_by(bang, "`#[service]` cannot be used on a negative impl");
        return None;
    }
    if !item.generics.params.is_empty() {
        cx.error_spanned_by(
            &item.generics,
            "`#[service]` cannot register a generic impl, since it builds one concrete type: \
             implement the trait for a concrete type, or remove `#[service]` and register \
             `{Trait}Server::new(value)` with `Service::builder().handle(..)`",
        );
        return None;
    }
    if item.trait_.is_some() && trait_path.segments.is_empty() {
        cx.error_at(item.span(), "expected a trait path");
        return None;
    }
    let state = match &args.state {
        None => None,
        Some(arg) => match arg.value.parse::<Type>() {
            Ok(ty) => Some(ty),
            Err(_) => {
                cx.error_spanned_by(
                    &arg.value,
                    "expected a type, as in `state = \"AppState\"`: the type given with \
                     `Service::from_env().state(value)` that this impl is built from (`From`)",
                );
                return None;
            }
        },
    };
    Some(ImplDef {
        original: item.clone(),
        trait_path: trait_path.clone(),
        self_ty: (*item.self_ty).clone(),
        state,
        runtime: Runtime::new(args.krate()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn ok_of(ty: Type) -> Option<String> {
        result_ok_type(&ty).map(|t| t.to_token_stream().to_string())
    }

    #[test]
    fn result_types() {
        assert_eq!(
            ok_of(syn::parse_quote!(Result<String, Error>)).as_deref(),
            Some("String")
        );
        assert_eq!(
            ok_of(syn::parse_quote!(std::result::Result<(), micro_core::Error>)).as_deref(),
            Some("()")
        );
        assert_eq!(
            ok_of(syn::parse_quote!(Result<Vec<Option<u8>>, Error>)).as_deref(),
            Some("Vec < Option < u8 > >")
        );
        assert_eq!(ok_of(syn::parse_quote!(Result<String>)), None);
        assert_eq!(ok_of(syn::parse_quote!(Result<String, MyErr>)), None);
        assert_eq!(ok_of(syn::parse_quote!(String)), None);
        assert_eq!(ok_of(syn::parse_quote!(Option<String>)), None);
    }

    #[test]
    fn collects_every_method_error() {
        let item: syn::ItemTrait = syn::parse_quote! {
            trait Bad {
                fn a(&self) -> Result<(), Error>;
                async fn b(&mut self, x: &str) -> String;
                async fn c<T>(self, (x, y): (u8, u8)) -> Result<(), Error>;
                type Assoc;
            }
        };
        let cx = Ctxt::new();
        let def = parse_trait(&cx, &Args::default(), &item);
        assert_eq!(def.name, "bad");
        let errors: Vec<String> = cx
            .check()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(errors.len(), 8, "{errors:#?}");
        let _ = quote!();
    }

    /// The errors of parsing `item`, as text.
    fn errors_of(item: syn::ItemTrait) -> Vec<String> {
        let cx = Ctxt::new();
        let _ = parse_trait(&cx, &Args::default(), &item);
        match cx.check() {
            Ok(()) => Vec::new(),
            Err(err) => err.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn stream_kinds() {
        use super::super::model::Kind;
        let item: syn::ItemTrait = syn::parse_quote! {
            trait Feed {
                async fn unary(&self, n: u32) -> Result<u32, Error>;
                async fn ticks(&self, n: u32) -> Result<Streaming<Tick>, Error>;
                async fn upload(&self, name: String, chunks: micro::Streaming<Chunk>, last: bool)
                    -> Result<Summary, Error>;
                async fn chat(&self, msgs: micro_core::stream::Streaming<Msg>)
                    -> std::result::Result<Streaming<Vec<Msg>>, micro_core::Error>;
            }
        };
        let cx = Ctxt::new();
        let def = parse_trait(&cx, &Args::default(), &item);
        cx.check().unwrap();
        let kinds: Vec<Kind> = def.methods.iter().map(|m| m.kind()).collect();
        assert_eq!(
            kinds,
            [
                Kind::Unary,
                Kind::ServerStream,
                Kind::ClientStream,
                Kind::Bidirectional
            ]
        );
        let text = |ty: &Type| ty.to_token_stream().to_string();
        let upload = &def.methods[2];
        let names: Vec<String> = upload.args.iter().map(|a| a.ident.to_string()).collect();
        assert_eq!(names, ["name", "last"]);
        let input = upload.input.as_ref().unwrap();
        assert_eq!(
            (input.ident.to_string(), input.position),
            ("chunks".to_owned(), 1)
        );
        assert_eq!(text(&input.item), "Chunk");
        assert_eq!(text(upload.output.wire_type()), "Summary");
        let chat = &def.methods[3];
        assert!(chat.args.is_empty());
        assert_eq!(text(chat.output.item.as_ref().unwrap()), "Vec < Msg >");
        let wire: Vec<String> = chat.wire_types().map(text).collect();
        assert_eq!(wire, ["Msg", "Vec < Msg >"]);
    }

    #[test]
    fn stream_misuse() {
        let cases: Vec<(syn::ItemTrait, &str)> = vec![
            (
                syn::parse_quote! { trait T {
                    async fn m(&self, a: Streaming<u8>, b: Streaming<u8>) -> Result<(), Error>;
                } },
                "at most one `Streaming` argument, and `a` already is one",
            ),
            (
                syn::parse_quote! { trait T { async fn m(&self, a: Vec<Streaming<u8>>) -> Result<(), Error>; } },
                "take the stream as an argument of its own, `name: Streaming<u8>`",
            ),
            (
                syn::parse_quote! { trait T { async fn m(&self, a: (Streaming<u8>, u32)) -> Result<(), Error>; } },
                "cannot be part of another type",
            ),
            (
                syn::parse_quote! { trait T { async fn m(&self, a: &Streaming<u8>) -> Result<(), Error>; } },
                "write `Streaming<u8>` without the `&`",
            ),
            (
                syn::parse_quote! { trait T { async fn m(&self, a: Streaming<Streaming<u8>>) -> Result<(), Error>; } },
                "cannot be part of another type",
            ),
            (
                syn::parse_quote! { trait T { async fn m(&self) -> Result<Option<Streaming<u8>>, Error>; } },
                "return it as `Result<Streaming<u8>, Error>`",
            ),
            (
                syn::parse_quote! { trait T { async fn m(&self) -> Option<Streaming<u8>>; } },
                "return it as `Result<Streaming<u8>, Error>`",
            ),
            (
                syn::parse_quote! { trait T { async fn m(&self, a: Streaming) -> Result<(), Error>; } },
                "exactly one type argument, the type of its items: write `Streaming<T>`, as in `Streaming<u32>`",
            ),
            (
                syn::parse_quote! { trait T { async fn m(&self) -> Result<Streaming<u8, u16>, Error>; } },
                "as in `Streaming<(u8, u16)>` for a stream of tuples",
            ),
            (
                syn::parse_quote! { trait T { async fn m(&self) -> Streaming<u8>; } },
                "write `-> Result<Streaming<u8>, Error>`",
            ),
            (
                syn::parse_quote! { trait T { async fn m(&self, a: Streaming<&'static str>) -> Result<(), Error>; } },
                "stream items must be owned",
            ),
        ];
        for (item, expected) in cases {
            let errors = errors_of(item.clone());
            assert_eq!(errors.len(), 1, "{}: {errors:#?}", item.to_token_stream());
            assert!(
                errors[0].contains(expected),
                "{}: {:?} does not say {expected:?}",
                item.to_token_stream(),
                errors[0]
            );
        }
    }
}
