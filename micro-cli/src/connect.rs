//! How the toolkit reaches services: NATS connection flags and `MICRO_*` variables.

use std::path::PathBuf;
use std::time::Duration;

use micro_core::Client;
use micro_core::client::CallOptions;
use micro_core::service::{Backend, Config};
use micro_nats::{Nats, NatsOptions};

use crate::CliError;

/// The server `micro` connects to when neither `--nats-url` nor `MICRO_NATS_URL` names one.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

// The variables are read by `Config::from_env`, not by clap: a flag clap fills from the
// environment counts as given, and its error messages then print it in their usage line
// (`micro call --nats-url <URL> ...`) as if it were required. `--help` names each variable, and
// never its value (some are secrets).
/// The NATS connection options of micro-nats, as flags with `MICRO_*` environment variables.
///
/// Every other `MICRO_*` variable (`MICRO_BACKEND`, `MICRO_CLIENT_TIMEOUT`, `MICRO_CODEC`, ...)
/// is read as a service reads it (see [`micro_core::service::Config`]).
#[derive(Clone, Debug, Default, clap::Args)]
#[non_exhaustive]
pub struct ConnectArgs {
    /// NATS server URL; comma-separated for a cluster. [env: MICRO_NATS_URL] [default:
    /// nats://127.0.0.1:4222]
    #[arg(long, global = true, value_name = "URL", help_heading = "Connection")]
    pub nats_url: Option<String>,
    /// Token authentication. [env: MICRO_NATS_TOKEN]
    #[arg(long, global = true, value_name = "TOKEN", help_heading = "Connection")]
    pub nats_token: Option<String>,
    /// User for user/password authentication. [env: MICRO_NATS_USER]
    #[arg(long, global = true, value_name = "USER", help_heading = "Connection")]
    pub nats_user: Option<String>,
    /// Password for user/password authentication. [env: MICRO_NATS_PASSWORD]
    #[arg(
        long,
        global = true,
        value_name = "PASSWORD",
        help_heading = "Connection"
    )]
    pub nats_password: Option<String>,
    /// Credentials file (JWT and NKey seed). [env: MICRO_NATS_CREDS]
    #[arg(long, global = true, value_name = "FILE", help_heading = "Connection")]
    pub nats_creds: Option<PathBuf>,
    /// NKey seed (`SU...`). [env: MICRO_NATS_NKEY]
    #[arg(long, global = true, value_name = "SEED", help_heading = "Connection")]
    pub nats_nkey: Option<String>,
    /// CA certificate (PEM) to verify the server with; implies TLS. [env: MICRO_NATS_TLS_CA]
    #[arg(long, global = true, value_name = "FILE", help_heading = "Connection")]
    pub nats_tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS. [env: MICRO_NATS_TLS_CERT]
    #[arg(long, global = true, value_name = "FILE", help_heading = "Connection")]
    pub nats_tls_cert: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS. [env: MICRO_NATS_TLS_KEY]
    #[arg(long, global = true, value_name = "FILE", help_heading = "Connection")]
    pub nats_tls_key: Option<PathBuf>,
    /// Subject prefix the services use (`acme.prod` → `acme.prod.greeter.hello`). [env: MICRO_NATS_PREFIX]
    #[arg(
        long,
        global = true,
        value_name = "PREFIX",
        help_heading = "Connection"
    )]
    pub nats_prefix: Option<String>,
    /// How long discovery (`$SRV.PING/INFO/STATS`) waits for instances to answer (300ms by
    /// default). [env: MICRO_NATS_DISCOVERY_TIMEOUT]
    #[arg(
        long,
        value_parser = parse_duration,
        global = true,
        value_name = "DURATION",
        help_heading = "Connection"
    )]
    pub discovery_timeout: Option<Duration>,
}

/// A connected client, plus the NATS connection when the backend is NATS.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Connection {
    /// The client: calls, publishing, the registry.
    pub client: Client,
    /// The NATS connection, for protocol-level tools such as `$SRV.PING`.
    pub nats: Option<Nats>,
    /// How long discovery waits for answers.
    pub discovery_timeout: Duration,
}

impl ConnectArgs {
    /// The configuration these flags describe, on top of the `MICRO_*` environment.
    pub fn config(&self) -> Config {
        let mut config = Config::from_env();
        match &self.nats_url {
            Some(url) => config.set("nats-url", url.clone()),
            None if config.get("nats-url").is_none() => {
                config.set("nats-url", DEFAULT_NATS_URL.to_owned());
            }
            None => {}
        }
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let pairs = [
            ("nats-token", self.nats_token.clone()),
            ("nats-user", self.nats_user.clone()),
            ("nats-password", self.nats_password.clone()),
            ("nats-creds", path(&self.nats_creds)),
            ("nats-nkey", self.nats_nkey.clone()),
            ("nats-tls-ca", path(&self.nats_tls_ca)),
            ("nats-tls-cert", path(&self.nats_tls_cert)),
            ("nats-tls-key", path(&self.nats_tls_key)),
            ("nats-prefix", self.nats_prefix.clone()),
        ];
        for (key, value) in pairs {
            if let Some(value) = value {
                config.set(key, value);
            }
        }
        if config.name.is_none() {
            config.set("name", "micro-cli".to_owned());
        }
        config
    }

    /// Connects to the backend the configuration names (NATS unless `MICRO_BACKEND` says
    /// otherwise); the client has the configured default timeout and codec.
    pub async fn connect(&self) -> Result<Connection, CliError> {
        micro_nats::install();
        let config = self.config();
        config.validate()?;
        let mut options = CallOptions::default().content_type(config.codec);
        options.timeout = config.client_timeout;
        if config.backend_name() == "nats" {
            let mut nats_options = NatsOptions::from_config(&config);
            if let Some(timeout) = self.discovery_timeout {
                nats_options = nats_options.discovery_timeout(timeout);
            }
            let discovery_timeout = nats_options.get_discovery_timeout();
            let nats = Nats::connect(nats_options).await?;
            return Ok(Connection {
                client: nats.micro_client().with_options(options),
                nats: Some(nats),
                discovery_timeout,
            });
        }
        let backend = Backend::from_config(&config).await?;
        Ok(Connection {
            client: backend.client().with_options(options),
            nats: None,
            discovery_timeout: self.discovery_timeout.unwrap_or(Duration::from_millis(300)),
        })
    }

    /// Connects and returns just the client.
    pub async fn client(&self) -> Result<Client, CliError> {
        Ok(self.connect().await?.client)
    }
}

/// Parses `1500ms`, `30s`, `2m`, `1h` or a bare number of seconds (`2.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    match micro_core::service::parse_duration(s) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "expected a duration such as `5s` or `500ms`, got `{}`",
            s.trim()
        )),
    }
}

/// Parses a `key=value` pair (the `--header` flag).
pub fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected `key=value`, got `{s}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn pairs() {
        assert_eq!(
            parse_pair("x-user=alice=b"),
            Ok(("x-user".to_owned(), "alice=b".to_owned()))
        );
        assert!(parse_pair("novalue").is_err());
        assert!(parse_pair("=v").is_err());
    }

    #[test]
    fn flags_become_config_keys() {
        let args = ConnectArgs {
            nats_url: Some("nats://127.0.0.1:4999".into()),
            nats_token: Some("t".into()),
            nats_tls_ca: Some(PathBuf::from("/etc/ca.pem")),
            ..ConnectArgs::default()
        };
        let config = args.config();
        assert_eq!(config.get("nats-url"), Some("nats://127.0.0.1:4999"));
        assert_eq!(config.get("nats-token"), Some("t"));
        assert_eq!(config.get("nats-tls-ca"), Some("/etc/ca.pem"));
        assert_eq!(config.backend_name(), "nats");
    }
}
