//! The end of a drain: once the drain timeout has passed, calls still in
//! progress are answered UNAVAILABLE ("server shutting down") so their
//! connections can close. tonic serves each connection on its own task, so
//! dropping the server alone would leave them running.
//!
//! Streaming responses already under way are not cut here; a streaming
//! handler watches the shutdown token itself.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{Request, Response};
use tokio_util::sync::CancellationToken;
use tower::{Layer, Service};

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct HardStopLayer {
    stop: CancellationToken,
}

impl HardStopLayer {
    /// Calls in progress when `stop` is cancelled end with UNAVAILABLE.
    pub fn new(stop: CancellationToken) -> Self {
        Self { stop }
    }
}

impl<S> Layer<S> for HardStopLayer {
    type Service = HardStopService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HardStopService {
            inner,
            stop: self.stop.clone(),
        }
    }
}

/// The service made by [`HardStopLayer`].
#[derive(Debug, Clone)]
pub struct HardStopService<S> {
    inner: S,
    stop: CancellationToken,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HardStopService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let stop = self.stop.clone();
        Box::pin(async move {
            tokio::select! {
                response = inner.call(req) => response,
                () = stop.cancelled() => {
                    Ok(tonic::Status::unavailable("server shutting down").into_http::<ResBody>())
                }
            }
        })
    }
}
