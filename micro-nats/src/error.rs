//! async-nats errors → [`micro_core::Error`], at the boundary.
//!
//! Nothing above this module sees an async-nats error type: every failure that crosses into
//! micro is one structured [`Error`] with a code a caller can act on (`408` timeout, `503`
//! unavailable, `401` refused credentials) and a detail that names what was being done.

use async_nats::client::{FlushError, PublishError, RequestError, RequestErrorKind};
use async_nats::{ConnectError, ConnectErrorKind, SubscribeError};
use micro_core::Error;
use micro_core::error::Delivery;

/// A request to `service.endpoint` failed before any reply arrived.
pub(crate) fn request_error(err: &RequestError, service: &str, endpoint: &str) -> Error {
    let id = format!("{service}.{endpoint}");
    let err = match err.kind() {
        // The server found no subscriber: the request went nowhere.
        RequestErrorKind::NoResponders => Error::unavailable(format!(
            "no instance of `{service}` serves `{endpoint}` (no responders on NATS)"
        ))
        .with_delivery(Delivery::NotSent),
        RequestErrorKind::TimedOut => Error::timeout(format!(
            "`{service}.{endpoint}` did not answer before the deadline"
        ))
        .with_delivery(Delivery::InFlight),
        RequestErrorKind::InvalidSubject => Error::bad_request(format!(
            "cannot call `{service}.{endpoint}`: invalid subject ({err})"
        )),
        RequestErrorKind::MaxPayloadExceeded => Error::payload_too_large(format!(
            "the request to `{service}.{endpoint}` is larger than the server accepts: {err}"
        )),
        // The patched async-nats drops the waiting requests of a lost connection.
        RequestErrorKind::Other if lost_in_flight(err) => Error::unavailable(format!(
            "the connection to NATS was lost while `{service}.{endpoint}` was in flight; it \
             may or may not have run"
        ))
        .with_delivery(Delivery::InFlight),
        RequestErrorKind::Other => Error::unavailable(format!(
            "the request to `{service}.{endpoint}` failed: {err}"
        ))
        .with_delivery(Delivery::InFlight),
    };
    err.with_id(id)
}

/// Whether a request failed because its reply channel was dropped, which the connection
/// handler does to the requests of a connection it lost.
fn lost_in_flight(err: &RequestError) -> bool {
    std::error::Error::source(err)
        .is_some_and(|source| source.is::<tokio::sync::oneshot::error::RecvError>())
}

/// The connection is down: fail fast instead of queueing until the deadline. Nothing was
/// sent.
pub(crate) fn disconnected(what: &str) -> Error {
    Error::unavailable(format!(
        "not connected to NATS (reconnecting): cannot {what}"
    ))
    .with_delivery(Delivery::NotSent)
}

/// Connecting at start-up failed.
pub(crate) fn connect_error(err: &ConnectError, urls: &[String]) -> Error {
    let first_url = urls.first();
    let urls = urls.join(", ");
    match err.kind() {
        ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
            Error::unauthorized(format!(
                "the NATS server at {urls} refused the connection: {err}; check MICRO_NATS_TOKEN, \
                 MICRO_NATS_USER/MICRO_NATS_PASSWORD, MICRO_NATS_NKEY or MICRO_NATS_CREDS"
            ))
        }
        ConnectErrorKind::Tls => Error::unavailable(format!(
            "TLS setup for the NATS server at {urls} failed: {err}; check MICRO_NATS_TLS_CA, \
             MICRO_NATS_TLS_CERT and MICRO_NATS_TLS_KEY"
        )),
        ConnectErrorKind::ServerParse => {
            Error::bad_request(format!("invalid NATS server URL {urls}: {err}"))
        }
        ConnectErrorKind::Dns
        | ConnectErrorKind::TimedOut
        | ConnectErrorKind::Io
        | ConnectErrorKind::MaxReconnects => Error::unavailable(format!(
            "no NATS server answers at {urls} ({err}); {}",
            start_hint(first_url)
        )),
    }
}

/// What to do about a server that does not answer at `url`: start one there when it is this
/// machine, else check that one runs there.
fn start_hint(url: Option<&String>) -> String {
    let addr = url.and_then(|u| u.parse::<async_nats::ServerAddr>().ok());
    match addr {
        Some(addr) if is_local(addr.host()) => format!(
            "start one with `nats-server -a {} -p {}` (install it with `apt-get install \
             nats-server`) or point MICRO_NATS_URL at a running server",
            addr.host(),
            addr.port()
        ),
        Some(addr) => format!(
            "check that a NATS server runs at {}:{} and is reachable from here, or point \
             MICRO_NATS_URL at one that is",
            addr.host(),
            addr.port()
        ),
        None => "point MICRO_NATS_URL at a running server".to_owned(),
    }
}

fn is_local(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Subscribing to `subject` failed.
pub(crate) fn subscribe_error(err: &SubscribeError, subject: &str) -> Error {
    Error::unavailable(format!("cannot subscribe to `{subject}`: {err}"))
}

/// Publishing to `subject` failed.
pub(crate) fn publish_error(err: &PublishError, subject: &str) -> Error {
    Error::unavailable(format!("cannot publish to `{subject}`: {err}"))
}

/// Flushing the connection failed.
pub(crate) fn flush_error(err: &FlushError) -> Error {
    Error::unavailable(format!("cannot flush the NATS connection: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_hint_names_the_configured_address() {
        let hint = start_hint(Some(&"nats://127.0.0.1:4999".to_owned()));
        assert!(hint.contains("nats-server -a 127.0.0.1 -p 4999"), "{hint}");
        let hint = start_hint(Some(&"localhost".to_owned()));
        assert!(hint.contains("-a localhost -p 4222"), "{hint}");
        let hint = start_hint(Some(&"nats://nats.example.com:7422".to_owned()));
        assert!(
            hint.contains("nats.example.com:7422") && !hint.contains("nats-server -a"),
            "{hint}"
        );
    }
}
