//! `micro gen ts` and `micro gen py` against a live Rust service: the TypeScript package is
//! compiled with `tsc` (strict) together with a script that uses it, the Python package is
//! imported, and both call the service: a plain reply, a struct reply with nested fields and
//! options, a structured error with its code (422) and detail, a deadline (408, and the time
//! left the service saw), metadata echoed back, and 503 once the service is gone.
//!
//! Needs `MICRO_GEN_NODE_DIR` (`micro-cli/tests/gen-js` after `npm ci`: typescript and
//! `@nats-io/transport-node`) and `MICRO_INTEROP_PYTHON` (a Python with
//! `micro-nats/tests/interop/requirements.txt`: nats-py, pydantic); `scripts/test.sh` sets
//! both. Without them the tests say so and pass, except on CI where they fail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use micro_core::prelude::*;
use micro_core::service::Running;
use micro_nats::{Nats, NatsOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use test_support::NatsServer;
use test_support::node::on_ci;

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

/// Someone.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "micro_core::schemars")]
pub struct Profile {
    /// Their name.
    pub name: String,
    /// Their plan.
    pub tier: Tier,
    /// Where they live.
    pub address: Address,
    /// What friends call them.
    pub nickname: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// Scores by game.
    pub scores: BTreeMap<String, i64>,
}

/// Exercises the generated clients.
#[service(name = "gentest", version = "1.2.0")]
pub trait GenTest {
    /// Says hello to `name`.
    async fn hello(&self, name: String) -> Result<String, Error>;
    /// Looks someone up.
    async fn profile(&self, name: String, tier: Option<Tier>) -> Result<Profile, Error>;
    /// Always refuses: 422 with the detail given.
    async fn refuse(&self, detail: String) -> Result<(), Error>;
    /// Answers after `ms` milliseconds.
    async fn slow(&self, ms: u64) -> Result<String, Error>;
    /// The time left of the call, in milliseconds, as the service saw it.
    async fn budget(&self) -> Result<Option<u64>, Error>;
    /// The caller's `x-user` metadata.
    async fn whoami(&self) -> Result<Option<String>, Error>;
    /// The numbers from 1 to `n`; fails with 422 after `fail_after` of them, if set.
    async fn count(&self, n: u32, fail_after: Option<u32>) -> Result<Streaming<u32>, Error>;
}

struct Impl;

impl GenTest for Impl {
    async fn hello(&self, name: String) -> Result<String, Error> {
        Ok(format!("Hello {name}"))
    }
    async fn profile(&self, name: String, tier: Option<Tier>) -> Result<Profile, Error> {
        Ok(Profile {
            name,
            tier: tier.unwrap_or(Tier::Free),
            address: Address {
                city: "Lyon".into(),
                zip: None,
            },
            nickname: Some("Ace".into()),
            tags: vec!["a".into(), "b".into()],
            scores: [("chess".to_owned(), 7)].into(),
        })
    }
    async fn refuse(&self, detail: String) -> Result<(), Error> {
        Err(Error::new(422, detail))
    }
    async fn slow(&self, ms: u64) -> Result<String, Error> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok("done".into())
    }
    async fn budget(&self) -> Result<Option<u64>, Error> {
        Ok(Context::current()
            .time_left()
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
    }
    async fn count(&self, n: u32, fail_after: Option<u32>) -> Result<Streaming<u32>, Error> {
        Ok(Streaming::try_new(futures::stream::iter(1..=n).map(
            move |i| match fail_after {
                Some(after) if i > after => Err(Error::new(422, format!("failed after {after}"))),
                _ => Ok(i),
            },
        )))
    }
    async fn whoami(&self) -> Result<Option<String>, Error> {
        Ok(Context::current()
            .metadata()
            .get("x-user")
            .map(str::to_owned))
    }
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("gen-{what}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Skips (or, on CI, fails) a test whose tool is missing.
fn missing(why: &str) -> Option<PathBuf> {
    assert!(
        !on_ci(),
        "{why} on CI (CI is set): scripts/test.sh installs what the generated-client tests need"
    );
    eprintln!("skipped: {why} (scripts/test.sh sets it up)");
    None
}

fn node_dir() -> Option<PathBuf> {
    test_support::node::installed(
        "MICRO_GEN_NODE_DIR",
        "micro-cli/tests/gen-js",
        &["typescript", "@nats-io/transport-node"],
    )
}

fn python() -> Option<PathBuf> {
    let Some(python) = std::env::var_os("MICRO_INTEROP_PYTHON").filter(|p| !p.is_empty()) else {
        return missing(
            "MICRO_INTEROP_PYTHON is not set (a Python with micro-nats/tests/interop/requirements.txt)",
        );
    };
    // A venv made before pydantic joined the requirements is a setup to repair, not to skip.
    let imports = Command::new(&python)
        .args(["-c", "import nats, pydantic"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        imports,
        "MICRO_INTEROP_PYTHON={} cannot import nats and pydantic: \
         pip install -r micro-nats/tests/interop/requirements.txt",
        PathBuf::from(&python).display()
    );
    Some(PathBuf::from(python))
}

async fn serve(nats: &Nats) -> Running {
    Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .handle(GenTestServer::new(Impl))
        .start()
        .await
        .expect("starts")
}

/// Runs `cmd` to completion off the async runtime, for at most `limit`.
async fn run(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = format!("{cmd:?}");
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let pid = child.id();
    let task = tokio::task::spawn_blocking(move || child.wait_with_output());
    match tokio::time::timeout(limit, task).await {
        Ok(out) => out.expect("join").expect("wait"),
        Err(_) => {
            // Our own child, by its id.
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("{what} did not finish within {limit:?}");
        }
    }
}

#[track_caller]
fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `micro gen <lang> gentest --out <out>` against `url`.
async fn generate(url: &str, lang: &str, out: &Path) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_micro"));
    cmd.args(["gen", lang, "gentest", "--out"])
        .arg(out)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MICRO_NATS_URL", url)
        .env("MICRO_NATS_DISCOVERY_TIMEOUT", "300ms");
    let text = ok(&run(cmd, Duration::from_secs(30)).await, "micro gen");
    assert!(
        text.starts_with("wrote a client of gentest 1.2.0"),
        "{text}"
    );
}

/// What the scripts print while the service runs, checked the same for both languages.
fn check_live(out: &Value) {
    assert_eq!(out["hello"], "Hello World", "{out:#}");
    assert_eq!(
        out["profile"],
        json!({"name": "Ada", "tier": "pro", "address": {"city": "Lyon", "zip": null},
               "nickname": "Ace", "tags": ["a", "b"], "scores": {"chess": 7}}),
        "{out:#}"
    );
    assert_eq!(out["city"], "Lyon", "{out:#}");
    assert_eq!(out["default_tier"], "free", "{out:#}");
    assert_eq!(
        out["refused"],
        json!({"code": 422, "detail": "no such thing", "status": "Unprocessable Entity",
               "id": "gentest.refuse"}),
        "{out:#}"
    );
    assert_eq!(out["slow"]["code"], 408, "{out:#}");
    assert_eq!(out["slow"]["status"], "Request Timeout", "{out:#}");
    assert!(
        out["slow_ms"].as_f64().is_some_and(|ms| ms < 2500.0),
        "the deadline did not cut the call short: {out:#}"
    );
    let budget = out["budget"].as_u64().expect("the service saw a deadline");
    assert!((1000..=3000).contains(&budget), "{out:#}");
    assert_eq!(out["whoami"], "alice", "{out:#}");
    assert_eq!(out["whoami_call"], "bob", "{out:#}");
    // A server stream: every item in order, then the end; an error after the items before it.
    assert_eq!(out["count"], json!([1, 2, 3, 4, 5]), "{out:#}");
    assert_eq!(out["count_failed"]["code"], 422, "{out:#}");
    assert_eq!(out["count_failed"]["detail"], "failed after 2", "{out:#}");
    assert_eq!(out["count_partial"], json!([1, 2]), "{out:#}");
    assert_eq!(out["count_empty"], json!([]), "{out:#}");
}

const TS_CHECK: &str = r#"import { connect } from "@nats-io/transport-node";
import { GentestClient, MicroError, type Profile, type Tier } from "./index.js";

const [url, mode] = process.argv.slice(2);
const nc = await connect({ servers: url });
const client = new GentestClient(nc, { timeoutMs: 3000, metadata: { "x-user": "alice" } });

async function failure(f: () => Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await f();
    return { ok: true };
  } catch (e) {
    if (e instanceof MicroError) {
      return { code: e.code, detail: e.detail, status: e.status, id: e.id };
    }
    throw e;
  }
}

const out: Record<string, unknown> = {};
if (mode === "live") {
  out.hello = await client.hello({ name: "World" });
  const tier: Tier = "pro";
  const p: Profile = await client.profile({ name: "Ada", tier });
  out.profile = p;
  out.city = p.address.city;
  out.default_tier = (await client.profile({ name: "Bo" })).tier;
  out.refused = await failure(() => client.refuse({ detail: "no such thing" }));
  const start = Date.now();
  out.slow = await failure(() => client.slow({ ms: 5000 }, { timeoutMs: 300 }));
  out.slow_ms = Date.now() - start;
  out.budget = await client.budget();
  out.whoami = await client.whoami();
  out.whoami_call = await client.whoami({ metadata: { "x-user": "bob" } });
  const count: number[] = [];
  for await (const n of client.count({ n: 5 })) {
    count.push(n);
  }
  out.count = count;
  const partial: number[] = [];
  out.count_failed = await failure(async () => {
    for await (const n of client.count({ n: 5, fail_after: 2 })) {
      partial.push(n);
    }
  });
  out.count_partial = partial;
  const empty: number[] = [];
  for await (const n of client.count({ n: 0 })) {
    empty.push(n);
  }
  out.count_empty = empty;
} else {
  out.gone = await failure(() => client.hello({ name: "World" }));
  out.stream_gone = await failure(async () => {
    for await (const _ of client.count({ n: 1 })) {
      // Nothing arrives.
    }
  });
}
console.log(JSON.stringify(out));
await nc.close();
"#;

const PY_CHECK: &str = r#"import asyncio
import json
import sys
import time

import nats

from gentest_client import GentestClient, MicroError, Profile


async def failure(call):
    try:
        await call
        return {"ok": True}
    except MicroError as e:
        return {"code": e.code, "detail": e.detail, "status": e.status, "id": e.id}


async def main(url: str, mode: str) -> None:
    nc = await nats.connect(url)
    client = GentestClient(nc, timeout=3.0, metadata={"x-user": "alice"})
    out = {}
    if mode == "live":
        out["hello"] = await client.hello(name="World")
        p = await client.profile(name="Ada", tier="pro")
        assert isinstance(p, Profile), type(p)
        out["profile"] = p.model_dump(mode="json", by_alias=True)
        out["city"] = p.address.city
        out["default_tier"] = (await client.profile(name="Bo")).tier
        out["refused"] = await failure(client.refuse(detail="no such thing"))
        start = time.monotonic()
        out["slow"] = await failure(client.slow(ms=5000, timeout=0.3))
        out["slow_ms"] = (time.monotonic() - start) * 1000
        out["budget"] = await client.budget()
        out["whoami"] = await client.whoami()
        out["whoami_call"] = await client.whoami(metadata={"x-user": "bob"})
        out["count"] = [n async for n in client.count(n=5)]
        partial = []

        async def consume():
            async for n in client.count(n=5, fail_after=2):
                partial.append(n)

        out["count_failed"] = await failure(consume())
        out["count_partial"] = partial
        out["count_empty"] = [n async for n in client.count(n=0)]
    else:
        out["gone"] = await failure(client.hello(name="World"))

        async def consume_gone():
            async for _ in client.count(n=1):
                pass

        out["stream_gone"] = await failure(consume_gone())
    print(json.dumps(out))
    await nc.close()


asyncio.run(main(sys.argv[1], sys.argv[2]))
"#;

fn parse(text: &str) -> Value {
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_client_compiles_and_calls_a_live_service() {
    let Some(node_dir) = node_dir() else { return };
    let server = NatsServer::start();
    let url = server.url();
    let nats = Nats::connect(NatsOptions::new().url(&url)).await.unwrap();
    let running = serve(&nats).await;

    let tmp = TempDir::new("ts");
    let pkg = tmp.0.join("pkg");
    generate(&url, "ts", &pkg).await;
    for file in ["package.json", "tsconfig.json", "README.md", "src/index.ts"] {
        assert!(pkg.join(file).is_file(), "no {file}");
    }
    let index = std::fs::read_to_string(pkg.join("src/index.ts")).unwrap();
    assert!(
        index.contains("export type Tier = \"free\" | \"pro\";"),
        "{index}"
    );
    assert!(index.contains("  nickname: string | null;"), "{index}");
    // Generated twice, the same text.
    let again = tmp.0.join("again");
    generate(&url, "ts", &again).await;
    assert_eq!(
        index,
        std::fs::read_to_string(again.join("src/index.ts")).unwrap()
    );

    // Compiled with the installed packages, strict, together with a script using its types.
    std::os::unix::fs::symlink(node_dir.join("node_modules"), pkg.join("node_modules")).unwrap();
    std::fs::write(pkg.join("src/check.ts"), TS_CHECK).unwrap();
    let mut tsc = Command::new("node");
    tsc.current_dir(&pkg)
        .arg("node_modules/typescript/bin/tsc")
        .args(["-p", "."]);
    ok(&run(tsc, Duration::from_secs(120)).await, "tsc");
    assert!(pkg.join("dist/index.d.ts").is_file());

    let script = |mode: &'static str| {
        let mut cmd = Command::new("node");
        cmd.current_dir(&pkg)
            .arg("dist/check.js")
            .arg(&url)
            .arg(mode);
        cmd
    };
    let out = parse(&ok(
        &run(script("live"), Duration::from_secs(60)).await,
        "node check.js",
    ));
    check_live(&out);

    running.stop().await;
    let out = parse(&ok(
        &run(script("stopped"), Duration::from_secs(60)).await,
        "node check.js",
    ));
    assert_eq!(out["gone"]["code"], 503, "{out:#}");
    assert_eq!(out["gone"]["id"], "gentest.hello", "{out:#}");
    assert_eq!(out["stream_gone"]["code"], 503, "{out:#}");
    assert_eq!(out["stream_gone"]["id"], "gentest.count", "{out:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_calls_a_live_service() {
    let Some(python) = python() else { return };
    let server = NatsServer::start();
    let url = server.url();
    let nats = Nats::connect(NatsOptions::new().url(&url)).await.unwrap();
    let running = serve(&nats).await;

    let tmp = TempDir::new("py");
    let pkg = tmp.0.join("pkg");
    generate(&url, "py", &pkg).await;
    for file in ["pyproject.toml", "README.md", "gentest_client/__init__.py"] {
        assert!(pkg.join(file).is_file(), "no {file}");
    }
    let init = std::fs::read_to_string(pkg.join("gentest_client/__init__.py")).unwrap();
    assert!(
        init.contains("\nTier = Literal[\"free\", \"pro\"]\n"),
        "{init}"
    );
    assert!(init.contains("\nclass Profile(BaseModel):\n"), "{init}");
    std::fs::write(pkg.join("check.py"), PY_CHECK).unwrap();

    let script = |mode: &'static str| {
        let mut cmd = Command::new(&python);
        cmd.current_dir(&pkg)
            .env("PYTHONPATH", &pkg)
            .arg("check.py")
            .arg(&url)
            .arg(mode);
        cmd
    };
    let out = parse(&ok(
        &run(script("live"), Duration::from_secs(60)).await,
        "python check.py",
    ));
    check_live(&out);

    running.stop().await;
    let out = parse(&ok(
        &run(script("stopped"), Duration::from_secs(60)).await,
        "python check.py",
    ));
    assert_eq!(out["gone"]["code"], 503, "{out:#}");
    assert_eq!(out["gone"]["id"], "gentest.hello", "{out:#}");
    assert_eq!(out["stream_gone"]["code"], 503, "{out:#}");
    assert_eq!(out["stream_gone"]["id"], "gentest.count", "{out:#}");
}

/// An INFO reply written to attack the generators: names, docs and schemas full of quotes,
/// comment ends, line separators, keywords and names the generated code uses itself, plus
/// nesting far past the walker's depth limit. The code made from it must still compile and
/// import.
fn hostile_info() -> Value {
    let mut deep = json!({"type": "string"});
    // Past the walker's limit, within serde_json's (128 levels, beyond which the schema would
    // not parse at all and the request would be untyped).
    for _ in 0..100 {
        deep = json!({"type": "array", "items": deep});
    }
    let evil = "*/ \"\"\" ''' \\ \u{2028} \u{2029} \r\n`${x}` </script> \u{0}";
    let request = json!({"type": "object", "description": evil, "properties": {
        "class": {"type": "string", "description": evil},
        "self": {"type": "integer"},
        "args": {"type": "string"},
        "body": {"type": "string"},
        "timeout": {"type": "number"},
        "a\"b": {"type": "string", "description": evil},
        "constructor": {"type": "boolean"},
        "model_config": {"type": "string"},
        "_private": {"type": "string"},
        "x": {"$ref": "#/$defs/Promise"},
        "e": {"$ref": "#/$defs/ValueError"},
        "deep": deep,
        "loop": {"$ref": "#/$defs/Loop"},
        "missing": {"$ref": "#/$defs/Nowhere"},
        "remote": {"$ref": "https://example.com/schema.json"}
    }, "required": ["class", "a\"b"], "$defs": {
        "Promise": {"type": "string", "enum": ["a\"", "b\\", "\u{2028}", evil]},
        "ValueError": {"type": "object", "title": evil,
                       "properties": {"_": {"type": "null"}, "__": {"type": "null"}}},
        "Loop": {"type": "array", "items": {"$ref": "#/$defs/Loop"}}
    }});
    let endpoint = |name: &str| {
        json!({"name": name, "subject": format!("evil.{name}\"; x"), "queue_group": "q",
               "metadata": {"doc": evil, "request_schema": request.to_string(),
                            "response_schema": json!({"title": evil, "type": "object",
                                "properties": {"ok": {"type": "boolean"}}}).to_string()}})
    };
    json!({"type": "io.nats.micro.v1.info_response", "name": "evil\"; process.exit(1); //",
           "id": "x", "version": "1.0.0\"; evil", "description": evil, "metadata": {},
           "endpoints": [endpoint("constructor"), endpoint("class"), endpoint("get-thing"),
                         endpoint("get_thing"), endpoint("__init__"), endpoint("*/")]})
}

/// `micro gen <lang> <service> --from <file> --out <out>`, no server involved.
async fn generate_from(info: &Value, lang: &str, tmp: &Path) -> PathBuf {
    let file = tmp.join("info.json");
    std::fs::write(&file, info.to_string()).unwrap();
    let out = tmp.join("pkg");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_micro"));
    cmd.args(["gen", lang])
        .arg(info["name"].as_str().unwrap())
        .arg("--from")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    ok(&run(cmd, Duration::from_secs(30)).await, "micro gen --from");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_info_still_makes_valid_typescript() {
    let Some(node_dir) = node_dir() else { return };
    let tmp = TempDir::new("evil-ts");
    let pkg = generate_from(&hostile_info(), "ts", &tmp.0).await;
    std::os::unix::fs::symlink(node_dir.join("node_modules"), pkg.join("node_modules")).unwrap();
    let mut tsc = Command::new("node");
    tsc.current_dir(&pkg)
        .arg("node_modules/typescript/bin/tsc")
        .args(["-p", "."]);
    ok(&run(tsc, Duration::from_secs(120)).await, "tsc");
    // Every method is there, under a safe and distinct name, and the module loads.
    let probe = "import * as m from './dist/index.js'; \
                 const c = Object.values(m).find((v) => typeof v === 'function' && v.name.endsWith('Client')); \
                 console.log(JSON.stringify(Object.getOwnPropertyNames(c.prototype).sort()));";
    let mut node = Command::new("node");
    node.current_dir(&pkg)
        .args(["--input-type=module", "-e", probe]);
    let methods = parse(&ok(&run(node, Duration::from_secs(60)).await, "node"));
    assert_eq!(
        methods,
        json!([
            "class_",
            "constructor",
            "constructor_",
            "field",
            "getThing",
            "getThing_",
            "init"
        ]),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_info_still_makes_valid_python() {
    let Some(python) = python() else { return };
    let tmp = TempDir::new("evil-py");
    let pkg = generate_from(&hostile_info(), "py", &tmp.0).await;
    let probe = "import json, evil_process_exit_1_client as m\n\
                 c = m.EvilProcessExit1Client\n\
                 methods = sorted(n for n in vars(c) if not n.startswith('_'))\n\
                 req = next(getattr(m, n) for n in m.__all__ if n.endswith('Request'))\n\
                 r = req(class_='x', a_b='y', self_=1, args_='a', body_='b', timeout_=1.5)\n\
                 print(json.dumps({'methods': methods, 'doc': c.__doc__, 'all': m.__all__, \
                 'dump': r.model_dump(mode='json', by_alias=True, exclude_unset=True)}))\n";
    let mut cmd = Command::new(&python);
    cmd.current_dir(&pkg)
        .env("PYTHONPATH", &pkg)
        .args(["-c", probe]);
    let out = parse(&ok(&run(cmd, Duration::from_secs(60)).await, "python"));
    assert_eq!(
        out["methods"],
        json!([
            "class_",
            "constructor",
            "field",
            "get_thing",
            "get_thing_",
            "init"
        ]),
        "{out:#}"
    );
    // The hostile text survived as data.
    assert!(
        out["doc"]
            .as_str()
            .unwrap()
            .contains("*/ \"\"\" ''' \\ \u{2028}"),
        "{out:#}"
    );
    assert_eq!(
        out["dump"],
        json!({"class": "x", "a\"b": "y", "self": 1, "args": "a", "body": "b", "timeout": 1.5}),
        "{out:#}"
    );
}

/// A service known only from an INFO file, without schemas, whose one endpoint the test
/// script answers itself: the wire as another implementation sees it.
fn bare_info() -> Value {
    json!({"type": "io.nats.micro.v1.info_response", "name": "bare", "id": "x",
           "version": "0.1.0", "description": "", "metadata": {},
           "endpoints": [{"name": "call", "subject": "gen.bare.call", "queue_group": "q",
                          "metadata": {}}]})
}

/// What the wire scripts print, the same for both languages: the request as the responder
/// saw it (headers, body), a headers-only error read back, and refusals before sending.
fn check_wire(out: &Value) {
    assert_eq!(
        out["error"],
        json!({"code": 418, "detail": "I'm a teapot", "status": "Status 418", "id": "bare.call"}),
        "{out:#}"
    );
    let seen = out["seen"].as_array().expect("seen");
    // The bad key and the spent deadline were refused without a message.
    assert_eq!(seen.len(), 1, "{out:#}");
    let timeout: u64 = seen[0]["timeout"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("Micro-Timeout is a number");
    assert!(
        (1_000_000..=2_000_000).contains(&timeout),
        "Micro-Timeout {timeout} µs for a 2 s call"
    );
    assert_eq!(seen[0]["user"], "carol", "{out:#}");
    assert_eq!(
        seen[0]["nats"],
        Value::Null,
        "Nats- metadata is not sent: {out:#}"
    );
    assert_eq!(
        seen[0]["ctype"],
        Value::Null,
        "Content-Type metadata is not sent: {out:#}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(seen[0]["body"].as_str().unwrap()).unwrap(),
        json!({"a": 1}),
        "{out:#}"
    );
    assert_eq!(out["bad_key"]["code"], 400, "{out:#}");
    assert_eq!(out["spent"]["code"], 408, "{out:#}");
}

const TS_WIRE: &str = r#"import { connect, headers } from "@nats-io/transport-node";
import { BareClient, MicroError } from "./dist/index.js";

const nc = await connect({ servers: process.argv[2] });
const seen = [];
nc.subscribe("gen.bare.call", {
  callback: (_err, msg) => {
    seen.push({
      timeout: msg.headers?.get("Micro-Timeout") || null,
      user: msg.headers?.get("x-user") || null,
      nats: msg.headers?.get("Nats-Evil") || null,
      ctype: msg.headers?.get("Content-Type") || null,
      body: msg.string(),
    });
    const h = headers();
    h.set("Nats-Service-Error-Code", "418");
    h.set("Nats-Service-Error", "I'm a teapot");
    msg.respond("", { headers: h });
  },
});
await nc.flush();
const client = new BareClient(nc, {
  metadata: { "x-user": "carol", "Nats-Evil": "x", "Content-Type": "text/plain" },
});
async function failure(f) {
  try {
    await f();
    return { ok: true };
  } catch (e) {
    if (e instanceof MicroError) {
      return { code: e.code, detail: e.detail, status: e.status, id: e.id };
    }
    throw e;
  }
}
const out = {};
out.error = await failure(() => client.call({ a: 1 }, { timeoutMs: 2000 }));
out.bad_key = await failure(() => client.call({}, { metadata: { "bad key": "v" } }));
out.spent = await failure(() => client.call({}, { timeoutMs: 0 }));
await nc.flush();
out.seen = seen;
console.log(JSON.stringify(out));
await nc.close();
"#;

const PY_WIRE: &str = r#"import asyncio
import json
import sys

import nats

from bare_client import BareClient, MicroError


async def failure(call):
    try:
        await call
        return {"ok": True}
    except MicroError as e:
        return {"code": e.code, "detail": e.detail, "status": e.status, "id": e.id}


async def main(url: str) -> None:
    nc = await nats.connect(url)
    seen = []

    async def answer(msg):
        h = msg.headers or {}
        seen.append({"timeout": h.get("Micro-Timeout"), "user": h.get("x-user"),
                     "nats": h.get("Nats-Evil"), "ctype": h.get("Content-Type"),
                     "body": msg.data.decode()})
        await nc.publish(msg.reply, b"", headers={"Nats-Service-Error-Code": "418",
                                                 "Nats-Service-Error": "I'm a teapot"})

    await nc.subscribe("gen.bare.call", cb=answer)
    await nc.flush()
    client = BareClient(nc, metadata={"x-user": "carol", "Nats-Evil": "x",
                                      "Content-Type": "text/plain"})
    out = {}
    out["error"] = await failure(client.call({"a": 1}, timeout=2.0))
    out["bad_key"] = await failure(client.call({}, metadata={"bad key": "v"}))
    out["spent"] = await failure(client.call({}, timeout=0))
    await nc.flush()
    out["seen"] = seen
    print(json.dumps(out))
    await nc.close()


asyncio.run(main(sys.argv[1]))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_client_on_the_wire() {
    let Some(node_dir) = node_dir() else { return };
    let server = NatsServer::start();
    let tmp = TempDir::new("wire-ts");
    let pkg = generate_from(&bare_info(), "ts", &tmp.0).await;
    std::os::unix::fs::symlink(node_dir.join("node_modules"), pkg.join("node_modules")).unwrap();
    let mut tsc = Command::new("node");
    tsc.current_dir(&pkg)
        .arg("node_modules/typescript/bin/tsc")
        .args(["-p", "."]);
    ok(&run(tsc, Duration::from_secs(120)).await, "tsc");
    std::fs::write(pkg.join("wire.mjs"), TS_WIRE).unwrap();
    let mut node = Command::new("node");
    node.current_dir(&pkg).arg("wire.mjs").arg(server.url());
    check_wire(&parse(&ok(
        &run(node, Duration::from_secs(60)).await,
        "node wire.mjs",
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_on_the_wire() {
    let Some(python) = python() else { return };
    let server = NatsServer::start();
    let tmp = TempDir::new("wire-py");
    let pkg = generate_from(&bare_info(), "py", &tmp.0).await;
    std::fs::write(pkg.join("wire.py"), PY_WIRE).unwrap();
    let mut cmd = Command::new(&python);
    cmd.current_dir(&pkg)
        .env("PYTHONPATH", &pkg)
        .arg("wire.py")
        .arg(server.url());
    check_wire(&parse(&ok(
        &run(cmd, Duration::from_secs(60)).await,
        "python wire.py",
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gen_from_refuses_another_service_and_bad_files() {
    let tmp = TempDir::new("refuse");
    let file = tmp.0.join("info.json");
    std::fs::write(&file, bare_info().to_string()).unwrap();
    let micro = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_micro"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        cmd
    };
    let f = file.to_str().unwrap();
    let out_dir = tmp.0.join("out");
    let o = out_dir.to_str().unwrap();
    let out = run(
        micro(&["gen", "ts", "greeter", "--from", f, "--out", o]),
        Duration::from_secs(30),
    )
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("describes service `bare`, not `greeter`"),
        "{err}"
    );
    assert!(!out_dir.exists(), "nothing written");

    std::fs::write(&file, "{").unwrap();
    let out = run(
        micro(&["gen", "py", "bare", "--from", f, "--out", o]),
        Duration::from_secs(30),
    )
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid JSON INFO file"), "{err}");

    // With --json, what was written, as JSON.
    std::fs::write(&file, bare_info().to_string()).unwrap();
    let out = run(
        micro(&["--json", "gen", "py", "bare", "--from", f, "--out", o]),
        Duration::from_secs(30),
    )
    .await;
    let written: Value = serde_json::from_str(&ok(&out, "gen --json")).unwrap();
    assert_eq!(written["service"], "bare");
    assert_eq!(
        written["files"],
        json!([
            "pyproject.toml",
            "README.md",
            "bare_client/__init__.py",
            "bare_client/py.typed"
        ])
    );
}
