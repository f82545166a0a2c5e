//! Metrics: the RED metrics of every RPC, and the domain counters, through
//! OpenTelemetry; exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set, and always as Prometheus text on the admin port (`/metrics`).
//!
//! RPC metrics follow the OpenTelemetry semantic conventions for RPC,
//! version 1.26: `rpc.server.duration` (a histogram in milliseconds, whose
//! count is the request rate) with `rpc.system` = `grpc`, `rpc.service`,
//! `rpc.method` and `rpc.grpc.status_code` (errors are the non-zero codes),
//! and `tiejun.rpc.protocol` (`grpc`, `grpc_web` or `connect`: what the
//! gateway's web edge translated; a closed set, never the caller's text).
//! The status is read where gRPC puts it: the response headers of a
//! trailers-only answer, else the trailers.
//!
//! Nothing a caller sends becomes a label: a path the server does not serve
//! is recorded as service and method `_OTHER` ([`Calls::labels`]), so junk
//! paths cannot grow the series (or put an e-mail on `/metrics`).

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::Frame;
use opentelemetry::{KeyValue, metrics::Histogram};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tower::{Layer, Service};

pub use crate::calls::{Calls, OTHER};

/// The Prometheus registry the meter provider writes into.
pub type Registry = prometheus::Registry;

/// A Prometheus reader for a meter provider, and the registry it fills.
pub fn prometheus_reader() -> anyhow::Result<(opentelemetry_prometheus::PrometheusExporter, Registry)> {
    let registry = Registry::new();
    let exporter = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .build()
        .context("building the Prometheus exporter")?;
    Ok((exporter, registry))
}

/// The Prometheus text of everything recorded so far.
pub fn exposition(registry: &Registry) -> String {
    use prometheus::Encoder as _;
    let mut out = Vec::new();
    // Encoding text into a Vec cannot fail.
    let _ = prometheus::TextEncoder::new().encode(&registry.gather(), &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, registry: Registry, shutdown: CancellationToken) -> anyhow::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let registry = registry.clone();
            async move {
                (
                    [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    exposition(&registry),
                )
            }
        }),
    );
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, "metrics on /metrics");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("metrics server")
}

/// Records `rpc.server.duration` for every call (see the module documentation).
#[derive(Debug, Clone)]
pub struct RedLayer {
    duration: Histogram<f64>,
    known: Calls,
}

impl RedLayer {
    /// Instruments on the global meter provider (no-ops until one is
    /// installed), labelling the `known` paths by name and the rest `_OTHER`.
    pub fn new(known: Calls) -> Self {
        let duration = opentelemetry::global::meter("tiejun")
            .f64_histogram("rpc.server.duration")
            .with_unit("ms")
            .with_description("Duration of inbound RPCs")
            .build();
        Self { duration, known }
    }
}

impl<S> Layer<S> for RedLayer {
    type Service = RedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RedService {
            inner,
            duration: self.duration.clone(),
            known: self.known.clone(),
        }
    }
}

/// The service made by [`RedLayer`].
#[derive(Debug, Clone)]
pub struct RedService<S> {
    inner: S,
    duration: Histogram<f64>,
    known: Calls,
}

/// What is known of a call when it ends.
#[derive(Debug)]
struct Call {
    duration: Histogram<f64>,
    started: Instant,
    service: String,
    method: String,
    protocol: &'static str,
}

impl Call {
    fn end(self, code: i64) {
        let elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        self.duration.record(
            elapsed_ms,
            &[
                KeyValue::new("rpc.system", "grpc"),
                KeyValue::new("rpc.service", self.service),
                KeyValue::new("rpc.method", self.method),
                KeyValue::new("rpc.grpc.status_code", code),
                KeyValue::new("tiejun.rpc.protocol", self.protocol),
            ],
        );
    }
}

fn status_of(headers: &HeaderMap) -> Option<i64> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RedService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let (service, method) = self.known.labels(req.uri().path());
        let call = Call {
            duration: self.duration.clone(),
            started: Instant::now(),
            service: service.to_owned(),
            method: method.to_owned(),
            // The web edge marks what it translated; everything else is gRPC.
            protocol: req
                .extensions()
                .get::<crate::calls::Protocol>()
                .copied()
                .unwrap_or(crate::calls::Protocol::Grpc)
                .as_str(),
        };
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let response = inner.call(req).await?;
            if let Some(code) = status_of(response.headers()) {
                call.end(code);
                return Ok(response.map(Body::new));
            }
            Ok(response.map(|body| {
                Body::new(Observed {
                    inner: body,
                    call: Some(call),
                })
            }))
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that records its call when the trailers pass (or,
    /// without trailers, when it ends or is dropped: UNKNOWN).
    struct Observed<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
    }

    impl<B> PinnedDrop for Observed<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(call) = this.project().call.take() {
                call.end(tonic::Code::Unknown as i64);
            }
        }
    }
}

impl<B> http_body::Body for Observed<B>
where
    B: http_body::Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(trailers) = frame.trailers_ref()
            && let Some(call) = this.call.take()
        {
            call.end(status_of(trailers).unwrap_or(tonic::Code::Unknown as i64));
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

/// A domain counter `name` (e.g. `tiejun.leads.converted`) on the global
/// meter provider: what the business did, beside the RPC metrics.
pub fn domain_counter(name: &'static str, description: &'static str) -> opentelemetry::metrics::Counter<u64> {
    opentelemetry::global::meter("tiejun")
        .u64_counter(name)
        .with_description(description)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_path_the_server_serves_names_its_labels() {
        let known = Calls::for_services(&["tiejun.leads.v1.LeadService".to_owned()]);
        assert_eq!(
            known.labels("/tiejun.leads.v1.LeadService/ClaimLead"),
            ("tiejun.leads.v1.LeadService", "ClaimLead")
        );
        assert_eq!(
            known.labels("/grpc.health.v1.Health/Check"),
            ("grpc.health.v1.Health", "Check")
        );
        for junk in [
            "/tiejun.leads.v1.LeadService/NoSuchMethod",
            "/tiejun.billing.v1.AccountService/GetAccount",
            "/buyer@example.com/x",
            "/",
            "",
        ] {
            assert_eq!(known.labels(junk), (OTHER, OTHER), "{junk:?}");
        }
    }
}
