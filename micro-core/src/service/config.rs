//! Runtime configuration from `MICRO_*` environment variables and `--micro-*` flags.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::time::Duration;

use crate::Error;
use crate::codec::ContentType;
use crate::schema::SchemaCheck;

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
/// | `MICRO_SCHEMA_CHECK` | `refuse` | a running instance of the same name and version with other schemas: `refuse` to start, `warn` and start, or `off` (do not look) |
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
    /// What a start does when running instances of the same name and version announce other
    /// schemas (see [`schema::check`](crate::schema::check)).
    pub schema_check: SchemaCheck,
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
            schema_check: SchemaCheck::default(),
            raw: BTreeMap::new(),
            errors: Vec::new(),
        }
    }
}

impl Config {
    /// Reads `MICRO_*` variables from the environment and `--micro-*` flags from the command line.
    ///
    /// Nothing here panics on input that is not UTF-8: other variables and arguments are
    /// skipped whatever they hold, and a `MICRO_*` variable or `--micro-*` flag that is not
    /// UTF-8 is an error [`validate`](Config::validate) reports. An application with its own
    /// command-line parser gives it [`Config::app_args`], the command line without the
    /// `--micro-*` flags.
    pub fn from_env() -> Self {
        Self::from_sources(std::env::vars_os(), std::env::args_os().skip(1))
    }

    /// [`from_env`](Config::from_env) from given variables and arguments (without the program
    /// name), for tests and for programs that assemble their own.
    pub fn from_sources(
        vars: impl IntoIterator<Item = (OsString, OsString)>,
        args: impl IntoIterator<Item = OsString>,
    ) -> Self {
        let mut raw = BTreeMap::new();
        let mut errors = Vec::new();
        for (key, value) in vars {
            let Some(rest) = key.to_str().and_then(|k| k.strip_prefix("MICRO_")) else {
                continue;
            };
            match value.into_string() {
                Ok(value) => {
                    raw.insert(rest.to_ascii_lowercase().replace('_', "-"), value);
                }
                Err(_) => errors.push(format!("MICRO_{rest} is not valid UTF-8")),
            }
        }
        let (flags, _) = split_args(args);
        for flag in flags {
            match flag {
                Ok((key, value)) => {
                    raw.insert(key, value);
                }
                Err(why) => errors.push(why),
            }
        }
        let mut config = Self::from_pairs(raw);
        config.errors.extend(errors);
        config
    }

    /// The command line without the `--micro-*` flags and their values (the program name
    /// first), for an application's own parser, such as clap's `Parser::parse_from`:
    ///
    /// ```no_run
    /// let args = micro_core::service::Config::app_args();
    /// // let cli = MyCli::parse_from(args);
    /// # let _ = args;
    /// ```
    pub fn app_args() -> Vec<OsString> {
        let mut all = std::env::args_os();
        let program = all.next();
        let (_, rest) = split_args(all);
        program.into_iter().chain(rest).collect()
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
            "schema-check" => match value.parse::<SchemaCheck>() {
                Ok(check) => self.schema_check = check,
                Err(err) => self.errors.push(format!("{var}: {err}")),
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

/// One `--micro-*` flag read from the command line: `(key, value)`, or why it could not be.
type Flag = Result<(String, String), String>;

/// Splits a command line (without the program name) into the `--micro-*` flags, as
/// `--micro-key=value` or `--micro-key value`, and everything else, in order. A bare `--` ends
/// the flags: what follows belongs to the application, `--micro-` or not.
fn split_args(args: impl IntoIterator<Item = OsString>) -> (Vec<Flag>, Vec<OsString>) {
    let mut flags = Vec::new();
    let mut rest = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            rest.push(arg);
            rest.extend(args);
            break;
        }
        let Some(flag) = arg.to_str().and_then(|a| a.strip_prefix("--micro-")) else {
            // Not ours, or not UTF-8 (then not ours either: our flags are ASCII).
            rest.push(arg);
            continue;
        };
        let (key, value) = match flag.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (flag, None),
        };
        // Spelt as the variables are read (`--micro-NATS_URL` is `--micro-nats-url`), so a
        // flag overrides its variable however it is written.
        let key = key.to_ascii_lowercase().replace('_', "-");
        if key.is_empty() {
            // `--micro-` alone names no setting: it must not take the next argument with it.
            flags.push(Err(format!("`{flag}` names no setting (`--micro-<key>`)")));
            continue;
        }
        let flag = key;
        match value {
            Some(v) => flags.push(Ok((flag, v.to_owned()))),
            None => match args.next().map(OsString::into_string) {
                Some(Ok(v)) => flags.push(Ok((flag, v))),
                Some(Err(_)) => flags.push(Err(format!(
                    "the value of --micro-{flag} is not valid UTF-8"
                ))),
                None => flags.push(Err(format!("--micro-{flag} needs a value"))),
            },
        }
    }
    (flags, rest)
}

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
            ("schema-check", "warn"),
        ]);
        c.validate().unwrap();
        assert_eq!(c.metadata.get("tier").map(String::as_str), Some("gold"));
        assert_eq!(c.queue_group.as_deref(), Some("workers"));
        assert_eq!(c.max_concurrency, 8);
        assert_eq!(c.shutdown_timeout, Duration::from_millis(1500));
        assert_eq!(c.client_timeout, Some(Duration::from_secs(2)));
        assert_eq!(c.codec, ContentType::MsgPack);
        assert_eq!(c.schema_check, SchemaCheck::Warn);
        assert!(
            Config::from_pairs([("schema-check", "maybe")])
                .validate()
                .is_err()
        );
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

#[cfg(test)]
mod source_tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    fn os(s: &str) -> OsString {
        OsString::from(s)
    }

    fn not_utf8() -> OsString {
        OsString::from_vec(vec![0x66, 0x6f, 0xff, 0x6f])
    }

    #[test]
    fn variables_and_flags_are_read_and_others_left_alone() {
        let config = Config::from_sources(
            [
                (os("MICRO_NATS_URL"), os("nats://127.0.0.1:4999")),
                (os("MICRO_CLIENT_TIMEOUT"), os("2s")),
                (os("PATH"), os("/bin")),
                // Somebody else's variable that is not UTF-8: skipped, no panic.
                (not_utf8(), not_utf8()),
                (os("HOME"), not_utf8()),
            ],
            [
                os("serve"),
                os("--micro-name=api"),
                os("--micro-codec"),
                os("msgpack"),
                os("--verbose"),
                not_utf8(),
            ],
        );
        config.validate().unwrap();
        assert_eq!(config.get("nats-url"), Some("nats://127.0.0.1:4999"));
        assert_eq!(config.client_timeout, Some(Duration::from_secs(2)));
        assert_eq!(config.name.as_deref(), Some("api"));
        assert_eq!(config.codec, ContentType::MsgPack);
    }

    #[test]
    fn our_settings_that_are_not_utf8_are_errors_not_panics() {
        let config = Config::from_sources(
            [(os("MICRO_NATS_URL"), not_utf8())],
            [os("--micro-name"), not_utf8(), os("--micro-version")],
        );
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("MICRO_NATS_URL is not valid UTF-8"), "{err}");
        assert!(err.contains("--micro-name is not valid UTF-8"), "{err}");
        assert!(err.contains("--micro-version needs a value"), "{err}");
    }

    #[test]
    fn the_application_keeps_its_own_arguments() {
        let (flags, rest) = split_args([
            os("--port"),
            os("8080"),
            os("--micro-nats-url"),
            os("nats://h:1"),
            os("--micro-name=x"),
            os("input.txt"),
            os("--"),
            os("--micro-name=literal"),
        ]);
        assert_eq!(
            flags,
            [
                Ok(("nats-url".to_owned(), "nats://h:1".to_owned())),
                Ok(("name".to_owned(), "x".to_owned())),
            ]
        );
        assert_eq!(
            rest,
            [
                os("--port"),
                os("8080"),
                os("input.txt"),
                os("--"),
                os("--micro-name=literal"),
            ]
        );
    }

    #[test]
    fn a_flag_overrides_its_variable_however_it_is_spelt() {
        for flag in ["--micro-NATS_URL", "--micro-nats_url", "--micro-Nats-Url"] {
            let config = Config::from_sources(
                [(os("MICRO_NATS_URL"), os("nats://from-env:1"))],
                [os(flag), os("nats://from-flag:2")],
            );
            config.validate().unwrap();
            assert_eq!(config.get("nats-url"), Some("nats://from-flag:2"), "{flag}");
        }
    }

    #[test]
    fn a_bare_prefix_is_an_error_and_keeps_the_next_argument() {
        let (flags, rest) = split_args([os("--micro-"), os("input.txt"), os("--micro-=x")]);
        assert_eq!(flags.len(), 2);
        assert!(flags.iter().all(Result::is_err), "{flags:?}");
        assert_eq!(rest, [os("input.txt")]);
    }
}
