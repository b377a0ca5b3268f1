//! Server streams through the toolkit: `micro call` prints the items as JSON lines, the gateway
//! serves them as NDJSON or server-sent events, and both refuse what they cannot send.
#![allow(missing_docs)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{http, serve, start_counter as start};
use micro_cli::api::{ApiOptions, router};
use micro_core::memory::Memory;
use micro_nats::{Nats, NatsOptions};
use serde_json::{Value, json};
use test_support::NatsServer;

async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    accept: Option<&str>,
    body: &str,
) -> common::HttpResponse {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(accept) = accept {
        headers.push(("Accept", accept));
    }
    tokio::time::timeout(
        Duration::from_secs(20),
        http(addr, "POST", path, &headers, body.as_bytes()),
    )
    .await
    .expect("the gateway answers in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_serves_a_server_stream_as_ndjson_and_as_server_sent_events() {
    let memory = Memory::new();
    let _running = start(memory.backend()).await;
    let addr = serve(router(memory.client(), ApiOptions::default())).await;

    let resp = post(addr, "/counter/count", None, r#"{"n":3}"#).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(
        resp.text(),
        "{\"item\":1}\n{\"item\":2}\n{\"item\":3}\n{\"end\":{\"count\":3}}\n"
    );

    // An error mid-stream is the last line, with its code, after the items before it.
    let resp = post(addr, "/counter/count", None, r#"{"n":5,"fail_after":2}"#).await;
    assert_eq!(resp.status, 200);
    let lines: Vec<Value> = resp
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[..2], [json!({"item": 1}), json!({"item": 2})]);
    assert_eq!(lines[2]["error"]["code"], 422, "{lines:?}");
    assert_eq!(lines.len(), 3);

    let resp = post(
        addr,
        "/counter/count",
        Some("text/event-stream"),
        r#"{"n":2}"#,
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        resp.text(),
        "event: item\ndata: 1\n\nevent: item\ndata: 2\n\nevent: end\ndata: {\"count\":2}\n\n"
    );
    let resp = post(
        addr,
        "/counter/count",
        Some("text/event-stream"),
        r#"{"n":3,"fail_after":1}"#,
    )
    .await;
    let text = resp.text();
    assert!(
        text.starts_with("event: item\ndata: 1\n\nevent: error\ndata: {"),
        "{text}"
    );
    assert!(!text.contains("event: end"), "{text}");

    // A refusal before the stream is an ordinary error response.
    let resp = post(addr, "/counter/count", None, r#"{"n":100000}"#).await;
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert_eq!(resp.json()["code"], 400);

    // A client stream cannot be sent over HTTP: said so, not attempted.
    let resp = post(addr, "/counter/sum", None, "{}").await;
    assert_eq!(resp.status, 501, "{}", resp.text());
    assert!(resp.text().contains("client_stream"), "{}", resp.text());
}

fn micro(server: &NatsServer, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_micro"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MICRO_NATS_URL", server.url())
        .env("MICRO_NATS_DISCOVERY_TIMEOUT", "300ms")
        .stdin(Stdio::null())
        .output()
        .expect("micro runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn micro_call_prints_a_server_stream_as_json_lines() {
    let server = NatsServer::start();
    let nats = Nats::connect(NatsOptions::new().url(&server.url()))
        .await
        .expect("connect to the test server");
    let running = start(nats.backend()).await;
    let (ok, failed, sum) = tokio::task::spawn_blocking(move || {
        (
            micro(&server, &["call", "counter", "count", r#"{"n":4}"#]),
            micro(
                &server,
                &["call", "counter", "count", r#"{"n":4,"fail_after":3}"#],
            ),
            micro(&server, &["call", "counter", "sum", "{}"]),
        )
    })
    .await
    .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "1\n2\n3\n4\n");
    // The items before the error are printed, then the command fails with the error.
    assert!(!failed.status.success());
    assert_eq!(String::from_utf8_lossy(&failed.stdout), "1\n2\n3\n");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("422"), "{stderr}");
    assert!(!sum.status.success());
    let stderr = String::from_utf8_lossy(&sum.stderr);
    assert!(
        stderr.contains("501") && stderr.contains("client_stream"),
        "{stderr}"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_reader_that_stops_reading_does_not_hold_the_stream_open() {
    // Regression: an HTTP reader that stopped reading kept its stream (and a slot of the
    // service) open for ever, as credit stopped but heartbeats went on.
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let server = NatsServer::start();
    let nats = Nats::connect(NatsOptions::new().url(&server.url()))
        .await
        .unwrap();
    let running = start(nats.backend()).await;
    let options = ApiOptions::default().stream_stall(Duration::from_millis(300));
    let addr = serve(router(nats.micro_client(), options)).await;
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = "{}";
    let request = format!(
        "POST /counter/forever HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    // Not reading: the socket's buffers fill, then the gateway waits for its reader.
    let started = std::time::Instant::now();
    while running.in_flight() == 0 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(running.in_flight(), 1, "the stream never started");
    while running.in_flight() != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the stream is still open with nobody reading"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // What was written ends without the line that tells a complete stream.
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match tokio::time::timeout(Duration::from_secs(2), socket.read(&mut chunk)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => received.extend_from_slice(&chunk[..n]),
            Ok(Err(err)) => panic!("reading the response: {err}"),
        }
        if received.ends_with(b"\r\n0\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..text.len().min(200)]
    );
    assert!(text.contains("{\"item\":1}"));
    assert!(
        !text.contains("\"end\""),
        "a cut-off stream looked complete"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_reader_that_leaves_a_quiet_stream_ends_it() {
    // Regression: the gateway noticed a reader gone only when it had the next item to write,
    // so a quiet stream kept its service slot long after its reader left.
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let server = NatsServer::start();
    let nats = Nats::connect(NatsOptions::new().url(&server.url()))
        .await
        .unwrap();
    let running = start(nats.backend()).await;
    let addr = serve(router(nats.micro_client(), ApiOptions::default())).await;
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(
            b"POST /counter/quiet HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 2\r\n\r\n{}",
        )
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&received).contains("{\"item\":1}") {
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the gateway closed the connection");
            received.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("the first item in time");
    assert_eq!(running.in_flight(), 1);
    drop(socket);
    let started = std::time::Instant::now();
    while running.in_flight() != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the quiet stream outlived its reader"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
