//! Metrics: the RED metrics of every RPC, and the domain counters, through
//! OpenTelemetry, each on its component's meter
//! ([`telemetry::meter`](crate::telemetry::meter)); exported over OTLP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and always as Prometheus text on
//! the admin port (`/metrics`), every series labelled with its component's
//! `service_name`.
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

use crate::layer::{Around, BoxFuture, Inner};

pub use crate::calls::{Calls, OTHER};

/// Where the meter providers of a process write for Prometheus: one
/// registry per provider (the Prometheus exporter allows one per registry),
/// read as one page.
#[derive(Debug, Clone, Default)]
pub struct Registry(std::sync::Arc<std::sync::Mutex<Vec<prometheus::Registry>>>);

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn registries(&self) -> std::sync::MutexGuard<'_, Vec<prometheus::Registry>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A registry for one more provider.
    fn add(&self) -> prometheus::Registry {
        let registry = prometheus::Registry::new();
        self.registries().push(registry.clone());
        registry
    }

    /// Every provider's metric families, those of one name merged into one
    /// (their series differ by `service_name`).
    pub fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        let mut merged: Vec<prometheus::proto::MetricFamily> = Vec::new();
        for registry in self.registries().iter() {
            for mut family in registry.gather() {
                match merged.iter_mut().find(|f| f.name() == family.name()) {
                    Some(known) => known.mut_metric().extend(family.take_metric()),
                    None => merged.push(family),
                }
            }
        }
        merged.sort_by(|a, b| a.name().cmp(b.name()));
        merged
    }
}

/// A Prometheus reader for a meter provider, writing into `registry`. Every
/// series carries its component's `service_name` (a resource attribute), so
/// the components of one process (`tiejun up`) make separate series.
pub fn prometheus_reader(registry: &Registry) -> anyhow::Result<opentelemetry_prometheus::PrometheusExporter> {
    let service_name = std::collections::HashSet::from([opentelemetry::Key::new("service.name")]);
    opentelemetry_prometheus::exporter()
        .with_registry(registry.add())
        .with_resource_selector(service_name)
        .build()
        .context("building the Prometheus exporter")
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

/// Records `rpc.server.duration` for every call (see the module
/// documentation), and ends the call's SERVER span with its status.
#[derive(Debug, Clone)]
pub struct Red {
    duration: Histogram<f64>,
    known: Calls,
}

impl Red {
    /// Instruments on `component`'s meter, labelling the `known` paths by
    /// name and the rest `_OTHER`.
    pub fn new(component: &'static str, known: Calls) -> Self {
        let duration = crate::telemetry::meter(component)
            .f64_histogram("rpc.server.duration")
            .with_unit("ms")
            .with_description("Duration of inbound RPCs")
            .build();
        Self { duration, known }
    }
}

/// What is known of a call when it ends.
#[derive(Debug)]
struct Call {
    duration: Histogram<f64>,
    started: Instant,
    service: opentelemetry::Value,
    method: opentelemetry::Value,
    protocol: &'static str,
    span: tracing::Span,
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
        crate::telemetry::record_status(&self.span, crate::telemetry::Side::Server, code);
    }
}

fn status_of(headers: &HeaderMap) -> Option<i64> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

impl<S, ReqBody, ResBody> Around<S, Request<ReqBody>> for Red
where
    S: Inner<ReqBody, Response = Response<ResBody>>,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Response = Response<Body>;
    type Error = S::Error;

    fn around(&self, req: Request<ReqBody>, mut inner: S) -> BoxFuture<Result<Self::Response, S::Error>> {
        let (service, method) = self.known.label_values(req.uri().path());
        let mut call = Call {
            span: tracing::Span::none(),
            duration: self.duration.clone(),
            started: Instant::now(),
            service,
            method,
            // The web edge marks what it translated; everything else is gRPC.
            protocol: req
                .extensions()
                .get::<crate::calls::Protocol>()
                .copied()
                .unwrap_or(crate::calls::Protocol::Grpc)
                .as_str(),
        };
        Box::pin(async move {
            // tonic enters the call's span while polling this future: the
            // span is kept until the call ends, trailers and all.
            call.span = tracing::Span::current();
            let response = inner.call(req).await?;
            Ok(on_status(response, move |code| call.end(code)))
        })
    }
}

/// `response` with `done` called once with its gRPC status: at once for a
/// trailers-only answer, else when the trailers pass (UNKNOWN when the body
/// ends or is dropped without them).
pub fn on_status<B, F>(response: Response<B>, done: F) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
    F: FnOnce(i64) + Send + 'static,
{
    if let Some(code) = status_of(response.headers()) {
        done(code);
        return response.map(Body::new);
    }
    response.map(|body| {
        Body::new(Observed {
            inner: body,
            done: Some(done),
        })
    })
}

pin_project_lite::pin_project! {
    /// A response body that reports its status when the trailers pass (or,
    /// without trailers, when it ends or is dropped: UNKNOWN).
    struct Observed<B, F: FnOnce(i64)> {
        #[pin]
        inner: B,
        done: Option<F>,
    }

    impl<B, F: FnOnce(i64)> PinnedDrop for Observed<B, F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(done) = this.project().done.take() {
                done(tonic::Code::Unknown as i64);
            }
        }
    }
}

impl<B, F> http_body::Body for Observed<B, F>
where
    B: http_body::Body<Data = Bytes>,
    F: FnOnce(i64),
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(trailers) = frame.trailers_ref()
            && let Some(done) = this.done.take()
        {
            done(status_of(trailers).unwrap_or(tonic::Code::Unknown as i64));
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

/// A domain counter `name` (e.g. `tiejun.leads.converted`) of
/// `component`, counting `unit` (UCUM annotation, `{lead}`): what the
/// business did, beside the RPC metrics.
pub fn domain_counter(
    component: &'static str,
    name: &'static str,
    unit: &'static str,
    description: &'static str,
) -> opentelemetry::metrics::Counter<u64> {
    crate::telemetry::meter(component)
        .u64_counter(name)
        .with_unit(unit)
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
            assert_eq!(known.label_values(junk), (OTHER.into(), OTHER.into()), "{junk:?}");
        }
        for path in ["/tiejun.leads.v1.LeadService/ClaimLead", "/grpc.health.v1.Health/Check"] {
            let (service, method) = known.labels(path);
            assert_eq!(known.label_values(path), (service.into(), method.into()), "{path}");
        }
    }
}
