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
async fn curl_style_form_content_type_is_read_as_json() {
    // `curl -d` sends application/x-www-form-urlencoded; the body is JSON all the same.
    let f = gateway(ApiOptions::default()).await;
    let resp = http(
        f.addr,
        "POST",
        "/greeter/hello",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        br#"{"name":"curl"}"#,
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json(), json!("Hello curl"));
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
         Transfer-Encoding: chunked\r\n\r\n",
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
        &[("Authorization", "Bearer s3cret")],
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
async fn an_unknown_service_is_503_and_an_unknown_endpoint_404() {
    let f = gateway(ApiOptions::default()).await;
    let resp = post(f.addr, "/nosuch/hello", "{}").await;
    assert_eq!(resp.status, 503, "{}", resp.text());
    assert_eq!(resp.json()["code"], json!(503));
    let resp = post(f.addr, "/greeter/nosuch", "{}").await;
    assert_eq!(resp.status, 404, "{}", resp.text());
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
    assert_eq!(hello["example"], json!({"name": ""}));

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
        &[("Authorization", "Bearer t")],
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
