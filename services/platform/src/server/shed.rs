//! A process-wide limit on calls in progress. A call over the limit is
//! answered at once with RESOURCE_EXHAUSTED and a `RetryInfo` delay, instead
//! of queueing behind the others (load shedding).
//!
//! The permit is held until the handler returns its response head, which for
//! unary calls is the whole call.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{Request, Response};
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use crate::error::Error;

/// How long a shed client is told to wait.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct ShedLayer {
    permits: Arc<Semaphore>,
}

impl ShedLayer {
    /// At most `limit` calls at once in this process.
    pub fn new(limit: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limit.max(1))),
        }
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = ShedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ShedService {
            inner,
            permits: self.permits.clone(),
        }
    }
}

/// The service made by [`ShedLayer`].
#[derive(Debug, Clone)]
pub struct ShedService<S> {
    inner: S,
    permits: Arc<Semaphore>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ShedService<S>
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
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            let status: tonic::Status = Error::ResourceExhausted {
                message: "server overloaded; retry later".into(),
                retry_after: RETRY_AFTER,
            }
            .into();
            return Box::pin(std::future::ready(Ok(status.into_http::<ResBody>())));
        };
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let response = inner.call(req).await;
            drop(permit);
            response
        })
    }
}
