//! Interop with the JavaScript reference implementation of the NATS services protocol
//! (`@nats-io/services` on `@nats-io/transport-node`), both ways, over a private nats-server:
//!
//! - its service client pings, inspects and reads the stats of our service, calls it with plain
//!   JSON and reads an error reply with its own `ServiceError` (`tests/interop-js/client.mjs`);
//! - our generated client calls a service written with it (`tests/interop-js/jsecho.mjs`) and
//!   rebuilds its header-only errors, and our registry reads its INFO and STATS. `micro` (the CLI) lists, describes and calls that
//!   service in `micro-cli/tests/interop_js.rs`.
//!
//! Needs `MICRO_INTEROP_NODE_DIR`: `tests/interop-js` after `npm ci` (`scripts/test.sh` does
//! it). Without it, or without node, the tests say so and pass, except on CI where they fail.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use micro_core::prelude::*;
use micro_core::registry::Registry;
use serde_json::{Value, json};
use test_support::NatsServer;
use test_support::node::{node_dir, run_script, spawn_ready};

/// Arithmetic and checks, for interop tests.
#[service(name = "jsinterop", version = "1.2.3")]
pub trait JsInterop {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> Result<i64, Error>;
    /// Answers `ok`, or fails with 422 when `fail` is true.
    async fn check(&self, fail: bool) -> Result<String, Error>;
}

struct JsInteropImpl;

impl JsInterop for JsInteropImpl {
    async fn add(&self, a: i64, b: i64) -> Result<i64, Error> {
        Ok(a + b)
    }

    async fn check(&self, fail: bool) -> Result<String, Error> {
        if fail {
            return Err(Error::new(422, "bad input"));
        }
        Ok("ok".to_owned())
    }
}

/// The JavaScript service's endpoint on `jsecho.hello`, described as a micro trait.
#[service(name = "jsecho", version = "2.0.0")]
pub trait JsEcho {
    /// Greets `name`; refuses an empty one with 422.
    async fn hello(&self, name: String) -> Result<String, Error>;
}

fn endpoint<'a>(entry: &'a Value, name: &str) -> &'a Value {
    entry["endpoints"]
        .as_array()
        .and_then(|eps| eps.iter().find(|e| e["name"] == name))
        .unwrap_or_else(|| panic!("no endpoint {name} in {entry}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_service_client_reads_our_service() {
    let Some(dir) = node_dir() else { return };
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .metadata("lang", "rust")
        .handle(JsInteropServer::new(JsInteropImpl))
        .start()
        .await
        .expect("the service starts");
    let id = running.instances()[0].id.clone();
    // Calls before the JavaScript client looks, so STATS has figures to show.
    let client = JsInteropClient::new(&nats.micro_client());
    for i in 0..3 {
        assert_eq!(client.add(i, 1).await.unwrap(), i + 1);
    }
    assert_eq!(client.check(false).await.unwrap(), "ok");

    let url = server.url();
    let out = tokio::task::spawn_blocking(move || {
        run_script(
            &dir,
            "client.mjs",
            &[&url, "jsinterop"],
            Duration::from_secs(60),
        )
    })
    .await
    .expect("the script ran");
    assert!(
        out.success,
        "client.mjs failed\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    let found: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("client.mjs printed no JSON ({e}): {}", out.stdout));

    // Listed (PING without a name): the only service on this server is ours.
    let everyone = found["everyone"].as_array().expect("everyone");
    assert_eq!(everyone.len(), 1, "{found}");
    assert_eq!(everyone[0]["id"], id.as_str());
    assert_eq!(everyone[0]["name"], "jsinterop");

    // PING by name: exactly our instance.
    let pings = found["pings"].as_array().expect("pings");
    assert_eq!(pings.len(), 1, "{found}");
    assert_eq!(pings[0]["name"], "jsinterop");
    assert_eq!(pings[0]["id"], id.as_str());
    assert_eq!(pings[0]["version"], "1.2.3");
    assert_eq!(pings[0]["metadata"], json!({"lang": "rust"}));

    // INFO, by name and by name and id.
    for key in ["infos", "by_id"] {
        let infos = found[key].as_array().expect("infos");
        assert_eq!(infos.len(), 1, "{key}: {found}");
        let info = &infos[0];
        assert_eq!(info["id"], id.as_str());
        assert_eq!(info["version"], "1.2.3");
        assert_eq!(
            info["description"],
            "Arithmetic and checks, for interop tests."
        );
        let names: Vec<&str> = info["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        assert_eq!(names, ["add", "check"]);
        let add = endpoint(info, "add");
        assert_eq!(add["subject"], "jsinterop.add");
        assert_eq!(add["queue_group"], "q");
        assert_eq!(add["metadata"]["doc"], "Adds two numbers.");
        assert_eq!(endpoint(info, "check")["subject"], "jsinterop.check");
    }

    // Its plain call and its reading of our error reply.
    assert_eq!(found["sum"], 42);
    assert_eq!(found["error"], json!({"code": 422, "message": "bad input"}));

    // STATS after 3 + 1 calls of `add` and 1 + 1 of `check` (one of them failing).
    let stats = found["stats"].as_array().expect("stats");
    assert_eq!(stats.len(), 1, "{found}");
    assert_eq!(stats[0]["id"], id.as_str());
    let add = endpoint(&stats[0], "add");
    assert_eq!(add["num_requests"], 4, "{add}");
    assert_eq!(add["num_errors"], 0, "{add}");
    assert!(
        add["processing_time"].as_u64().is_some_and(|n| n > 0),
        "{add}"
    );
    let check = endpoint(&stats[0], "check");
    assert_eq!(check["num_requests"], 2, "{check}");
    assert_eq!(check["num_errors"], 1, "{check}");
    assert_eq!(check["last_error"], "422:bad input");
    // `started` as JavaScript's Date reads it: this instance started within the last minute.
    let started_ms = found["started_ms"][0].as_f64().expect("started parses");
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as f64;
    assert!(
        started_ms <= now_ms && now_ms - started_ms < 60_000.0,
        "started {started_ms} ms, now {now_ms} ms"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_and_registry_read_a_javascript_service() {
    let Some(dir) = node_dir() else { return };
    let server = NatsServer::start();
    let url = server.url();
    let (mut child, js_id) = tokio::task::spawn_blocking(move || {
        spawn_ready(&dir, "jsecho.mjs", &[&url], Duration::from_secs(30))
    })
    .await
    .expect("jsecho.mjs started");

    // A call as any client makes it, so STATS has a figure.
    let raw = raw(&server).await;
    let reply = raw
        .request("jsmath.add", r#"{"a":2,"b":40}"#.into())
        .await
        .expect("jsmath.add answers");
    assert_eq!(&reply.payload[..], b"42");

    let nats = connect(&server).await;
    let client = JsEchoClient::new(&nats.micro_client());
    assert_eq!(client.hello("Ada".into()).await.unwrap(), "Hello Ada");
    // `respondError` sends only the convention's headers: rebuilt from them.
    let err = client.hello(String::new()).await.unwrap_err();
    assert_eq!(err.code(), 422, "{err}");
    assert_eq!(err.detail(), "name must not be empty");
    assert_eq!(err.id(), "jsecho.hello");

    let instances = nats.registry().get_service("jsecho").await.unwrap();
    assert_eq!(instances.len(), 1, "{instances:?}");
    let instance = &instances[0];
    assert_eq!(instance.id, js_id);
    assert_eq!(instance.version, "2.0.0");
    assert_eq!(instance.description, "Echoes and adds, in JavaScript.");
    assert_eq!(
        instance.metadata.get("lang").map(String::as_str),
        Some("javascript")
    );
    let endpoints: Vec<(&str, &str)> = instance
        .endpoints
        .iter()
        .map(|e| (e.name.as_str(), e.subject.as_str()))
        .collect();
    assert_eq!(
        endpoints,
        [
            ("echo", "echo"),
            ("add", "jsmath.add"),
            ("fail", "jsmath.fail"),
            ("throws", "jsmath.throws"),
            ("hello", "jsecho.hello"),
        ]
    );

    let stats = nats.registry().stats(Some("jsecho")).await.unwrap();
    assert_eq!(stats.len(), 1, "{stats:?}");
    assert_eq!(stats[0].id, js_id);
    let add = stats[0]
        .endpoints
        .iter()
        .find(|e| e.name == "add")
        .expect("add in STATS");
    assert_eq!(add.num_requests, 1);
    let hello = stats[0]
        .endpoints
        .iter()
        .find(|e| e.name == "hello")
        .expect("hello in STATS");
    assert_eq!(hello.num_requests, 2);
    assert!(stats[0].started > UNIX_EPOCH);
    // Closing stdin stops the JavaScript service (the guard kills it otherwise).
    drop(child.0.stdin.take());
}
