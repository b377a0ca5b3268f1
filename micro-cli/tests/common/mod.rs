//! Shared by the integration tests: a test service built without the macro, and a minimal
//! HTTP/1.1 client over a plain TCP stream (one request per connection).
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use micro_core::descriptor::{EndpointDescriptor, FieldDescriptor, ServiceDescriptor};
use micro_core::prelude::{Streaming, service};
use micro_core::server::handler::{DynHandler, Endpoint, endpoint_fn};
use micro_core::service::{Backend, Running};
use micro_core::transport::{Call, Reply};
use micro_core::{Context, Error, Service};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

static HELLO: [FieldDescriptor; 1] = [FieldDescriptor::new("name", "String")];
static FAIL: [FieldDescriptor; 2] = [
    FieldDescriptor::new("code", "u16"),
    FieldDescriptor::new("detail", "String"),
];
static SLOW: [FieldDescriptor; 1] = [FieldDescriptor::new("ms", "u64")];
static ENDPOINTS: [EndpointDescriptor; 4] = [
    EndpointDescriptor::unary("hello", "hello", "Says hello to `name`.", &HELLO, "String")
        .with_schemas(hello_request, string_reply),
    EndpointDescriptor::unary(
        "fail",
        "fail",
        "Fails with the given code and detail.",
        &FAIL,
        "()",
    )
    .with_schemas(fail_request, null_reply),
    EndpointDescriptor::unary(
        "slow",
        "slow",
        "Answers after `ms` milliseconds.",
        &SLOW,
        "String",
    )
    .with_schemas(slow_request, string_reply),
    EndpointDescriptor::unary(
        "meta",
        "meta",
        "Returns the call's metadata.",
        &[],
        "BTreeMap<String, String>",
    )
    .with_schemas(meta_request, meta_reply),
];

// The schemas `#[service]` would generate for these shapes.
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

fn hello_request() -> Value {
    json!({"$schema": DIALECT, "type": "object", "description": "Says hello to `name`.",
           "properties": {"name": {"type": "string"}}, "required": ["name"]})
}

fn fail_request() -> Value {
    json!({"$schema": DIALECT, "type": "object",
           "properties": {"code": {"type": "integer", "format": "uint16", "minimum": 0, "maximum": 65535},
                          "detail": {"type": "string"}},
           "required": ["code", "detail"]})
}

fn slow_request() -> Value {
    json!({"$schema": DIALECT, "type": "object",
           "properties": {"ms": {"type": "integer", "format": "uint64", "minimum": 0}},
           "required": ["ms"]})
}

fn meta_request() -> Value {
    json!({"$schema": DIALECT, "type": "object", "properties": {}})
}

fn string_reply() -> Value {
    json!({"$schema": DIALECT, "title": "String", "type": "string"})
}

fn null_reply() -> Value {
    json!({"$schema": DIALECT, "title": "null", "type": "null"})
}

fn meta_reply() -> Value {
    json!({"$schema": DIALECT, "title": "Map_of_string", "type": "object",
           "additionalProperties": {"type": "string"}})
}
/// `greeter` 1.0.0: hello, fail, slow, meta.
pub static GREETER: ServiceDescriptor =
    ServiceDescriptor::new("greeter", "1.0.0", "Greets people.", "Greeter", &ENDPOINTS);

fn args(call: &Call) -> Result<Value, Error> {
    call.content_type
        .decode::<Value>(&call.body)
        .map_err(|e| Error::bad_request(e.to_string()))
}

fn reply(call: &Call, value: &Value) -> Result<Reply, Error> {
    let body = call
        .content_type
        .encode(value)
        .map_err(|e| Error::internal(e.to_string()))?;
    Ok(Reply::new(call.content_type, body))
}

fn endpoint<F, Fut>(f: F) -> Endpoint
where
    F: Fn(Call) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, Error>> + Send + 'static,
{
    endpoint_fn(Arc::new(()), move |_, call| f(call))
}

/// The greeter's handler.
pub fn greeter() -> DynHandler {
    DynHandler::new(
        &GREETER,
        vec![
            endpoint(|call| async move {
                let a = args(&call)?;
                let name = a["name"].as_str().unwrap_or_default();
                if name.is_empty() {
                    return Err(Error::bad_request("name must not be empty"));
                }
                reply(&call, &json!(format!("Hello {name}")))
            }),
            endpoint(|call| async move {
                let a = args(&call)?;
                let code = a["code"].as_u64().and_then(|c| u16::try_from(c).ok());
                let detail = a["detail"].as_str().unwrap_or_default();
                Err(Error::new(code.unwrap_or(500), detail))
            }),
            endpoint(|call| async move {
                let a = args(&call)?;
                tokio::time::sleep(Duration::from_millis(a["ms"].as_u64().unwrap_or(0))).await;
                reply(&call, &json!("done"))
            }),
            endpoint(|call| async move {
                let md: serde_json::Map<String, Value> = Context::current()
                    .metadata()
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), Value::from(v)))
                    .collect();
                reply(&call, &Value::Object(md))
            }),
        ],
    )
}

/// Serves the greeter on `backend`.
pub async fn start_greeter(backend: Backend) -> Running {
    Service::builder()
        .backend(backend)
        .only_explicit()
        .handle(greeter())
        .start()
        .await
        .expect("greeter starts")
}

/// Serves `app` on a free loopback port.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request and reads the whole response (`Connection: close`).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    send_raw(&mut stream, &request).await
}

/// Sends `request` as it is (head and body) and reads the whole response.
pub async fn http_raw(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    send_raw(&mut stream, request).await
}

async fn send_raw(stream: &mut tokio::net::TcpStream, request: &[u8]) -> HttpResponse {
    // The server may answer (413) and close before reading all of a large body.
    let _ = stream.write_all(request).await;
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) if raw.is_empty() => panic!("read failed: {e}"),
                Err(_) => break,
            }
        }
    })
    .await;
    read.expect("response in time");
    parse(&raw)
}

fn parse(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body: Bytes::from(body),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(&data[..pos]);
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        data = &data[pos + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[(size + 2).min(data.len())..];
    }
    out
}

/// Counting, by streams.
#[service(name = "counter", version = "1.0.0")]
pub trait Counter {
    /// The numbers from 1 to `n`; fails with 422 after `fail_after` of them, if set.
    async fn count(&self, n: u32, fail_after: Option<u32>) -> Result<Streaming<u32>, Error>;
    /// The sum of the numbers sent.
    async fn sum(&self, numbers: Streaming<u32>) -> Result<u64, Error>;
    /// Counts up until its reader goes away.
    async fn forever(&self) -> Result<Streaming<u32>, Error>;
    /// One item, then nothing until its reader goes away.
    async fn quiet(&self) -> Result<Streaming<u32>, Error>;
}

/// The counter's implementation.
pub struct CounterImpl;

impl Counter for CounterImpl {
    async fn count(&self, n: u32, fail_after: Option<u32>) -> Result<Streaming<u32>, Error> {
        if n > 10_000 {
            return Err(Error::bad_request("at most 10000"));
        }
        Ok(Streaming::try_new(futures::stream::iter(1..=n).map(
            move |i| match fail_after {
                Some(after) if i > after => Err(Error::new(422, "gave up")),
                _ => Ok(i),
            },
        )))
    }

    async fn quiet(&self) -> Result<Streaming<u32>, Error> {
        Ok(Streaming::new(
            futures::stream::iter([1]).chain(futures::stream::pending()),
        ))
    }

    async fn forever(&self) -> Result<Streaming<u32>, Error> {
        Ok(Streaming::iter((1..=u32::MAX).cycle()))
    }

    async fn sum(&self, mut numbers: Streaming<u32>) -> Result<u64, Error> {
        let mut sum = 0;
        while let Some(n) = numbers.next().await {
            sum += u64::from(n?);
        }
        Ok(sum)
    }
}

/// Serves the counter on `backend`.
pub async fn start_counter(backend: Backend) -> Running {
    micro_core::Service::builder()
        .backend(backend)
        .only_explicit()
        .handle(CounterServer::new(CounterImpl))
        .start()
        .await
        .expect("counter starts")
}
