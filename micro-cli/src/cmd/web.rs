//! `micro web`.

use std::net::SocketAddr;

use crate::CliError;
use crate::cmd::Globals;
use crate::cmd::api::{GatewayArgs, serve};

/// Serve the web dashboard.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Serves the dashboard at / (redirecting to /ui/) together with the JSON routes it uses, the
same routes as `micro api`. The page is embedded in the binary and needs no network access.

Example:\n  micro web --addr 127.0.0.1:8082   # then open http://127.0.0.1:8082/")]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "MICRO_WEB_ADDR", default_value = "127.0.0.1:8082")]
    addr: SocketAddr,
    #[command(flatten)]
    gateway: GatewayArgs,
}

pub(crate) async fn run(args: Args, g: &Globals) -> Result<(), CliError> {
    let options = args.gateway.options()?.ui(true);
    serve(args.addr, options, args.gateway.limits(), g, "dashboard").await
}
