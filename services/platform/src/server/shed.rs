//! Limits on calls in progress, answered at once with RESOURCE_EXHAUSTED
//! and a `RetryInfo` delay instead of queueing (load shedding):
//!
//! - [`ShedLayer`]: the whole process (`--concurrency-limit`); health checks
//!   are never shed, so a probe answers however busy the server is;
//! - [`ShareLayer`]: one caller (a token's subject) holds at most a share of
//!   that, so one token cannot take every place while others wait.
//!
//! A place is held until the handler returns its response head, which for a
//! unary call is the whole call, and for any call includes waiting for its
//! request (bounded by the call's deadline, `crate::deadline`).

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use http::{Request, Response};
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use crate::{auth::Principal, error::Error};

/// One caller (a token's subject) may hold at most this fraction of the
/// calls in progress (`--concurrency-limit`); one connection at most
/// `--max-concurrent-streams` of them.
const SHARE_OF_CALLS: usize = 4;

/// How long a shed client is told to wait.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// True for the health service's paths, which are never shed.
fn is_health(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
}

fn shed<ResBody: Default>(message: String) -> Response<ResBody> {
    let status: tonic::Status = Error::ResourceExhausted {
        message,
        retry_after: RETRY_AFTER,
    }
    .into();
    status.into_http::<ResBody>()
}

/// Both limits of one process, made once: a server's own, or shared by
/// every worker of the gateway so that `--concurrency-limit` stays the
/// process's however many threads accept its calls.
#[derive(Debug, Clone)]
pub struct CallLimits {
    pub(super) shed: ShedLayer,
    pub(super) share: ShareLayer,
}

impl CallLimits {
    /// At most `concurrency_limit` calls at once in the process, a quarter
    /// of them per caller.
    pub fn new(concurrency_limit: usize) -> Self {
        Self {
            shed: ShedLayer::new(concurrency_limit),
            share: ShareLayer::new(concurrency_limit / SHARE_OF_CALLS),
        }
    }
}

/// The process-wide limit (see the module documentation).
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
        let permit = if is_health(req.uri().path()) {
            None
        } else {
            match self.permits.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    let response = shed("server overloaded; retry later".into());
                    return Box::pin(std::future::ready(Ok(response)));
                }
            }
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

/// The per-caller limit (see the module documentation).
#[derive(Debug, Clone)]
pub struct ShareLayer {
    share: Arc<Share>,
}

/// Places in use per caller.
#[derive(Debug)]
struct Share {
    limit: usize,
    held: Mutex<HashMap<String, usize>>,
}

impl ShareLayer {
    /// At most `limit` calls at once per caller.
    pub fn new(limit: usize) -> Self {
        Self {
            share: Arc::new(Share {
                limit: limit.max(1),
                held: Mutex::default(),
            }),
        }
    }
}

impl<S> Layer<S> for ShareLayer {
    type Service = ShareService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ShareService {
            inner,
            share: self.share.clone(),
        }
    }
}

/// The service made by [`ShareLayer`].
#[derive(Debug, Clone)]
pub struct ShareService<S> {
    inner: S,
    share: Arc<Share>,
}

/// One place of one caller, given back when dropped.
struct Place {
    share: Arc<Share>,
    caller: String,
}

impl Share {
    fn take(self: &Arc<Self>, caller: &str) -> Option<Place> {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = held.entry(caller.to_owned()).or_default();
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(Place {
            share: self.clone(),
            caller: caller.to_owned(),
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut held = self
            .share
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.caller) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.caller);
            }
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ShareService<S>
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
        // Health and reflection carry no principal: they are not a caller's.
        let place = match req.extensions().get::<Principal>() {
            None => None,
            Some(principal) => match self.share.take(&principal.subject) {
                Some(place) => Some(place),
                None => {
                    let response = shed(format!(
                        "{} has {} calls in progress, its most at once; retry later",
                        crate::error::clip_for_echo(&principal.subject),
                        self.share.limit
                    ));
                    return Box::pin(std::future::ready(Ok(response)));
                }
            },
        };
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let response = inner.call(req).await;
            drop(place);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_holds_at_most_its_share_and_gets_places_back() {
        let share = ShareLayer::new(2).share;
        let (a, b) = (share.take("a"), share.take("a"));
        assert!(a.is_some() && b.is_some());
        assert!(share.take("a").is_none(), "a third place for a");
        assert!(share.take("b").is_some(), "another caller is not held up");
        drop(a);
        assert!(share.take("a").is_some(), "a place comes back");
    }
}
