//! End-to-end: headless Chromium loads the dashboard against a live greeter on a test NATS
//! server, sees the service listed, calls an endpoint through the form and finds the reply on
//! the page.
//!
//! Needs Debian's `chromium` (`/usr/bin/chromium`, or the path in `MICRO_TEST_CHROMIUM`); the
//! test is skipped with a message when it is missing. No browser is downloaded. A screenshot is
//! written under `target/` (never into the source tree).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{serve, start_counter, start_greeter};
use micro_cli::api::{ApiOptions, router};
use micro_nats::{Nats, NatsOptions};
use test_support::NatsServer;

/// True on CI (`CI` set, as CI services do), where a missing tool fails the test instead of
/// skipping it: the CI script installs it, so its absence is a broken setup, not a choice.
fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("MICRO_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.exists().then_some(path)
}

/// Runs headless Chromium on `url` and returns what it printed (`--dump-dom`) or wrote.
fn run_chromium(browser: &Path, profile: &Path, extra: &[String], url: &str) -> String {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--virtual-time-budget=5000",
        "--window-size=1280,900",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url);
    let out = cmd.output().expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    if dom.is_empty() && extra.iter().any(|a| a == "--dump-dom") {
        eprintln!(
            "chromium printed nothing; stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dom
}

fn dump_dom() -> Vec<String> {
    vec!["--dump-dom".to_owned()]
}

async fn browse(addr: SocketAddr, query: &str, extra: Vec<String>) -> String {
    let browser = chromium().expect("checked");
    // A profile per browser run: tests run in parallel, and Chromium locks its profile.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let profile = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dashboard-profile-{}-{run}", std::process::id()));
    let url = format!("http://{addr}/ui/{query}");
    tokio::time::timeout(
        Duration::from_secs(90),
        tokio::task::spawn_blocking(move || {
            let out = run_chromium(&browser, &profile, &extra, &url);
            let _ = std::fs::remove_dir_all(&profile);
            out
        }),
    )
    .await
    .expect("chromium finishes in time")
    .expect("chromium task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_lists_the_service_and_calls_an_endpoint() {
    if chromium().is_none() {
        assert!(
            !on_ci(),
            "no Chromium at /usr/bin/chromium or $MICRO_TEST_CHROMIUM on CI (CI is set): the \
             dashboard end-to-end test cannot be skipped there; install it with \
             `apt-get install chromium`"
        );
        eprintln!(
            "SKIPPED: no Chromium at /usr/bin/chromium or $MICRO_TEST_CHROMIUM (install it with \
             `apt-get install chromium`); the dashboard end-to-end test did not run"
        );
        return;
    }
    let server = NatsServer::start();
    let nats = Nats::connect(NatsOptions::new().url(&server.url()))
        .await
        .expect("connect to the test server");
    let _greeter = start_greeter(nats.backend()).await;
    let gateway = Nats::connect(
        NatsOptions::new()
            .url(&server.url())
            .discovery_timeout(Duration::from_millis(100)),
    )
    .await
    .expect("connect the gateway");
    let addr = serve(router(gateway.micro_client(), ApiOptions::default())).await;

    // The page lists the service.
    let dom = browse(addr, "", dump_dom()).await;
    assert!(dom.contains(r#"data-service="greeter""#), "{dom}");

    // Picking the service and endpoint and sending the form shows the reply.
    let query = "?service=greeter&endpoint=hello&body=%7B%22name%22%3A%22Chromium%22%7D&send=1";
    let dom = browse(addr, query, dump_dom()).await;
    assert!(dom.contains(r#"data-last-call="ok""#), "{dom}");
    assert!(dom.contains("Hello Chromium"), "{dom}");
    assert!(dom.contains("Says hello to `name`."), "{dom}");

    // Without a body, the form is prefilled from the request schema, and that call succeeds;
    // the fields of the request are listed.
    let dom = browse(addr, "?service=greeter&endpoint=hello&send=1", dump_dom()).await;
    assert!(dom.contains(r#"data-last-call="ok""#), "{dom}");
    assert!(dom.contains("Hello World"), "{dom}");
    assert!(dom.contains(r#"data-field="name""#), "{dom}");

    // An error reply is shown as such.
    let query = "?service=greeter&endpoint=hello&body=%7B%22name%22%3A%22%22%7D&send=1";
    let dom = browse(addr, query, dump_dom()).await;
    assert!(dom.contains(r#"data-last-call="error""#), "{dom}");
    assert!(
        dom.contains("400 Bad Request: name must not be empty"),
        "{dom}"
    );

    // A screenshot for people to look at, under target/ only.
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let query = "?service=greeter&endpoint=hello&body=%7B%22name%22%3A%22World%22%7D&send=1";
    browse(
        addr,
        query,
        vec![format!("--screenshot={}", shot.display())],
    )
    .await;
    assert!(shot.exists(), "no screenshot at {}", shot.display());
    eprintln!("screenshot: {}", shot.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_server_stream_item_by_item() {
    if chromium().is_none() {
        assert!(
            !on_ci(),
            "no Chromium at /usr/bin/chromium or $MICRO_TEST_CHROMIUM on CI (CI is set): the \
             dashboard end-to-end test cannot be skipped there; install it with \
             `apt-get install chromium`"
        );
        eprintln!("SKIPPED: no Chromium; the dashboard stream test did not run");
        return;
    }
    let server = NatsServer::start();
    let nats = Nats::connect(NatsOptions::new().url(&server.url()))
        .await
        .expect("connect to the test server");
    let _counter = start_counter(nats.backend()).await;
    let addr = serve(router(nats.micro_client(), ApiOptions::default())).await;

    let query = "?service=counter&endpoint=count&body=%7B%22n%22%3A4%7D&send=1";
    let dom = browse(addr, query, dump_dom()).await;
    assert!(dom.contains(r#"data-stream="complete""#), "{dom}");
    assert!(dom.contains(r#"data-items="4""#), "{dom}");
    assert!(dom.contains("4 items · stream complete"), "{dom}");

    // An error mid-stream: the items before it, then the error, marked as failed.
    let query =
        "?service=counter&endpoint=count&body=%7B%22n%22%3A4%2C%22fail_after%22%3A2%7D&send=1";
    let dom = browse(addr, query, dump_dom()).await;
    assert!(dom.contains(r#"data-stream="error""#), "{dom}");
    assert!(dom.contains(r#"data-items="2""#), "{dom}");
    assert!(dom.contains("422"), "{dom}");
    assert!(dom.contains(r#"data-last-call="error""#), "{dom}");
}
