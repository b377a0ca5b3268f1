//! `micro subscribe <topic>`.

use futures::StreamExt;

use crate::CliError;
use crate::cmd::Globals;
use crate::output::print_json_line;

/// Print events as they arrive.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Each event is one JSON line: {\"topic\":..,\"metadata\":{..},\"data\":..}; a body that is not
valid in its codec is shown as a string under \"raw\".

Example:\n  micro subscribe 'user.>' --count 1")]
pub struct Args {
    /// The topic; `*` matches one token and `>` the rest.
    topic: String,
    /// Join this queue group: each event goes to one member of the group.
    #[arg(long, value_name = "QUEUE")]
    queue: Option<String>,
    /// Exit after this many events.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

pub(crate) async fn run(args: Args, g: &Globals) -> Result<(), CliError> {
    let client = g.connect.client().await?;
    micro_core::broker::validate_topic(&args.topic, true)?;
    let mut events = client
        .broker()
        .subscribe(&args.topic, args.queue.as_deref())
        .await?;
    if !g.json {
        crate::output::note(&format!("listening on {} (Ctrl-C to stop)", args.topic));
    }
    let mut seen = 0u64;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    while args.count.is_none_or(|n| seen < n) {
        let event = tokio::select! {
            event = events.next() => event,
            _ = &mut ctrl_c => break,
        };
        let Some(event) = event else { break };
        seen += 1;
        print_json_line(&crate::api::events::event_json(&event))?;
    }
    Ok(())
}
