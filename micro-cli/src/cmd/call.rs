//! `micro call <service> <endpoint> [JSON]`.

use std::time::Duration;

use micro_core::Error;
use micro_core::codec::ContentType;
use serde_json::Value;

use crate::CliError;
use crate::cmd::{Globals, json_input};
use crate::connect::{parse_duration, parse_pair};
use crate::output::{print_json, print_json_line};

/// Call an endpoint.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  micro call greeter hello '{\"name\":\"World\"}'
  echo '{\"a\":1,\"b\":2}' | micro call greeter add
  micro call greeter hello '{\"name\":\"x\"}' --header x-request-id=42 --timeout 2s

An error reply prints `error: <code> <status>: <detail>` on stderr and exits with status 1.")]
pub struct Args {
    /// The service name.
    service: String,
    /// The endpoint name.
    endpoint: String,
    /// The request as JSON (the arguments as an object keyed by parameter name); read from
    /// stdin when absent or `-`; `{}` when stdin is a terminal.
    body: Option<String>,
    /// How long to wait for the reply (`500ms`, `5s`, `1m`); default `MICRO_CLIENT_TIMEOUT` or 5s.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    timeout: Option<Duration>,
    /// Metadata sent with the call, `key=value`; repeatable.
    #[arg(long = "header", short = 'H', value_parser = parse_pair, value_name = "KEY=VALUE")]
    headers: Vec<(String, String)>,
    /// The codec of the request: the JSON body is encoded with it and the reply decoded from it.
    #[arg(long, value_enum, default_value_t = Codec::Json)]
    codec: Codec,
    /// Only call when the service's instance with this id is the one that will answer.
    ///
    /// Endpoints are served through a queue group, so the transport picks the instance and a
    /// call cannot be pinned to one. The id is checked against the registry (404 when unknown);
    /// the call then goes ahead only when that instance is the service's only one, and fails
    /// with 501 otherwise rather than silently reaching another.
    #[arg(long, value_name = "ID")]
    instance: Option<String>,
}

/// The codecs a call can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Codec {
    /// `application/json`.
    Json,
    /// `application/msgpack` (same shape as JSON).
    Msgpack,
}

impl From<Codec> for ContentType {
    fn from(c: Codec) -> Self {
        match c {
            Codec::Json => ContentType::Json,
            Codec::Msgpack => ContentType::MsgPack,
        }
    }
}

pub(crate) async fn run(args: Args, g: &Globals) -> Result<(), CliError> {
    let body = json_input(args.body, "body")?;
    let mut client = g.connect.client().await?;
    if let Some(timeout) = args.timeout {
        client = client.with_timeout(timeout);
    }
    for (k, v) in &args.headers {
        client = client.with_metadata(k.clone(), v.clone());
    }
    if let Some(id) = &args.instance {
        check_instance(&client, &args.service, id).await?;
    }
    let content_type = ContentType::from(args.codec);
    let encoded = content_type
        .encode(&body)
        .map_err(|e| Error::bad_request(format!("cannot encode the body: {e}")))?;
    let reply = client
        .call_raw(args.service, args.endpoint, content_type, encoded)
        .await?;
    let value: Value = if reply.body.is_empty() {
        Value::Null
    } else {
        reply.content_type.decode(&reply.body).map_err(|e| {
            Error::internal(format!(
                "cannot decode the {} reply: {e}",
                reply.content_type
            ))
        })?
    };
    if g.json {
        print_json_line(&value)
    } else {
        print_json(&value)
    }
}

async fn check_instance(client: &micro_core::Client, service: &str, id: &str) -> Result<(), Error> {
    let instances = client.registry().get_service(service).await?;
    if !instances.iter().any(|i| i.id == id) {
        return Err(Error::not_found(format!(
            "service `{service}` has no instance `{id}` (running: {})",
            if instances.is_empty() {
                "none".to_owned()
            } else {
                instances
                    .iter()
                    .map(|i| i.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )));
    }
    if instances.len() > 1 {
        return Err(Error::new(
            501,
            format!(
                "cannot pin the call to instance `{id}`: `{service}` has {} instances sharing a \
                 queue group and the transport picks one",
                instances.len()
            ),
        ));
    }
    Ok(())
}
