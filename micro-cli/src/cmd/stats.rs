//! `micro stats [service]`.

use crate::CliError;
use crate::cmd::Globals;
use crate::output::{print, print_json, table};
use crate::view::{human_duration, stats_views};

/// Show live figures.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  micro stats greeter")]
pub struct Args {
    /// Only this service.
    service: Option<String>,
}

pub(crate) async fn run(args: Args, g: &Globals) -> Result<(), CliError> {
    let client = g.connect.client().await?;
    let stats = client.registry().stats(args.service.as_deref()).await?;
    if let (Some(service), true) = (&args.service, stats.is_empty()) {
        return Err(micro_core::Error::not_found(format!(
            "no service named `{service}` is running"
        ))
        .into());
    }
    let views = stats_views(&stats);
    if g.json {
        return print_json(&views);
    }
    if views.is_empty() {
        return print("no services found\n");
    }
    let mut rows = Vec::new();
    for s in &views {
        for e in &s.endpoints {
            rows.push(vec![
                s.name.clone(),
                s.id.clone(),
                human_duration(s.uptime_secs),
                e.name.clone(),
                e.num_requests.to_string(),
                e.num_errors.to_string(),
                format_nanos(e.average_processing_time),
                e.last_error.clone(),
            ]);
        }
    }
    print(&table(
        &[
            "SERVICE",
            "INSTANCE",
            "UPTIME",
            "ENDPOINT",
            "REQUESTS",
            "ERRORS",
            "AVG",
            "LAST ERROR",
        ],
        &rows,
    ))
}

/// `1.2ms`, `850µs`, `2.50s`.
pub(crate) fn format_nanos(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{:.0}µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}ms", ns as f64 / 1e6),
        _ => format!("{:.2}s", ns as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nanos() {
        assert_eq!(super::format_nanos(12), "12ns");
        assert_eq!(super::format_nanos(850_000), "850µs");
        assert_eq!(super::format_nanos(1_250_000), "1.2ms");
        assert_eq!(super::format_nanos(2_500_000_000), "2.50s");
    }
}
