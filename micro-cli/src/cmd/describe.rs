//! `micro describe <service>`.

use micro_core::Error;

use crate::CliError;
use crate::cmd::Globals;
use crate::output::{print, print_json, table};
use crate::schema::FieldView;
use crate::view::{ServiceDetail, human_duration, service_detail};

/// Show a service's instances and endpoints.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  micro describe greeter")]
pub struct Args {
    /// The service name.
    service: String,
}

/// Looks `service` up: its instances and, when the registry answers, their stats.
pub(crate) async fn lookup(
    client: &micro_core::Client,
    service: &str,
) -> Result<ServiceDetail, Error> {
    // Both are scatter-gathers on NATS: ask at once. Uptime and counters are a bonus, so a
    // registry without stats still describes the service.
    let registry = client.registry();
    let (instances, stats) =
        tokio::join!(registry.get_service(service), registry.stats(Some(service)));
    let instances = instances?;
    if instances.is_empty() {
        return Err(Error::not_found(format!(
            "no service named `{service}` is running"
        )));
    }
    let stats = stats.unwrap_or_default();
    Ok(service_detail(service, &instances, &stats))
}

pub(crate) async fn run(args: Args, g: &Globals) -> Result<(), CliError> {
    let client = g.connect.client().await?;
    let detail = lookup(&client, &args.service).await?;
    if g.json {
        return print_json(&detail);
    }
    print(&render(&detail))
}

/// Endpoint metadata keys [`render`] shows in its own way.
const SHOWN: &[&str] = &[
    "doc",
    "kind",
    "request",
    "response",
    micro_core::schema::REQUEST_SCHEMA,
    micro_core::schema::RESPONSE_SCHEMA,
];

/// One line per field: `name: type (required)  description`.
fn push_fields(out: &mut String, fields: &[FieldView]) {
    for f in fields {
        out.push_str(&format!("      {}: {}", f.name, f.ty));
        if f.required {
            out.push_str(" (required)");
        }
        if let Some(doc) = &f.description {
            out.push_str(&format!("  {}", doc.lines().next().unwrap_or_default()));
        }
        out.push('\n');
    }
}

fn render(d: &ServiceDetail) -> String {
    let mut out = format!("{} {}\n", d.name, d.versions.join(","));
    if !d.description.is_empty() {
        out.push_str(&format!("{}\n", d.description));
    }
    out.push_str("\nINSTANCES\n");
    let rows: Vec<Vec<String>> = d
        .instances
        .iter()
        .map(|i| {
            vec![
                i.id.clone(),
                i.version.clone(),
                i.uptime_secs
                    .map(human_duration)
                    .unwrap_or_else(|| "-".into()),
                i.metadata
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ]
        })
        .collect();
    out.push_str(&table(&["ID", "VERSION", "UPTIME", "METADATA"], &rows));
    out.push_str("\nENDPOINTS\n");
    for e in &d.endpoints {
        out.push_str(&format!("{}  (subject {}", e.name, e.subject));
        if !e.queue_group.is_empty() {
            out.push_str(&format!(", queue {}", e.queue_group));
        }
        out.push_str(")\n");
        if let Some(doc) = &e.doc {
            for line in doc.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        match (&e.request_schema, &e.request) {
            (Some(_), _) if e.request_fields.is_empty() => out.push_str("    request:  {}\n"),
            (Some(_), _) => {
                out.push_str("    request:\n");
                push_fields(&mut out, &e.request_fields);
            }
            (None, Some(req)) => out.push_str(&format!("    request:  {req}\n")),
            (None, None) => {}
        }
        match (&e.response_type, &e.response) {
            (Some(ty), _) => {
                out.push_str(&format!("    response: {ty}\n"));
                push_fields(&mut out, &e.response_fields);
            }
            (None, Some(resp)) => out.push_str(&format!("    response: {resp}\n")),
            (None, None) => {}
        }
        // Metadata micro does not interpret (another implementation's `description`,
        // `format`, ...), shown as it is; the schemas are shown above, as fields.
        for (k, v) in &e.metadata {
            if !SHOWN.contains(&k.as_str()) {
                out.push_str(&format!("    {k}: {v}\n"));
            }
        }
        if let Some(example) = &e.example {
            out.push_str(&format!(
                "    try:      micro call {} {} '{example}'\n",
                d.name, e.name
            ));
        }
    }
    out
}
