//! The end of a drain: once the drain timeout has passed, calls still in
//! progress are answered UNAVAILABLE ("server shutting down") so their
//! connections can close. tonic serves each connection on its own task, so
//! dropping the server alone would leave them running.
//!
//! Streaming responses already under way are not cut here; a streaming
//! handler watches the shutdown token itself.

use http::{Request, Response};
use tokio_util::sync::CancellationToken;

use crate::layer::{Around, BoxFuture, Inner};

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct HardStop {
    stop: CancellationToken,
}

impl HardStop {
    /// Calls in progress when `stop` is cancelled end with UNAVAILABLE.
    pub fn new(stop: CancellationToken) -> Self {
        Self { stop }
    }
}

impl<S, ReqBody, ResBody> Around<S, Request<ReqBody>> for HardStop
where
    S: Inner<ReqBody, Response = Response<ResBody>>,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;

    fn around(&self, req: Request<ReqBody>, mut inner: S) -> BoxFuture<Result<Self::Response, S::Error>> {
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
