//! The subject scheme, and the only place subjects are built.
//!
//! | what | subject |
//! |---|---|
//! | endpoint `hello` of service `greeter` | `greeter.hello`, or `<prefix>.greeter.hello` with `MICRO_NATS_PREFIX` |
//! | discovery, every instance | `$SRV.PING`, `$SRV.INFO`, `$SRV.STATS` |
//! | discovery, one service | `$SRV.<VERB>.greeter` |
//! | discovery, one instance | `$SRV.<VERB>.greeter.<id>` |
//! | cancellations for `greeter` | `$MICRO.CANCEL.greeter`, or `<prefix>.$MICRO.CANCEL.greeter` |
//!
//! Service and endpoint names are single tokens (`^[A-Za-z0-9_-]+$`, as the NATS services
//! protocol requires of names), so a subject can never gain or lose a token by accident. The
//! prefix is one or more dot-separated tokens without spaces or wildcards. Queue groups follow the
//! same token rule as NATS itself: no spaces, no `*` or `>`.

use micro_core::Error;

/// The `$SRV` verbs a service answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verb {
    Ping,
    Info,
    Stats,
}

impl Verb {
    pub(crate) const ALL: [Verb; 3] = [Verb::Ping, Verb::Info, Verb::Stats];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verb::Ping => "PING",
            Verb::Info => "INFO",
            Verb::Stats => "STATS",
        }
    }
}

/// `$SRV.<VERB>`, `$SRV.<VERB>.<name>` or `$SRV.<VERB>.<name>.<id>`.
pub(crate) fn control(verb: Verb, name: Option<&str>, id: Option<&str>) -> String {
    match (name, id) {
        (Some(name), Some(id)) => format!("$SRV.{}.{name}.{id}", verb.as_str()),
        (Some(name), None) => format!("$SRV.{}.{name}", verb.as_str()),
        _ => format!("$SRV.{}", verb.as_str()),
    }
}

/// Builds endpoint subjects: `[<prefix>.]<service>.<endpoint>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subjects {
    prefix: Option<String>,
}

impl Subjects {
    /// The scheme with an optional prefix (validated; `None` or `""` for none).
    pub fn new(prefix: Option<&str>) -> Result<Self, Error> {
        let prefix = prefix.map(str::trim).filter(|p| !p.is_empty());
        if let Some(p) = prefix {
            validate_prefix(p)?;
        }
        Ok(Subjects {
            prefix: prefix.map(str::to_owned),
        })
    }

    /// The prefix, if any.
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// The subject of `service.endpoint`, after checking both names.
    pub fn endpoint(&self, service: &str, endpoint: &str) -> Result<String, Error> {
        validate_name("service", service)?;
        validate_name("endpoint", endpoint)?;
        Ok(self.endpoint_unchecked(service, endpoint))
    }

    /// The subject every instance of `service` hears its callers' cancellations on (see
    /// PROTOCOL.md, "Cancellation"): `$MICRO.CANCEL.<service>`, under the prefix like the
    /// endpoints (`<prefix>.$MICRO.CANCEL.<service>`), so that services of two prefixes that
    /// share a name never hear each other's, and a permission on `<prefix>.>` covers it. `$`
    /// keeps it apart from every endpoint subject: no service name has one.
    pub(crate) fn cancel(&self, service: &str) -> String {
        match &self.prefix {
            Some(p) => format!("{p}.$MICRO.CANCEL.{service}"),
            None => format!("$MICRO.CANCEL.{service}"),
        }
    }

    /// The subject of `service.endpoint` without checks, for display.
    pub(crate) fn endpoint_unchecked(&self, service: &str, endpoint: &str) -> String {
        match &self.prefix {
            Some(p) => format!("{p}.{service}.{endpoint}"),
            None => format!("{service}.{endpoint}"),
        }
    }
}

/// Checks a service or endpoint name: one token of letters, digits, `-` and `_` (micro-core's
/// rule, [`micro_core::naming::invalid_name`], which the macros apply too).
pub fn validate_name(kind: &str, name: &str) -> Result<(), Error> {
    micro_core::service::validate_token(kind, name)
}

/// Why `subject` is not dot-separated non-empty tokens without whitespace or wildcards.
fn tokens_problem(subject: &str) -> Option<&'static str> {
    micro_core::naming::invalid_subject(subject, false)
}

/// Checks a subject prefix: dot-separated non-empty tokens without whitespace or wildcards.
pub fn validate_prefix(prefix: &str) -> Result<(), Error> {
    match tokens_problem(prefix) {
        None => Ok(()),
        Some(why) => Err(Error::bad_request(format!(
            "invalid subject prefix `{prefix}` (MICRO_NATS_PREFIX): {why}"
        ))),
    }
}

/// Checks a subject a call is sent to: dot-separated non-empty tokens without whitespace or
/// wildcards.
pub fn validate_subject(subject: &str) -> Result<(), Error> {
    match tokens_problem(subject) {
        None => Ok(()),
        Some(why) => Err(Error::bad_request(format!(
            "invalid subject `{subject}`: {why}"
        ))),
    }
}

/// Checks a queue group name (micro-core's rule, [`micro_core::broker::validate_queue`]).
pub fn validate_queue_group(queue: &str) -> Result<(), Error> {
    micro_core::broker::validate_queue(queue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_subjects() {
        let plain = Subjects::new(None).unwrap();
        assert_eq!(plain.endpoint("greeter", "hello").unwrap(), "greeter.hello");
        let prefixed = Subjects::new(Some("acme.prod")).unwrap();
        assert_eq!(
            prefixed.endpoint("greeter", "hello").unwrap(),
            "acme.prod.greeter.hello"
        );
        assert_eq!(Subjects::new(Some("")).unwrap(), plain);
        // Cancellations follow the prefix too.
        assert_eq!(plain.cancel("greeter"), "$MICRO.CANCEL.greeter");
        assert_eq!(
            prefixed.cancel("greeter"),
            "acme.prod.$MICRO.CANCEL.greeter"
        );
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        let s = Subjects::default();
        for (service, endpoint, needle) in [
            ("", "hello", "empty"),
            ("greet er", "hello", "whitespace"),
            ("greeter", "he*", "wildcard"),
            ("greeter", ">", "wildcard"),
            ("a.b", "hello", "`.`"),
            ("greeter", "hé", "ASCII"),
        ] {
            let err = s.endpoint(service, endpoint).unwrap_err();
            assert_eq!(err.code(), 400);
            assert!(err.detail().contains(needle), "{err}");
        }
    }

    #[test]
    fn bad_prefixes_and_queues() {
        for bad in ["a..b", ".a", "a.", "a b", "a.*", "a.>"] {
            assert!(Subjects::new(Some(bad)).is_err(), "{bad}");
        }
        assert!(validate_queue_group("q").is_ok());
        for bad in ["", "a b", "q*", "q>"] {
            assert!(validate_queue_group(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn control_subjects() {
        assert_eq!(control(Verb::Ping, None, None), "$SRV.PING");
        assert_eq!(control(Verb::Info, Some("g"), None), "$SRV.INFO.g");
        assert_eq!(
            control(Verb::Stats, Some("g"), Some("ID")),
            "$SRV.STATS.g.ID"
        );
    }
}
