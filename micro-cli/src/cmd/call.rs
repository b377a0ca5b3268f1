//! `micro call <service> <endpoint> [JSON]`.

use std::time::Duration;

use base64::Engine as _;
use micro_core::Error;
use micro_core::codec::ContentType;
use micro_core::registry::Instance;
use micro_core::transport::Call;
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
    /// Call this instance of the service (an id from `micro describe`), not whichever the queue
    /// group picks.
    ///
    /// The call goes to the subject the instance announces for the endpoint alone (INFO
    /// endpoint metadata `instance_subject`); an unknown id is a 404 naming the running ones,
    /// and an instance that announces no such subject (a service not built with micro) a 501
    /// when other instances share the endpoint.
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
    // Discovery first: the endpoint is called on the subject it announces (a service in
    // another language need not use `<service>.<endpoint>`), and a name that does not exist is
    // a 404 naming what does, not an outage.
    micro_core::service::validate_name(&args.service)?;
    micro_core::service::validate_name(&args.endpoint)?;
    let instances = client.registry().get_service(&args.service).await?;
    let mut subject = crate::catalog::endpoint_subject(&instances, &args.service, &args.endpoint)?;
    if let Some(id) = &args.instance {
        subject = pinned_subject(&instances, &args.service, &args.endpoint, id)?.unwrap_or(subject);
    }
    let kind = crate::catalog::endpoint_kind(&instances, &args.endpoint);
    let content_type = ContentType::from(args.codec);
    let encoded = content_type
        .encode(&body)
        .map_err(|e| Error::bad_request(format!("cannot encode the body: {e}")))?;
    if kind.streams_in() {
        return Err(Error::new(
            501,
            format!(
                "`{}.{}` takes a stream of items ({}), which `micro call` cannot send yet; call                  it from code through its generated client",
                args.service,
                args.endpoint,
                kind.as_str()
            ),
        )
        .into());
    }
    if kind.streams_out() {
        // The client's timeout bounds the opening only; the stream lasts as long as it runs.
        let call = Call::new(args.service, args.endpoint, content_type, encoded)
            .with_context(client.stream_context())
            .with_subject(subject);
        return print_stream(client.server_stream_call::<Value>(call).await?).await;
    }
    let call = Call::new(args.service, args.endpoint, content_type, encoded)
        .with_context(client.outgoing_context())
        .with_subject(subject);
    let reply = client.call(call).await?;
    match decode(&reply.body, reply.content_type) {
        Shown::Value(value) if g.json => print_json_line(&value),
        Shown::Value(value) => print_json(&value),
        // A reply that is not in the codec it claims (a text endpoint without `Content-Type`,
        // say): shown as it came rather than refused.
        Shown::Text(text) if g.json => print_json_line(&Value::String(text)),
        Shown::Text(text) if text.ends_with('\n') => crate::output::print(&text),
        Shown::Text(text) => crate::output::print(&format!("{text}\n")),
        Shown::Bytes(bytes) if g.json => print_json_line(&serde_json::json!({ "base64": bytes })),
        Shown::Bytes(bytes) => crate::output::print(&format!("(binary reply, base64) {bytes}\n")),
    }
}

/// Prints a stream's items as they arrive, one JSON text per line; an error that ends the
/// stream is the command's error, after the items before it.
async fn print_stream(mut items: micro_core::stream::Streaming<Value>) -> Result<(), CliError> {
    use futures::StreamExt as _;
    while let Some(item) = items.next().await {
        print_json_line(&item?)?;
    }
    Ok(())
}

/// How a reply is shown.
enum Shown {
    /// Decoded in its codec.
    Value(Value),
    /// Not in its codec, but text.
    Text(String),
    /// Neither: base64.
    Bytes(String),
}

fn decode(body: &[u8], content_type: ContentType) -> Shown {
    if body.is_empty() {
        return Shown::Value(Value::Null);
    }
    if let Ok(value) = content_type.decode::<Value>(body) {
        return Shown::Value(value);
    }
    match std::str::from_utf8(body) {
        Ok(text) => Shown::Text(text.to_owned()),
        Err(_) => Shown::Bytes(base64::engine::general_purpose::STANDARD.encode(body)),
    }
}

/// The subject on which instance `id` alone serves `endpoint`; `None` when it is the only
/// instance and announces none (the shared subject reaches it anyway).
fn pinned_subject(
    instances: &[Instance],
    service: &str,
    endpoint: &str,
    id: &str,
) -> Result<Option<String>, Error> {
    let Some(instance) = instances.iter().find(|i| i.id == id) else {
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
    };
    let info = instance.endpoints.iter().find(|e| e.name == endpoint);
    let own = info.and_then(|e| e.metadata.get(micro_core::service::INSTANCE_SUBJECT));
    match own {
        // Only below the endpoint's own subject, as selecting clients believe it: an instance
        // answering discovery must not send the call anywhere else.
        Some(subject)
            if info.is_some_and(|e| {
                subject
                    .strip_prefix(e.subject.as_str())
                    .is_some_and(|rest| rest.len() > 1 && rest.starts_with('.'))
            }) =>
        {
            Ok(Some(subject.clone()))
        }
        Some(subject) => Err(Error::bad_gateway(format!(
            "cannot pin the call to instance `{id}`: it announces `{subject}` as its own subject \
             for `{endpoint}`, which is not below the endpoint's subject"
        ))),
        None if instances.len() == 1 => Ok(None),
        None => Err(Error::new(
            501,
            format!(
                "cannot pin the call to instance `{id}`: it announces no subject of its own for \
                 `{endpoint}`, and `{service}` has {} instances sharing a queue group",
                instances.len()
            ),
        )),
    }
}
