//! Test helpers shared by the workspace's integration tests.
//!
//! [`NatsServer`] runs a private `nats-server` on a free loopback port for one test (or one test
//! file) and kills exactly that process when dropped, so tests never touch a server someone else
//! runs (the shared one on `:4222` included) and never leave one behind.
//!
//! ```no_run
//! use test_support::NatsServer;
//!
//! let server = NatsServer::start();
//! println!("connect to {}", server.url());
//! // dropped here: the child is killed and reaped
//! ```

mod cluster;
pub mod node;
mod raw;

pub use cluster::NatsCluster;
pub use raw::{RawMessage, RawNats};

use std::fmt;
use std::io::{self, BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a freshly spawned server gets to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How many ports to try when another process grabs the one picked.
const PORT_ATTEMPTS: usize = 8;

/// A `nats-server` child process on `127.0.0.1:<port>`, killed in `Drop`.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    token: Option<String>,
    /// Extra command-line arguments (auth, limits), kept for restarts.
    args: Vec<String>,
    /// A configuration file this helper wrote, removed in `Drop`.
    config_file: Option<std::path::PathBuf>,
    /// Last lines the server wrote, kept for failure messages.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl fmt::Debug for NatsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsServer")
            .field("port", &self.port)
            .field("pid", &self.pid())
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl NatsServer {
    /// Starts a server without authentication on a free loopback port.
    ///
    /// # Panics
    ///
    /// When `nats-server` is not installed (the message says how to install it) or does not
    /// accept connections within 10 seconds.
    pub fn start() -> NatsServer {
        Self::start_inner(None, Vec::new())
    }

    /// Starts a server that requires `token` (`nats-server --auth <token>`).
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`].
    pub fn start_with_token(token: &str) -> NatsServer {
        Self::start_inner(Some(token.to_owned()), Vec::new())
    }

    /// Starts a server that requires `user` and `password` (`--user`/`--pass`).
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`].
    pub fn start_with_user(user: &str, password: &str) -> NatsServer {
        Self::start_with_args(&["--user", user, "--pass", password])
    }

    /// Starts a server with extra `nats-server` arguments (for example `["--user", "u", "--pass",
    /// "p"]`); `-a` and `-p` are set already.
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`].
    pub fn start_with_args(args: &[&str]) -> NatsServer {
        Self::start_inner(None, args.iter().map(|a| (*a).to_owned()).collect())
    }

    /// Starts a server with a configuration file holding `config` (nats-server's own format,
    /// e.g. `max_payload: 4096`), for settings that have no command-line flag. The file is
    /// removed when the server is dropped.
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`], or when the file cannot be written.
    pub fn start_with_config(config: &str) -> NatsServer {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "micro-test-nats-{}-{nanos}.conf",
            std::process::id()
        ));
        if let Err(err) = std::fs::write(&path, config) {
            panic!("cannot write {}: {err}", path.display());
        }
        let mut server = Self::start_inner(None, vec!["-c".to_owned(), path.display().to_string()]);
        server.config_file = Some(path);
        server
    }

    fn start_inner(token: Option<String>, args: Vec<String>) -> NatsServer {
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let mut server = NatsServer {
                child: None,
                port,
                token: token.clone(),
                args: args.clone(),
                config_file: None,
                log: Default::default(),
            };
            match server.spawn_and_wait() {
                Ok(()) => return server,
                // Most likely another process took the port between probe and bind: try another.
                Err(err) => last_error = err,
            }
        }
        panic!("could not start nats-server after {PORT_ATTEMPTS} attempts: {last_error}");
    }

    /// Spawns the child on `self.port` and waits until it accepts connections.
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let mut cmd = Command::new("nats-server");
        cmd.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(token) = &self.token {
            cmd.args(["--auth", token]);
        }
        cmd.args(&self.args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(err) if err.kind() == io::ErrorKind::NotFound => panic!(
                "`nats-server` is not installed or not on PATH: install it with \
                 `apt-get install nats-server` (or download it from \
                 https://github.com/nats-io/nats-server/releases)"
            ),
            Err(err) => panic!("cannot run `nats-server`: {err}"),
        };
        if let Some(stderr) = child.stderr.take() {
            let log = self.log.clone();
            thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut log) = log.lock() {
                        if log.len() >= 50 {
                            log.remove(0);
                        }
                        log.push(line);
                    }
                }
            });
        }
        self.child = Some(child);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!(
                    "nats-server on port {} exited with {status}: {}",
                    self.port,
                    self.log_tail()
                ));
            }
            if TcpStream::connect_timeout(&addr.into(), Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "nats-server on port {} did not accept connections within {STARTUP_TIMEOUT:?}: {}",
                    self.port,
                    self.log_tail()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_tail(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The token the server requires, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The process id of the running server; `None` once stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (the process this helper started, nothing else) and waits for it to
    /// exit. Idempotent.
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Starts the server again on the same port (after [`stop`](NatsServer::stop)), for
    /// reconnect tests.
    ///
    /// # Panics
    ///
    /// When the port was taken meanwhile or the server does not come up.
    pub fn restart(&mut self) {
        self.kill();
        // The old socket may linger briefly; retry the bind for a little while.
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(err) if Instant::now() > deadline => {
                    panic!("could not restart nats-server: {err}")
                }
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Starts the server again on the same port requiring `token` instead (`None`: no
    /// authentication), as an operator rotating the server's token does.
    ///
    /// # Panics
    ///
    /// As [`restart`](NatsServer::restart).
    pub fn restart_with_token(&mut self, token: Option<&str>) {
        self.token = token.map(str::to_owned);
        self.restart();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Only our own child, by handle: never by name.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(path) = self.config_file.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A port that was free a moment ago: bind `127.0.0.1:0`, read the port, release it.
/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(err) => panic!("cannot find a free loopback port: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_stops_and_restarts_on_the_same_port() {
        let mut server = NatsServer::start();
        let port = server.port();
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
        assert!(TcpStream::connect(addr).is_ok());
        server.stop();
        assert!(server.pid().is_none());
        assert!(TcpStream::connect(addr).is_err());
        server.restart();
        assert_eq!(server.port(), port);
        assert!(TcpStream::connect(addr).is_ok());
        assert!(server.url().ends_with(&format!(":{port}")));
    }
}
