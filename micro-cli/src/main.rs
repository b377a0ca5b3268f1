//! `micro`: the command line of the micro toolkit. See `micro --help`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use micro_cli::cmd::Cli;
use micro_cli::output::note;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MICRO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,micro_cli=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        // Its default reports a failed write with `eprintln!`, which panics when stderr is gone.
        .log_internal_errors(false)
        .init();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            note(&format!("error: cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(()) => ExitCode::SUCCESS,
        // `micro subscribe t | head -1`: the reader has all it wanted.
        Err(err) if err.is_broken_pipe() => ExitCode::SUCCESS,
        Err(err) => {
            if json {
                note(&serde_json::json!({ "error": err.to_error() }).to_string());
            } else {
                note(&format!("error: {}", err.one_line()));
            }
            ExitCode::FAILURE
        }
    }
}
