//! `micro api`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::CliError;
use crate::api::{ApiOptions, HealthCheck, Limits, router};
use crate::cmd::Globals;
use crate::connect::parse_duration;

/// Serve the HTTP API gateway.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Routes:
  POST /{service}/{endpoint}   call with a JSON body, get the JSON reply
  GET  /services               list services
  GET  /services/{service}     describe a service
  GET  /stats[/{service}]      live figures
  GET  /_events?topic=T        watch the events on topic T (server-sent events)
  GET  /healthz                liveness (no token needed)
  GET  /ui/                    the dashboard (no token needed; unless --no-ui)

Headers `X-Micro-<Key>: v` become call metadata `<Key>=v`; `Micro-Timeout: 2s` shortens
a call's deadline (never beyond --timeout). Errors are JSON
({\"id\",\"code\",\"detail\",\"status\"}) with the HTTP status of their code; 408 becomes 504.

Example:
  micro api --addr 127.0.0.1:8080 &
  curl -H 'Content-Type: application/json' -d '{\"name\":\"World\"}' \
       http://127.0.0.1:8080/greeter/hello")]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "MICRO_API_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[command(flatten)]
    gateway: GatewayArgs,
    /// Do not serve the dashboard under /ui.
    #[arg(long)]
    no_ui: bool,
}

/// The gateway settings `micro api` and `micro web` share.
#[derive(Debug, clap::Args)]
pub struct GatewayArgs {
    /// Largest request body in bytes; larger ones get 413.
    #[arg(long, env = "MICRO_API_BODY_LIMIT", default_value_t = crate::api::DEFAULT_BODY_LIMIT, value_name = "BYTES")]
    body_limit: usize,
    /// How long one HTTP request may take; slower calls get 504.
    #[arg(
        long,
        env = "MICRO_API_TIMEOUT",
        default_value = "10s",
        value_parser = parse_duration,
        value_name = "DURATION"
    )]
    timeout: Duration,
    /// How long a server stream waits for its HTTP reader to take the next item before its
    /// response is ended and the stream cancelled.
    #[arg(
        long,
        env = "MICRO_API_STREAM_STALL",
        default_value = "30s",
        value_parser = parse_duration,
        value_name = "DURATION"
    )]
    stream_stall: Duration,
    /// Browser origin allowed to call the gateway (CORS), as browsers send it:
    /// `scheme://host[:port]`; repeatable or comma-separated; `*` for any. None by default:
    /// only the dashboard's own origin.
    #[arg(
        long,
        env = "MICRO_API_CORS_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    cors_origin: Vec<String>,
    /// Require `Authorization: Bearer <TOKEN>` on every route but /healthz and /ui.
    #[arg(
        long,
        env = "MICRO_API_AUTH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    auth_token: Option<String>,
    /// Host name accepted besides loopback ones while listening on a loopback address
    /// (DNS-rebinding protection); repeatable or comma-separated; `*` for any.
    #[arg(
        long,
        env = "MICRO_API_ALLOW_HOSTS",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    allow_host: Vec<String>,
    /// Metadata key callers may set with `X-Micro-<Key>` headers; repeatable or
    /// comma-separated. Without it any key but the reserved ones (Authorization, Cookie,
    /// Content-Type, Micro-*, Nats-*) is accepted.
    #[arg(
        long,
        env = "MICRO_API_METADATA_KEYS",
        value_delimiter = ',',
        value_name = "KEY"
    )]
    metadata_key: Vec<String>,
    /// Connections open at once; further ones are closed at accept.
    #[arg(
        long,
        env = "MICRO_API_MAX_CONNECTIONS",
        default_value_t = 1024,
        value_name = "N"
    )]
    max_connections: usize,
    /// Event viewers (`GET /_events`, the dashboard's Events tab) open at once; 0 turns the
    /// route off.
    #[arg(
        long,
        env = "MICRO_API_MAX_EVENT_VIEWERS",
        default_value_t = 16,
        value_name = "N"
    )]
    max_event_viewers: usize,
}

impl GatewayArgs {
    pub(crate) fn options(&self) -> Result<ApiOptions, CliError> {
        let mut options = ApiOptions::default()
            .body_limit(self.body_limit)
            .timeout(self.timeout)
            .stream_stall(self.stream_stall)
            .max_event_viewers(self.max_event_viewers);
        for origin in &self.cors_origin {
            let origin = origin.trim();
            if origin != "*" {
                check_origin(origin)?;
            }
            options = options.cors_origin(origin);
        }
        if let Some(token) = self.auth_token.as_deref().filter(|t| !t.is_empty()) {
            options = options.auth_token(token);
        }
        for host in self
            .allow_host
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
        {
            options = options.allow_host(host);
        }
        for key in self
            .metadata_key
            .iter()
            .map(|k| k.trim())
            .filter(|k| !k.is_empty())
        {
            options = options.metadata_key(key);
        }
        Ok(options)
    }

    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections,
            ..Limits::default()
        }
    }
}

pub(crate) async fn run(args: Args, g: &Globals) -> Result<(), CliError> {
    let options = args.gateway.options()?.ui(!args.no_ui);
    serve(args.addr, options, args.gateway.limits(), g, "gateway").await
}

/// Connects, binds and serves until Ctrl-C or SIGTERM.
pub(crate) async fn serve(
    addr: SocketAddr,
    options: ApiOptions,
    limits: Limits,
    g: &Globals,
    what: &str,
) -> Result<(), CliError> {
    let connection = g.connect.connect().await?;
    let mut options = options.loopback_only(addr.ip().is_loopback());
    if let Some(nats) = connection.nats.clone() {
        options = options.health(HealthCheck::new(move || {
            let health = nats.health();
            if health.reader_stopped {
                Err("the NATS connection stopped reading; restart the gateway".to_owned())
            } else if !health.connected {
                Err("not connected to NATS (reconnecting)".to_owned())
            } else {
                Ok(())
            }
        }));
    }
    let ui = options.ui;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| CliError::Io {
            what: if source.kind() == std::io::ErrorKind::AddrInUse {
                format!("listen on {addr} (another process listens there; choose another address with --addr)")
            } else {
                format!("listen on {addr}")
            },
            source,
        })?;
    let local = listener.local_addr().unwrap_or(addr);
    tracing::info!(addr = %local, "{what} listening");
    crate::output::note(&format!("micro {what} listening on http://{local}"));
    if ui {
        crate::output::note(&format!("dashboard: http://{local}/ui/"));
    }
    crate::api::serve(
        listener,
        router(connection.client, options),
        limits,
        micro_core::service::shutdown_signal(),
    )
    .await;
    Ok(())
}

/// Refuses an allowed origin that no browser could send: an `Origin` header is
/// `scheme://host[:port]` and nothing more, so an entry with a path or a trailing `/` would
/// silently match nothing; and `null`, which sandboxed frames and local files send, would let
/// any such page in.
fn check_origin(origin: &str) -> Result<(), CliError> {
    let invalid = |why: &str| CliError::Usage(format!("invalid CORS origin `{origin}`: {why}"));
    if origin.eq_ignore_ascii_case("null") {
        return Err(invalid(
            "`null` is what sandboxed pages and local files send; any of them could use it",
        ));
    }
    if axum::http::HeaderValue::from_str(origin).is_err() {
        return Err(invalid("not a header value"));
    }
    let Some((scheme, host)) = origin.split_once("://") else {
        return Err(invalid("expected `scheme://host[:port]`"));
    };
    if scheme.is_empty() || host.is_empty() || host.contains(['/', '?', '#']) {
        return Err(invalid(
            "expected `scheme://host[:port]`, without a path or a trailing `/`",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_no_browser_sends_are_refused() {
        for good in ["https://app.example", "http://localhost:5173"] {
            assert!(check_origin(good).is_ok(), "{good}");
        }
        for bad in [
            "https://app.example/",
            "https://app.example/x",
            "app.example",
            "null",
            "https://",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }
}
