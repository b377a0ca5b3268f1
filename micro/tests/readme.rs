//! The README's first snippet, exactly as written, built as a crate of its own whose only
//! micro dependency is `micro` (as the README tells a new user to write it), then run:
//! in-process, and over a private nats-server with only `MICRO_NATS_URL` set, where a plain NATS
//! client calls it. Both runs stop on SIGTERM with a clean exit.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use test_support::NatsServer;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the micro crate sits in the workspace")
        .to_path_buf()
}

/// The first ```rust block of README.md.
fn first_snippet() -> String {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let start = readme
        .find("```rust\n")
        .expect("README.md has a ```rust block")
        + "```rust\n".len();
    let len = readme[start..]
        .find("\n```")
        .expect("the ```rust block ends");
    readme[start..start + len].to_owned() + "\n"
}

/// The `[dependencies]` block the README gives for a new project.
fn readme_dependencies() -> String {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let start = readme
        .find("```toml\n[dependencies]\n")
        .expect("README.md shows the [dependencies] of a new project in a ```toml block")
        + "```toml\n".len();
    let len = readme[start..]
        .find("\n```")
        .expect("the ```toml block ends");
    readme[start..start + len].to_owned()
}

/// Writes the crate and builds it; the path of its binary.
fn build_snippet() -> PathBuf {
    let root = workspace();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-snippet");
    std::fs::create_dir_all(dir.join("src")).expect("crate dir");
    // The README's dependencies, with `micro` taken from this checkout instead of crates.io.
    let deps = readme_dependencies().replacen(
        "micro = \"0.1\"",
        &format!("micro = {{ path = {:?} }}", root.join("micro")),
        1,
    );
    assert!(
        deps.contains("micro = { path"),
        "the README's dependencies name `micro = \"0.1\"`:\n{deps}"
    );
    let manifest = format!(
        "[package]\nname = \"readme-snippet\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\
         publish = false\n\n{deps}\n\n\
         # The workspace's own async-nats (see vendor/async-nats/PATCHES.md).\n\
         [patch.crates-io]\nasync-nats = {{ path = {:?} }}\n\n[workspace]\n",
        root.join("vendor/async-nats")
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("Cargo.toml");
    std::fs::write(dir.join("src/main.rs"), first_snippet()).expect("main.rs");
    // The workspace's lock file: the same versions as the rest of the tests, nothing to resolve.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).expect("Cargo.lock");
    let target = dir.join("target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--quiet", "--offline"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("runs cargo");
    assert!(
        out.status.success(),
        "the README's snippet does not build as its own crate:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("debug/readme-snippet")
}

/// Kills (only) its own child when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl ChildGuard {
    /// SIGTERM to this child alone, then its exit, within `limit`.
    fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("runs kill");
        assert!(status.success(), "kill -TERM failed");
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().expect("waits") {
                return status;
            }
            assert!(
                Instant::now() < until,
                "did not exit within {limit:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn spawn(binary: &Path, nats_url: Option<&str>) -> ChildGuard {
    let mut command = Command::new(binary);
    // Only what the test means to set: no MICRO_* from the environment it runs in.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MICRO_") {
            command.env_remove(key);
        }
    }
    if let Some(url) = nats_url {
        command.env("MICRO_NATS_URL", url);
    }
    ChildGuard(
        command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starts the snippet"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_snippet_builds_alone_and_serves_in_process_and_over_nats() {
    let binary = tokio::task::spawn_blocking(build_snippet)
        .await
        .expect("build task");

    // In-process: it serves until told to stop.
    let mut local = spawn(&binary, None);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        local.0.try_wait().expect("waits").is_none(),
        "the in-process snippet exited on its own"
    );
    let status = local.terminate(Duration::from_secs(10));
    assert!(status.success(), "in-process run exited with {status}");

    // Over NATS, with nothing but the URL.
    let server = NatsServer::start();
    let mut remote = spawn(&binary, Some(&server.url()));
    let nats = async_nats::connect(server.url()).await.expect("connects");
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let ping = tokio::time::timeout(
            Duration::from_millis(500),
            nats.request("$SRV.PING.greeter", "".into()),
        )
        .await;
        if matches!(ping, Ok(Ok(_))) {
            break;
        }
        assert!(
            remote.0.try_wait().expect("waits").is_none(),
            "the snippet exited instead of serving over NATS"
        );
        assert!(
            Instant::now() < until,
            "the snippet never answered $SRV.PING"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply = nats
        .request("greeter.hello", r#"{"name":"World"}"#.into())
        .await
        .expect("hello answers");
    assert_eq!(&reply.payload[..], br#""Hello World""#);
    let status = remote.terminate(Duration::from_secs(15));
    assert!(status.success(), "NATS run exited with {status}");
}
