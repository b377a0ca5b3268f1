//! A bearer-token check.

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use futures::future::BoxFuture;
use subtle::ConstantTimeEq;

use crate::Error;
use crate::transport::{Call, Reply};

/// Refuses with `401` every call whose `authorization` metadata is not `Bearer <token>`.
///
/// The token is compared in constant time (`subtle`), so the time a refusal takes says nothing
/// about how much of a guess was right. On NATS the metadata is a request header; through the
/// gateway, `X-Micro-Authorization` would be refused as reserved, so a gateway forwards only
/// what its operator allows.
#[derive(Clone)]
pub struct BearerAuthLayer {
    token: Arc<[u8]>,
}

impl std::fmt::Debug for BearerAuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuthLayer").finish_non_exhaustive()
    }
}

impl BearerAuthLayer {
    /// Accepts calls carrying `authorization: Bearer <token>`; with an empty `token`, none.
    pub fn new(token: impl AsRef<[u8]>) -> Self {
        BearerAuthLayer {
            token: Arc::from(token.as_ref()),
        }
    }
}

impl<S> tower_layer::Layer<S> for BearerAuthLayer {
    type Service = BearerAuth<S>;

    fn layer(&self, inner: S) -> BearerAuth<S> {
        BearerAuth {
            inner,
            token: Arc::clone(&self.token),
        }
    }
}

/// The service [`BearerAuthLayer`] wraps around an endpoint.
#[derive(Clone)]
pub struct BearerAuth<S> {
    inner: S,
    token: Arc<[u8]>,
}

impl<S> std::fmt::Debug for BearerAuth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerAuth").finish_non_exhaustive()
    }
}

impl<S> BearerAuth<S> {
    fn allows(&self, call: &Call) -> bool {
        let presented = call
            .context
            .metadata
            .get("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or("");
        // `ct_eq` of slices of different lengths is false without comparing the bytes; the
        // length of the token is not the secret. An empty token (an unset variable, say)
        // admits nobody, rather than everybody who sends `Bearer ` with nothing after it.
        !self.token.is_empty() && bool::from(presented.as_bytes().ct_eq(&self.token))
    }
}

impl<S> tower_service::Service<Call> for BearerAuth<S>
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
        if !self.allows(&call) {
            let err =
                Error::unauthorized("missing or wrong bearer token (`authorization` metadata)");
            return Box::pin(std::future::ready(Err(err.into())));
        }
        let future = self.inner.call(call);
        Box::pin(async move { future.await.map_err(Into::into) })
    }
}
