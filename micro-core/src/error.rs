//! The one structured error that crosses the wire intact.
//!
//! Modelled on go-micro's `errors` package: an [`Error`] has an `id` (who raised it, usually
//! `service.endpoint`), a numeric `code` (an HTTP status code, so gateways can map it directly),
//! a human-readable `detail` and a `status` text. Handlers return it, the server encodes it into
//! the reply, and the client rebuilds the same value on the other side.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Well-known error codes (HTTP status codes, as go-micro uses them).
pub mod code {
    /// The request was malformed: bad payload, missing field, wrong type.
    pub const BAD_REQUEST: u16 = 400;
    /// The caller is not authenticated.
    pub const UNAUTHORIZED: u16 = 401;
    /// The caller is authenticated but not allowed.
    pub const FORBIDDEN: u16 = 403;
    /// No such service, endpoint or resource.
    pub const NOT_FOUND: u16 = 404;
    /// The deadline passed before the call completed.
    pub const TIMEOUT: u16 = 408;
    /// The request conflicts with the current state.
    pub const CONFLICT: u16 = 409;
    /// The payload is larger than the receiver accepts.
    pub const PAYLOAD_TOO_LARGE: u16 = 413;
    /// The `Content-Type` names a codec the receiver does not speak.
    pub const UNSUPPORTED_MEDIA_TYPE: u16 = 415;
    /// The caller gave up on the request and the handler was stopped (nginx's 499, "client
    /// closed request"); counted in STATS, never sent.
    pub const CLIENT_CLOSED: u16 = 499;
    /// The handler failed.
    pub const INTERNAL: u16 = 500;
    /// The endpoint exists but does nothing yet.
    pub const NOT_IMPLEMENTED: u16 = 501;
    /// A peer answered with something that cannot be read (a reply in an unknown codec, with
    /// malformed headers, or that does not decode).
    pub const BAD_GATEWAY: u16 = 502;
    /// Nobody is there to answer, or the connection is down.
    pub const UNAVAILABLE: u16 = 503;
}

/// A structured error: `id`, `code`, `detail` and `status`, as in go-micro.
///
/// It is what every handler returns in its `Err`, what every client call returns, and what
/// travels in error replies, so a caller sees exactly what the handler raised.
///
/// ```
/// use micro_core::Error;
///
/// let err = Error::not_found("no user 42");
/// assert_eq!(err.code(), 404);
/// assert_eq!(err.status(), "Not Found");
/// assert_eq!(err.to_string(), "404 Not Found: no user 42");
/// ```
#[derive(Clone, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Error {
    /// Who raised the error; the server fills in `service.endpoint` when the handler left it
    /// empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The numeric code, an HTTP status code (see [`code`]).
    pub code: u16,
    /// What went wrong, for a person to read.
    #[serde(default)]
    pub detail: String,
    /// The standard text for `code` ("Not Found"), or a custom one.
    #[serde(default)]
    pub status: String,
    /// What the caller knows of the request's fate; never on the wire.
    #[serde(skip)]
    delivery: Delivery,
}

/// What a caller knows about whether a failed request reached a handler: the fact that decides
/// whether retrying it is safe. Local to the caller, never sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Nothing is known: an error a server or handler answered with, or raised in this process.
    #[default]
    Unknown,
    /// The request reached no handler: no instance serves the endpoint, the connection was down
    /// when it was to be sent, or the instance was stopping. Retrying is always safe.
    NotSent,
    /// The request was sent and its fate is unknown: the wait for the reply ran out, or the
    /// connection was lost while it was in flight. The handler may have run; retrying is safe
    /// only for an idempotent endpoint.
    InFlight,
}

/// Two errors are equal when what travels on the wire is: [`Delivery`] is the caller's own
/// knowledge, not part of the error.
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.code == other.code
            && self.detail == other.detail
            && self.status == other.status
    }
}

impl Error {
    /// An error with any code; `status` is the standard text for that code.
    pub fn new(code: u16, detail: impl Into<String>) -> Self {
        Error {
            id: String::new(),
            code,
            detail: detail.into(),
            status: status_text(code).into_owned(),
            delivery: Delivery::Unknown,
        }
    }

    /// Records what is known about whether the request reached a handler (transports set it on
    /// the errors they raise; see [`Delivery`]).
    #[must_use]
    pub fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// What is known about whether the failed request reached a handler.
    pub fn delivery(&self) -> Delivery {
        self.delivery
    }

    /// Sets who raised the error (by convention `service.endpoint`).
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Replaces the status text.
    #[must_use]
    pub fn with_status(mut self, status: impl Into<String>) -> Self {
        self.status = status.into();
        self
    }

    /// 400: the request was malformed.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(code::BAD_REQUEST, detail)
    }
    /// 401: the caller is not authenticated.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(code::UNAUTHORIZED, detail)
    }
    /// 403: the caller may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(code::FORBIDDEN, detail)
    }
    /// 404: no such service, endpoint or resource.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(code::NOT_FOUND, detail)
    }
    /// 408: the deadline passed.
    pub fn timeout(detail: impl Into<String>) -> Self {
        Self::new(code::TIMEOUT, detail)
    }
    /// 409: the request conflicts with the current state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(code::CONFLICT, detail)
    }
    /// 413: the payload is too large.
    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(code::PAYLOAD_TOO_LARGE, detail)
    }
    /// 415: unknown content type.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(code::UNSUPPORTED_MEDIA_TYPE, detail)
    }
    /// 500: the handler failed.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(code::INTERNAL, detail)
    }
    /// 502: a peer's answer cannot be read.
    pub fn bad_gateway(detail: impl Into<String>) -> Self {
        Self::new(code::BAD_GATEWAY, detail)
    }
    /// 503: nobody is there to answer.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(code::UNAVAILABLE, detail)
    }

    /// Who raised the error.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The numeric code.
    pub fn code(&self) -> u16 {
        self.code
    }
    /// What went wrong.
    pub fn detail(&self) -> &str {
        &self.detail
    }
    /// The status text.
    pub fn status(&self) -> &str {
        &self.status
    }

    /// The detail, or the status text when there is none: what the NATS services protocol
    /// calls the error's description (the `Nats-Service-Error` header, STATS `last_error`).
    pub fn description(&self) -> &str {
        if self.detail.is_empty() {
            &self.status
        } else {
            &self.detail
        }
    }

    /// True for a 408 (deadline passed).
    pub fn is_timeout(&self) -> bool {
        self.code == code::TIMEOUT
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.id.is_empty() {
            write!(f, "{}: ", self.id)?;
        }
        write!(f, "{} {}", self.code, self.status)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// One line, as [`Display`](fmt::Display), so that `main` returning `Result<(), Error>` prints
/// `Error: 503 Service Unavailable: no NATS server answers at ...` instead of a struct dump; the
/// alternate form (`{:#?}`) shows every field.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            f.debug_struct("Error")
                .field("id", &self.id)
                .field("code", &self.code)
                .field("detail", &self.detail)
                .field("status", &self.status)
                .field("delivery", &self.delivery)
                .finish()
        } else {
            fmt::Display::fmt(self, f)
        }
    }
}

impl std::error::Error for Error {}

impl From<crate::codec::CodecError> for Error {
    /// A payload that cannot be decoded is the caller's fault (400); the server side maps its own
    /// encoding failures to 500 explicitly.
    fn from(err: crate::codec::CodecError) -> Self {
        match err {
            crate::codec::CodecError::UnsupportedContentType(_) => {
                Error::unsupported_media_type(err.to_string())
            }
            crate::codec::CodecError::Encode { .. } => Error::internal(err.to_string()),
            crate::codec::CodecError::Decode { .. } => Error::bad_request(err.to_string()),
        }
    }
}

/// The standard status text for a code, as `net/http.StatusText` gives it.
pub fn status_text(code: u16) -> Cow<'static, str> {
    let text = match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        499 => "Client Closed Request",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return Cow::Owned(format!("Status {code}")),
    };
    Cow::Borrowed(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_set_code_and_status() {
        let cases = [
            (Error::bad_request("x"), 400, "Bad Request"),
            (Error::unauthorized("x"), 401, "Unauthorized"),
            (Error::forbidden("x"), 403, "Forbidden"),
            (Error::not_found("x"), 404, "Not Found"),
            (Error::timeout("x"), 408, "Request Timeout"),
            (Error::conflict("x"), 409, "Conflict"),
            (Error::internal("x"), 500, "Internal Server Error"),
            (Error::unavailable("x"), 503, "Service Unavailable"),
        ];
        for (err, code, status) in cases {
            assert_eq!(err.code(), code);
            assert_eq!(err.status(), status);
            assert_eq!(err.detail(), "x");
        }
    }

    #[test]
    fn json_shape_matches_go_micro() {
        let err = Error::conflict("taken").with_id("users.create");
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id":"users.create","code":409,"detail":"taken","status":"Conflict"})
        );
        let back: Error = serde_json::from_value(json).unwrap();
        assert_eq!(back, err);
    }

    #[test]
    fn display_is_one_line() {
        let err = Error::timeout("deadline exceeded").with_id("greeter.hello");
        assert_eq!(
            err.to_string(),
            "greeter.hello: 408 Request Timeout: deadline exceeded"
        );
        assert_eq!(Error::new(599, "").to_string(), "599 Status 599");
    }
}
