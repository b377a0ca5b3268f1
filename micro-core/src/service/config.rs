//! Runtime configuration from `MICRO_*` environment variables and `--micro-*` flags.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::Error;
use crate::codec::ContentType;

/// Settings of a [`Service`](crate::Service) and of the backend it connects to.
///
/// Every setting has an environment variable `MICRO_<KEY>` and a flag `--micro-<key>` (or
/// `--micro-<key>=<value>`), the flag winning; keys are the variable names lowercased with `_`
/// written as `-`. Unknown `MICRO_*` keys are kept in [`Config::get`] for backends (the NATS
/// backend reads `MICRO_NATS_URL` and its auth settings from there).
///
/// | variable | default | meaning |
/// |---|---|---|
/// | `MICRO_BACKEND` | `memory`, or `nats` when `MICRO_NATS_URL` is set | which backend serves |
/// | `MICRO_NAME` | the binary's name | node name (connection name, logs) |
/// | `MICRO_VERSION` | the trait's `version` | version reported by every service served |
/// | `MICRO_METADATA` | none | `k=v,k2=v2` added to every instance's metadata |
/// | `MICRO_QUEUE_GROUP` | `q` | queue group of every endpoint; `none` disables it |
/// | `MICRO_MAX_CONCURRENCY` | `1024` | requests handled at once per service instance |
/// | `MICRO_SHUTDOWN_TIMEOUT` | `30s` | how long a stop waits for requests in flight |
/// | `MICRO_CLIENT_TIMEOUT` | none (calls wait 5 s, no deadline sent) | deadline of every client call, sent along |
/// | `MICRO_CODEC` | `json` | codec of client calls and events: `json` or `msgpack` |
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Which backend serves (`memory`, `nats`, ...); `None` picks one from the other settings.
    pub backend: Option<String>,
    /// Node name.
    pub name: Option<String>,
    /// Overrides the version of every service served (semver).
    pub version: Option<String>,
    /// Metadata added to every instance.
    pub metadata: BTreeMap<String, String>,
    /// Queue group of every endpoint; `None` means no queue group (every instance answers).
    pub queue_group: Option<String>,
    /// Requests handled at once per service instance.
    pub max_concurrency: usize,
    /// How long a stop waits for requests in flight.
    pub shutdown_timeout: Duration,
    /// Deadline of every client call; `None` leaves calls without one (they wait
    /// [`DEFAULT_TIMEOUT`](crate::client::DEFAULT_TIMEOUT)).
    pub client_timeout: Option<Duration>,
    /// Codec of client calls and events.
    pub codec: ContentType,
    raw: BTreeMap<String, String>,
    errors: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            backend: None,
            name: None,
            version: None,
            metadata: BTreeMap::new(),
            queue_group: Some("q".to_owned()),
            max_concurrency: 1024,
            shutdown_timeout: Duration::from_secs(30),
            client_timeout: None,
            codec: ContentType::Json,
            raw: BTreeMap::new(),
            errors: Vec::new(),
        }
    }
}

impl Config {
    /// Reads `MICRO_*` variables from the environment and `--micro-*` flags from the command line.
    pub fn from_env() -> Self {
        let mut raw = BTreeMap::new();
        for (key, value) in std::env::vars() {
            if let Some(rest) = key.strip_prefix("MICRO_") {
                raw.insert(rest.to_ascii_lowercase().replace('_', "-"), value);
            }
        }
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let Some(flag) = arg.strip_prefix("--micro-") else {
                continue;
            };
            match flag.split_once('=') {
                Some((k, v)) => {
                    raw.insert(k.to_owned(), v.to_owned());
                }
                None => {
                    if let Some(v) = args.next() {
                        raw.insert(flag.to_owned(), v);
                    }
                }
            }
        }
        Self::from_pairs(raw)
    }

    /// Builds a configuration from `key → value` pairs (keys as in the flags: `nats-url`).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut config = Config::default();
        for (k, v) in pairs {
            config.set(&k.into(), v.into());
        }
        config
    }

    /// Sets one key (flag spelling: `max-concurrency`), parsing it into the typed fields.
    pub fn set(&mut self, key: &str, value: String) {
        let key = key.to_ascii_lowercase().replace('_', "-");
        let var = format!("MICRO_{}", key.to_ascii_uppercase().replace('-', "_"));
        match key.as_str() {
            "backend" => self.backend = Some(value.clone()).filter(|v| !v.is_empty()),
            "name" => self.name = Some(value.clone()).filter(|v| !v.is_empty()),
            "version" => {
                if let Err(err) = super::validate_version(&value) {
                    self.errors.push(format!("{var}: {}", err.detail));
                }
                self.version = Some(value.clone());
            }
            "metadata" => {
                for pair in value.split(',').filter(|p| !p.trim().is_empty()) {
                    match pair.split_once('=') {
                        Some((k, v)) => {
                            self.metadata
                                .insert(k.trim().to_owned(), v.trim().to_owned());
                        }
                        None => self
                            .errors
                            .push(format!("{var}: `{pair}` is not of the form key=value")),
                    }
                }
            }
            "queue-group" => {
                self.queue_group = match value.as_str() {
                    "" | "none" => None,
                    q if crate::broker::validate_queue(q).is_err() => {
                        self.errors
                            .push(format!("{var}: `{q}` is not a valid queue group"));
                        self.queue_group.take()
                    }
                    q => Some(q.to_owned()),
                }
            }
            "max-concurrency" => match value.parse::<usize>() {
                Ok(n) if n > 0 && n <= MAX_CONCURRENCY => self.max_concurrency = n,
                _ => self.errors.push(format!(
                    "{var}: expected an integer from 1 to {MAX_CONCURRENCY}, got `{value}`"
                )),
            },
            "shutdown-timeout" => match parse_duration(&value) {
                Some(d) => self.shutdown_timeout = d,
                None => self.errors.push(format!(
                    "{var}: expected a duration such as `30s` or `500ms`, got `{value}`"
                )),
            },
            "client-timeout" => match parse_duration(&value) {
                Some(d) if !d.is_zero() => self.client_timeout = Some(d),
                _ => self.errors.push(format!(
                    "{var}: expected a duration such as `5s` or `500ms`, got `{value}`"
                )),
            },
            "codec" => match value.parse::<ContentType>() {
                Ok(ct) => self.codec = ct,
                Err(_) => self.errors.push(format!(
                    "{var}: expected `json` or `msgpack`, got `{value}`"
                )),
            },
            _ => {}
        }
        self.raw.insert(key, value);
    }

    /// The raw value of any key (flag spelling), including backend-specific ones such as
    /// `nats-url`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.raw.get(key).map(String::as_str)
    }

    /// The backend to use: the explicit one, else `nats` when `nats-url` is set, else `memory`.
    pub fn backend_name(&self) -> &str {
        match &self.backend {
            Some(b) => b,
            None if self.get("nats-url").is_some() => "nats",
            None => "memory",
        }
    }

    /// Fails with every invalid setting, one per line.
    pub fn validate(&self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::bad_request(format!(
                "invalid configuration: {}",
                self.errors.join("; ")
            )))
        }
    }
}

/// The largest concurrency limit a service accepts; far more than any machine can run at once.
pub const MAX_CONCURRENCY: usize = tokio::sync::Semaphore::MAX_PERMITS;

/// Parses `1500ms`, `30s`, `2m`, `1h` or a bare number of seconds (`2.5`): the duration syntax
/// of every `MICRO_*` setting, shared with the `micro` command line.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_typed_settings() {
        let c = Config::from_pairs([
            ("metadata", "region=eu, tier = gold"),
            ("queue-group", "workers"),
            ("max-concurrency", "8"),
            ("shutdown-timeout", "1500ms"),
            ("client-timeout", "2s"),
            ("codec", "msgpack"),
            ("nats-url", "nats://127.0.0.1:4222"),
        ]);
        c.validate().unwrap();
        assert_eq!(c.metadata.get("tier").map(String::as_str), Some("gold"));
        assert_eq!(c.queue_group.as_deref(), Some("workers"));
        assert_eq!(c.max_concurrency, 8);
        assert_eq!(c.shutdown_timeout, Duration::from_millis(1500));
        assert_eq!(c.client_timeout, Some(Duration::from_secs(2)));
        assert_eq!(c.codec, ContentType::MsgPack);
        assert_eq!(c.backend_name(), "nats");
        assert_eq!(Config::default().backend_name(), "memory");
    }

    #[test]
    fn reports_every_bad_setting() {
        let c = Config::from_pairs([
            ("max-concurrency", "zero"),
            ("codec", "xml"),
            ("metadata", "novalue"),
        ]);
        let err = c.validate().unwrap_err().to_string();
        for needle in ["MICRO_MAX_CONCURRENCY", "MICRO_CODEC", "MICRO_METADATA"] {
            assert!(err.contains(needle), "{err}");
        }
        let huge = Config::from_pairs([("max-concurrency", usize::MAX.to_string())]);
        let err = huge.validate().unwrap_err().to_string();
        assert!(err.contains("MICRO_MAX_CONCURRENCY"), "{err}");
    }

    #[test]
    fn queue_group_can_be_disabled() {
        assert_eq!(
            Config::from_pairs([("queue-group", "none")]).queue_group,
            None
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2.5"), Some(Duration::from_millis(2500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
    }
}
