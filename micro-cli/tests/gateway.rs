//! The API gateway over real HTTP on 127.0.0.1, against the greeter on the in-process backend.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{http, serve, start_greeter};
use micro_cli::api::{ApiOptions, router};
use micro_core::memory::Memory;
use micro_core::service::Running;
use serde_json::{Value, json};

struct Fixture {
    addr: SocketAddr,
    _running: Running,
}

async fn gateway(options: ApiOptions) -> Fixture {
    let memory = Memory::new();
    let running = start_greeter(memory.backend()).await;
    let addr = serve(router(memory.client(), options)).await;
    Fixture {
        addr,
        _running: running,
    }
}

async fn post(addr: SocketAddr, path: &str, body: &str) -> common::HttpResponse {
    http(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await
}

#[tokio::test]
async fn a_call_returns_the_json_reply() {
    let f = gateway(ApiOptions::default()).await;
    let resp = post(f.addr, "/greeter/hello", r#"{"name":"World"}"#).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.json(), json!("Hello World"));
}

#[tokio::test]
async fn a_call_without_a_codec_content_type_is_415_so_cross_site_forms_cannot_call() {
    // A cross-origin "simple" request (a form, text/plain, or no body type at all) must not
    // run a call.
    let f = gateway(ApiOptions::default()).await;
    for headers in [
        &[("Content-Type", "application/x-www-form-urlencoded")][..],
        &[("Content-Type", "text/plain")][..],
        &[("Content-Type", "multipart/form-data; boundary=x")][..],
        &[][..],
    ] {
        let resp = http(
            f.addr,
            "POST",
            "/greeter/hello",
            headers,
            br#"{"name":"x"}"#,
        )
        .await;
        assert_eq!(resp.status, 415, "{headers:?}: {}", resp.text());
        assert!(
            resp.json()["detail"]
                .as_str()
                .unwrap()
                .contains("application/json")
        );
    }
    // With a parameter, and in MessagePack.
    let resp = http(
        f.addr,
        "POST",
        "/greeter/hello",
        &[("Content-Type", "application/json; charset=utf-8")],
        br#"{"name":"json"}"#,
    )
    .await;
    assert_eq!(resp.json(), json!("Hello json"));
    let resp = http(
        f.addr,
        "POST",
        "/greeter/hello",
        &[("Content-Type", "application/msgpack")],
        b"\x81\xa4name\xa2mp",
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/msgpack"));
    assert_eq!(&resp.body[..], b"\xa8Hello mp");
}

#[tokio::test]
async fn every_error_code_maps_to_its_http_status() {
    let f = gateway(ApiOptions::default()).await;
    for (code, status) in [
        (400, 400),
        (401, 401),
        (403, 403),
        (404, 404),
        (408, 504),
        (409, 409),
        (500, 500),
        (503, 503),
        (42, 500),
    ] {
        let body = json!({"code": code, "detail": format!("failing with {code}")}).to_string();
        let resp = post(f.addr, "/greeter/fail", &body).await;
        assert_eq!(resp.status, status, "code {code}: {}", resp.text());
        let err = resp.json();
        assert_eq!(err["code"], json!(code), "{err}");
        assert_eq!(
            err["detail"],
            json!(format!("failing with {code}")),
            "{err}"
        );
        assert_eq!(err["id"], json!("greeter.fail"), "{err}");
    }
}

#[tokio::test]
async fn a_handler_error_keeps_its_detail() {
    let f = gateway(ApiOptions::default()).await;
    let resp = post(f.addr, "/greeter/hello", r#"{"name":""}"#).await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["detail"], json!("name must not be empty"));
}

#[tokio::test]
async fn a_slow_call_is_a_gateway_timeout() {
    let f = gateway(ApiOptions::default().timeout(Duration::from_millis(300))).await;
    let started = std::time::Instant::now();
    let resp = post(f.addr, "/greeter/slow", r#"{"ms":3000}"#).await;
    assert_eq!(resp.status, 504, "{}", resp.text());
    assert_eq!(resp.json()["code"], json!(408));
    assert!(started.elapsed() < Duration::from_secs(2));
    // and a fast one still goes through
    let resp = post(f.addr, "/greeter/slow", r#"{"ms":1}"#).await;
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let f = gateway(ApiOptions::default().body_limit(64)).await;
    let big = json!({"name": "x".repeat(200)}).to_string();
    let resp = post(f.addr, "/greeter/hello", &big).await;
    assert_eq!(resp.status, 413, "{}", resp.text());
    let err = resp.json();
    assert_eq!(err["code"], json!(413));
    assert!(
        err["detail"].as_str().unwrap().contains("64 bytes"),
        "{err}"
    );
    // a body under the limit is fine
    let resp = post(f.addr, "/greeter/hello", r#"{"name":"small"}"#).await;
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413() {
    // No Content-Length: the limit applies while the body streams in.
    let f = gateway(ApiOptions::default().body_limit(64)).await;
    let mut request = format!(
        "POST /greeter/hello HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        f.addr
    )
    .into_bytes();
    for _ in 0..4 {
        request.extend_from_slice(b"20\r\n");
        request.extend_from_slice(&[b' '; 32]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let resp = common::http_raw(f.addr, &request).await;
    assert_eq!(resp.status, 413, "{}", resp.text());
    assert_eq!(resp.json()["code"], json!(413));
}

#[tokio::test]
async fn bad_json_is_400_and_the_gateway_keeps_serving() {
    let f = gateway(ApiOptions::default()).await;
    for bad in [r#"{"name":"#, "not json", "{\"name\":\"a\"} trailing"] {
        let resp = post(f.addr, "/greeter/hello", bad).await;
        assert_eq!(resp.status, 400, "{bad}: {}", resp.text());
        let err = resp.json();
        assert!(
            err["detail"].as_str().unwrap().contains("not valid JSON"),
            "{err}"
        );
    }
    let resp = post(f.addr, "/greeter/hello", r#"{"name":"again"}"#).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), json!("Hello again"));
}

#[tokio::test]
async fn an_empty_body_is_an_empty_object() {
    let f = gateway(ApiOptions::default()).await;
    let resp = post(f.addr, "/greeter/meta", "").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(resp.json().is_object());
}

#[tokio::test]
async fn the_bearer_token_is_required_when_set() {
    let f = gateway(ApiOptions::default().auth_token("s3cret")).await;
    let missing = post(f.addr, "/greeter/hello", r#"{"name":"x"}"#).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["code"], json!(401));
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));

    let wrong = http(
        f.addr,
        "POST",
        "/greeter/hello",
        &[("Authorization", "Bearer nope")],
        br#"{"name":"x"}"#,
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["detail"], json!("invalid bearer token"));

    let listing = http(f.addr, "GET", "/services", &[], b"").await;
    assert_eq!(listing.status, 401);

    let ok = http(
        f.addr,
        "POST",
        "/greeter/hello",
        &[
            ("Authorization", "Bearer s3cret"),
            ("Content-Type", "application/json"),
        ],
        br#"{"name":"x"}"#,
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json(), json!("Hello x"));

    // liveness and the dashboard's static page need no token
    assert_eq!(http(f.addr, "GET", "/healthz", &[], b"").await.status, 200);
    assert_eq!(http(f.addr, "GET", "/ui/", &[], b"").await.status, 200);
}

#[tokio::test]
async fn an_unknown_service_or_endpoint_is_404_naming_what_exists() {
    let f = gateway(ApiOptions::default()).await;
    let resp = post(f.addr, "/nosuch/hello", "{}").await;
    assert_eq!(resp.status, 404, "{}", resp.text());
    assert_eq!(resp.json()["code"], json!(404));
    let resp = post(f.addr, "/greeter/nosuch", "{}").await;
    assert_eq!(resp.status, 404, "{}", resp.text());
    let detail = resp.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("hello") && detail.contains("slow"),
        "{detail}"
    );
    let resp = http(f.addr, "GET", "/services/nosuch", &[], b"").await;
    assert_eq!(resp.status, 404);
    let resp = http(f.addr, "GET", "/stats/nosuch", &[], b"").await;
    assert_eq!(resp.status, 404);
}

#[tokio::test]
async fn discovery_routes_describe_the_service() {
    let f = gateway(ApiOptions::default()).await;
    let services = http(f.addr, "GET", "/services", &[], b"").await;
    assert_eq!(services.status, 200);
    assert_eq!(
        services.json(),
        json!([{"name": "greeter", "versions": ["1.0.0"], "instances": 1, "endpoints": 4,
                "description": "Greets people."}])
    );

    let detail = http(f.addr, "GET", "/services/greeter", &[], b"")
        .await
        .json();
    assert_eq!(detail["name"], json!("greeter"));
    assert_eq!(detail["instances"].as_array().unwrap().len(), 1);
    assert!(detail["instances"][0]["started"].is_string(), "{detail}");
    let hello = &detail["endpoints"][0];
    assert_eq!(hello["name"], json!("hello"));
    assert_eq!(hello["subject"], json!("greeter.hello"));
    assert_eq!(hello["doc"], json!("Says hello to `name`."));
    assert_eq!(hello["request"], json!({"name": "String"}));
    assert_eq!(hello["response"], json!("String"));
    assert_eq!(hello["example"], json!({"name": "World"}));
    assert_eq!(hello["request_fields"][0]["name"], json!("name"));

    post(f.addr, "/greeter/hello", r#"{"name":"counted"}"#).await;
    let stats = http(f.addr, "GET", "/stats", &[], b"").await.json();
    let endpoints = stats[0]["endpoints"].as_array().unwrap();
    let hello = endpoints.iter().find(|e| e["name"] == "hello").unwrap();
    assert!(hello["num_requests"].as_u64().unwrap() >= 1, "{stats}");
    let one = http(f.addr, "GET", "/stats/greeter", &[], b"").await;
    assert_eq!(one.status, 200);

    let health = http(f.addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(health.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn x_micro_headers_become_metadata() {
    let f = gateway(ApiOptions::default()).await;
    let resp = http(
        f.addr,
        "POST",
        "/greeter/meta",
        &[
            ("Content-Type", "application/json"),
            ("X-Micro-User", "alice"),
            ("X-Micro-Request-Id", "r-1"),
            ("X-Other", "not forwarded"),
            ("Authorization", "Bearer for-the-service"),
        ],
        b"{}",
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let md = resp.json();
    assert_eq!(md["user"], json!("alice"), "{md}");
    assert_eq!(md["request-id"], json!("r-1"), "{md}");
    assert_eq!(md["authorization"], json!("Bearer for-the-service"), "{md}");
    assert!(md.get("x-other").is_none(), "{md}");

    // with gateway auth on, the gateway's token is not passed on
    let f = gateway(ApiOptions::default().auth_token("t")).await;
    let resp = http(
        f.addr,
        "POST",
        "/greeter/meta",
        &[
            ("Authorization", "Bearer t"),
            ("Content-Type", "application/json"),
        ],
        b"{}",
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(resp.json().get("authorization").is_none());
}

async fn preflight(addr: SocketAddr, origin: &str) -> common::HttpResponse {
    http(
        addr,
        "OPTIONS",
        "/greeter/hello",
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "content-type,x-micro-user",
            ),
        ],
        b"",
    )
    .await
}

#[tokio::test]
async fn cors_allows_only_listed_origins() {
    let f = gateway(ApiOptions::default().cors_origin("https://app.example")).await;
    let allowed = preflight(f.addr, "https://app.example").await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let denied = preflight(f.addr, "https://evil.example").await;
    assert_eq!(denied.header("access-control-allow-origin"), None);
}

/// Calls `greeter.hello` has served, from the gateway's own `/stats`.
async fn hello_calls(addr: SocketAddr) -> u64 {
    let stats = http(addr, "GET", "/stats/greeter", &[], b"").await.json();
    stats[0]["endpoints"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["name"] == "hello"))
        .and_then(|e| e["num_requests"].as_u64())
        .unwrap_or_else(|| panic!("no hello in {stats}"))
}

/// A comma-separated header's entries, lowercased.
fn listed(resp: &common::HttpResponse, name: &str) -> Vec<String> {
    resp.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn a_preflight_is_answered_by_the_gateway_as_the_fetch_spec_asks() {
    // With a token: a preflight never carries credentials, so it must not need them.
    let f = gateway(
        ApiOptions::default()
            .cors_origin("https://app.example")
            .auth_token("t"),
    )
    .await;
    let resp = preflight(f.addr, "https://app.example").await;
    assert!(
        (200..300).contains(&resp.status),
        "{} {}",
        resp.status,
        resp.text()
    );
    assert_eq!(
        resp.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let methods = listed(&resp, "access-control-allow-methods");
    assert!(
        methods.contains(&"post".to_owned()) && methods.contains(&"get".to_owned()),
        "{methods:?}"
    );
    assert!(
        !methods.iter().any(|m| m == "*" || m == "delete"),
        "{methods:?}"
    );
    let headers = listed(&resp, "access-control-allow-headers");
    assert!(
        headers.contains(&"content-type".to_owned())
            && headers.contains(&"x-micro-user".to_owned()),
        "{headers:?}"
    );
    // The answer depends on the origin, so caches must key on it; no credentials, ever.
    assert!(
        listed(&resp, "vary").contains(&"origin".to_owned()),
        "{:?}",
        resp.headers
    );
    assert_eq!(resp.header("access-control-allow-credentials"), None);
    assert!(resp.header("access-control-max-age").is_some());
    assert!(resp.body.is_empty(), "{}", resp.text());
}

#[tokio::test]
async fn a_preflight_from_another_origin_is_refused_and_no_preflight_reaches_a_service() {
    let f = gateway(ApiOptions::default().cors_origin("https://app.example")).await;
    let before = hello_calls(f.addr).await;
    let denied = preflight(f.addr, "https://evil.example").await;
    assert_eq!(denied.status, 403, "{}", denied.text());
    assert_eq!(denied.json()["code"], json!(403));
    assert!(
        denied.text().contains("https://evil.example"),
        "{}",
        denied.text()
    );
    for name in [
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-headers",
    ] {
        assert_eq!(denied.header(name), None, "{name}");
    }
    // Allowed, refused or not a preflight at all (no `Access-Control-Request-Method`): none
    // is a call.
    preflight(f.addr, "https://app.example").await;
    let plain = http(f.addr, "OPTIONS", "/greeter/hello", &[], b"").await;
    assert!(plain.status < 500, "{}", plain.status);
    assert_eq!(hello_calls(f.addr).await, before);

    // Without CORS, a preflight is no call either: OPTIONS is not a method of the route.
    let f = gateway(ApiOptions::default()).await;
    let before = hello_calls(f.addr).await;
    let resp = preflight(f.addr, "https://app.example").await;
    assert_eq!(resp.status, 405, "{}", resp.text());
    assert_eq!(resp.header("access-control-allow-origin"), None);
    assert_eq!(hello_calls(f.addr).await, before);
}

#[tokio::test]
async fn a_preflight_with_a_foreign_host_is_refused_like_any_request() {
    let f = gateway(ApiOptions::default().cors_origin("*").loopback_only(true)).await;
    let request = "OPTIONS /greeter/hello HTTP/1.1\r\nHost: evil.example\r\n\
                   Origin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\n\
                   Connection: close\r\n\r\n";
    let resp = common::http_raw(f.addr, request.as_bytes()).await;
    assert_eq!(resp.status, 403, "{}", resp.text());
    assert_eq!(resp.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn cross_origin_calls_get_cors_headers_and_can_read_reply_metadata() {
    let f = gateway(ApiOptions::default().cors_origin("https://app.example")).await;
    let call = async |origin: &str| {
        http(
            f.addr,
            "POST",
            "/greeter/hello",
            &[("Content-Type", "application/json"), ("Origin", origin)],
            br#"{"name":"World"}"#,
        )
        .await
    };
    let allowed = call("https://app.example").await;
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(listed(&allowed, "vary").contains(&"origin".to_owned()));
    assert_eq!(allowed.header("access-control-allow-credentials"), None);
    // Reply metadata comes as `X-Micro-*` headers, which a page reads only when exposed.
    assert_eq!(allowed.header("access-control-expose-headers"), Some("*"));
    // Another origin's call runs (a JSON body needs a preflight, which it would not pass), but
    // its page may not read the reply.
    let other = call("https://evil.example").await;
    assert_eq!(other.header("access-control-allow-origin"), None);

    // Any origin: `*`, never with credentials.
    let f = gateway(ApiOptions::default().cors_origin("*")).await;
    let resp = preflight(f.addr, "https://anywhere.example").await;
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    assert_eq!(resp.header("access-control-allow-credentials"), None);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_errors() {
    let f = gateway(ApiOptions::default()).await;
    let resp = http(f.addr, "GET", "/a/b/c", &[], b"").await;
    assert_eq!(resp.status, 404);
    assert_eq!(resp.json()["code"], json!(404));
    let resp = http(f.addr, "GET", "/greeter/hello", &[], b"").await;
    assert_eq!(resp.status, 405);
    assert_eq!(resp.json()["code"], json!(405));
}

#[tokio::test]
async fn the_dashboard_is_served_under_ui() {
    let f = gateway(ApiOptions::default()).await;
    let page = http(f.addr, "GET", "/ui/", &[], b"").await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().contains("<title>micro dashboard</title>"));
    let js = http(f.addr, "GET", "/ui/app.js", &[], b"").await;
    assert!(
        js.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    let css = http(f.addr, "GET", "/ui/app.css", &[], b"").await;
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    let root = http(f.addr, "GET", "/", &[], b"").await;
    assert_eq!(root.status, 307);
    assert_eq!(root.header("location"), Some("/ui/"));

    let f = gateway(ApiOptions::default().ui(false)).await;
    assert_eq!(http(f.addr, "GET", "/ui/", &[], b"").await.status, 404);
}

#[tokio::test]
async fn a_value_reply_is_any_json() {
    let f = gateway(ApiOptions::default()).await;
    let resp = post(f.addr, "/greeter/meta", "{}").await;
    assert!(matches!(resp.json(), Value::Object(_)));
}

#[tokio::test]
async fn only_loopback_host_names_are_answered_when_bound_to_loopback() {
    let f = gateway(
        ApiOptions::default()
            .loopback_only(true)
            .allow_host("api.internal"),
    )
    .await;
    for (host, status) in [
        ("127.0.0.1:8080", 200),
        ("localhost", 200),
        ("LOCALHOST:1", 200),
        ("[::1]:8080", 200),
        ("api.internal:8080", 200),
        ("evil.example", 403),
        ("evil.example:8080", 403),
        ("127.0.0.1.evil.example", 403),
    ] {
        let request =
            format!("GET /services HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let resp = common::http_raw(f.addr, request.as_bytes()).await;
        assert_eq!(resp.status, status, "{host}: {}", resp.text());
    }
}

#[tokio::test]
async fn reserved_metadata_keys_cannot_be_set_and_a_list_narrows_the_rest() {
    let f = gateway(ApiOptions::default()).await;
    for header in [
        "X-Micro-Authorization",
        "X-Micro-authorization",
        "X-Micro-Cookie",
        "X-Micro-Nats-Service-Error",
        "X-Micro-Micro-Timeout",
        "X-Micro-Content-Type",
    ] {
        let resp = http(
            f.addr,
            "POST",
            "/greeter/meta",
            &[("Content-Type", "application/json"), (header, "x")],
            b"{}",
        )
        .await;
        assert_eq!(resp.status, 400, "{header}: {}", resp.text());
    }
    let f = gateway(ApiOptions::default().metadata_key("Request-Id")).await;
    let call = |header: &'static str| {
        let addr = f.addr;
        async move {
            http(
                addr,
                "POST",
                "/greeter/meta",
                &[("Content-Type", "application/json"), (header, "42")],
                b"{}",
            )
            .await
        }
    };
    let resp = call("X-Micro-Request-Id").await;
    assert_eq!(resp.json(), json!({"request-id": "42"}));
    assert_eq!(call("X-Micro-User").await.status, 400);
}

#[tokio::test]
async fn healthz_tells_the_truth() {
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let check = {
        let healthy = healthy.clone();
        micro_cli::api::HealthCheck::new(move || {
            if healthy.load(std::sync::atomic::Ordering::Relaxed) {
                Ok(())
            } else {
                Err("not connected".to_owned())
            }
        })
    };
    let f = gateway(ApiOptions::default().health(check)).await;
    assert_eq!(http(f.addr, "GET", "/healthz", &[], b"").await.status, 200);
    healthy.store(false, std::sync::atomic::Ordering::Relaxed);
    let resp = http(f.addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(resp.status, 503);
    assert_eq!(resp.json()["detail"], json!("not connected"));
}

/// Serves the greeter through [`micro_cli::api::serve`] with `limits`; the stop sender ends it.
async fn limited(
    limits: micro_cli::api::Limits,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
    Running,
) {
    let memory = Memory::new();
    let running = start_greeter(memory.backend()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = router(memory.client(), ApiOptions::default());
    let serving = tokio::spawn(micro_cli::api::serve(listener, app, limits, async {
        let _ = stopped.await;
    }));
    (addr, stop, serving, running)
}

/// Reads until the server closes the connection (or `within` passes: `false`).
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn slow_senders_are_cut_off_and_connections_are_limited() {
    use tokio::io::AsyncWriteExt;
    let mut limits = micro_cli::api::Limits::default();
    limits.header_read = Duration::from_millis(300);
    limits.body_read = Duration::from_millis(300);
    limits.max_connections = 4;
    let (addr, stop, serving, _running) = limited(limits).await;

    // A head that never ends (slowloris) and an idle keep-alive connection are closed.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST /greeter/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut slow, Duration::from_secs(5)).await);
    assert!(closed_within(&mut idle, Duration::from_secs(5)).await);

    // A body that never ends gets an answer within the body timeout, not never.
    let mut trickle = tokio::net::TcpStream::connect(addr).await.unwrap();
    trickle
        .write_all(
            b"POST /greeter/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
    assert!(closed_within(&mut trickle, Duration::from_secs(5)).await);

    // Past the limit, new connections are closed at once; the open ones still work.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        // Start a head so each connection is surely accepted and counted.
        c.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        held.push(c);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut extra, Duration::from_millis(250)).await);
    for c in &mut held {
        c.write_all(b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
    }
    let mut answer = String::new();
    {
        use tokio::io::AsyncReadExt;
        held[0].read_to_string(&mut answer).await.unwrap();
    }
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(held);

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("stops")
        .unwrap();
}

#[tokio::test]
async fn a_stop_is_bounded_by_the_shutdown_timeout() {
    let mut limits = micro_cli::api::Limits::default();
    limits.shutdown = Duration::from_millis(300);
    let (addr, stop, serving, _running) = limited(limits).await;
    // A call that takes far longer than the shutdown timeout.
    let slow = tokio::spawn(async move {
        http(
            addr,
            "POST",
            "/greeter/slow",
            &[("Content-Type", "application/json")],
            br#"{"ms":20000}"#,
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("the stop waits no longer than its timeout")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    slow.abort();
}

// ---------------------------------------------------------------------------------------------
// `Micro-Timeout` and the event viewer (`GET /_events`)

#[tokio::test]
async fn micro_timeout_shortens_a_call_and_a_bad_one_is_400() {
    let f = gateway(ApiOptions::default()).await;
    let slow = |timeout: &'static str| {
        let addr = f.addr;
        async move {
            http(
                addr,
                "POST",
                "/greeter/slow",
                &[
                    ("Content-Type", "application/json"),
                    ("Micro-Timeout", timeout),
                ],
                br#"{"ms":3000}"#,
            )
            .await
        }
    };
    let started = std::time::Instant::now();
    let resp = slow("200ms").await;
    assert_eq!(resp.status, 504, "{}", resp.text());
    assert_eq!(resp.json()["code"], json!(408));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Whole microseconds, as on the NATS wire.
    assert_eq!(slow("150000").await.status, 504);
    for bad in ["soon", "0s", "1.5"] {
        let resp = slow(bad).await;
        assert_eq!(resp.status, 400, "{bad}: {}", resp.text());
        assert!(resp.text().contains("Micro-Timeout"), "{}", resp.text());
    }
    // Never beyond the gateway's own timeout.
    let f = gateway(ApiOptions::default().timeout(Duration::from_millis(300))).await;
    let resp = http(
        f.addr,
        "POST",
        "/greeter/slow",
        &[
            ("Content-Type", "application/json"),
            ("Micro-Timeout", "1m"),
        ],
        br#"{"ms":3000}"#,
    )
    .await;
    assert_eq!(resp.status, 504, "{}", resp.text());
}

struct Events {
    addr: SocketAddr,
    memory: Memory,
    _running: Running,
}

async fn events_gateway(options: ApiOptions) -> Events {
    let memory = Memory::new();
    let running = start_greeter(memory.backend()).await;
    let addr = serve(router(memory.client(), options)).await;
    Events {
        addr,
        memory,
        _running: running,
    }
}

/// An open server-sent-events response, read as it comes.
struct Sse {
    stream: tokio::net::TcpStream,
    seen: String,
}

impl Sse {
    async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, Sse) {
        use tokio::io::AsyncWriteExt as _;
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut head =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut sse = Sse {
            stream,
            seen: String::new(),
        };
        let head = sse.until("\r\n\r\n", Duration::from_secs(5)).await;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, sse)
    }

    /// Reads until `needle` has been seen (in what was not consumed yet); returns what was read
    /// up to and including it, and keeps the rest.
    async fn until(&mut self, needle: &str, within: Duration) -> String {
        use tokio::io::AsyncReadExt as _;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(at) = self.seen.find(needle) {
                let rest = self.seen.split_off(at + needle.len());
                return std::mem::replace(&mut self.seen, rest);
            }
            let mut buf = [0u8; 65536];
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no `{needle}` in time; read so far: {}", self.seen))
                .expect("read");
            assert!(n > 0, "closed before `{needle}`: {}", self.seen);
            self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }

    /// The JSON of the next `event: <name>` frame.
    async fn next(&mut self, name: &str) -> Value {
        self.until(&format!("event: {name}\n"), Duration::from_secs(5))
            .await;
        let line = self.until("\n", Duration::from_secs(5)).await;
        let data = line.strip_prefix("data: ").expect("a data line");
        serde_json::from_str(data.trim_end()).expect("JSON data")
    }
}

#[tokio::test]
async fn events_arrive_as_server_sent_events_with_their_metadata() {
    let f = events_gateway(ApiOptions::default()).await;
    let (status, mut sse) = Sse::open(f.addr, "/_events?topic=orders.*", &[]).await;
    assert_eq!(status, 200, "{}", sse.seen);
    assert_eq!(sse.next("ready").await, json!({"topic": "orders.*"}));
    f.memory
        .client()
        .with_metadata("Request-Id", "42")
        .publish("orders.created", &json!({"id": 7}))
        .await
        .unwrap();
    f.memory
        .client()
        .publish("other.created", &json!({"id": 8}))
        .await
        .unwrap();
    f.memory
        .client()
        .publish("orders.paid", &json!({"id": 9}))
        .await
        .unwrap();
    let first = sse.next("event").await;
    assert_eq!(first["topic"], json!("orders.created"));
    assert_eq!(first["data"], json!({"id": 7}));
    assert_eq!(first["metadata"]["Request-Id"], json!("42"), "{first}");
    let second = sse.next("event").await;
    assert_eq!(second["topic"], json!("orders.paid"), "{second}");
}

#[tokio::test]
async fn event_topics_are_checked_before_subscribing() {
    let f = events_gateway(ApiOptions::default()).await;
    for (path, status) in [
        ("/_events", 400),
        ("/_events?topic=", 400),
        ("/_events?topic=%3E", 400),
        ("/_events?topic=*.created", 400),
        ("/_events?topic=a..b", 400),
        ("/_events?topic=%24SRV.INFO", 403),
        ("/_events?topic=%24MICRO.CANCEL.greeter", 403),
        ("/_events?topic=_INBOX.x", 403),
        // The greeter's endpoints: other callers' requests, not events.
        ("/_events?topic=greeter.hello", 403),
        ("/_events?topic=greeter.%3E", 403),
    ] {
        let resp = http(f.addr, "GET", path, &[], b"").await;
        assert_eq!(resp.status, status, "{path}: {}", resp.text());
        assert!(resp.json()["detail"].is_string(), "{path}");
    }
}

#[tokio::test]
async fn the_event_viewer_needs_the_token() {
    let f = events_gateway(ApiOptions::default().auth_token("s3cret")).await;
    let resp = http(f.addr, "GET", "/_events?topic=orders.created", &[], b"").await;
    assert_eq!(resp.status, 401);
    let (status, mut sse) = Sse::open(
        f.addr,
        "/_events?topic=orders.created",
        &[("Authorization", "Bearer s3cret")],
    )
    .await;
    assert_eq!(status, 200, "{}", sse.seen);
    sse.next("ready").await;
}

#[tokio::test]
async fn event_viewers_are_limited_and_a_slot_frees_when_one_leaves() {
    let f = events_gateway(ApiOptions::default().max_event_viewers(1)).await;
    let (status, mut first) = Sse::open(f.addr, "/_events?topic=orders.created", &[]).await;
    assert_eq!(status, 200);
    first.next("ready").await;
    let resp = http(f.addr, "GET", "/_events?topic=orders.created", &[], b"").await;
    assert_eq!(resp.status, 429, "{}", resp.text());
    assert!(resp.text().contains("at most 1"), "{}", resp.text());
    drop(first);
    // The gateway notices the viewer left at its next write: events make writes.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        f.memory
            .client()
            .publish("orders.created", &json!({}))
            .await
            .unwrap();
        let (status, _sse) = Sse::open(f.addr, "/_events?topic=orders.created", &[]).await;
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slot was never freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let off = events_gateway(ApiOptions::default().max_event_viewers(0)).await;
    let resp = http(off.addr, "GET", "/_events?topic=orders.created", &[], b"").await;
    assert_eq!(resp.status, 404, "{}", resp.text());
}

#[tokio::test]
async fn a_slow_viewer_loses_events_and_is_told_how_many() {
    let f = events_gateway(ApiOptions::default().event_buffer(4)).await;
    let (status, mut sse) = Sse::open(f.addr, "/_events?topic=bulk.x", &[]).await;
    assert_eq!(status, 200);
    sse.next("ready").await;
    // The viewer reads nothing while 24 MiB of events go by: far more than the socket buffers
    // and the viewer's queue hold.
    let blob = "x".repeat(64 * 1024);
    const N: u64 = 384;
    for i in 0..N {
        f.memory
            .client()
            .publish("bulk.x", &json!({"i": i, "blob": blob}))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Now it reads: the events it got plus the ones it was told it lost are all of them.
    let (mut got, mut lost) = (0u64, 0u64);
    while got + lost < N {
        let text = sse.until("\n\n", Duration::from_secs(10)).await;
        if text.contains("event: event\n") {
            got += 1;
        } else if let Some(at) = text.find("event: dropped\ndata: ") {
            let data: Value =
                serde_json::from_str(text[at + "event: dropped\ndata: ".len()..].trim_end())
                    .unwrap();
            lost += data["dropped"].as_u64().unwrap();
            assert_eq!(data["total"].as_u64().unwrap(), lost, "{data}");
        }
    }
    assert_eq!(got + lost, N);
    assert!(lost > 0, "nothing was dropped ({got} events read)");
    assert!(got >= 4, "{got}");
}
