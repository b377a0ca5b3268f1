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
    // The doc is Markdown: `name` is code.
    assert!(dom.contains("Says hello to <code>name</code>."), "{dom}");

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

// ---------------------------------------------------------------------------------------------
// Real clicks: playwright-core (tests/dashboard-js, installed with `npm ci`) drives Debian's
// Chromium through the dashboard: search, the schema-built form, metadata and timeout, copy
// buttons, live charts, the event viewer, dark mode and hostile text. The command lines the
// page copies are then run for real: `micro call` against NATS and curl against the gateway.

/// The click test and the services it drives.
pub mod clicks {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use micro_cli::api::{ApiOptions, router};
    use micro_core::prelude::*;
    use micro_core::service::Running;
    use micro_nats::{Nats, NatsOptions};
    use serde::{Deserialize, Serialize};
    use serde_json::{Value, json};
    use test_support::NatsServer;

    use super::{chromium, common::serve, on_ci};

    /// The variable naming `tests/dashboard-js` after `npm ci` (`scripts/test.sh` sets it).
    const NODE_DIR_VAR: &str = "MICRO_DASHBOARD_NODE_DIR";
    const TOKEN: &str = "dash-s3cret";

    /// A plan.
    #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
    #[schemars(crate = "micro_core::schemars")]
    #[serde(rename_all = "lowercase")]
    pub enum Tier {
        /// Costs nothing.
        Free,
        /// Costs something.
        Pro,
    }

    /// Where someone lives.
    #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
    #[schemars(crate = "micro_core::schemars")]
    pub struct Address {
        /// The city.
        pub city: String,
        /// The postcode, when known.
        pub zip: Option<String>,
    }

    /// What `register` saw.
    #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
    #[schemars(crate = "micro_core::schemars")]
    pub struct Registered {
        /// The name given.
        pub name: String,
        /// The age given.
        pub age: u32,
        /// The score given.
        pub score: f64,
        /// Whether an admin.
        pub admin: bool,
        /// The plan.
        pub tier: Tier,
        /// The address.
        pub address: Address,
        /// The nickname, if any.
        pub nickname: Option<String>,
        /// The tags.
        pub tags: Vec<String>,
        /// The call's metadata (keys in lower case).
        pub metadata: BTreeMap<String, String>,
        /// The time the call had left, in milliseconds.
        pub time_left_ms: Option<u64>,
    }

    /// Signs people up. **Bold** claims, `code`, and a [link](https://example.com/docs).
    ///
    /// - first point
    /// - second point
    #[service(name = "signup", version = "2.1.0")]
    pub trait Signup {
        /// Registers someone, and answers with what it got, the call's *metadata* and the time
        /// it had left.
        ///
        /// Fails with `422` when `age` is over 150.
        #[allow(clippy::too_many_arguments)]
        async fn register(
            &self,
            name: String,
            age: u32,
            score: f64,
            admin: bool,
            tier: Tier,
            address: Address,
            nickname: Option<String>,
            tags: Vec<String>,
        ) -> Result<Registered, Error>;
    }

    struct SignupImpl;

    impl Signup for SignupImpl {
        async fn register(
            &self,
            name: String,
            age: u32,
            score: f64,
            admin: bool,
            tier: Tier,
            address: Address,
            nickname: Option<String>,
            tags: Vec<String>,
        ) -> Result<Registered, Error> {
            if age > 150 {
                return Err(Error::new(422, format!("age {age} is over 150")));
            }
            let context = Context::current();
            Ok(Registered {
                name,
                age,
                score,
                admin,
                tier,
                address,
                nickname,
                tags,
                metadata: context
                    .metadata()
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                    .collect(),
                time_left_ms: context
                    .time_left()
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            })
        }
    }

    /// Something with markup in its text.
    #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
    #[schemars(crate = "micro_core::schemars")]
    pub struct Evil {
        /// <img src=x onerror="document.body.dataset.pwned='field'"> a field doc
        pub payload: String,
    }

    /// <img src=x onerror="document.body.dataset.pwned='description'"> hostile description
    /// <script>document.body.dataset.pwned='script'</script>
    /// [click me](javascript:document.body.dataset.pwned='link')
    #[service(name = "hostile", version = "6.6.6")]
    pub trait Hostile {
        /// <img src=x onerror="document.body.dataset.pwned='doc'"> <b>not bold</b> **bold**
        async fn poke(&self, what: Evil) -> Result<String, Error>;
    }

    struct HostileImpl;

    impl Hostile for HostileImpl {
        async fn poke(&self, what: Evil) -> Result<String, Error> {
            Err(Error::new(
                422,
                format!(
                    "<img src=x onerror=\"document.body.dataset.pwned='error'\"> {}",
                    what.payload
                ),
            ))
        }
    }

    fn node_dir() -> Option<PathBuf> {
        test_support::node::installed(
            NODE_DIR_VAR,
            "micro-cli/tests/dashboard-js",
            &["playwright-core"],
        )
    }

    /// Runs a command line the page produced, as a shell would, with `micro` on the `PATH`.
    fn shell(line: &str, nats_url: &str) -> std::process::Output {
        let micro = PathBuf::from(env!("CARGO_BIN_EXE_micro"));
        let path = format!(
            "{}:{}",
            micro.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("sh")
            .arg("-c")
            .arg(line)
            .env("PATH", path)
            .env("MICRO_NATS_URL", nats_url)
            .env("MICRO_API_AUTH_TOKEN", TOKEN)
            .stdin(Stdio::null())
            .output()
            .expect("sh runs")
    }

    fn check_reply(what: &str, out: &std::process::Output) -> Value {
        assert!(
            out.status.success(),
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let reply: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{what} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        assert_eq!(reply["name"], json!("Ada"), "{what}: {reply}");
        assert_eq!(reply["tier"], json!("pro"), "{what}: {reply}");
        assert_eq!(reply["nickname"], json!("Countess"), "{what}: {reply}");
        assert_eq!(
            reply["metadata"]["request-id"],
            json!("42"),
            "{what}: {reply}"
        );
        let left = reply["time_left_ms"].as_u64().expect("a deadline");
        assert!(left > 0 && left <= 1500, "{what}: {reply}");
        reply
    }

    async fn start(nats: &Nats) -> (Running, Running) {
        let signup = micro_core::Service::builder()
            .backend(nats.backend())
            .only_explicit()
            .metadata("region", "eu-west")
            .handle(SignupServer::new(SignupImpl))
            .start()
            .await
            .expect("signup starts");
        let hostile = micro_core::Service::builder()
            .backend(nats.backend())
            .only_explicit()
            .metadata(
                "note",
                "<img src=x onerror=\"document.body.dataset.pwned='metadata'\">",
            )
            .handle(HostileServer::new(HostileImpl))
            .start()
            .await
            .expect("hostile starts");
        (signup, hostile)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_dashboard_works_with_real_clicks() {
        let Some(browser) = chromium() else {
            assert!(
                !on_ci(),
                "no Chromium at /usr/bin/chromium or $MICRO_TEST_CHROMIUM on CI (CI is set): \
                 install it with `apt-get install --no-install-recommends chromium`"
            );
            eprintln!("SKIPPED: no Chromium; the dashboard click test did not run");
            return;
        };
        let Some(node_dir) = node_dir() else { return };
        let server = NatsServer::start();
        let nats = Nats::connect(NatsOptions::new().url(&server.url()))
            .await
            .expect("connect to the test server");
        let _services = start(&nats).await;
        let _greeter = super::common::start_greeter(nats.backend()).await;
        let gateway = Nats::connect(
            NatsOptions::new()
                .url(&server.url())
                .discovery_timeout(Duration::from_millis(100)),
        )
        .await
        .expect("connect the gateway");
        let addr = serve(router(
            gateway.micro_client(),
            ApiOptions::default().auth_token(TOKEN),
        ))
        .await;

        // Events for the viewer, published with the real broker until the test ends.
        let publisher = nats
            .micro_client()
            .with_metadata("Source", "dashboard-test");
        let events = tokio::spawn(async move {
            for n in 0u64.. {
                let event = json!({
                    "n": n,
                    "html": "<img src=x onerror=\"document.body.dataset.pwned='event'\">",
                });
                let _ = publisher.publish("orders.created", &event).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });

        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-shots");
        std::fs::create_dir_all(&shots).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard-js/clicks.mjs");
        let mut cmd = Command::new("node");
        cmd.arg(&script)
            .current_dir(&node_dir)
            .env("DASHBOARD_URL", format!("http://{addr}/ui/"))
            .env("DASHBOARD_TOKEN", TOKEN)
            .env("CHROMIUM", &browser)
            .env("SHOTS_DIR", &shots)
            .env("NODE_PATH", node_dir.join("node_modules"))
            .stdin(Stdio::null());
        let out = tokio::time::timeout(
            Duration::from_secs(240),
            tokio::task::spawn_blocking(move || cmd.output().expect("node runs")),
        )
        .await
        .expect("the click script finishes in time")
        .expect("node task");
        events.abort();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        eprintln!("{stderr}");
        assert!(
            out.status.success(),
            "the click script failed ({}):\n{stdout}\n{stderr}",
            out.status
        );
        let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("no result line ({e}): {stdout}"));
        for shot in result["screenshots"].as_array().expect("screenshots") {
            let shot = PathBuf::from(shot.as_str().unwrap());
            assert!(shot.exists(), "no screenshot at {}", shot.display());
            eprintln!("screenshot: {}", shot.display());
        }

        // The command lines the page copied work as they are.
        let micro_line = result["micro"].as_str().expect("the micro call line");
        assert!(
            micro_line.starts_with("micro call signup register '{"),
            "{micro_line}"
        );
        assert!(micro_line.contains(" --timeout 1500ms"), "{micro_line}");
        assert!(micro_line.contains(" -H Request-Id=42"), "{micro_line}");
        let micro_url = server.url();
        let line = micro_line.to_owned();
        let out = tokio::task::spawn_blocking(move || shell(&line, &micro_url))
            .await
            .unwrap();
        check_reply("the copied `micro call` line", &out);

        let curl_line = result["curl"].as_str().expect("the curl line");
        assert!(
            curl_line.ends_with(&format!(" 'http://{addr}/signup/register'"))
                || curl_line.ends_with(&format!(" http://{addr}/signup/register")),
            "{curl_line}"
        );
        assert!(
            curl_line.contains("-H 'Micro-Timeout: 1500ms'"),
            "{curl_line}"
        );
        assert!(
            curl_line.contains("-H 'X-Micro-Request-Id: 42'"),
            "{curl_line}"
        );
        assert!(
            curl_line.contains("\"Authorization: Bearer $MICRO_API_AUTH_TOKEN\""),
            "{curl_line}"
        );
        assert!(!curl_line.contains(TOKEN), "the token leaked: {curl_line}");
        let curl_ok = Command::new("curl")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if curl_ok {
            let line = curl_line.to_owned();
            let url = server.url();
            let out = tokio::task::spawn_blocking(move || shell(&line, &url))
                .await
                .unwrap();
            check_reply("the copied curl line", &out);
        } else {
            assert!(!on_ci(), "no curl on CI to run the copied curl line");
            eprintln!("curl is not installed: the copied curl line was checked as text only");
        }
    }
}
