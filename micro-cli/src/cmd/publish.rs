//! `micro publish <topic> [JSON]`.

use futures::StreamExt;

use crate::CliError;
use crate::cmd::call::Codec;
use crate::cmd::{Globals, json_input};
use crate::connect::parse_pair;
use crate::output::{print, print_json_line};

/// Publish an event.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  micro publish user.created '{\"id\":42}'")]
pub struct Args {
    /// The topic (no wildcards).
    topic: String,
    /// The event as JSON; read from stdin when absent or `-`; `{}` when stdin is a terminal.
    event: Option<String>,
    /// Metadata published with the event, `key=value`; repeatable.
    #[arg(long = "header", short = 'H', value_parser = parse_pair, value_name = "KEY=VALUE")]
    headers: Vec<(String, String)>,
    /// The codec the event is encoded with.
    #[arg(long, value_enum, default_value_t = Codec::Json)]
    codec: Codec,
}

pub(crate) async fn run(args: Args, g: &Globals) -> Result<(), CliError> {
    let event = json_input(args.event, "event")?;
    let conn = g.connect.connect().await?;
    let mut client = conn.client.with_content_type(args.codec.into());
    for (k, v) in &args.headers {
        client = client.with_metadata(k.clone(), v.clone());
    }
    client.publish(&args.topic, &event).await?;
    if let Some(nats) = &conn.nats {
        confirm(nats.client()).await?;
    }
    if g.json {
        print_json_line(&serde_json::json!({"published": args.topic}))
    } else {
        print(&format!("published on {}\n", args.topic))
    }
}

/// Waits until the server has processed everything this connection sent, the event included:
/// this process exits right after, and a publish still in async-nats's buffer would be lost.
/// (`flush` only empties the socket buffer; an echo through the server is a real barrier.)
async fn confirm(client: &async_nats::Client) -> Result<(), micro_core::Error> {
    let failed = |e: &dyn std::fmt::Display| {
        micro_core::Error::unavailable(format!("the NATS server did not confirm the event: {e}"))
    };
    let inbox = client.new_inbox();
    let mut echo = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| failed(&e))?;
    client
        .publish(inbox, bytes::Bytes::new())
        .await
        .map_err(|e| failed(&e))?;
    match tokio::time::timeout(std::time::Duration::from_secs(5), echo.next()).await {
        Ok(Some(_)) => Ok(()),
        _ => Err(failed(&"no echo within 5s")),
    }
}
