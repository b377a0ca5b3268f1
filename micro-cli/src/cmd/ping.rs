//! `micro ping [service]`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use micro_core::Error;
use serde::{Deserialize, Serialize};

use crate::CliError;
use crate::cmd::Globals;
use crate::cmd::stats::format_nanos;
use crate::connect::Connection;
use crate::output::{print, print_json, table};

/// Measure round-trip times.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
On NATS, sends `$SRV.PING` (or `$SRV.PING.<service>`) and times each instance's answer, as
`nats micro ping` does, so it works with services written in any language. On other backends
it times a registry lookup per service.

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

/// The fields of an `io.nats.micro.v1.ping_response` the command shows.
#[derive(Debug, Deserialize)]
struct PingReply {
    name: String,
    id: String,
    #[serde(default)]
    version: String,
}

pub(crate) async fn run(args: Args, g: &Globals) -> Result<(), CliError> {
    let conn = g.connect.connect().await?;
    let mut pongs = Vec::new();
    for _ in 0..args.count.max(1) {
        let round = match &conn.nats {
            Some(nats) => nats_ping(nats, args.service.as_deref(), conn.discovery_timeout).await?,
            None => registry_ping(&conn, args.service.as_deref()).await?,
        };
        if round.is_empty()
            && let Some(service) = &args.service
        {
            // As `describe` and `stats` say: nothing by that name runs.
            return Err(Error::not_found(format!(
                    "no instance of service `{service}` answered: no service named `{service}` is running"
                ))
                .into());
        }
        pongs.extend(round);
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

fn nanos_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// `$SRV.PING[.<service>]` scatter-gather: every answer within `wait`, timed from the publish.
async fn nats_ping(
    nats: &micro_nats::Nats,
    service: Option<&str>,
    wait: Duration,
) -> Result<Vec<Pong>, Error> {
    let subject = match service {
        Some(s) => {
            micro_nats::validate_name("service", s)?;
            format!("$SRV.PING.{s}")
        }
        None => "$SRV.PING".to_owned(),
    };
    let client = nats.client();
    let unavailable = |e: &dyn std::fmt::Display| Error::unavailable(format!("ping failed: {e}"));
    let inbox = client.new_inbox();
    let mut replies = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| unavailable(&e))?;
    let started = Instant::now();
    client
        .publish_with_reply(subject, inbox, Bytes::new())
        .await
        .map_err(|e| unavailable(&e))?;
    client.flush().await.map_err(|e| unavailable(&e))?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut pongs = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout_at(deadline, replies.next()).await {
        if msg.status.is_some() {
            // no responders (or another status message): nobody else will answer
            break;
        }
        let rtt_ns = nanos_since(started);
        match serde_json::from_slice::<PingReply>(&msg.payload) {
            Ok(p) => pongs.push(Pong {
                service: p.name,
                id: p.id,
                version: p.version,
                rtt_ns,
            }),
            Err(e) => tracing::debug!(error = %e, "ignoring a malformed PING reply"),
        }
    }
    pongs.sort_by(|a, b| (&a.service, &a.id).cmp(&(&b.service, &b.id)));
    Ok(pongs)
}

/// Any backend: times one registry lookup per service.
async fn registry_ping(conn: &Connection, service: Option<&str>) -> Result<Vec<Pong>, Error> {
    let registry = conn.client.registry();
    let names = match service {
        Some(name) => vec![name.to_owned()],
        None => registry
            .list_services()
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect(),
    };
    let mut pongs = Vec::new();
    for name in &names {
        let started = Instant::now();
        let instances = registry.get_service(name).await?;
        let rtt_ns = nanos_since(started);
        pongs.extend(instances.into_iter().map(|i| Pong {
            service: i.name,
            id: i.id,
            version: i.version,
            rtt_ns,
        }));
    }
    Ok(pongs)
}
