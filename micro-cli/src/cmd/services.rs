//! `micro services`.

use crate::CliError;
use crate::cmd::Globals;
use crate::output::{print, print_json, table};
use crate::view::service_rows;

/// List every service.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  micro services\n  micro services --json")]
pub struct Args {}

pub(crate) async fn run(_args: Args, g: &Globals) -> Result<(), CliError> {
    let client = g.connect.client().await?;
    let services = client.registry().list_services().await?;
    let rows = service_rows(&services);
    if g.json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        return print("no services found\n");
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.versions.join(","),
                r.instances.to_string(),
                r.endpoints.to_string(),
                r.description.lines().next().unwrap_or_default().to_owned(),
            ]
        })
        .collect();
    print(&table(
        &["NAME", "VERSION", "INSTANCES", "ENDPOINTS", "DESCRIPTION"],
        &cells,
    ))
}
