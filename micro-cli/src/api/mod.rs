//! The HTTP API gateway: services as JSON over HTTP, and the dashboard under `/ui`.
//!
//! | route | what |
//! |---|---|
//! | `POST /{service}/{endpoint}` | calls the endpoint with the request body (`Content-Type: application/json` or `application/msgpack`; empty body: `{}`) and returns its reply |
//! | `GET /services` | every service: name, versions, instance and endpoint counts |
//! | `GET /services/{service}` | instances and endpoints (doc, subject, request/response shape, example body) |
//! | `GET /stats`, `GET /stats/{service}` | live figures of every instance |
//! | `GET /_events?topic=..` | the events published on a topic, as server-sent events, while the response lasts (see [`ApiOptions::max_event_viewers`] and the `events` module's rules) |
//! | `GET /healthz` | `{"status":"ok"}` while the gateway can reach its backend, else `503`; never needs the token |
//! | `GET /ui/` | the dashboard (when enabled); never needs the token |
//!
//! # What a caller may do
//!
//! - **Only endpoints that discovery shows** are called, on the subject they announce in INFO
//!   (so services in other languages, whose subjects need not be `<service>.<endpoint>`, are
//!   reachable): an endpoint no running instance announces is a `404` naming the endpoints that
//!   exist, and nothing is published.
//! - **Calls need a codec's `Content-Type`** (`application/json` or `application/msgpack`), so a
//!   cross-site "simple" request (a form, `text/plain`) cannot run a call: anything else is `415`.
//! - **Browsers**: no CORS headers unless origins are allowed ([`ApiOptions::cors_origin`]).
//!   A preflight is answered by the gateway itself (never passed on to a service, and without
//!   the token, which a preflight never carries): for an allowed origin with that origin,
//!   `GET, POST`, the headers asked for, and `Vary: Origin`; from any other origin it is a
//!   `403`. Credentials (cookies) are never allowed; the reply's `X-Micro-*` metadata headers
//!   are readable (`Access-Control-Expose-Headers: *`).
//! - **Host names**: bound to a loopback address, the gateway answers only requests whose `Host`
//!   is a loopback name (`localhost`, `127.0.0.1`, `[::1]`), so a DNS-rebinding page cannot read
//!   replies; [`ApiOptions::allow_host`] adds names.
//! - **Metadata**: a header `X-Micro-<Key>: value` becomes call metadata `<Key>=value`
//!   (`X-Micro-Request-Id` → `Request-Id`) for any key but the reserved ones: `Authorization`,
//!   `Proxy-Authorization`, `Cookie`, `Content-Type`, and keys starting with `Micro-`, `Nats-` or
//!   `X-Micro-`. [`ApiOptions::metadata_key`] narrows this to a list. `Authorization` itself is
//!   passed on as metadata only when the gateway checks no token of its own.
//! - **Deadlines**: a `Micro-Timeout` request header (a duration with a unit, `1500ms`, `2s`, or
//!   whole microseconds as on the NATS wire) shortens the call's deadline below
//!   [`ApiOptions::timeout`]; it never lengthens it.
//! - **Events**: `GET /_events` watches a topic whose first token is a name that starts with
//!   neither `$` nor `_`, that matches no endpoint subject discovery shows, with at most
//!   [`ApiOptions::max_event_viewers`] viewers at once, each with a bounded queue (events that
//!   do not fit are dropped and counted; a viewer stuck for [`SLOW_VIEWER_GRACE`] is cut off).
//! - **Sizes**: a body over [`ApiOptions::body_limit`] is `413`; the default leaves room within
//!   NATS's default `max_payload` (1 MiB) for the headers the gateway adds, so a body at the limit
//!   is delivered. Metadata headers may add up to [`MAX_METADATA_BYTES`].
//!
//! Errors are the structured error as JSON with the HTTP status of its code ([`http_status`]): a
//! body that is not JSON is 400, a call slower than the timeout 504, a service whose instances
//! all went away 503.

mod error;
pub(crate) mod events;
mod serve;
mod stream;

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
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer, ExposeHeaders};

pub use error::{ApiError, http_status};
pub use events::{MAX_QUEUED_BYTES, SLOW_VIEWER_GRACE};
pub use serve::{Limits, serve};

use crate::view;

/// The prefix of request headers that become call metadata.
pub const METADATA_HEADER_PREFIX: &str = "x-micro-";

/// The most bytes of metadata (names and values of `X-Micro-*` headers) one call may carry.
pub const MAX_METADATA_BYTES: usize = 4 * 1024;

/// The default [`ApiOptions::body_limit`]: NATS's default `max_payload` (1 MiB) less what the
/// gateway may add as headers (metadata up to [`MAX_METADATA_BYTES`], the deadline, the codec),
/// so that a body at the limit still fits in one NATS message.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024 - 8 * 1024;

/// Tells `/healthz` whether the gateway can serve: `Err(why)` when not.
#[derive(Clone)]
pub struct HealthCheck(Arc<dyn Fn() -> Result<(), String> + Send + Sync>);

impl HealthCheck {
    /// A check that runs `f` on every `/healthz`.
    pub fn new(f: impl Fn() -> Result<(), String> + Send + Sync + 'static) -> Self {
        HealthCheck(Arc::new(f))
    }
}

impl std::fmt::Debug for HealthCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HealthCheck")
    }
}

/// How the gateway behaves.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ApiOptions {
    /// Largest request body accepted, in bytes; larger ones get 413. Default
    /// [`DEFAULT_BODY_LIMIT`].
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
    /// `Host` names accepted besides loopback ones, when [`loopback_only`](Self::loopback_only)
    /// is on; `*` accepts any.
    pub allowed_hosts: Vec<String>,
    /// Accept only loopback `Host` names (and [`allowed_hosts`](Self::allowed_hosts)). Default
    /// off; `micro api` turns it on when it listens on a loopback address.
    pub loopback_only: bool,
    /// When not empty, the only metadata keys a caller may set through `X-Micro-*` headers
    /// (compared case-insensitively); reserved keys are refused either way.
    pub metadata_keys: Vec<String>,
    /// What `/healthz` asks; without one it always says ok.
    pub health: Option<HealthCheck>,
    /// How long a server stream waits for its HTTP reader to take the next item before it
    /// gives up (ends the response and cancels the stream), so that a reader that stopped
    /// reading does not hold a stream, and a slot of the service, open for ever. Default
    /// [`DEFAULT_STREAM_STALL`].
    pub stream_stall: Duration,
    /// Event viewers (`GET /_events`) open at once across the gateway; one more is `429`, and
    /// `0` turns the route off (`404`). Default 16.
    pub max_event_viewers: usize,
    /// Events waiting for one viewer at most (and [`MAX_QUEUED_BYTES`]); the ones that do not
    /// fit are dropped and counted. Default 256.
    pub event_buffer: usize,
}

/// [`ApiOptions::stream_stall`] unless set: long enough for any reader that is reading.
pub const DEFAULT_STREAM_STALL: Duration = Duration::from_secs(30);

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            body_limit: DEFAULT_BODY_LIMIT,
            timeout: Duration::from_secs(10),
            cors_origins: Vec::new(),
            auth_token: None,
            ui: true,
            allowed_hosts: Vec::new(),
            loopback_only: false,
            metadata_keys: Vec::new(),
            health: None,
            stream_stall: DEFAULT_STREAM_STALL,
            max_event_viewers: 16,
            event_buffer: 256,
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

    /// Sets how long a server stream waits for its HTTP reader ([`stream_stall`](Self::stream_stall)).
    #[must_use]
    pub fn stream_stall(mut self, stall: Duration) -> Self {
        self.stream_stall = stall;
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

    /// Accepts only loopback `Host` names, and those added with
    /// [`allow_host`](Self::allow_host).
    #[must_use]
    pub fn loopback_only(mut self, enabled: bool) -> Self {
        self.loopback_only = enabled;
        self
    }

    /// Accepts `Host: <host>` (without the port; `*` for any) besides loopback names.
    #[must_use]
    pub fn allow_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(host.into());
        self
    }

    /// Lets callers set metadata `key` (repeat for more); once one is given, only these are.
    #[must_use]
    pub fn metadata_key(mut self, key: impl Into<String>) -> Self {
        self.metadata_keys.push(key.into());
        self
    }

    /// Sets how many event viewers may be open at once (`0`: none, the route is off).
    #[must_use]
    pub fn max_event_viewers(mut self, viewers: usize) -> Self {
        self.max_event_viewers = viewers;
        self
    }

    /// Sets how many events may wait for one viewer.
    #[must_use]
    pub fn event_buffer(mut self, events: usize) -> Self {
        self.event_buffer = events;
        self
    }

    /// Asks `check` on every `/healthz`.
    #[must_use]
    pub fn health(mut self, check: HealthCheck) -> Self {
        self.health = Some(check);
        self
    }
}

#[derive(Debug)]
struct Gateway {
    client: Client,
    options: ApiOptions,
    catalog: crate::catalog::Catalog,
    viewers: events::Viewers,
}

type Shared = Arc<Gateway>;

/// The gateway as an axum [`Router`]: serve it with `axum::serve`, or nest it in an app.
pub fn router(client: Client, options: ApiOptions) -> Router {
    let cors = cors_layer(&options.cors_origins);
    let body_limit = options.body_limit;
    let ui = options.ui;
    let state: Shared = Arc::new(Gateway {
        client,
        viewers: events::Viewers::new(options.max_event_viewers),
        options,
        catalog: crate::catalog::Catalog::default(),
    });

    let protected = Router::new()
        .route("/services", get(list_services))
        .route("/services/{service}", get(describe_service))
        .route("/stats", get(all_stats))
        .route("/stats/{service}", get(service_stats))
        .route("/_events", get(events::events))
        .route("/{service}/{endpoint}", post(call))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));

    let mut app = Router::new()
        .route("/healthz", get(healthz))
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
        .with_state(state.clone());
    if let Some(cors) = cors {
        app = app.layer(cors).layer(middleware::from_fn_with_state(
            state.clone(),
            refuse_preflight,
        ));
    }
    app.layer(middleware::from_fn_with_state(state, check_host))
        .layer(middleware::from_fn(access_log))
}

async fn healthz(State(gw): State<Shared>) -> Response {
    match gw.options.health.as_ref().map(|check| (check.0)()) {
        None | Some(Ok(())) => Json(serde_json::json!({"status": "ok"})).into_response(),
        Some(Err(why)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "unavailable", "detail": why})),
        )
            .into_response(),
    }
}

/// Refuses a request whose `Host` is not accepted (DNS rebinding: a page on an attacker's name
/// that resolves to 127.0.0.1 must not read the gateway's replies).
async fn check_host(State(gw): State<Shared>, req: Request, next: Next) -> Response {
    if !gw.options.loopback_only {
        return next.run(req).await;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or_default();
    if host_allowed(host, &gw.options.allowed_hosts) {
        return next.run(req).await;
    }
    ApiError(Error::forbidden(format!(
        "host `{host}` is not accepted: the gateway listens on a loopback address and answers \
         loopback names only (add names with --allow-host)"
    )))
    .into_response()
}

/// Whether `host` (a `Host` header: a name or address, maybe with a port) is a loopback name or
/// one of `allowed`.
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = match host.strip_prefix('[') {
        // `[::1]:8080`
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    let name = name.trim_end_matches('.');
    if name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    {
        return true;
    }
    allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('.').eq_ignore_ascii_case(name))
}

/// Whether `origin` (an `Origin` header) is one of `allowed`, or `allowed` has `*`; compared
/// byte for byte, as the CORS layer compares it.
fn origin_allowed(origin: &HeaderValue, allowed: &[String]) -> bool {
    allowed
        .iter()
        .any(|a| a.trim() == "*" || a.trim().as_bytes() == origin.as_bytes())
}

/// Refuses a preflight from an origin that is not allowed, with a `403` saying so, instead of
/// the empty answer without CORS headers the CORS layer gives it: the browser fails the call
/// either way, but the refusal says why, and nothing about the gateway's rules is told to a
/// page that may not use it.
async fn refuse_preflight(State(gw): State<Shared>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    if req.method() == Method::OPTIONS
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        && let Some(origin) = headers.get(header::ORIGIN)
        && !origin_allowed(origin, &gw.options.cors_origins)
    {
        let shown = String::from_utf8_lossy(origin.as_bytes()).into_owned();
        return ApiError(Error::forbidden(format!(
            "origin `{shown}` may not call this gateway from a browser (allow it with \
             --cors-origin)"
        )))
        .into_response();
    }
    next.run(req).await
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
            // Reply metadata comes back as `X-Micro-*` headers, whose names vary; `*` exposes
            // them all, which browsers honour for calls without credentials (the only ones
            // allowed here).
            .expose_headers(ExposeHeaders::any())
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
    timed_within(gw.options.timeout, what, fut).await
}

/// Runs `fut` within `timeout`; 504 when it takes longer.
async fn timed_within<T>(
    timeout: Duration,
    what: &str,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(result) => result.map_err(ApiError),
        Err(_) => Err(ApiError(Error::timeout(format!(
            "{what} did not finish within {timeout:?}"
        )))),
    }
}

/// The request header that shortens a call's deadline.
pub const TIMEOUT_HEADER: &str = "micro-timeout";

/// The deadline of one call: the `Micro-Timeout` header (a duration with a unit such as
/// `1500ms` or `2s`, or whole microseconds as on the NATS wire) when it is shorter than `max`,
/// else `max`. An unreadable or zero value is a `400`.
pub fn call_timeout(headers: &HeaderMap, max: Duration) -> Result<Duration, Error> {
    let Some(value) = headers.get(TIMEOUT_HEADER) else {
        return Ok(max);
    };
    let text = value.to_str().unwrap_or_default().trim();
    let parsed = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>().ok().map(Duration::from_micros)
    } else if text.ends_with(|c: char| c.is_ascii_alphabetic()) {
        micro_core::service::parse_duration(text)
    } else {
        None
    };
    match parsed {
        Some(d) if !d.is_zero() => Ok(d.min(max)),
        _ => Err(Error::bad_request(format!(
            "header `Micro-Timeout: {text}` is not a duration: use a unit (`1500ms`, `2s`, `1m`) \
             or whole microseconds"
        ))),
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

/// Metadata keys an HTTP caller may never set through `X-Micro-*` headers: credentials the
/// gateway does not vouch for, and keys micro and NATS use on the wire.
fn reserved_metadata_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "authorization",
        "proxy-authorization",
        "cookie",
        "content-type",
    ]
    .contains(&key.as_str())
        || ["micro-", "nats-", "x-micro-"]
            .iter()
            .any(|prefix| key.starts_with(prefix))
}

/// Call metadata from request headers: `X-Micro-<Key>` → `<Key>` for keys that are not
/// reserved (and, when `allowed` is not empty, are in it), plus `Authorization` when the
/// gateway does not consume it itself. More than [`MAX_METADATA_BYTES`] is a `431`.
pub fn metadata_from_headers(
    headers: &HeaderMap,
    forward_authorization: bool,
    allowed: &[String],
) -> Result<micro_core::Metadata, Error> {
    let mut md = micro_core::Metadata::new();
    let mut bytes = 0;
    for (name, value) in headers {
        let Ok(value) = value.to_str() else { continue };
        let key = if let Some(key) = name.as_str().strip_prefix(METADATA_HEADER_PREFIX) {
            if key.is_empty() {
                continue;
            }
            if reserved_metadata_key(key) {
                return Err(Error::bad_request(format!(
                    "header `{name}` would set the reserved metadata key `{key}`"
                )));
            }
            if !allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(key)) {
                return Err(Error::bad_request(format!(
                    "header `{name}`: metadata key `{key}` is not allowed (allowed: {})",
                    allowed.join(", ")
                )));
            }
            key
        } else if forward_authorization && name == header::AUTHORIZATION {
            "Authorization"
        } else {
            continue;
        };
        bytes += key.len() + value.len();
        if bytes > MAX_METADATA_BYTES {
            return Err(Error::new(
                431,
                format!("more than {MAX_METADATA_BYTES} bytes of metadata headers"),
            ));
        }
        md.insert(key, value);
    }
    Ok(md)
}

/// The codec a call's `Content-Type` names; `415` for anything else, so that a cross-site form
/// or `text/plain` post cannot run a call.
fn call_content_type(headers: &HeaderMap) -> Result<ContentType, Error> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("<not text>"));
    let Some(given) = given else {
        return Err(Error::new(
            415,
            "a call needs `Content-Type: application/json` (or `application/msgpack`)",
        ));
    };
    let essence = given.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") {
        return Ok(ContentType::Json);
    }
    if essence.eq_ignore_ascii_case("application/msgpack")
        || essence.eq_ignore_ascii_case("application/x-msgpack")
    {
        return Ok(ContentType::MsgPack);
    }
    Err(Error::new(
        415,
        format!(
            "unsupported `Content-Type: {given}`: a call needs `application/json` or \
             `application/msgpack`"
        ),
    ))
}

async fn call(
    State(gw): State<Shared>,
    Path((service, endpoint)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let content_type = call_content_type(&headers)?;
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
    let body = match content_type {
        ContentType::Json if body.iter().all(u8::is_ascii_whitespace) => Bytes::from_static(b"{}"),
        // An empty MessagePack body is nil; arguments are a map.
        ContentType::MsgPack if body.is_empty() => Bytes::from_static(&[0x80]),
        ContentType::Json => {
            // Checked here so a malformed body is a clear 400 from the gateway, not a decoding
            // error from deep inside the service.
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
                return Err(ApiError(Error::bad_request(format!(
                    "the request body is not valid JSON: {e}"
                ))));
            }
            body
        }
        _ => body,
    };
    let metadata = metadata_from_headers(
        &headers,
        gw.options.auth_token.is_none(),
        &gw.options.metadata_keys,
    )?;
    let timeout = call_timeout(&headers, gw.options.timeout)?;
    let id = format!("{service}.{endpoint}");
    let (subject, kind) = timed_within(
        timeout,
        &format!("looking up `{id}`"),
        gw.catalog.resolve(&gw.client, &service, &endpoint),
    )
    .await?;
    if kind.streams_in() {
        return Err(ApiError(Error::new(
            501,
            format!(
                "`{id}` takes a stream of items ({}), which the HTTP gateway cannot send; only \
                 server streams are served (as NDJSON or server-sent events)",
                kind.as_str()
            ),
        )));
    }
    if kind.streams_out() {
        let mut context = Context::new();
        context.metadata = metadata;
        let mut call = Call::new(service, endpoint, content_type, body)
            .with_context(context)
            .with_subject(subject);
        // The gateway's timeout bounds the opening; the stream lasts as long as it runs.
        call.wait_until = std::time::Instant::now().checked_add(timeout);
        let items = gw
            .client
            .server_stream_call::<serde_json::Value>(call)
            .await?;
        return Ok(stream::response(
            items,
            stream::Format::from_accept(&headers),
            gw.options.stream_stall,
        ));
    }
    let mut context = Context::new().with_timeout(timeout);
    context.metadata = metadata;
    let call = Call::new(service, endpoint, content_type, body)
        .with_context(context)
        .with_subject(subject);
    let reply = timed_within(timeout, &format!("`{id}`"), gw.client.call(call)).await?;
    let (reply_type, body) = match (content_type, reply.content_type) {
        (ContentType::Json, ContentType::Json) => (ContentType::Json, reply.body),
        (ContentType::Json, other) => {
            let value: serde_json::Value = other.decode(&reply.body).map_err(|e| {
                Error::bad_gateway(format!("cannot decode the {other} reply of `{id}`: {e}"))
            })?;
            let json = serde_json::to_vec(&value).map_err(|e| {
                Error::internal(format!("cannot encode the reply of `{id}` as JSON: {e}"))
            })?;
            (ContentType::Json, Bytes::from(json))
        }
        // A MessagePack caller gets the reply as it came.
        (_, other) => (other, reply.body),
    };
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(reply_type.as_str()),
        )],
        body,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(TIMEOUT_HEADER, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn micro_timeout_shortens_the_deadline_only() {
        let max = Duration::from_secs(10);
        assert_eq!(call_timeout(&HeaderMap::new(), max).unwrap(), max);
        assert_eq!(
            call_timeout(&with("1500ms"), max).unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            call_timeout(&with("2s"), max).unwrap(),
            Duration::from_secs(2)
        );
        assert_eq!(
            call_timeout(&with("2500000"), max).unwrap(),
            Duration::from_millis(2500)
        );
        assert_eq!(call_timeout(&with("1m"), max).unwrap(), max);
        for bad in ["0", "0s", "soon", "-1s", "", "1.5"] {
            assert_eq!(
                call_timeout(&with(bad), max).unwrap_err().code(),
                400,
                "{bad}"
            );
        }
    }
}
