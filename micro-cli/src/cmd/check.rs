//! `micro check <service>`: do the running instances of each version agree on their schemas?

use micro_core::Error;
use micro_core::registry::Instance;
use micro_core::schema::{self, Mismatch};
use serde::Serialize;

use crate::CliError;
use crate::cmd::Globals;
use crate::output::{print, print_json};

/// Check that the running instances of each version of a service announce the same request
/// and response schemas; exits non-zero (409) when two disagree.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  micro check greeter")]
pub struct Args {
    /// The service name.
    service: String,
}

/// What `check` found for one version.
#[derive(Debug, Serialize)]
struct VersionReport {
    version: String,
    instances: usize,
    /// Instances that publish no schemas (another implementation), left out of the comparison.
    without_schemas: usize,
    mismatches: Vec<MismatchView>,
}

#[derive(Debug, Serialize)]
struct MismatchView {
    endpoint: String,
    part: &'static str,
    instance: String,
    other_instance: String,
    shape: String,
    other_shape: String,
}

/// Compares every instance of each version with the first of that version.
fn reports(instances: &[Instance]) -> Vec<VersionReport> {
    let mut versions: Vec<&str> = instances.iter().map(|i| i.version.as_str()).collect();
    versions.sort_unstable();
    versions.dedup();
    versions
        .into_iter()
        .map(|version| {
            let same: Vec<&Instance> = instances.iter().filter(|i| i.version == version).collect();
            let has_schemas = |i: &&Instance| {
                i.endpoints.iter().any(|e| {
                    e.metadata.contains_key(schema::REQUEST_SCHEMA)
                        || e.metadata.contains_key(schema::RESPONSE_SCHEMA)
                })
            };
            let with: Vec<&Instance> = same.iter().copied().filter(has_schemas).collect();
            let mismatches = match with.split_first() {
                Some((first, rest)) => rest
                    .iter()
                    .flat_map(|other| {
                        schema::compare(first, other)
                            .into_iter()
                            .map(|m: Mismatch| MismatchView {
                                endpoint: m.endpoint,
                                part: m.part.as_str(),
                                instance: first.id.clone(),
                                other_instance: m.other_id,
                                shape: m.ours,
                                other_shape: m.theirs,
                            })
                    })
                    .collect(),
                None => Vec::new(),
            };
            VersionReport {
                version: version.to_owned(),
                instances: same.len(),
                without_schemas: same.len() - with.len(),
                mismatches,
            }
        })
        .collect()
}

fn render(service: &str, reports: &[VersionReport]) -> String {
    let mut out = String::new();
    for r in reports {
        if r.mismatches.is_empty() {
            out.push_str(&format!(
                "{service} {}: {} instance(s) agree on every schema",
                r.version, r.instances
            ));
        } else {
            out.push_str(&format!(
                "{service} {}: {} instance(s) DISAGREE",
                r.version, r.instances
            ));
        }
        if r.without_schemas > 0 {
            out.push_str(&format!(" ({} publish no schemas)", r.without_schemas));
        }
        out.push('\n');
        for m in &r.mismatches {
            out.push_str(&format!(
                "  endpoint `{}` {}:\n    {}: {}\n    {}: {}\n",
                m.endpoint, m.part, m.instance, m.shape, m.other_instance, m.other_shape
            ));
        }
    }
    out
}

pub(crate) async fn run(args: Args, g: &Globals) -> Result<(), CliError> {
    let client = g.connect.client().await?;
    let instances = client.registry().get_service(&args.service).await?;
    if instances.is_empty() {
        return Err(
            Error::not_found(format!("no service named `{}` is running", args.service)).into(),
        );
    }
    let reports = reports(&instances);
    if g.json {
        print_json(&reports)?;
    } else {
        print(&render(&args.service, &reports))?;
    }
    let count: usize = reports.iter().map(|r| r.mismatches.len()).sum();
    if count == 0 {
        Ok(())
    } else {
        Err(Error::conflict(format!(
            "instances of `{}` of one version disagree on {count} schema(s)",
            args.service
        ))
        .into())
    }
}
