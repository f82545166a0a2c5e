//! Forwarding: the fallback service of the gateway's router. Everything that
//! is not the gateway's own health or reflection comes here, already
//! authenticated by the platform's auth layer, and goes to a backend
//! endpoint with its HTTP/2 frames unchanged (headers, messages, trailers),
//! so every call kind works without decoding a message.
//!
//! On the way: the caller's rate limit, the call's deadline (the server
//! bootstrap's: the caller's, else the default for unary and
//! client-streaming calls) passed on in `grpc-timeout`, the
//! message size limit for requests the gateway holds, and retries of calls
//! that are safe to repeat when a backend was UNAVAILABLE before answering.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{Request, Response, request::Parts};
use http_body::Frame;
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use tiejun_platform::{
    Error,
    auth::Principal,
    deadline::{self, CallDeadline, GRPC_TIMEOUT},
};
use tokio::time::Instant;
use tonic::body::Body;
use tower::{Service, ServiceExt as _, retry::backoff::Backoff as _};

use crate::{
    limit::RateLimit,
    pool::{InFlight, Pool},
    retry::{RetryPolicy, carries_field},
    route::RouteTable,
};

/// The 5-byte gRPC message prefix: compressed flag and length.
const FRAME_HEADER: usize = 5;

/// What the forwarder needs, shared by every call.
#[derive(Debug)]
pub struct Shared {
    /// Paths to backends.
    pub routes: Arc<RouteTable>,
    /// One pool per backend, indexed as in the route table.
    pub pools: Vec<Arc<Pool>>,
    /// Per-principal limits.
    pub limits: Arc<RateLimit>,
    /// Retries of safe calls.
    pub retry: RetryPolicy,
    /// The largest request message the gateway accepts.
    pub max_message_bytes: usize,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Forwarder {
    shared: Arc<Shared>,
}

impl Forwarder {
    /// A forwarder over `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The gateway's routes: this forwarder as the fallback of an empty
    /// router (health and reflection are added by the server bootstrap).
    pub fn into_routes(self) -> tonic::service::Routes {
        tonic::service::Routes::from(axum::Router::new().fallback_service(self))
    }
}

impl Service<Request<axum::body::Body>> for Forwarder {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<axum::body::Body>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move { Ok(forward(&shared, req).await.unwrap_or_else(|status| status.into_http())) })
    }
}

async fn forward(shared: &Shared, req: Request<axum::body::Body>) -> Result<Response<Body>, tonic::Status> {
    let path = req.uri().path().to_owned();
    let route = shared
        .routes
        .lookup(&path)
        .ok_or_else(|| tonic::Status::unimplemented(format!("no service behind the gateway answers {path}")))?;
    // The auth layer put the principal there; every routed call has one.
    let subject = req
        .extensions()
        .get::<Principal>()
        .map(|p| p.subject.clone())
        .ok_or_else(|| tonic::Status::unauthenticated("missing authorization: Bearer <token>"))?;
    if let Err(wait) = shared.limits.check(&subject) {
        return Err(Error::ResourceExhausted {
            message: format!("rate limit of the gateway reached for {subject}; retry later"),
            retry_after: wait,
        }
        .into());
    }
    let deadline = req.extensions().get::<CallDeadline>().and_then(|d| d.0);
    let pool = &shared.pools[route.backend];
    shared.retry.record_call();
    let (parts, body) = req.into_parts();
    if route.client_streaming {
        let endpoint = pool.pick().ok_or_else(|| no_endpoint(pool))?;
        let in_flight = endpoint.start();
        let request = outgoing(&parts, Body::new(body), deadline);
        return match send(endpoint.channel(), request, deadline).await? {
            Ok(response) => Ok(guarded(response, in_flight)),
            Err(err) => {
                eject(pool, &endpoint, &err);
                Err(tonic::Status::unavailable(format!(
                    "backend {} unavailable",
                    pool.package()
                )))
            }
        };
    }
    let message = buffer(body, shared.max_message_bytes).await?;
    let repeatable = route.read_only || route.idempotency_key_field.is_some_and(|f| carries_field(&message, f));
    send_with_retries(shared, pool, &parts, message, deadline, repeatable).await
}

/// Sends a held request, again on another endpoint while the backend is
/// UNAVAILABLE before answering and the call is safe to repeat.
async fn send_with_retries(
    shared: &Shared,
    pool: &Pool,
    parts: &Parts,
    message: Bytes,
    deadline: Option<Instant>,
    repeatable: bool,
) -> Result<Response<Body>, tonic::Status> {
    let mut backoff = None;
    let mut retries = 0;
    loop {
        let endpoint = pool.pick().ok_or_else(|| no_endpoint(pool))?;
        let in_flight = endpoint.start();
        let request = outgoing(parts, Body::new(Full::new(message.clone())), deadline);
        let failure = match send(endpoint.channel(), request, deadline).await? {
            Ok(response) if !is_unavailable_before_any_byte(&response) => return Ok(guarded(response, in_flight)),
            Ok(response) => Failure::Answered(response, in_flight),
            Err(err) => {
                eject(pool, &endpoint, &err);
                Failure::Unreachable
            }
        };
        let may_retry = repeatable && retries < shared.retry.max_retries() && shared.retry.withdraw();
        let pause = may_retry.then(|| backoff.get_or_insert_with(|| shared.retry.backoff()).next_backoff());
        let Some(pause) = pause.filter(|p| deadline.is_none_or(|d| p.deadline() < d)) else {
            return match failure {
                Failure::Answered(response, in_flight) => Ok(guarded(response, in_flight)),
                Failure::Unreachable => Err(tonic::Status::unavailable(format!(
                    "backend {} unavailable",
                    pool.package()
                ))),
            };
        };
        drop(failure);
        pause.await;
        retries += 1;
        tracing::debug!(backend = pool.package(), retries, "retrying a call safe to repeat");
    }
}

/// Why an attempt did not succeed.
enum Failure {
    /// The backend answered UNAVAILABLE with no message.
    Answered(Response<Body>, InFlight),
    /// No answer at all (connection refused, reset, timed out).
    Unreachable,
}

/// Sends one attempt in a CLIENT span of its own (the backend's SERVER span
/// continues it), ended with the answer's status when its body ends; the
/// outer error is the deadline passing (by our timer or by the channel's
/// own, which reads the `grpc-timeout` we set).
async fn send(
    channel: tonic::transport::Channel,
    mut request: Request<Body>,
    deadline: Option<Instant>,
) -> Result<Result<Response<Body>, tonic::transport::Error>, tonic::Status> {
    use tiejun_platform::telemetry::{self, Side};
    use tracing::Instrument as _;
    let span = telemetry::client_span("gateway", request.uri().path());
    telemetry::spans::inject(&span, request.headers_mut());
    let call = channel.oneshot(request).instrument(span.clone());
    let result = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, call).await.map_err(|_| {
            telemetry::record_status(&span, Side::Client, tonic::Code::DeadlineExceeded as i64);
            deadline::exceeded()
        })?,
        None => call.await,
    };
    match result {
        Err(err) if timed_out(&err) => {
            telemetry::record_status(&span, Side::Client, tonic::Code::DeadlineExceeded as i64);
            Err(deadline::exceeded())
        }
        Err(err) => {
            telemetry::record_status(&span, Side::Client, tonic::Code::Unavailable as i64);
            Ok(Err(err))
        }
        // Untraced, the span is none: nothing to end when the body does.
        Ok(response) if span.is_disabled() => Ok(Ok(response)),
        Ok(response) => Ok(Ok(tiejun_platform::metrics::on_status(response, move |code| {
            telemetry::record_status(&span, Side::Client, code);
        }))),
    }
}

fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(err) = source {
        if err.is::<tonic::TimeoutExpired>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// The request to a backend: the caller's head as it came, with the
/// remaining deadline in `grpc-timeout`.
fn outgoing(parts: &Parts, body: Body, deadline: Option<Instant>) -> Request<Body> {
    let mut request = Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    if let Some(deadline) = deadline {
        let remaining = deadline.saturating_duration_since(Instant::now());
        request
            .headers_mut()
            .insert(GRPC_TIMEOUT, deadline::encode_grpc_timeout(remaining));
    }
    request
}

/// Reads a whole request (one message) into memory, refusing one larger
/// than the limit before it reaches a backend.
async fn buffer(body: axum::body::Body, max_message_bytes: usize) -> Result<Bytes, tonic::Status> {
    let limit = max_message_bytes.saturating_add(FRAME_HEADER);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(tonic::Status::resource_exhausted(
            format!("request message larger than the gateway's limit of {max_message_bytes} bytes"),
        )),
        // The call's deadline passed before the request was whole: the
        // server's body deadline says so with a status, under axum's error.
        Err(err) => Err(status_within(err.as_ref())
            .unwrap_or_else(|| tonic::Status::cancelled(format!("request body not received: {err}")))),
    }
}

/// The first `tonic::Status` in an error's chain of sources.
fn status_within(err: &(dyn std::error::Error + 'static)) -> Option<tonic::Status> {
    std::iter::successors(Some(err), |e| e.source()).find_map(|e| e.downcast_ref::<tonic::Status>().cloned())
}

/// A trailers-only UNAVAILABLE: the backend refused before any message.
fn is_unavailable_before_any_byte(response: &Response<Body>) -> bool {
    // grpc-status 14 is UNAVAILABLE.
    response
        .headers()
        .get("grpc-status")
        .is_some_and(|status| status.as_bytes() == b"14")
}

fn eject(pool: &Pool, endpoint: &crate::pool::Endpoint, err: &tonic::transport::Error) {
    if endpoint.mark(false) {
        tracing::warn!(backend = pool.package(), endpoint = %endpoint.uri(), error = %err, "call failed; endpoint ejected");
    }
}

fn no_endpoint(pool: &Pool) -> tonic::Status {
    tonic::Status::unavailable(format!("no healthy endpoint for {}", pool.package()))
}

/// The response with the endpoint's in-flight count held until its body ends.
fn guarded(response: Response<Body>, in_flight: InFlight) -> Response<Body> {
    response.map(|body| {
        Body::new(Guarded {
            inner: body,
            _in_flight: in_flight,
        })
    })
}

pin_project_lite::pin_project! {
    /// A response body that keeps its call counted in flight until it ends.
    struct Guarded {
        #[pin]
        inner: Body,
        _in_flight: InFlight,
    }
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
