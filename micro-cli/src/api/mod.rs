//! The HTTP API gateway: services as JSON over HTTP, and the dashboard under `/ui`.
//!
//! | route | what |
//! |---|---|
//! | `POST /{service}/{endpoint}` | calls the endpoint with the JSON body (empty body: `{}`) and returns its JSON reply |
//! | `GET /services` | every service: name, versions, instance and endpoint counts |
//! | `GET /services/{service}` | instances and endpoints (doc, subject, request/response shape, example body) |
//! | `GET /stats`, `GET /stats/{service}` | live figures of every instance |
//! | `GET /healthz` | `{"status":"ok"}`; never needs the token |
//! | `GET /ui/` | the dashboard (when enabled); never needs the token |
//!
//! Call metadata comes from request headers: `X-Micro-<Key>: value` becomes metadata
//! `<Key>=value` (e.g. `X-Micro-Request-Id` → `Request-Id`). `Authorization` is passed on as
//! metadata only when the gateway itself checks no token. Errors are the structured error as
//! JSON with the HTTP status of its code ([`http_status`]); a body over the limit is 413, a body
//! that is not JSON 400, a call slower than the timeout 504, a service nobody serves 503.

mod error;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use micro_core::codec::ContentType;
use micro_core::transport::Call;
use micro_core::{Client, Context, Error};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

pub use error::{ApiError, http_status};

use crate::view;

/// The prefix of request headers that become call metadata.
pub const METADATA_HEADER_PREFIX: &str = "x-micro-";

/// How the gateway behaves.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ApiOptions {
    /// Largest request body accepted, in bytes; larger ones get 413. Default 1 MiB.
    pub body_limit: usize,
    /// How long one request may take, discovery and calls alike; slower ones get 504.
    /// Default 10 s.
    pub timeout: Duration,
    /// Origins allowed to call the gateway from a browser (CORS); `*` allows any; empty (the
    /// default) sends no CORS headers, so only same-origin pages (the dashboard) can call it.
    pub cors_origins: Vec<String>,
    /// When set, every route but `/healthz` and `/ui` needs `Authorization: Bearer <token>`.
    pub auth_token: Option<String>,
    /// Serve the dashboard under `/ui` (and redirect `/` there). Default on.
    pub ui: bool,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            body_limit: 1024 * 1024,
            timeout: Duration::from_secs(10),
            cors_origins: Vec::new(),
            auth_token: None,
            ui: true,
        }
    }
}

impl ApiOptions {
    /// Sets the body limit.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Sets the per-request timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Allows a browser origin (`https://app.example.com`, or `*`).
    #[must_use]
    pub fn cors_origin(mut self, origin: impl Into<String>) -> Self {
        self.cors_origins.push(origin.into());
        self
    }

    /// Requires `Authorization: Bearer <token>`.
    #[must_use]
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    /// Serves the dashboard under `/ui`, or not.
    #[must_use]
    pub fn ui(mut self, enabled: bool) -> Self {
        self.ui = enabled;
        self
    }
}

#[derive(Debug)]
struct Gateway {
    client: Client,
    options: ApiOptions,
}

type Shared = Arc<Gateway>;

/// The gateway as an axum [`Router`]: serve it with `axum::serve`, or nest it in an app.
pub fn router(client: Client, options: ApiOptions) -> Router {
    let cors = cors_layer(&options.cors_origins);
    let body_limit = options.body_limit;
    let ui = options.ui;
    let state: Shared = Arc::new(Gateway { client, options });

    let protected = Router::new()
        .route("/services", get(list_services))
        .route("/services/{service}", get(describe_service))
        .route("/stats", get(all_stats))
        .route("/stats/{service}", get(service_stats))
        .route("/{service}/{endpoint}", post(call))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));

    let mut app = Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .merge(protected);
    if ui {
        app = app
            .route("/", get(|| async { Redirect::temporary("/ui/") }))
            .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
            .merge(crate::web::routes());
    }
    let mut app = app
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state);
    if let Some(cors) = cors {
        app = app.layer(cors);
    }
    app.layer(middleware::from_fn(access_log))
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow =
        if origins.iter().any(|o| o.trim() == "*") {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(origins.iter().filter_map(|o| {
                match HeaderValue::from_str(o.trim()) {
                    Ok(v) => Some(v),
                    Err(_) => {
                        tracing::warn!(origin = %o, "ignoring an invalid CORS origin");
                        None
                    }
                }
            }))
        };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers(AllowHeaders::mirror_request())
            .max_age(Duration::from_secs(600)),
    )
}

/// Logs one line per request through `tracing` (target `micro_cli::api`).
async fn access_log(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    if response.status().is_server_error() {
        tracing::warn!(%method, %path, status, micros, "request");
    } else {
        tracing::info!(%method, %path, status, micros, "request");
    }
    response
}

async fn require_token(State(gw): State<Shared>, req: Request, next: Next) -> Response {
    let Some(expected) = &gw.options.auth_token else {
        return next.run(req).await;
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    match given {
        Some(token) if constant_time_eq(token.trim().as_bytes(), expected.as_bytes()) => {
            next.run(req).await
        }
        Some(_) => {
            let mut resp = ApiError(Error::unauthorized("invalid bearer token")).into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            resp
        }
        None => {
            let mut resp = ApiError(Error::unauthorized(
                "missing `Authorization: Bearer <token>` header",
            ))
            .into_response();
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            resp
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError(Error::not_found(format!(
        "no route for {method} {}",
        uri.path()
    )))
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    let err = Error::new(405, format!("{method} is not allowed on {}", uri.path()));
    (StatusCode::METHOD_NOT_ALLOWED, Json(err)).into_response()
}

/// Runs `fut` within the gateway's timeout; 504 when it takes longer.
async fn timed<T>(
    gw: &Gateway,
    what: &str,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(gw.options.timeout, fut).await {
        Ok(result) => result.map_err(ApiError),
        Err(_) => Err(ApiError(Error::timeout(format!(
            "{what} did not finish within {:?}",
            gw.options.timeout
        )))),
    }
}

async fn list_services(State(gw): State<Shared>) -> Result<Json<Vec<view::ServiceRow>>, ApiError> {
    let services = timed(
        &gw,
        "listing services",
        gw.client.registry().list_services(),
    )
    .await?;
    Ok(Json(view::service_rows(&services)))
}

async fn describe_service(
    State(gw): State<Shared>,
    Path(service): Path<String>,
) -> Result<Json<view::ServiceDetail>, ApiError> {
    let detail = timed(
        &gw,
        "describing the service",
        crate::cmd::describe::lookup(&gw.client, &service),
    )
    .await?;
    Ok(Json(detail))
}

async fn all_stats(State(gw): State<Shared>) -> Result<Json<Vec<view::StatsView>>, ApiError> {
    let stats = timed(&gw, "reading stats", gw.client.registry().stats(None)).await?;
    Ok(Json(view::stats_views(&stats)))
}

async fn service_stats(
    State(gw): State<Shared>,
    Path(service): Path<String>,
) -> Result<Json<Vec<view::StatsView>>, ApiError> {
    let stats = timed(
        &gw,
        "reading stats",
        gw.client.registry().stats(Some(&service)),
    )
    .await?;
    if stats.is_empty() {
        return Err(ApiError(Error::not_found(format!(
            "no service named `{service}` is running"
        ))));
    }
    Ok(Json(view::stats_views(&stats)))
}

/// Call metadata from request headers: `X-Micro-<Key>` → `<Key>`, plus `Authorization` when
/// the gateway does not consume it itself.
pub fn metadata_from_headers(
    headers: &HeaderMap,
    forward_authorization: bool,
) -> micro_core::Metadata {
    let mut md = micro_core::Metadata::new();
    for (name, value) in headers {
        let Ok(value) = value.to_str() else { continue };
        if let Some(key) = name.as_str().strip_prefix(METADATA_HEADER_PREFIX) {
            if !key.is_empty() {
                md.insert(key, value);
            }
        } else if forward_authorization && name == header::AUTHORIZATION {
            md.insert("Authorization", value);
        }
    }
    md
}

async fn call(
    State(gw): State<Shared>,
    Path((service, endpoint)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::payload_too_large(format!(
                "the request body is larger than the limit of {} bytes",
                gw.options.body_limit
            ))
        } else {
            Error::bad_request(format!("cannot read the request body: {rejection}"))
        }
    })?;
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Bytes::from_static(b"{}")
    } else {
        // Checked here so a malformed body is a clear 400 from the gateway, not a decoding
        // error from deep inside the service.
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
            return Err(ApiError(Error::bad_request(format!(
                "the request body is not valid JSON: {e}"
            ))));
        }
        body
    };
    let mut context = Context::new().with_timeout(gw.options.timeout);
    context.metadata = metadata_from_headers(&headers, gw.options.auth_token.is_none());
    let id = format!("{service}.{endpoint}");
    let call = Call::new(service, endpoint, ContentType::Json, body).with_context(context);
    let reply = timed(&gw, &format!("`{id}`"), gw.client.call(call)).await?;
    let json = match reply.content_type {
        ContentType::Json => reply.body,
        other => {
            let value: serde_json::Value = other.decode(&reply.body).map_err(|e| {
                Error::new(
                    502,
                    format!("cannot decode the {other} reply of `{id}`: {e}"),
                )
            })?;
            Bytes::from(serde_json::to_vec(&value).map_err(|e| {
                Error::internal(format!("cannot encode the reply of `{id}` as JSON: {e}"))
            })?)
        }
    };
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response();
    for (k, v) in reply.metadata.iter() {
        let name = format!("{METADATA_HEADER_PREFIX}{k}");
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}
