//! Request logging through `tracing`.

use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use futures::future::BoxFuture;

use crate::transport::{Call, Reply};

/// Logs every call it wraps with `tracing`: the endpoint, the outcome, the error code and the
/// time taken; successes at `DEBUG`, errors at `WARN` (`INFO` for a 4xx, the caller's doing).
#[derive(Clone, Copy, Debug, Default)]
pub struct LogLayer;

impl LogLayer {
    /// A logging layer.
    pub fn new() -> Self {
        LogLayer
    }
}

impl<S> tower_layer::Layer<S> for LogLayer {
    type Service = Log<S>;

    fn layer(&self, inner: S) -> Log<S> {
        Log { inner }
    }
}

/// The service [`LogLayer`] wraps.
#[derive(Clone, Debug)]
pub struct Log<S> {
    inner: S,
}

impl<S> tower_service::Service<Call> for Log<S>
where
    S: tower_service::Service<Call, Response = Reply>,
    S::Error: Into<tower::BoxError>,
    S::Future: Send + 'static,
{
    type Response = Reply;
    type Error = tower::BoxError;
    type Future = BoxFuture<'static, Result<Reply, tower::BoxError>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let id = call.id();
        let started = Instant::now();
        let future = self.inner.call(call);
        Box::pin(async move {
            let result = future.await.map_err(Into::into);
            let took = started.elapsed();
            match &result {
                Ok(_) => tracing::debug!(call = %id, ?took, "call answered"),
                Err(err) => {
                    let err = super::from_tower_ref(err);
                    if (400..500).contains(&err.code()) {
                        tracing::info!(call = %id, code = err.code(), error = %err, ?took, "call refused");
                    } else {
                        tracing::warn!(call = %id, code = err.code(), error = %err, ?took, "call failed");
                    }
                }
            }
            result
        })
    }
}
