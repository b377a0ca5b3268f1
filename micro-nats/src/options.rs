//! Connection settings: server URLs, name, auth, TLS, subject prefix.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_nats::{Event, ServerAddr};
use micro_core::Error;
use micro_core::service::Config;

use crate::subject::Subjects;

/// The server used when none is configured.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// How to reach NATS, read from `MICRO_NATS_*` (see [`NatsOptions::from_config`]) or built in
/// code.
///
/// | variable | setting |
/// |---|---|
/// | `MICRO_NATS_URL` | server URL(s), comma-separated for a cluster; default `nats://127.0.0.1:4222` |
/// | `MICRO_NATS_TOKEN` | token auth |
/// | `MICRO_NATS_USER`, `MICRO_NATS_PASSWORD` | user/password auth |
/// | `MICRO_NATS_NKEY` | NKey seed (`SU...`) |
/// | `MICRO_NATS_CREDS` | credentials file (JWT + seed) |
/// | `MICRO_NATS_TLS_CA` | CA certificate file (PEM); implies TLS |
/// | `MICRO_NATS_TLS_CERT`, `MICRO_NATS_TLS_KEY` | client certificate and key (PEM) |
/// | `MICRO_NATS_PREFIX` | subject prefix of every endpoint (`acme.prod` → `acme.prod.greeter.hello`) |
/// | `MICRO_NAME` | connection name shown by the server |
///
/// ```
/// use std::time::Duration;
/// use micro_nats::NatsOptions;
///
/// let options = NatsOptions::new()
///     .url("nats://10.0.0.1:4222,nats://10.0.0.2:4222")
///     .token("s3cret")
///     .name("billing")
///     .discovery_timeout(Duration::from_millis(300));
/// assert_eq!(options.urls().len(), 2);
/// options.validate().unwrap();
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct NatsOptions {
    urls: Vec<String>,
    name: Option<String>,
    token: Option<String>,
    user: Option<(String, String)>,
    nkey: Option<String>,
    creds: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    prefix: Option<String>,
    /// Credentials found in the URLs (`nats://token@host`, `nats://user:password@host`),
    /// taken out of them so that no message shows them; used unless set explicitly.
    url_credentials: Option<UrlCredentials>,
    connect_timeout: Duration,
    discovery_timeout: Duration,
    /// Subscriptions per queue-group endpoint (`None`: one per runtime worker but one).
    intakes: Option<usize>,
    errors: Vec<String>,
}

impl std::fmt::Debug for NatsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs.
        let set = |b: bool| if b { "<set>" } else { "<unset>" };
        f.debug_struct("NatsOptions")
            .field("urls", &self.urls)
            .field("name", &self.name)
            .field("token", &set(self.token.is_some()))
            .field("user", &self.user.as_ref().map(|(u, _)| u))
            .field("nkey", &set(self.nkey.is_some()))
            .field("creds", &self.creds)
            .field("tls_ca", &self.tls_ca)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("prefix", &self.prefix)
            .field("url_credentials", &set(self.url_credentials.is_some()))
            .field("connect_timeout", &self.connect_timeout)
            .field("discovery_timeout", &self.discovery_timeout)
            .finish()
    }
}

impl Default for NatsOptions {
    fn default() -> Self {
        NatsOptions {
            urls: vec![DEFAULT_URL.to_owned()],
            name: None,
            token: None,
            user: None,
            nkey: None,
            creds: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            prefix: None,
            url_credentials: None,
            connect_timeout: Duration::from_secs(2),
            discovery_timeout: Duration::from_millis(300),
            intakes: None,
            errors: Vec::new(),
        }
    }
}

/// Subscriptions per endpoint at most.
pub(crate) const MAX_INTAKES: usize = 64;

fn non_empty(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl NatsOptions {
    /// Defaults: `nats://127.0.0.1:4222`, no auth, no prefix.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the `MICRO_NATS_*` keys of `config` (and its node name).
    pub fn from_config(config: &Config) -> Self {
        let mut o = NatsOptions::new();
        if let Some(url) = non_empty(config.get("nats-url")) {
            o = o.url(&url);
        }
        o.name.clone_from(&config.name);
        o.token = non_empty(config.get("nats-token"));
        match (
            non_empty(config.get("nats-user")),
            config.get("nats-password"),
        ) {
            (Some(user), password) => o.user = Some((user, password.unwrap_or("").to_owned())),
            (None, Some(_)) => o
                .errors
                .push("MICRO_NATS_PASSWORD is set but MICRO_NATS_USER is not".to_owned()),
            (None, None) => {}
        }
        o.nkey = non_empty(config.get("nats-nkey"));
        o.creds = non_empty(config.get("nats-creds")).map(PathBuf::from);
        o.tls_ca = non_empty(config.get("nats-tls-ca")).map(PathBuf::from);
        o.tls_cert = non_empty(config.get("nats-tls-cert")).map(PathBuf::from);
        o.tls_key = non_empty(config.get("nats-tls-key")).map(PathBuf::from);
        o.prefix = non_empty(config.get("nats-prefix"));
        if let Some(raw) = non_empty(config.get("nats-discovery-timeout")) {
            match micro_core::service::parse_duration(&raw) {
                Some(timeout) if !timeout.is_zero() => o.discovery_timeout = timeout,
                _ => o.errors.push(format!(
                    "invalid MICRO_NATS_DISCOVERY_TIMEOUT `{raw}`: expected a duration such as \
                     300ms or 2s"
                )),
            }
        }
        if let Some(raw) = non_empty(config.get("nats-intakes")) {
            match raw.parse::<usize>() {
                Ok(n) if (1..=MAX_INTAKES).contains(&n) => o.intakes = Some(n),
                _ => o.errors.push(format!(
                    "invalid MICRO_NATS_INTAKES `{raw}`: expected a number from 1 to {MAX_INTAKES}"
                )),
            }
        }
        o
    }

    /// Reads `MICRO_NATS_*` from the environment (and `--micro-nats-*` flags).
    pub fn from_env() -> Self {
        Self::from_config(&Config::from_env())
    }

    /// Sets the server URL; a comma-separated list names the servers of a cluster.
    ///
    /// Credentials in a URL (`nats://TOKEN@host`, `nats://USER:PASSWORD@host`) are used for
    /// auth unless [`token`](Self::token) or [`user_password`](Self::user_password)
    /// set others, and are taken out of the URL, so that no log line or error shows them.
    #[must_use]
    pub fn url(mut self, urls: &str) -> Self {
        self.url_credentials = None;
        self.urls = urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| {
                let (url, credentials) = split_credentials(u);
                if credentials.is_some() {
                    self.url_credentials = credentials;
                }
                url
            })
            .collect();
        self
    }

    /// The server URLs.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// Sets the connection name the server shows (`MICRO_NAME`).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Authenticates with a token.
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Authenticates with user and password.
    #[must_use]
    pub fn user_password(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = Some((user.into(), password.into()));
        self
    }

    /// Authenticates with an NKey seed.
    #[must_use]
    pub fn nkey(mut self, seed: impl Into<String>) -> Self {
        self.nkey = Some(seed.into());
        self
    }

    /// Authenticates with a credentials file (JWT and seed).
    #[must_use]
    pub fn credentials_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.creds = Some(path.into());
        self
    }

    /// Trusts the CA certificates in this PEM file (and requires TLS).
    #[must_use]
    pub fn tls_ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_ca = Some(path.into());
        self
    }

    /// Presents this client certificate and key (PEM files).
    #[must_use]
    pub fn tls_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls_cert = Some(cert.into());
        self.tls_key = Some(key.into());
        self
    }

    /// Prefixes every endpoint subject (`acme.prod` → `acme.prod.greeter.hello`).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// How long connecting to one server may take at start-up (default 2 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long discovery (`list_services`, `get_service`, `stats`, `watch`) collects replies
    /// from the instances (default 300 ms).
    #[must_use]
    pub fn discovery_timeout(mut self, timeout: Duration) -> Self {
        self.discovery_timeout = timeout;
        self
    }

    /// The discovery timeout.
    pub fn get_discovery_timeout(&self) -> Duration {
        self.discovery_timeout
    }

    /// How many subscriptions each instance makes per endpoint with a queue group, each served
    /// by its own loop (`MICRO_NATS_INTAKES`); by default one per runtime worker but one (the
    /// connection's own task keeps about one busy), at least one. Clamped to 1..=64.
    #[must_use]
    pub fn intakes(mut self, intakes: usize) -> Self {
        self.intakes = Some(intakes.clamp(1, MAX_INTAKES));
        self
    }

    /// The subscriptions per endpoint set with [`intakes`](Self::intakes), if any.
    pub fn get_intakes(&self) -> Option<usize> {
        self.intakes
    }

    /// The subject scheme these options configure.
    pub fn subjects(&self) -> Result<Subjects, Error> {
        Subjects::new(self.prefix.as_deref())
    }

    /// Checks every setting, reporting all problems at once.
    pub fn validate(&self) -> Result<(), Error> {
        let mut errors = self.errors.clone();
        if self.urls.is_empty() {
            errors.push("MICRO_NATS_URL names no server".to_owned());
        }
        for url in &self.urls {
            if let Err(why) = check_url(url) {
                errors.push(format!("invalid NATS URL `{url}` in MICRO_NATS_URL: {why}"));
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            errors
                .push("MICRO_NATS_TLS_CERT and MICRO_NATS_TLS_KEY must be set together".to_owned());
        }
        if let Err(err) = self.subjects() {
            errors.push(err.detail().to_owned());
        }
        for (path, var) in [
            (&self.creds, "MICRO_NATS_CREDS"),
            (&self.tls_ca, "MICRO_NATS_TLS_CA"),
            (&self.tls_cert, "MICRO_NATS_TLS_CERT"),
            (&self.tls_key, "MICRO_NATS_TLS_KEY"),
        ] {
            if let Some(path) = path
                && let Err(e) = std::fs::metadata(path)
            {
                errors.push(format!("cannot read `{}` ({var}): {e}", path.display()));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::bad_request(errors.join("; ")))
        }
    }

    /// The async-nats options: auth, TLS, name, a short connect timeout and no retry at
    /// start-up (a missing server is reported at once; later outages reconnect).
    pub(crate) async fn connect_options(
        &self,
        events: Arc<EventLog>,
    ) -> Result<async_nats::ConnectOptions, Error> {
        let mut o = async_nats::ConnectOptions::new()
            .connection_timeout(self.connect_timeout)
            // Reconnect forever once connected, quickly at first.
            .max_reconnects(None)
            .reconnect_delay_callback({
                let events = events.clone();
                move |attempt| reconnect_delay(attempt, events.auth_failing())
            })
            .event_callback(move |event| {
                events.log(event);
                std::future::ready(())
            });
        if let Some(name) = &self.name {
            o = o.name(name);
        }
        let (mut token, mut user) = (self.token.clone(), self.user.clone());
        if token.is_none() && user.is_none() {
            match self.url_credentials.clone() {
                Some(UrlCredentials::Token(t)) => token = Some(t),
                Some(UrlCredentials::User(u, p)) => user = Some((u, p)),
                None => {}
            }
        }
        if let Some(token) = token {
            o = o.token(token);
        }
        if let Some((user, password)) = user {
            o = o.user_and_password(user, password);
        }
        if let Some(seed) = &self.nkey {
            o = o.nkey(seed.clone());
        }
        if let Some(path) = &self.creds {
            o = o.credentials_file(path).await.map_err(|e| {
                Error::bad_request(format!(
                    "cannot read the NATS credentials file `{}` (MICRO_NATS_CREDS): {e}",
                    path.display()
                ))
            })?;
        }
        if let Some(ca) = &self.tls_ca {
            o = o.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            o = o.add_client_certificate(cert.clone(), key.clone());
        }
        Ok(o)
    }
}

/// Logs connection events, which async-nats otherwise reports only at its own `info`/`debug`
/// level: above all slow-consumer drops (a subscription whose buffer is full loses messages,
/// counted here), lost connections and refused credentials.
#[derive(Debug, Default)]
pub(crate) struct EventLog {
    /// When the last slow-consumer warning was written, and the drops counted by then: a flood
    /// of drops brings a flood of events, so the warnings are rate-limited.
    slow: Mutex<(Option<Instant>, u64)>,
    /// The connection's counters, once connected: async-nats counts every drop there, while
    /// its events (sent through a bounded channel) may miss some.
    statistics: OnceLock<Arc<async_nats::Statistics>>,
    /// Reconnect attempts the server refused for our credentials since the last connect, and
    /// when that was last logged (a rotated token would otherwise log every attempt).
    refused: Mutex<(u64, Option<Instant>)>,
}

/// How long to wait before reconnect attempt `attempt`: quickly at first (a restarted server is
/// back within a second or two), and much more slowly while the server refuses our credentials,
/// which retrying will not fix until someone changes them.
fn reconnect_delay(attempt: usize, refused: bool) -> Duration {
    if refused {
        let secs = 5u64.saturating_mul(attempt.clamp(1, 6) as u64);
        return Duration::from_secs(secs);
    }
    let ms = 50u64.saturating_mul(1 << attempt.min(6));
    Duration::from_millis(ms.min(2_000))
}

/// At most one "credentials refused" line per this interval while reconnecting.
const REFUSED_WARN_EVERY: Duration = Duration::from_secs(30);

/// At most one slow-consumer warning per this interval.
const SLOW_CONSUMER_WARN_EVERY: Duration = Duration::from_secs(1);

impl EventLog {
    /// Reads the connection's counters from now on.
    pub(crate) fn attach(&self, statistics: Arc<async_nats::Statistics>) {
        let _ = self.statistics.set(statistics);
    }

    /// Messages dropped so far because a subscription's buffer was full.
    pub(crate) fn slow_consumer_drops(&self) -> u64 {
        self.statistics
            .get()
            .map_or(0, |s| s.slow_consumer_drops.load(Ordering::Relaxed))
    }

    pub(crate) fn log(&self, event: Event) {
        match event {
            Event::SlowConsumer(sid) => self.slow_consumer(sid),
            Event::Connected => {
                self.lock_refused().0 = 0;
                tracing::info!("connected to NATS");
            }
            Event::Disconnected => tracing::warn!("disconnected from NATS; reconnecting"),
            Event::LameDuckMode => tracing::warn!(
                "the NATS server entered lame duck mode and will shut down; reconnect elsewhere"
            ),
            Event::ServerError(err) => tracing::warn!(error = %err, "NATS server error"),
            Event::ClientError(err) if is_refusal(&err.to_string()) => self.refused(&err),
            Event::ClientError(err) => tracing::warn!(error = %err, "NATS client error"),
            Event::Draining => tracing::debug!("NATS connection draining"),
            Event::Closed => tracing::debug!("NATS connection closed"),
        }
    }

    fn lock_refused(&self) -> std::sync::MutexGuard<'_, (u64, Option<Instant>)> {
        self.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the server refused our credentials on the last reconnect attempt.
    pub(crate) fn auth_failing(&self) -> bool {
        self.lock_refused().0 > 0
    }

    fn refused(&self, err: &async_nats::ClientError) {
        let mut refused = self.lock_refused();
        let (attempts, last) = &mut *refused;
        *attempts += 1;
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < REFUSED_WARN_EVERY) {
            return;
        }
        *last = Some(now);
        tracing::error!(
            error = %err,
            attempts = *attempts,
            "the NATS server refuses this process's credentials (were they rotated?); retrying \
             every few seconds: check MICRO_NATS_TOKEN, MICRO_NATS_USER/MICRO_NATS_PASSWORD, \
             MICRO_NATS_NKEY or MICRO_NATS_CREDS"
        );
    }

    fn slow_consumer(&self, sid: u64) {
        let mut slow = self
            .slow
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (last, counted) = &mut *slow;
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < SLOW_CONSUMER_WARN_EVERY) {
            return;
        }
        // At least the one this event tells of, should the counters not be attached.
        let total = self.slow_consumer_drops().max(*counted + 1);
        tracing::warn!(
            subscription = sid,
            dropped = total - *counted,
            total,
            "slow consumer: messages are being dropped because the service cannot keep up \
             (the subscription's buffer is full); speed up handlers or add instances"
        );
        *last = Some(now);
        *counted = total;
    }
}

/// Credentials written into a server URL.
#[derive(Clone)]
enum UrlCredentials {
    /// `nats://TOKEN@host`.
    Token(String),
    /// `nats://USER:PASSWORD@host`.
    User(String, String),
}

/// `url` without its user info, and the credentials it held. Done on the text, so that even a
/// URL that does not parse loses its secret before any message names it.
fn split_credentials(url: &str) -> (String, Option<UrlCredentials>) {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    let decode = |s: &str| percent_decode(s);
    let credentials = match userinfo.split_once(':') {
        Some((user, password)) => UrlCredentials::User(decode(user), decode(password)),
        None => UrlCredentials::Token(decode(userinfo)),
    };
    let stripped = match scheme {
        Some(scheme) => format!("{scheme}://{host}{path}"),
        None => format!("{host}{path}"),
    };
    (stripped, Some(credentials))
}

/// `%XX` escapes decoded (user info may escape `@`, `:` and `/`); invalid ones kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a connect error is the server refusing our credentials.
fn is_refusal(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    [
        "authorization violation",
        "authentication",
        "user authentication expired",
    ]
    .iter()
    .any(|what| error.contains(what))
}

fn check_url(url: &str) -> Result<(), String> {
    if url.chars().any(char::is_whitespace) {
        return Err("it contains whitespace".to_owned());
    }
    let addr = ServerAddr::from_str(url).map_err(|e| e.to_string())?;
    match addr.scheme() {
        "nats" | "tls" | "ws" | "wss" => {}
        other => {
            return Err(format!(
                "unsupported scheme `{other}`: use nats://, tls://, ws:// or wss://"
            ));
        }
    }
    if addr.host().is_empty() {
        return Err("it has no host".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_consumer_warnings_are_rate_limited() {
        let log = EventLog::default();
        let statistics = Arc::new(async_nats::Statistics::default());
        log.attach(statistics.clone());
        statistics.slow_consumer_drops.store(1, Ordering::Relaxed);
        log.log(Event::SlowConsumer(1));
        // The first drop is reported at once; the next ones within the interval are not.
        let first = log.slow.lock().unwrap().0;
        assert!(first.is_some());
        assert_eq!(log.slow.lock().unwrap().1, 1);
        statistics.slow_consumer_drops.store(3, Ordering::Relaxed);
        log.log(Event::SlowConsumer(1));
        log.log(Event::SlowConsumer(1));
        assert_eq!(*log.slow.lock().unwrap(), (first, 1));
        assert_eq!(log.slow_consumer_drops(), 3);
        log.log(Event::Disconnected);
        log.log(Event::Connected);
    }

    #[test]
    fn refused_credentials_back_off_and_are_logged_once_per_interval() {
        // Quick while the server is only away, slow while it refuses us.
        assert_eq!(reconnect_delay(1, false), Duration::from_millis(100));
        assert_eq!(reconnect_delay(10, false), Duration::from_secs(2));
        assert_eq!(reconnect_delay(1, true), Duration::from_secs(5));
        assert_eq!(reconnect_delay(100, true), Duration::from_secs(30));
        let log = EventLog::default();
        assert!(!log.auth_failing());
        let refusal = || {
            Event::ClientError(async_nats::ClientError::Other(
                "authorization violation: nats: authorization violation".to_owned(),
            ))
        };
        for _ in 0..5 {
            log.log(refusal());
        }
        assert!(log.auth_failing());
        let (attempts, logged) = *log.lock_refused();
        assert_eq!(attempts, 5);
        assert!(logged.is_some());
        // Connected again: back to quick reconnects.
        log.log(Event::Connected);
        assert!(!log.auth_failing());
        assert!(!is_refusal("connection refused (os error 111)"));
    }

    #[test]
    fn credentials_are_taken_out_of_urls() {
        let token = |u: &str| match split_credentials(u) {
            (url, Some(UrlCredentials::Token(t))) => (url, t),
            _ => panic!("{u}: no token"),
        };
        assert_eq!(
            token("nats://s3cret@host:4222"),
            ("nats://host:4222".to_owned(), "s3cret".to_owned())
        );
        assert_eq!(token("tok@host"), ("host".to_owned(), "tok".to_owned()));
        match split_credentials("tls://ada:p%40ss%3Aw@host:4443/x") {
            (url, Some(UrlCredentials::User(user, password))) => {
                assert_eq!(url, "tls://host:4443/x");
                assert_eq!((user.as_str(), password.as_str()), ("ada", "p@ss:w"));
            }
            _ => panic!("no user"),
        }
        assert!(split_credentials("nats://host:4222").1.is_none());
        // Options built from such URLs keep the secret out of the URLs they name.
        let o = NatsOptions::new().url("nats://a:4222, nats://secret@b:4222");
        assert_eq!(o.urls(), ["nats://a:4222", "nats://b:4222"]);
        assert!(!format!("{o:?}").contains("secret"));
    }

    #[test]
    fn reads_config_keys() {
        let config = Config::from_pairs([
            ("nats-url", "nats://a:4222, nats://b:4222"),
            ("nats-token", "t"),
            ("nats-prefix", "acme"),
            ("name", "node-1"),
        ]);
        let o = NatsOptions::from_config(&config);
        assert_eq!(o.urls(), ["nats://a:4222", "nats://b:4222"]);
        assert_eq!(o.token.as_deref(), Some("t"));
        assert_eq!(o.name.as_deref(), Some("node-1"));
        assert_eq!(o.subjects().unwrap().prefix(), Some("acme"));
        o.validate().unwrap();
        assert!(
            !format!("{o:?}").contains("\"t\""),
            "token leaked into Debug"
        );
    }

    #[test]
    fn defaults_to_localhost() {
        let o = NatsOptions::from_config(&Config::default());
        assert_eq!(o.urls(), [DEFAULT_URL]);
        o.validate().unwrap();
    }

    #[test]
    fn bad_settings_are_all_reported() {
        let o = NatsOptions::new()
            .url("http://x:1,nats://ok:4222,nats://bad host")
            .prefix("a..b");
        let err = o.validate().unwrap_err();
        assert_eq!(err.code(), 400);
        for needle in ["`http://x:1`", "scheme", "nats://bad host", "a..b"] {
            assert!(err.detail().contains(needle), "{needle}: {err}");
        }
        let o = NatsOptions::from_config(&Config::from_pairs([("nats-password", "p")]));
        assert!(
            o.validate()
                .unwrap_err()
                .detail()
                .contains("MICRO_NATS_USER")
        );
    }
}
