//! `micro gen ts|py <service> --out DIR`: a typed client package in another language.

use std::path::{Path, PathBuf};

use micro_core::Error;
use micro_core::registry::Instance;
use serde::Serialize;

use crate::CliError;
use crate::cmd::Globals;
use crate::r#gen::{File, Model, py, ts};
use crate::output::{print, print_json};

/// Write a typed client package for another language from a service's INFO.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  micro gen ts greeter --out clients/greeter-ts\n  \
                        micro gen py greeter --out clients/greeter-py\n  \
                        micro gen py greeter --from greeter-info.json --out clients/greeter-py"
)]
pub struct Args {
    #[command(subcommand)]
    lang: Lang,
}

#[derive(Debug, clap::Subcommand)]
enum Lang {
    /// A TypeScript package on @nats-io/transport-node: interfaces for every type, a client
    /// class with one method per endpoint, MicroError.
    Ts(Target),
    /// A Python package on nats-py: pydantic v2 models, a client class with one async method
    /// per endpoint, MicroError.
    Py(Target),
}

#[derive(Debug, clap::Args)]
struct Target {
    /// The service name.
    service: String,
    /// The directory to write the package into (created when missing; the generated files in
    /// it are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Read the service's INFO from this file (a `$SRV.INFO` reply, JSON) instead of asking a
    /// running instance.
    #[arg(long, value_name = "FILE")]
    from: Option<PathBuf>,
    /// Which version to generate for when several run.
    #[arg(long = "service-version", value_name = "VERSION")]
    service_version: Option<String>,
}

#[derive(Debug, Serialize)]
struct Written {
    service: String,
    version: String,
    out: String,
    files: Vec<String>,
}

/// The instance whose INFO the client is made from: of the requested version, or of the only
/// one running; the lowest id among equals, so two runs make the same files.
fn pick(mut instances: Vec<Instance>, t: &Target) -> Result<Instance, CliError> {
    if let Some(v) = &t.service_version {
        instances.retain(|i| &i.version == v);
        if instances.is_empty() {
            return Err(Error::not_found(format!(
                "no instance of `{}` runs version `{v}`",
                t.service
            ))
            .into());
        }
    }
    let mut versions: Vec<&str> = instances.iter().map(|i| i.version.as_str()).collect();
    versions.sort_unstable();
    versions.dedup();
    if versions.len() > 1 {
        return Err(CliError::Usage(format!(
            "`{}` runs in versions {}: choose one with --service-version",
            t.service,
            versions.join(", ")
        )));
    }
    instances.sort_by(|a, b| a.id.cmp(&b.id));
    instances.into_iter().next().ok_or_else(|| {
        Error::not_found(format!("no service named `{}` is running", t.service)).into()
    })
}

async fn info(t: &Target, g: &Globals) -> Result<Instance, CliError> {
    if let Some(path) = &t.from {
        let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
            what: format!("read {}", path.display()),
            source,
        })?;
        let info: Instance = serde_json::from_str(&text).map_err(|source| CliError::Json {
            what: "INFO file",
            source,
        })?;
        if info.name != t.service {
            return Err(CliError::Usage(format!(
                "{} describes service `{}`, not `{}`",
                path.display(),
                info.name,
                t.service
            )));
        }
        return pick(vec![info], t);
    }
    let client = g.connect.client().await?;
    let instances = client.registry().get_service(&t.service).await?;
    pick(instances, t)
}

fn write(out: &Path, files: &[File]) -> Result<(), CliError> {
    for f in files {
        let path = out.join(&f.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
                what: format!("create {}", dir.display()),
                source,
            })?;
        }
        std::fs::write(&path, &f.text).map_err(|source| CliError::Io {
            what: format!("write {}", path.display()),
            source,
        })?;
    }
    Ok(())
}

pub(crate) async fn run(args: Args, g: &Globals) -> Result<(), CliError> {
    let (t, make): (Target, fn(&Model) -> Vec<File>) = match args.lang {
        Lang::Ts(t) => (t, ts::files),
        Lang::Py(t) => (t, py::files),
    };
    let instance = info(&t, g).await?;
    let model = Model::from_instance(&instance);
    let files = make(&model);
    write(&t.out, &files)?;
    let written = Written {
        service: model.service,
        version: model.version,
        out: t.out.display().to_string(),
        files: files.into_iter().map(|f| f.path).collect(),
    };
    if g.json {
        return print_json(&written);
    }
    let mut text = format!(
        "wrote a client of {} {} to {}:\n",
        written.service, written.version, written.out
    );
    for f in &written.files {
        text.push_str(&format!("  {f}\n"));
    }
    print(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{Cli, Command};
    use clap::Parser;

    fn target(version: Option<&str>) -> Target {
        Target {
            service: "greeter".into(),
            out: PathBuf::from("out"),
            from: None,
            service_version: version.map(str::to_owned),
        }
    }

    #[test]
    fn parses_both_languages() {
        for lang in ["ts", "py"] {
            let cli = Cli::try_parse_from([
                "micro",
                "gen",
                lang,
                "greeter",
                "--out",
                "dir",
                "--from",
                "info.json",
                "--service-version",
                "1.0.0",
            ])
            .unwrap();
            let Command::Gen(Args { lang: parsed }) = cli.command else {
                panic!("not gen")
            };
            let (Lang::Ts(t) | Lang::Py(t)) = parsed;
            assert_eq!(t.out, PathBuf::from("dir"));
            assert_eq!(t.from, Some(PathBuf::from("info.json")));
            assert_eq!(t.service_version.as_deref(), Some("1.0.0"));
        }
        // --out is required.
        assert!(Cli::try_parse_from(["micro", "gen", "ts", "greeter"]).is_err());
    }

    #[test]
    fn picks_one_version_and_the_lowest_id() {
        let a = Instance::new("greeter", "b", "1.0.0");
        let b = Instance::new("greeter", "a", "1.0.0");
        let c = Instance::new("greeter", "c", "2.0.0");
        let all = vec![a.clone(), b.clone(), c.clone()];
        let err = pick(all.clone(), &target(None)).unwrap_err();
        assert!(
            matches!(err, CliError::Usage(ref m) if m.contains("1.0.0, 2.0.0")),
            "{err}"
        );
        assert_eq!(pick(all.clone(), &target(Some("1.0.0"))).unwrap().id, "a");
        assert_eq!(pick(all.clone(), &target(Some("2.0.0"))).unwrap().id, "c");
        assert_eq!(
            pick(all, &target(Some("3.0.0")))
                .unwrap_err()
                .to_error()
                .code(),
            404
        );
        assert_eq!(
            pick(vec![], &target(None)).unwrap_err().to_error().code(),
            404
        );
    }
}
