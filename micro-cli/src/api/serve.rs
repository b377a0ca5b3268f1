//! Serving the gateway's router over HTTP/1 with the limits a server facing the network needs.
//!
//! `axum::serve` sets no read timeouts and no connection limit: 300 slowloris connections were
//! held for as long as their senders liked, and a stop waited for all of them. Here every
//! connection has [`Limits::header_read`] to send each request's head (idle keep-alive
//! connections included, so they are closed too), [`Limits::body_read`] for its body, at most
//! [`Limits::max_connections`] are open at once (further ones are closed at accept), and a stop
//! lets requests in flight finish for at most [`Limits::shutdown`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// The limits of [`serve`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// Time a client has to send a request's head, from when the server starts waiting for it.
    pub header_read: Duration,
    /// Time a client has to send a request's body.
    pub body_read: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// How long a stop waits for requests in flight.
    pub shutdown: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
            max_connections: 1024,
            shutdown: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `stop` resolves, then stops within [`Limits::shutdown`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    let app = app.layer(RequestBodyTimeoutLayer::new(limits.body_read));
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    let mut stop = std::pin::pin!(stop);
    let mut refused: u64 = 0;
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, say: wait a little instead of spinning.
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&open).try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    %peer,
                    limit = limits.max_connections,
                    refused,
                    "too many connections: closing new ones"
                );
            }
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout = ?limits.shutdown,
            "requests still in flight when the shutdown timeout passed; stopping anyway"
        );
    }
}
