//! Structured errors as HTTP responses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use micro_core::Error;

/// A structured error on its way out of the gateway: the HTTP status comes from its code (see
/// [`http_status`]) and the body is the error as JSON
/// (`{"id":..,"code":..,"detail":..,"status":..}`).
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (http_status(self.0.code()), Json(self.0)).into_response()
    }
}

/// The HTTP status of an error code.
///
/// Codes 400–599 are HTTP statuses already and pass through, except 408: a call whose deadline
/// passed means the upstream did not answer in time, which is 504 Gateway Timeout for the HTTP
/// client (a 408 would tell it that *it* was too slow, and browsers retry those). Anything else
/// (0, 2xx, 999) is 500.
///
/// ```
/// use axum::http::StatusCode;
/// use micro_cli::api::http_status;
///
/// assert_eq!(http_status(404), StatusCode::NOT_FOUND);
/// assert_eq!(http_status(408), StatusCode::GATEWAY_TIMEOUT);
/// assert_eq!(http_status(503), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(http_status(42), StatusCode::INTERNAL_SERVER_ERROR);
/// ```
pub fn http_status(code: u16) -> StatusCode {
    match code {
        408 => StatusCode::GATEWAY_TIMEOUT,
        400..=599 => StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
