//! The command line: one module per subcommand.

pub mod api;
pub mod call;
pub mod check;
pub mod describe;
pub mod r#gen;
pub mod ping;
pub mod publish;
pub mod services;
pub mod stats;
pub mod subscribe;
pub mod web;

use std::io::{IsTerminal, Read};

use clap::{Parser, Subcommand};
use serde_json::Value;

use crate::CliError;
use crate::connect::ConnectArgs;

/// micro: list, describe, call and watch services that speak the NATS services protocol, and
/// serve them over HTTP (`micro api`) or in a browser (`micro web`).
#[derive(Debug, Parser)]
#[command(
    name = "micro",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[non_exhaustive]
pub struct Cli {
    /// Print machine-readable JSON (errors too, as one JSON line on stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// How to reach the services.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// List every service: versions, instance count, endpoint count.
    Services(services::Args),
    /// Show a service's instances (id, version, metadata, uptime) and endpoints (doc, subject,
    /// request and response shape).
    Describe(describe::Args),
    /// Call an endpoint with a JSON body and print the reply.
    Call(call::Args),
    /// Check that the running instances of each version of a service agree on their request
    /// and response schemas.
    Check(check::Args),
    /// Write a typed client package in TypeScript (`gen ts`) or Python (`gen py`) from a
    /// service's INFO.
    Gen(r#gen::Args),
    /// Publish a JSON event on a topic.
    Publish(publish::Args),
    /// Print the events published on a topic, one JSON line each, until Ctrl-C or `--count`.
    Subscribe(subscribe::Args),
    /// Show live figures of every instance: requests, errors, processing time.
    Stats(stats::Args),
    /// Measure discovery round-trip times of every instance.
    Ping(ping::Args),
    /// Serve an HTTP API gateway (and the dashboard under /ui).
    Api(api::Args),
    /// Serve the web dashboard.
    Web(web::Args),
}

/// Global settings every command sees.
#[derive(Debug)]
pub(crate) struct Globals {
    pub(crate) json: bool,
    pub(crate) connect: ConnectArgs,
}

impl Cli {
    /// Runs the command.
    pub async fn run(self) -> Result<(), CliError> {
        let g = Globals {
            json: self.json,
            connect: self.connect,
        };
        match self.command {
            Command::Services(args) => services::run(args, &g).await,
            Command::Describe(args) => describe::run(args, &g).await,
            Command::Call(args) => call::run(args, &g).await,
            Command::Check(args) => check::run(args, &g).await,
            Command::Gen(args) => r#gen::run(args, &g).await,
            Command::Publish(args) => publish::run(args, &g).await,
            Command::Subscribe(args) => subscribe::run(args, &g).await,
            Command::Stats(args) => stats::run(args, &g).await,
            Command::Ping(args) => ping::run(args, &g).await,
            Command::Api(args) => api::run(args, &g).await,
            Command::Web(args) => web::run(args, &g).await,
        }
    }
}

/// The JSON given as an argument, else read from stdin (unless stdin is a terminal), else `{}`.
pub(crate) fn json_input(arg: Option<String>, what: &'static str) -> Result<Value, CliError> {
    let text = match arg {
        Some(text) if text != "-" => text,
        _ if std::io::stdin().is_terminal() => return Ok(Value::Object(Default::default())),
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| CliError::Io {
                    what: "read stdin".into(),
                    source,
                })?;
            text
        }
    };
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_str(&text).map_err(|source| CliError::Json { what, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_a_call() {
        let cli = Cli::try_parse_from([
            "micro",
            "call",
            "greeter",
            "hello",
            r#"{"name":"World"}"#,
            "--header",
            "x-user=alice",
            "--timeout",
            "2s",
            "--codec",
            "msgpack",
            "--json",
        ])
        .unwrap();
        assert!(cli.json);
        assert!(matches!(cli.command, Command::Call(_)));
    }
}
