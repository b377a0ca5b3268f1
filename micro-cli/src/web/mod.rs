//! The web dashboard: one page, its script and its style sheet, embedded in the binary so it
//! works offline.
//!
//! The page lists services, instances and endpoints with their docs and live stats (refreshed
//! every few seconds), and calls an endpoint through the gateway's `POST /{service}/{endpoint}`
//! with a JSON body prefilled from the endpoint's request shape. It talks only to the gateway
//! that served it, so it works wherever `micro api` or `micro web` runs.
//!
//! Query parameters, for links and for automated tests: `?service=greeter` opens a service,
//! `&endpoint=hello` picks an endpoint, `&body={..}` fills the body and `&send=1` sends it once
//! the page has loaded; `&token=..` sets the bearer token (otherwise typed into the page and
//! kept in the browser's local storage).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page.
pub const INDEX_HTML: &str = include_str!("index.html");
/// The script.
pub const APP_JS: &str = include_str!("app.js");
/// The style sheet.
pub const APP_CSS: &str = include_str!("app.css");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
                     frame-ancestors 'none'",
                ),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The dashboard's routes: `/ui/`, `/ui/app.js`, `/ui/app.css`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/ui/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/ui/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
}
