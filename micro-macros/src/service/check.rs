//! Rules over the whole service: valid service, version and endpoint names, no duplicate
//! endpoints, no method names that collide with generated items (tarpc's `new` check).

use std::collections::HashMap;

use super::model::ServiceDef;
use crate::ctxt::Ctxt;
use crate::naming;

/// Methods that `{Trait}Client` defines itself.
const CLIENT_METHODS: &[&str] = &["new", "client"];

/// Reports every whole-service problem of `def` to `cx`.
pub(crate) fn check(cx: &Ctxt, def: &ServiceDef) {
    if let Some(why) = naming::invalid_name(&def.name) {
        cx.error_at(
            def.name_span,
            format!(
                "invalid service name `{}`: {why}; a name may contain ASCII letters, digits, `-` \
                 and `_`, as in `name = \"user-store\"`",
                def.name
            ),
        );
    }
    if let (Some(why), Some(lit)) = (naming::invalid_semver(&def.version), &def.version_lit) {
        cx.error_spanned_by(
            lit,
            format!(
                "invalid version `{}`: {why}; expected a semantic version such as `1.0.0` or \
                 `2.1.0-beta.1`",
                def.version
            ),
        );
    }

    let queue_groups = def
        .queue_group
        .iter()
        .chain(def.methods.iter().filter_map(|m| m.queue_group.as_ref()));
    for lit in queue_groups {
        if let Some(why) = naming::invalid_queue(&lit.value()) {
            cx.error_spanned_by(
                lit,
                format!(
                    "invalid queue group `{}`: {why}; a queue group is a name without spaces or wildcards, such as \
                     `queue_group = \"workers\"`",
                    lit.value()
                ),
            );
        }
    }

    let mut seen: HashMap<&str, &syn::Ident> = HashMap::new();
    for method in &def.methods {
        if let Some(why) = naming::invalid_name(&method.endpoint) {
            cx.error_at(
                method.endpoint_span,
                format!(
                    "invalid endpoint name `{}`: {why}; a name may contain ASCII letters, \
                     digits, `-` and `_`, as in `#[micro(name = \"get-user\")]`",
                    method.endpoint
                ),
            );
        } else if let Some(first) = seen.get(method.endpoint.as_str()) {
            cx.error_at(
                method.endpoint_span,
                format!(
                    "duplicate endpoint name `{}`: `fn {first}` already uses it; rename one with \
                     `#[micro(name = \"...\")]`",
                    method.endpoint
                ),
            );
        } else {
            seen.insert(&method.endpoint, &method.ident);
        }

        let name = naming::unraw(&method.ident);
        if CLIENT_METHODS.contains(&name.as_str()) {
            cx.error_spanned_by(
                &method.ident,
                format!(
                    "method name conflicts with generated fn `{}Client::{name}`; rename the \
                     method and keep the endpoint name with `#[micro(name = \"{name}\")]`",
                    def.ident
                ),
            );
        }
    }
}
