//! `micro` against a service written with the JavaScript reference implementation of the NATS
//! services protocol (`@nats-io/services`, `micro-nats/tests/interop-js/jsecho.mjs`): it lists,
//! describes and calls it, including its endpoints on subjects of their own (`jsmath.add`) and
//! its errors, which it sends as `Nats-Service-Error` headers only.
//!
//! Needs `MICRO_INTEROP_NODE_DIR` (`scripts/test.sh` sets it); without it, or without node, the
//! test says so and passes, except on CI where it fails.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use test_support::NatsServer;
use test_support::node::{node_dir, spawn_ready};

/// `micro <args>` against `url`, with nothing else from the environment.
async fn micro(url: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_micro"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MICRO_NATS_URL", url)
        .env("MICRO_NATS_DISCOVERY_TIMEOUT", "300ms")
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || cmd.output().expect("micro runs"))
        .await
        .expect("join")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn micro_lists_describes_and_calls_a_javascript_service() {
    let Some(dir) = node_dir() else { return };
    let server = NatsServer::start();
    let url = server.url();
    let (mut child, id) = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            spawn_ready(&dir, "jsecho.mjs", &[&url], Duration::from_secs(30))
        })
        .await
        .expect("jsecho.mjs started")
    };

    // Listed, in text and JSON.
    let listed = ok(&micro(&url, &["services"]).await);
    let row = listed
        .lines()
        .find(|l| l.starts_with("jsecho "))
        .unwrap_or_else(|| panic!("jsecho not listed:\n{listed}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..4], ["jsecho", "2.0.0", "1", "5"], "{row}");
    assert!(row.ends_with("Echoes and adds, in JavaScript."), "{row}");
    let listed: Value = serde_json::from_str(&ok(&micro(&url, &["--json", "services"]).await))
        .expect("services --json is JSON");
    assert_eq!(
        listed,
        json!([{"name": "jsecho", "versions": ["2.0.0"], "instances": 1, "endpoints": 5,
                "description": "Echoes and adds, in JavaScript."}])
    );

    // Described: the instance, and every endpoint on the subject it announces, with its
    // metadata.
    let described = ok(&micro(&url, &["describe", "jsecho"]).await);
    for expected in [
        "Echoes and adds, in JavaScript.",
        &format!("{id}  2.0.0"),
        "lang=javascript",
        "echo  (subject echo, queue q)\n    format: json",
        "add  (subject jsmath.add, queue q)",
        "fail  (subject jsmath.fail, queue q)",
        "throws  (subject jsmath.throws, queue q)",
        "hello  (subject jsecho.hello, queue q)",
    ] {
        assert!(
            described.contains(expected),
            "`{expected}` missing:\n{described}"
        );
    }
    let described: Value =
        serde_json::from_str(&ok(&micro(&url, &["--json", "describe", "jsecho"]).await))
            .expect("describe --json is JSON");
    assert_eq!(described["instances"][0]["id"], id.as_str());
    let subjects: Vec<(&str, &str)> = described["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or_default(),
                e["subject"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        subjects,
        [
            ("echo", "echo"),
            ("add", "jsmath.add"),
            ("fail", "jsmath.fail"),
            ("throws", "jsmath.throws"),
            ("hello", "jsecho.hello")
        ]
    );

    // Called: on the announced subjects.
    let sum = ok(&micro(&url, &["call", "jsecho", "add", r#"{"a":40,"b":2}"#]).await);
    assert_eq!(sum, "42\n");
    let echoed = ok(&micro(
        &url,
        &["--json", "call", "jsecho", "echo", r#"{"x":[1,2]}"#],
    )
    .await);
    assert_eq!(
        serde_json::from_str::<Value>(&echoed).expect("JSON"),
        json!({"x": [1, 2]})
    );
    let hello = ok(&micro(&url, &["call", "jsecho", "hello", r#"{"name":"Ada"}"#]).await);
    assert_eq!(hello, "\"Hello Ada\"\n");

    // Its errors, rebuilt from the headers alone: `respondError(422, ...)` and a thrown
    // `ServiceError(409, ...)`.
    let out = micro(&url, &["call", "jsecho", "fail", "{}"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert_eq!(
        text(&out.stderr),
        "error: 422 Unprocessable Entity: bad input (from `jsecho.fail`)\n"
    );
    let out = micro(&url, &["--json", "call", "jsecho", "throws", "{}"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err: Value = serde_json::from_str(&text(&out.stderr)).expect("a JSON error line");
    assert_eq!(
        err,
        json!({"error": {"code": 409, "detail": "conflict here", "id": "jsecho.throws",
                         "status": "Conflict"}})
    );

    // Its STATS, with the calls above counted by the JavaScript side.
    let stats: Value =
        serde_json::from_str(&ok(&micro(&url, &["--json", "stats", "jsecho"]).await))
            .expect("stats --json is JSON");
    let endpoints = stats[0]["endpoints"].as_array().expect("endpoints");
    let counts: Vec<(&str, u64)> = endpoints
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or_default(),
                e["num_requests"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("echo", 1),
            ("add", 1),
            ("fail", 1),
            ("throws", 1),
            ("hello", 1)
        ]
    );
    let throws = &endpoints[3];
    assert_eq!(throws["num_errors"], 1);
    assert_eq!(throws["last_error"], "conflict here");

    // And its PING.
    let pinged = ok(&micro(&url, &["ping", "jsecho"]).await);
    assert!(
        pinged.contains(&format!("jsecho   {id}  2.0.0")),
        "{pinged}"
    );

    drop(child.0.stdin.take());
}
