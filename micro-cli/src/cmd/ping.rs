//! `micro ping [service]`.

use std::time::Instant;

use serde::Serialize;

use crate::CliError;
use crate::cmd::Globals;
use crate::cmd::stats::format_nanos;
use crate::output::{print, print_json, table};

/// Measure round-trip times.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
For each service, times a discovery lookup (on NATS: `$SRV.INFO.<service>`, a scatter-gather
that waits for every instance to answer) and reports it for each instance that answered.

Example:\n  micro ping greeter --count 3")]
pub struct Args {
    /// Only this service.
    service: Option<String>,
    /// How many rounds.
    #[arg(long, default_value_t = 1, value_name = "N")]
    count: u32,
}

#[derive(Debug, Serialize)]
struct Pong {
    service: String,
    id: String,
    version: String,
    rtt_ns: u64,
}

pub(crate) async fn run(args: Args, g: &Globals) -> Result<(), CliError> {
    let client = g.connect.client().await?;
    let registry = client.registry();
    let names = match &args.service {
        Some(name) => vec![name.clone()],
        None => registry
            .list_services()
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect(),
    };
    let mut pongs = Vec::new();
    for _ in 0..args.count.max(1) {
        for name in &names {
            let started = Instant::now();
            let instances = registry.get_service(name).await?;
            let rtt = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            if instances.is_empty() && args.service.is_some() {
                return Err(micro_core::Error::unavailable(format!(
                    "no instance of service `{name}` answered"
                ))
                .into());
            }
            for i in instances {
                pongs.push(Pong {
                    service: i.name,
                    id: i.id,
                    version: i.version,
                    rtt_ns: rtt,
                });
            }
        }
    }
    if g.json {
        return print_json(&pongs);
    }
    if pongs.is_empty() {
        return print("no services found\n");
    }
    let rows: Vec<Vec<String>> = pongs
        .iter()
        .map(|p| {
            vec![
                p.service.clone(),
                p.id.clone(),
                p.version.clone(),
                format_nanos(p.rtt_ns),
            ]
        })
        .collect();
    print(&table(&["SERVICE", "INSTANCE", "VERSION", "RTT"], &rows))
}
