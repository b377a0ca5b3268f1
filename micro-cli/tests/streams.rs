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
    assert_eq!(resp.text(), "1\n2\n3\n");

    // An error mid-stream is the last line, with its code, after the items before it.
    let resp = post(addr, "/counter/count", None, r#"{"n":5,"fail_after":2}"#).await;
    assert_eq!(resp.status, 200);
    let lines: Vec<Value> = resp
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[..2], [json!(1), json!(2)]);
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
