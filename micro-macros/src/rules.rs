//! The rules names follow: service, endpoint and instance names, topics and subjects, queue
//! groups. One file, compiled into the macros (compile-time errors at the user's code) and into
//! micro-core as `micro_core::naming` (the runtime and the NATS backend), so that the two can
//! never disagree; it is included rather than shared as a crate because a proc-macro crate
//! can export nothing but macros. Pure functions: each says why a string breaks its rule.

/// Why `name` is not a valid service, endpoint or instance name (one subject token of ASCII
/// letters, digits, `-` and `_`: the NATS services rule `^[A-Za-z0-9_-]+$`), if it is not.
pub fn invalid_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    if name.chars().any(char::is_whitespace) {
        return Some("it contains whitespace");
    }
    if name.contains('.') {
        return Some("it contains `.`, which would split it into several subject tokens");
    }
    if name.contains(['*', '>']) {
        return Some("it contains a NATS wildcard (`*` or `>`)");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Some("only ASCII letters, digits, `-` and `_` are allowed");
    }
    None
}

/// Why `subject` is not a valid topic or subject, if it is not: dot-separated non-empty tokens
/// without whitespace; with `wildcards` (a subscription), `*` as a whole token and `>` as the
/// whole last token; without, no wildcard at all.
pub fn invalid_subject(subject: &str, wildcards: bool) -> Option<&'static str> {
    if subject.is_empty() {
        return Some("it is empty");
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    let last = tokens.len() - 1;
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() {
            return Some("it has an empty token (`..` or a leading or trailing `.`)");
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Some("it contains whitespace");
        }
        let wild = *token == "*" || (*token == ">" && i == last);
        if wild && !wildcards {
            return Some("it contains a NATS wildcard (`*` or `>`), allowed only when subscribing");
        }
        if *token == ">" && i != last {
            return Some("`>` must be the last token");
        }
        if !wild && token.contains(['*', '>']) {
            return Some("`*` must be a whole token and `>` the whole last token");
        }
    }
    None
}

/// Why `queue` is not a valid queue group, if it is not: NATS's rule, non-empty, without
/// whitespace, `*` or `>` (a `.` is allowed, as NATS allows it: `team.workers`).
pub fn invalid_queue(queue: &str) -> Option<&'static str> {
    if queue.is_empty() {
        return Some("it is empty");
    }
    if queue.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it contains whitespace");
    }
    if queue.contains(['*', '>']) {
        return Some("it contains a NATS wildcard (`*` or `>`)");
    }
    None
}
