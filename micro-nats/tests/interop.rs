//! Interop with nats-py, both ways, over a private nats-server:
//!
//! - nats-py (plain requests and its `nats.micro` module) discovers our service through
//!   `$SRV.PING/INFO/STATS`, checks the fields, calls an endpoint with plain JSON and reads an
//!   error reply's headers (`tests/interop/test_interop.py`, run with pytest);
//! - our generated client calls a `nats.micro` service written in Python
//!   (`tests/interop/pyecho.py`), and our registry finds it.
//!
//! Needs `MICRO_INTEROP_PYTHON`: a Python with `tests/interop/requirements.txt` installed
//! (`scripts/test.sh` makes that virtualenv). Without it the tests say so and pass.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use micro_core::prelude::*;
use micro_core::registry::Registry;
use serde::{Deserialize, Serialize};
use test_support::NatsServer;

/// True on CI (`CI` set, as CI services do), where a missing tool fails the test instead of
/// skipping it: the CI script installs it, so its absence is a broken setup, not a choice.
fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The interop Python, or `None` (test skipped) when not configured; on CI a missing one fails.
fn python() -> Option<PathBuf> {
    match std::env::var_os("MICRO_INTEROP_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            assert!(
                !on_ci(),
                "MICRO_INTEROP_PYTHON is not set on CI (CI is set): the nats-py interop tests \
                 cannot be skipped there; set it to a Python with \
                 micro-nats/tests/interop/requirements.txt installed (scripts/test.sh does)"
            );
            eprintln!(
                "skipped: set MICRO_INTEROP_PYTHON to a Python with \
                 micro-nats/tests/interop/requirements.txt installed (scripts/test.sh does)"
            );
            None
        }
    }
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Kills (only) its own child when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Arithmetic and checks, for interop tests.
#[service(name = "interop", version = "1.2.3")]
pub trait Interop {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> Result<i64, Error>;
    /// Answers `ok`, or fails with 422 when `fail` is true.
    async fn check(&self, fail: bool) -> Result<String, Error>;
}

struct InteropImpl;

impl Interop for InteropImpl {
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

/// A server stream, for readers without our library.
#[service(name = "counting", version = "1.0.0")]
pub trait Counting {
    /// The numbers from 1 to `n`; 400 for a negative `n`.
    async fn count(&self, n: i64) -> Result<Streaming<i64>, Error>;
}

struct CountingImpl;

impl Counting for CountingImpl {
    async fn count(&self, n: i64) -> Result<Streaming<i64>, Error> {
        if n < 0 {
            return Err(Error::bad_request("n must not be negative"));
        }
        Ok(Streaming::iter(1..=n))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_py_discovers_and_calls_our_service() {
    let Some(python) = python() else { return };
    let server = NatsServer::start();
    let running = Service::builder()
        .backend(connect(&server).await.backend())
        .only_explicit()
        .metadata("lang", "rust")
        .handle(InteropServer::new(InteropImpl))
        .handle(CountingServer::new(CountingImpl))
        .start()
        .await
        .unwrap();
    let dir = interop_dir();
    let url = server.url();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-c"])
            .arg(dir.join("pytest.ini"))
            .arg(dir.join("test_interop.py"))
            .env("NATS_URL", url)
            .output()
    })
    .await
    .unwrap()
    .expect("python runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{text}");
    assert!(output.status.success(), "pytest failed:\n{text}");
    running.stop().await;
}

/// What `pyecho.echo` sends back: the request object itself.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Echoed {
    /// The text sent.
    pub text: String,
    /// The number sent.
    pub n: i64,
}

/// The Python service, described as a micro trait.
#[service(name = "pyecho", version = "1.0.0")]
pub trait PyEcho {
    /// Echoes the request object.
    async fn echo(&self, text: String, n: i64) -> Result<Echoed, Error>;
    /// Adds `a` and `b`.
    async fn add(&self, a: i64, b: i64) -> Result<i64, Error>;
    /// Raises `ServiceError("422", "bad input")`.
    async fn fail(&self) -> Result<(), Error>;
    /// Raises `RuntimeError`.
    async fn boom(&self) -> Result<(), Error>;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_generated_client_calls_a_nats_micro_service() {
    let Some(python) = python() else { return };
    let server = NatsServer::start();
    let mut child = ChildGuard(
        Command::new(python)
            .arg(interop_dir().join("pyecho.py"))
            .arg(server.url())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python runs"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let ready = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        }),
    )
    .await
    .expect("pyecho.py is ready within 20 s")
    .unwrap()
    .unwrap();
    let py_id = ready
        .trim()
        .strip_prefix("ready ")
        .unwrap_or_else(|| panic!("unexpected first line {ready:?}"))
        .to_owned();

    let nats = connect(&server).await;
    let client = PyEchoClient::new(&nats.micro_client());
    assert_eq!(
        client.echo("hi".into(), 3).await.unwrap(),
        Echoed {
            text: "hi".into(),
            n: 3
        }
    );
    assert_eq!(client.add(2, 40).await.unwrap(), 42);

    // A Python ServiceError carries only the convention's headers: rebuilt from them.
    let err = client.fail().await.unwrap_err();
    assert_eq!(err.code(), 422, "{err}");
    assert_eq!(err.detail(), "bad input");
    assert_eq!(err.id(), "pyecho.fail");
    let err = client.boom().await.unwrap_err();
    assert_eq!(err.code(), 500, "{err}");
    assert!(err.detail().contains("kaboom"), "{err}");

    // Our registry reads nats-py's INFO (null description) and STATS (millisecond `started`).
    let instances = nats.registry().get_service("pyecho").await.unwrap();
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0].id, py_id);
    assert_eq!(instances[0].description, "");
    assert_eq!(
        instances[0].metadata.get("lang").map(String::as_str),
        Some("python")
    );
    let names: Vec<&str> = instances[0]
        .endpoints
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["echo", "add", "fail", "boom"]);
    assert_eq!(instances[0].endpoints[0].subject, "pyecho.echo");
    let stats = nats.registry().stats(Some("pyecho")).await.unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].endpoints[0].num_requests, 1);
    assert_eq!(stats[0].endpoints[2].num_errors, 1);
    assert_eq!(stats[0].endpoints[2].last_error, "422:bad input");
    assert!(stats[0].started > std::time::UNIX_EPOCH);

    // Closing stdin stops the Python service.
    drop(child.0.stdin.take());
}
