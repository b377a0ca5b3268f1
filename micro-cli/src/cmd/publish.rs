//! `micro publish <topic> [JSON]`.

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
    let mut client = g
        .connect
        .client()
        .await?
        .with_content_type(args.codec.into());
    for (k, v) in &args.headers {
        client = client.with_metadata(k.clone(), v.clone());
    }
    client.publish(&args.topic, &event).await?;
    if g.json {
        print_json_line(&serde_json::json!({"published": args.topic}))
    } else {
        print(&format!("published on {}\n", args.topic))
    }
}
