//! The `micro` binary as a process against a test NATS server with the greeter running.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::start_greeter;
use micro_core::service::Running;
use micro_nats::{Nats, NatsOptions};
use serde_json::{Value, json};
use test_support::NatsServer;

struct Fixture {
    server: NatsServer,
    greeter: Running,
}

impl Fixture {
    async fn start() -> Fixture {
        let server = NatsServer::start();
        let nats = Nats::connect(NatsOptions::new().url(&server.url()))
            .await
            .expect("connect to the test server");
        let greeter = start_greeter(nats.backend()).await;
        Fixture { server, greeter }
    }

    fn instance_id(&self) -> String {
        self.greeter.instances()[0].id.clone()
    }

    /// `micro <args>` with the test server's URL.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_micro"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("MICRO_NATS_URL", self.server.url())
            .env("MICRO_NATS_DISCOVERY_TIMEOUT", "300ms");
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None).await
    }

    async fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.command(args);
        let stdin = stdin.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            cmd.stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("micro starts");
            if let Some(text) = stdin {
                let mut pipe = child.stdin.take().expect("stdin");
                pipe.write_all(text.as_bytes()).expect("write stdin");
            }
            child.wait_with_output().expect("micro finishes")
        })
        .await
        .expect("join")
    }
}

/// A child process killed when dropped, so a failing test leaves nothing running.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

/// The failure is one line on stderr, `error: <code> ...`, with exit status 1.
#[track_caller]
fn assert_error(out: &Output, prefix: &str) {
    assert_eq!(out.status.code(), Some(1), "stdout: {}", stdout(out));
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(
        err.starts_with(prefix),
        "expected `{prefix}...`, got: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_lists_the_greeter() {
    let f = Fixture::start().await;
    let out = f.run(&["services"]).await;
    assert_ok(&out);
    let text = stdout(&out);
    let header = text.lines().next().unwrap();
    assert!(header.starts_with("NAME"), "{text}");
    for col in ["VERSION", "INSTANCES", "ENDPOINTS"] {
        assert!(header.contains(col), "{text}");
    }
    let row = text
        .lines()
        .find(|l| l.starts_with("greeter"))
        .expect(&text);
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[..4], ["greeter", "1.0.0", "1", "4"], "{text}");

    let out = f.run(&["services", "--json"]).await;
    assert_ok(&out);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["name"], json!("greeter"));
    assert_eq!(rows[0]["instances"], json!(1));
    assert_eq!(rows[0]["endpoints"], json!(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_shows_instances_and_endpoints() {
    let f = Fixture::start().await;
    let out = f.run(&["describe", "greeter"]).await;
    assert_ok(&out);
    let text = stdout(&out);
    for needle in [
        "greeter 1.0.0",
        "Greets people.",
        &f.instance_id(),
        "hello  (subject greeter.hello, queue q)",
        "Says hello to `name`.",
        "    request:\n      name: string (required)\n",
        "response: string",
        r#"try:      micro call greeter hello '{"name":"World"}'"#,
        "    request:  {}\n    response: map of string\n",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }

    let out = f.run(&["--json", "describe", "greeter"]).await;
    assert_ok(&out);
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["instances"][0]["id"], json!(f.instance_id()));
    assert_eq!(d["instances"][0]["version"], json!("1.0.0"));
    assert!(d["instances"][0]["uptime_secs"].is_u64(), "{d}");
    assert_eq!(d["endpoints"][0]["request"], json!({"name": "String"}));
    assert_eq!(d["endpoints"][0]["example"], json!({"name": "World"}));
    assert_eq!(
        d["endpoints"][0]["request_fields"],
        json!([{"name": "name", "type": "string", "required": true, "description": null}])
    );
    assert_eq!(d["endpoints"][0]["response_type"], json!("string"));
    assert_eq!(
        d["endpoints"][0]["request_schema"]["required"],
        json!(["name"])
    );

    let out = f.run(&["describe", "nosuch"]).await;
    assert_error(
        &out,
        "error: 404 Not Found: no service named `nosuch` is running",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_prints_the_reply() {
    let f = Fixture::start().await;
    let out = f
        .run(&["call", "greeter", "hello", r#"{"name":"World"}"#])
        .await;
    assert_ok(&out);
    assert_eq!(stdout(&out), "\"Hello World\"\n");

    // the body from stdin
    let out = f
        .run_with_stdin(&["call", "greeter", "hello"], Some(r#"{"name":"stdin"}"#))
        .await;
    assert_ok(&out);
    assert_eq!(stdout(&out), "\"Hello stdin\"\n");

    // MessagePack on the wire, JSON on the screen
    let out = f
        .run(&[
            "call",
            "greeter",
            "hello",
            r#"{"name":"pack"}"#,
            "--codec",
            "msgpack",
        ])
        .await;
    assert_ok(&out);
    assert_eq!(stdout(&out), "\"Hello pack\"\n");

    // headers become metadata; the reply is pretty-printed
    let out = f
        .run(&[
            "call",
            "greeter",
            "meta",
            "{}",
            "-H",
            "x-user=alice",
            "--header",
            "tier=gold",
        ])
        .await;
    assert_ok(&out);
    let md: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(md["x-user"], json!("alice"), "{md}");
    assert_eq!(md["tier"], json!("gold"), "{md}");
    assert!(
        stdout(&out).contains("\n  \""),
        "not pretty: {}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_errors_exit_non_zero_with_one_line() {
    let f = Fixture::start().await;
    let out = f
        .run(&[
            "call",
            "greeter",
            "fail",
            r#"{"code":409,"detail":"taken"}"#,
        ])
        .await;
    assert_error(&out, "error: 409 Conflict: taken");
    assert!(stdout(&out).is_empty());

    let out = f
        .run(&[
            "--json",
            "call",
            "greeter",
            "fail",
            r#"{"code":403,"detail":"no"}"#,
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["code"], json!(403));
    assert_eq!(err["error"]["detail"], json!("no"));

    let out = f.run(&["call", "greeter", "hello", r#"{"name":""}"#]).await;
    assert_error(&out, "error: 400 Bad Request: name must not be empty");

    let out = f.run(&["call", "nosuch", "hello", "{}"]).await;
    assert_error(
        &out,
        "error: 404 Not Found: no service named `nosuch` is running",
    );
    // A misspelt endpoint of a service that runs names the ones it has.
    let out = f.run(&["call", "greeter", "helo", "{}"]).await;
    assert_error(
        &out,
        "error: 404 Not Found: service `greeter` has no endpoint `helo`; it has: hello, fail",
    );

    // Bad input on this side is said as what it is (`--json` still reports it as a 400).
    let out = f.run(&["call", "greeter", "hello", "{not json"]).await;
    assert_error(&out, "error: invalid JSON body");

    let out = f
        .run(&[
            "call",
            "greeter",
            "slow",
            r#"{"ms":3000}"#,
            "--timeout",
            "200ms",
        ])
        .await;
    assert_error(&out, "error: 408 Request Timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_checks_the_instance() {
    let f = Fixture::start().await;
    let id = f.instance_id();
    let out = f
        .run(&[
            "call",
            "greeter",
            "hello",
            r#"{"name":"pinned"}"#,
            "--instance",
            &id,
        ])
        .await;
    assert_ok(&out);
    assert_eq!(stdout(&out), "\"Hello pinned\"\n");

    let out = f
        .run(&["call", "greeter", "hello", "{}", "--instance", "nosuchid"])
        .await;
    assert_error(
        &out,
        "error: 404 Not Found: service `greeter` has no instance `nosuchid`",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_pins_one_of_two_instances() {
    let f = Fixture::start().await;
    let second_side = Nats::connect(NatsOptions::new().url(&f.server.url()))
        .await
        .expect("connect");
    let second = start_greeter(second_side.backend()).await;
    let pinned = second.instances()[0].id.clone();
    for _ in 0..4 {
        let out = f
            .run(&[
                "call",
                "greeter",
                "hello",
                r#"{"name":"x"}"#,
                "--instance",
                &pinned,
            ])
            .await;
        assert_ok(&out);
    }
    // Every call reached the pinned instance; none the other.
    use micro_core::registry::Registry;
    let stats = second_side
        .registry()
        .stats(Some("greeter"))
        .await
        .expect("stats");
    let hello = |id: &str| {
        stats
            .iter()
            .find(|s| s.id == id)
            .and_then(|s| s.endpoints.iter().find(|e| e.name == "hello"))
            .map(|e| e.num_requests)
    };
    assert_eq!(hello(&pinned), Some(4));
    assert_eq!(hello(&f.instance_id()), Some(0));
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_reaches_subscribe() {
    let f = Fixture::start().await;
    let mut cmd = f.command(&["subscribe", "demo.>", "--queue", "workers", "--count", "1"]);
    let mut child = KillOnDrop(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("subscribe starts"),
    );
    // it says so on stderr once subscribed
    let stderr_pipe = child.0.stderr.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stderr_pipe)
            .read_line(&mut line)
            .map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(10), ready)
        .await
        .expect("subscribed in time")
        .unwrap()
        .unwrap();
    assert!(line.starts_with("listening on demo.>"), "{line}");

    let out = f
        .run(&[
            "publish",
            "demo.created",
            r#"{"id":42}"#,
            "-H",
            "source=test",
        ])
        .await;
    assert_ok(&out);
    assert_eq!(stdout(&out), "published on demo.created\n");

    // Read stdout on a blocking thread; `child` stays here, so a timeout kills it and the
    // reader sees the pipe close.
    let stdout_pipe = child.0.stdout.take().unwrap();
    let reader = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut { stdout_pipe }, &mut text);
        text
    });
    let stdout = match tokio::time::timeout(Duration::from_secs(10), reader).await {
        Ok(text) => text.unwrap(),
        Err(_) => {
            drop(child);
            panic!("subscribe did not exit after one event");
        }
    };
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{stdout}");
    let event: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(event["topic"], json!("demo.created"));
    assert_eq!(event["data"], json!({"id": 42}));
    assert_eq!(event["metadata"]["source"], json!("test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_and_ping_show_live_figures() {
    let f = Fixture::start().await;
    let out = f
        .run(&["call", "greeter", "hello", r#"{"name":"x"}"#])
        .await;
    assert_ok(&out);

    let out = f.run(&["stats", "greeter"]).await;
    assert_ok(&out);
    let text = stdout(&out);
    let row = text
        .lines()
        .find(|l| l.starts_with("greeter") && l.contains(" hello "))
        .expect(&text);
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[4], "1", "requests: {text}");

    let out = f.run(&["--json", "stats"]).await;
    assert_ok(&out);
    let stats: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats[0]["id"], json!(f.instance_id()));

    let out = f.run(&["ping", "greeter"]).await;
    assert_ok(&out);
    assert!(stdout(&out).contains(&f.instance_id()), "{}", stdout(&out));

    let out = f.run(&["--json", "ping"]).await;
    assert_ok(&out);
    let pongs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pongs[0]["service"], json!("greeter"));
    assert!(pongs[0]["rtt_ns"].as_u64().unwrap() > 0);

    let out = f.run(&["ping", "nosuch"]).await;
    assert_error(
        &out,
        "error: 404 Not Found: no instance of service `nosuch`",
    );
    let out = f.run(&["stats", "nosuch"]).await;
    assert_error(&out, "error: 404 Not Found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_serves_the_greeter_over_http() {
    let f = Fixture::start().await;
    let (_child, addr) = start_gateway(&f).await;
    let json_type = [("Content-Type", "application/json")];
    let result = async {
        let resp = common::http(
            addr,
            "POST",
            "/greeter/hello",
            &json_type,
            br#"{"name":"HTTP"}"#,
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.json(), json!("Hello HTTP"));
        let resp = common::http(addr, "GET", "/services/greeter", &[], b"").await;
        assert_eq!(resp.json()["instances"][0]["id"], json!(f.instance_id()));
        let resp = common::http(addr, "POST", "/nosuch/hello", &json_type, b"{}").await;
        assert_eq!(resp.status, 404, "{}", resp.text());
        // names that would change the NATS subject are refused, not sent
        for path in ["/a.b/hello", "/greeter/hello.x", "/%3E/hello", "/greeter/*"] {
            let resp = common::http(addr, "POST", path, &json_type, b"{}").await;
            assert_eq!(resp.status, 400, "{path}: {}", resp.text());
        }
        // A body of exactly the default limit fits in a NATS message with the gateway's headers.
        let name = "x".repeat(micro_cli::api::DEFAULT_BODY_LIMIT - r#"{"name":""}"#.len());
        let body = format!(r#"{{"name":"{name}"}}"#);
        assert_eq!(body.len(), micro_cli::api::DEFAULT_BODY_LIMIT);
        let resp = common::http(
            addr,
            "POST",
            "/greeter/hello",
            &[
                ("Content-Type", "application/json"),
                ("X-Micro-Request-Id", "42"),
            ],
            body.as_bytes(),
        )
        .await;
        assert_eq!(
            resp.status,
            200,
            "{}",
            &resp.text()[..200.min(resp.text().len())]
        );
        let resp = common::http(
            addr,
            "POST",
            "/greeter/hello",
            &json_type,
            &[b' '; 1 + micro_cli::api::DEFAULT_BODY_LIMIT],
        )
        .await;
        assert_eq!(resp.status, 413);
    };
    result.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_publishes_only_to_endpoints_discovery_shows() {
    use futures::StreamExt;
    let f = Fixture::start().await;
    // A plain subscriber on a two-token subject and on an inbox: not micro endpoints.
    let raw = async_nats::connect(f.server.url()).await.unwrap();
    let mut plain = raw.subscribe("foo.bar").await.unwrap();
    let mut inbox = raw.subscribe("_INBOX.abc").await.unwrap();
    raw.flush().await.unwrap();
    let (_child, addr) = start_gateway(&f).await;
    let json_type = [("Content-Type", "application/json")];
    for path in ["/foo/bar", "/_INBOX/abc", "/greeter/nosuch"] {
        let resp = common::http(addr, "POST", path, &json_type, b"{}").await;
        assert_eq!(resp.status, 404, "{path}: {}", resp.text());
    }
    // Nothing was published to either subject.
    raw.publish("foo.bar", "marker".into()).await.unwrap();
    raw.publish("_INBOX.abc", "marker".into()).await.unwrap();
    for sub in [&mut plain, &mut inbox] {
        let first = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&first.payload[..], b"marker");
    }
}

/// Reads the child's stderr until the line starting with `prefix`; the address after it.
async fn listening_addr(child: &mut KillOnDrop, prefix: &'static str) -> std::net::SocketAddr {
    let stderr_pipe = child.0.stderr.take().unwrap();
    let addr = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stderr_pipe);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(rest) = line.trim().strip_prefix(prefix) {
                return Some(rest.to_owned());
            }
            line.clear();
        }
        None
    });
    tokio::time::timeout(Duration::from_secs(10), addr)
        .await
        .expect("listening in time")
        .unwrap()
        .expect("listening line")
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_is_a_one_line_503() {
    let f = Fixture::start().await;
    let out = f
        .run(&["services", "--nats-url", "nats://127.0.0.1:1"])
        .await;
    assert_error(
        &out,
        "error: 503 Service Unavailable: no NATS server answers",
    );
}

/// A local failure is said as what it is, not as an HTTP status: a port in use names the
/// address and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_a_local_error_with_a_hint() {
    let f = Fixture::start().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = f.run(&["api", "--addr", &addr]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("error: cannot listen on {addr}")) && err.contains("--addr"),
        "{err}"
    );
    assert!(
        !err.contains("500"),
        "a local error printed as an HTTP status: {err}"
    );
}

#[test]
fn help_shows_no_value_for_unset_variables() {
    let out = Command::new(env!("CARGO_BIN_EXE_micro"))
        .args(["call", "--help"])
        .env_remove("MICRO_NATS_USER")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.contains("[env: MICRO_NATS_USER]"), "{text}");
    assert!(!text.contains("MICRO_NATS_USER="), "{text}");
    assert!(
        text.contains("300ms by"),
        "the discovery timeout's default: {text}"
    );
}

#[test]
fn a_flag_set_through_the_environment_is_not_shown_as_required() {
    // Regression: with `MICRO_NATS_URL` set, a usage error read `micro call --nats-url <URL>
    // <SERVICE> ...`, as if the flag had to be given.
    let out = Command::new(env!("CARGO_BIN_EXE_micro"))
        .args(["call"])
        .env("MICRO_NATS_URL", "nats://127.0.0.1:1")
        .env("MICRO_NATS_USER", "someone")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    let usage = err
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap_or_else(|| panic!("no usage line: {err}"));
    assert_eq!(
        usage, "Usage: micro call <SERVICE> <ENDPOINT> [BODY]",
        "{err}"
    );
}

#[test]
fn the_discovery_timeout_is_read_from_the_environment() {
    // The flag's variable is read as the service runtime reads every other one: a bad value
    // is refused by name.
    let out = Command::new(env!("CARGO_BIN_EXE_micro"))
        .args(["services"])
        .env("MICRO_NATS_DISCOVERY_TIMEOUT", "soon")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("MICRO_NATS_DISCOVERY_TIMEOUT"), "{err}");
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        "services",
        "describe",
        "call",
        "publish",
        "subscribe",
        "stats",
        "ping",
        "api",
        "web",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_micro"))
            .args([sub, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{sub} --help");
        let text = stdout(&out);
        assert!(text.contains("Usage: micro"), "{sub}: {text}");
        assert!(text.contains("--nats-url"), "{sub}: {text}");
        assert!(text.contains("--json"), "{sub}: {text}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_micro")).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no subcommand is a usage error");
}

/// A service written against plain NATS, as another language's would be: it announces
/// endpoints on subjects of its own choosing (`math.add`, `time` as ADR-32's default, ...) and
/// answers `$SRV.INFO`. `text` replies plain text without `Content-Type`, `bin` raw bytes.
async fn foreign_math(url: &str) -> tokio::task::JoinHandle<()> {
    use futures::StreamExt;
    let nc = async_nats::connect(url).await.unwrap();
    let info = json!({
        "type": "io.nats.micro.v1.info_response", "name": "math", "id": "FOREIGN1",
        "version": "0.3.0", "description": "not micro", "metadata": {},
        "endpoints": [
            {"name": "add", "subject": "math.add", "queue_group": "q", "metadata": null},
            {"name": "time", "subject": "time", "queue_group": "q", "metadata": {"format": "text"}},
            {"name": "text", "subject": "txt.hello", "queue_group": "q", "metadata": null},
            {"name": "bin", "subject": "bin.raw", "queue_group": "q", "metadata": null},
        ],
    })
    .to_string();
    let mut subs = futures::stream::select_all(vec![
        nc.subscribe("$SRV.INFO").await.unwrap(),
        nc.subscribe("$SRV.INFO.math").await.unwrap(),
        nc.subscribe("math.add").await.unwrap(),
        nc.subscribe("time").await.unwrap(),
        nc.subscribe("txt.hello").await.unwrap(),
        nc.subscribe("bin.raw").await.unwrap(),
    ]);
    nc.flush().await.unwrap();
    tokio::spawn(async move {
        while let Some(msg) = subs.next().await {
            let Some(reply) = msg.reply.clone() else {
                continue;
            };
            let body: bytes::Bytes = match msg.subject.as_str() {
                "$SRV.INFO" | "$SRV.INFO.math" => info.clone().into(),
                "math.add" => {
                    let args: Value = serde_json::from_slice(&msg.payload).unwrap_or_default();
                    let sum = args["a"].as_i64().unwrap_or(0) + args["b"].as_i64().unwrap_or(0);
                    sum.to_string().into()
                }
                "time" => "\"12:00\"".into(),
                "txt.hello" => "hello there".into(),
                _ => bytes::Bytes::from_static(&[0xff, 0x00]),
            };
            let _ = nc.publish(reply, body).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_toolkit_calls_a_foreign_service_on_the_subjects_it_announces() {
    let f = Fixture::start().await;
    let _math = foreign_math(&f.server.url()).await;
    let out = f.run(&["call", "math", "add", r#"{"a":40,"b":2}"#]).await;
    assert_ok(&out);
    assert_eq!(stdout(&out), "42\n");
    let out = f.run(&["call", "math", "time"]).await;
    assert_ok(&out);
    assert_eq!(stdout(&out), "\"12:00\"\n");
    // Not JSON: shown as it came, as text, or as base64 with --json.
    let out = f.run(&["call", "math", "text"]).await;
    assert_ok(&out);
    assert_eq!(stdout(&out), "hello there\n");
    let out = f.run(&["--json", "call", "math", "text"]).await;
    assert_eq!(stdout(&out), "\"hello there\"\n");
    let out = f.run(&["--json", "call", "math", "bin"]).await;
    assert_ok(&out);
    assert_eq!(stdout(&out), "{\"base64\":\"/wA=\"}\n");
    let out = f.run(&["call", "math", "mul", "{}"]).await;
    assert_error(
        &out,
        "error: 404 Not Found: service `math` has no endpoint `mul`; it has: add, time, text, bin",
    );

    // Its endpoints' own metadata shows in text mode.
    let out = f.run(&["describe", "math"]).await;
    assert_ok(&out);
    assert!(
        stdout(&out).contains("time  (subject time, queue q)\n    format: text"),
        "{}",
        stdout(&out)
    );

    // The gateway too.
    let (_child, addr) = start_gateway(&f).await;
    let resp = common::http(
        addr,
        "POST",
        "/math/add",
        &[("Content-Type", "application/json")],
        br#"{"a":1,"b":2}"#,
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json(), json!(3));
}

/// `micro api` on a free port against the fixture's server, and the address it listens on.
async fn start_gateway(f: &Fixture) -> (KillOnDrop, std::net::SocketAddr) {
    let mut child = KillOnDrop(
        f.command(&["api", "--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("micro api starts"),
    );
    let addr = listening_addr(&mut child, "micro gateway listening on http://").await;
    (child, addr)
}
