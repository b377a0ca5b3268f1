//! The JavaScript interop package (`micro-nats/tests/interop-js`): where it is installed, and
//! its scripts run as child processes killed on drop.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The variable naming the installed interop package: the `micro-nats/tests/interop-js`
/// directory after `npm ci` (`scripts/test.sh` sets it).
pub const NODE_DIR_VAR: &str = "MICRO_INTEROP_NODE_DIR";

/// True on CI (`CI` set, as CI services do), where a missing tool fails a test instead of
/// skipping it: the CI script installs it, so its absence is a broken setup, not a choice.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The installed interop package, or `None` (the caller skips its test) when
/// `MICRO_INTEROP_NODE_DIR` is not set or `node` is not installed.
///
/// # Panics
///
/// On CI when either is missing, and anywhere when the variable names a directory without
/// `node_modules` (a setup that was asked for and is broken).
pub fn node_dir() -> Option<PathBuf> {
    installed(
        NODE_DIR_VAR,
        "micro-nats/tests/interop-js",
        &["@nats-io/services"],
    )
}

/// The npm directory `var` names (`dir` of the repository after `npm ci`), with `packages`
/// installed, or `None` (the caller skips its test) when `var` is not set or `node` is not
/// installed.
///
/// # Panics
///
/// On CI when either is missing (`scripts/test.sh` installs them, so a missing one is a broken
/// setup), and anywhere when the directory lacks one of `packages`.
pub fn installed(var: &str, dir: &str, packages: &[&str]) -> Option<PathBuf> {
    let missing = |why: &str| {
        assert!(
            !on_ci(),
            "{why} on CI (CI is set): the tests that need it cannot be skipped there; \
             scripts/test.sh runs `npm ci` in {dir} and sets {var}"
        );
        eprintln!(
            "skipped: {why}; run `npm ci` in {dir} and set {var} to that directory \
             (scripts/test.sh does)"
        );
        None
    };
    let path = match std::env::var_os(var) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => return missing(&format!("{var} is not set")),
    };
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        return missing("`node` is not installed");
    }
    for package in packages {
        assert!(
            path.join("node_modules").join(package).is_dir(),
            "{var}={} has no node_modules/{package}: run `npm ci` there",
            path.display()
        );
    }
    Some(path)
}

/// A child process killed (and reaped) when dropped, so a failing test leaves nothing running.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `node <script> <args>` in `dir` with stdin and stdout piped, and waits up to
/// `timeout` for its first line, which must start with `ready `; returns the child and the rest
/// of that line. Closing the child's stdin asks the script to stop.
///
/// # Panics
///
/// When node cannot start, or the script does not print its ready line in time.
pub fn spawn_ready(
    dir: &std::path::Path,
    script: &str,
    args: &[&str],
    timeout: Duration,
) -> (ChildGuard, String) {
    let child = Command::new("node")
        .current_dir(dir)
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node {script}: {e}"));
    let mut guard = ChildGuard(child);
    let Some(stdout) = guard.0.stdout.take() else {
        panic!("node {script} has no stdout pipe");
    };
    let (tx, rx) = mpsc::channel();
    // A thread reads the line so the wait can time out; it ends when the child's stdout does.
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = tx.send(reader.read_line(&mut line).map(|_| line));
        // Keep draining so the child never blocks on a full pipe.
        let mut rest = String::new();
        while reader.read_line(&mut rest).is_ok_and(|n| n > 0) {
            rest.clear();
        }
    });
    let line = match rx.recv_timeout(timeout) {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => panic!("cannot read node {script}'s output: {e}"),
        Err(_) => panic!("node {script} did not print its ready line within {timeout:?}"),
    };
    let Some(rest) = line.trim().strip_prefix("ready ") else {
        panic!("node {script}: expected `ready ...`, got {line:?}");
    };
    (guard, rest.to_owned())
}

/// What a script printed, and whether it succeeded.
#[derive(Debug)]
pub struct ScriptOutput {
    /// Exit status 0.
    pub success: bool,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
}

/// Runs `node <script> <args>` in `dir` to its end, killing it after `timeout`.
///
/// # Panics
///
/// When node cannot start, or the script runs longer than `timeout` (it is killed first).
pub fn run_script(
    dir: &std::path::Path,
    script: &str,
    args: &[&str],
    timeout: Duration,
) -> ScriptOutput {
    let child = Command::new("node")
        .current_dir(dir)
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node {script}: {e}"));
    let mut guard = ChildGuard(child);
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read(guard.0.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(guard.0.stderr.take().map(|p| Box::new(p) as _));
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        match guard.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                // Killed by the guard before the pipes are read to their end.
                drop(guard);
                let (out, err) = (
                    stdout.join().unwrap_or_default(),
                    stderr.join().unwrap_or_default(),
                );
                panic!("node {script} ran longer than {timeout:?}\nstdout: {out}\nstderr: {err}");
            }
            Err(e) => panic!("cannot wait for node {script}: {e}"),
        }
    };
    ScriptOutput {
        success: status.success(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}
