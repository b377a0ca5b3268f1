//! `micro describe` and `micro check` against services whose INFO carries JSON Schemas, built
//! with `#[service]`: the fields of requests and replies are shown, the suggested `try:` call
//! succeeds when run, and instances of one version that disagree are reported.

use std::process::{Command, Output};

use micro_core::prelude::*;
use micro_core::schema::SchemaCheck;
use micro_core::service::Running;
use micro_nats::{Nats, NatsOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use test_support::NatsServer;

/// A sum of two numbers.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "micro_core::schemars")]
pub struct Sum {
    /// `a + b`.
    pub total: i64,
    /// Who asked, when known.
    pub asked_by: Option<String>,
}

/// Greets people and adds.
#[service(name = "greeter", version = "1.0.0")]
pub trait Greeter {
    /// Says hello to `name`; fails for an empty name.
    async fn hello(&self, name: String) -> Result<String, Error>;
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> Result<Sum, Error>;
}

/// `greeter` 1.0.0 whose `add` returns a bare number.
#[service(name = "greeter", version = "1.0.0")]
pub trait OldGreeter {
    /// Says hello.
    async fn hello(&self, name: String) -> Result<String, Error>;
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> Result<i64, Error>;
}

struct Impl;

impl Greeter for Impl {
    async fn hello(&self, name: String) -> Result<String, Error> {
        if name.is_empty() {
            return Err(Error::bad_request("name must not be empty"));
        }
        Ok(format!("Hello {name}"))
    }
    async fn add(&self, a: i64, b: i64) -> Result<Sum, Error> {
        Ok(Sum {
            total: a + b,
            asked_by: None,
        })
    }
}

impl OldGreeter for Impl {
    async fn hello(&self, name: String) -> Result<String, Error> {
        Ok(name)
    }
    async fn add(&self, a: i64, b: i64) -> Result<i64, Error> {
        Ok(a + b)
    }
}

async fn micro(server: &NatsServer, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_micro"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MICRO_NATS_URL", server.url())
        .env("MICRO_NATS_DISCOVERY_TIMEOUT", "300ms");
    tokio::task::spawn_blocking(move || cmd.output().expect("micro runs"))
        .await
        .expect("join")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn serve(
    nats: &Nats,
    service: Service,
    handler: impl micro_core::server::handler::Handler,
) -> Running {
    service
        .backend(nats.backend())
        .only_explicit()
        .handle(handler)
        .start()
        .await
        .expect("starts")
}

/// Splits a `try:` line (`micro call greeter hello '{"name":"World"}'`) into arguments.
fn try_args(line: &str) -> Vec<String> {
    let rest = line
        .trim()
        .strip_prefix("try:")
        .unwrap()
        .trim()
        .strip_prefix("micro ")
        .unwrap();
    let (words, body) = rest.split_once(" '").unwrap();
    let mut args: Vec<String> = words.split_whitespace().map(str::to_owned).collect();
    args.push(body.strip_suffix('\'').unwrap().to_owned());
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_shows_fields_and_try_lines_that_work() {
    let server = NatsServer::start();
    let nats = Nats::connect(NatsOptions::new().url(&server.url()))
        .await
        .unwrap();
    let running = serve(&nats, Service::builder(), GreeterServer::new(Impl)).await;

    let out = micro(&server, &["describe", "greeter"]).await;
    assert_ok(&out);
    let text = stdout(&out);
    for needle in [
        "    request:\n      name: string (required)\n",
        "      a: integer (int64) (required)\n      b: integer (int64) (required)\n",
        "    response: Sum\n      asked_by: string | null (required)  Who asked, when known.\n      total: integer (int64) (required)  `a + b`.\n",
        "    response: string\n",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    // The schemas are shown as fields, not dumped as metadata.
    assert!(!text.contains("request_schema"), "{text}");

    // Every suggested call succeeds.
    let tries: Vec<&str> = text
        .lines()
        .filter(|l| l.trim().starts_with("try:"))
        .collect();
    assert_eq!(tries.len(), 2, "{text}");
    assert!(tries[0].contains(r#"'{"name":"World"}'"#), "{}", tries[0]);
    let mut replies = Vec::new();
    for line in tries {
        let args = try_args(line);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = micro(&server, &args).await;
        assert_ok(&out);
        replies.push(serde_json::from_slice::<Value>(&out.stdout).unwrap());
    }
    assert_eq!(replies[0], json!("Hello World"));
    assert_eq!(replies[1], json!({"total": 2, "asked_by": null}));

    // --json carries the schemas and the fields.
    let out = micro(&server, &["--json", "describe", "greeter"]).await;
    assert_ok(&out);
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    let add = &d["endpoints"][1];
    assert_eq!(
        add["response_schema"]["properties"]["total"]["type"],
        "integer"
    );
    assert_eq!(add["response_fields"][1]["name"], "total");
    assert_eq!(add["example"], json!({"a": 1, "b": 1}));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_instances_of_one_version_that_disagree() {
    let server = NatsServer::start();
    let nats = Nats::connect(NatsOptions::new().url(&server.url()))
        .await
        .unwrap();
    let first = serve(&nats, Service::builder(), GreeterServer::new(Impl)).await;
    let second = serve(&nats, Service::builder(), GreeterServer::new(Impl)).await;
    let out = micro(&server, &["check", "greeter"]).await;
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "greeter 1.0.0: 2 instance(s) agree on every schema\n"
    );

    // An instance told only to warn joins with another `add`: `check` names it and fails.
    let odd = serve(
        &nats,
        Service::builder().schema_check(SchemaCheck::Warn),
        OldGreeterServer::new(Impl),
    )
    .await;
    let out = micro(&server, &["check", "greeter"]).await;
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("greeter 1.0.0: 3 instance(s) DISAGREE"),
        "{text}"
    );
    assert!(text.contains("endpoint `add` response:"), "{text}");
    assert!(text.contains(&odd.instances()[0].id), "{text}");
    assert!(
        text.contains(r#"{"format":"int64","type":"integer"}"#),
        "{text}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: 409 Conflict: instances of `greeter`"),
        "{err}"
    );

    let out = micro(&server, &["--json", "check", "greeter"]).await;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["mismatches"][0]["endpoint"], "add");
    assert_eq!(report[0]["mismatches"][0]["part"], "response");

    let out = micro(&server, &["check", "nosuch"]).await;
    assert_eq!(out.status.code(), Some(1));
    for r in [first, second, odd] {
        r.stop().await;
    }
}
