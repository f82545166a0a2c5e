//! Logging and tracing: `tracing` everywhere, JSON logs when stderr is not a
//! terminal (containers), readable logs on a terminal, and OpenTelemetry
//! traces and metrics over OTLP/gRPC only when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! is set (the standard `OTEL_*` variables configure the rest). Metrics are
//! also always kept for Prometheus (`metrics`).

use std::io::IsTerminal as _;

use anyhow::Context as _;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::{Resource, metrics::SdkMeterProvider, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::{EnvFilter, Layer as _, layer::SubscriberExt as _, util::SubscriberInitExt as _};

/// Keeps the exporters alive; flushes them when dropped.
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
    registry: Option<crate::metrics::Registry>,
}

impl TelemetryGuard {
    /// The Prometheus registry the process's metrics are written into.
    pub fn registry(&self) -> Option<crate::metrics::Registry> {
        self.registry.clone()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(tracer) = self.tracer.take() {
            let _ = tracer.shutdown();
        }
        if let Some(meter) = self.meter.take() {
            let _ = meter.shutdown();
        }
    }
}

/// True when the OTLP exporter should be wired.
pub fn otlp_enabled() -> bool {
    std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some_and(|v| !v.is_empty())
}

/// Installs the global subscriber for a process named `service`. `RUST_LOG`
/// filters the logs (default `info`); spans at INFO and above are traced
/// whatever it says. Call once, early, from a Tokio runtime.
pub fn init(service: &str) -> anyhow::Result<TelemetryGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = !std::io::stderr().is_terminal();
    let fmt = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_writer(std::io::stderr)
            .boxed()
    };

    let mut guard = TelemetryGuard::default();
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by the builder;
    // the process's own name applies only when no service name is given.
    let named = std::env::var_os("OTEL_SERVICE_NAME").is_some_and(|v| !v.is_empty());
    let resource = if named {
        Resource::builder().build()
    } else {
        Resource::builder().with_service_name(service.to_owned()).build()
    };
    // Metrics always go to the Prometheus registry (`/metrics`); over OTLP too when configured.
    let (prometheus, registry) = crate::metrics::prometheus_reader()?;
    let mut meters = SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_reader(prometheus);
    if otlp_enabled() {
        let metrics = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .build()
            .context("building the OTLP metric exporter")?;
        meters = meters.with_periodic_exporter(metrics);
    }
    let meter_provider = meters.build();
    opentelemetry::global::set_meter_provider(meter_provider.clone());
    guard.meter = Some(meter_provider);
    guard.registry = Some(registry);

    let otel = if otlp_enabled() {
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
        let spans = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .context("building the OTLP span exporter")?;
        let tracer_provider = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_batch_exporter(spans)
            .build();
        let tracer = tracer_provider.tracer(service.to_owned());
        guard.tracer = Some(tracer_provider);
        Some(tracing_opentelemetry::layer().with_tracer(tracer))
    } else {
        None
    };

    // RUST_LOG filters the logs only: traces keep every span at INFO and
    // above whatever the log level (RUST_LOG=warn must not empty them).
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel.map(|layer| layer.with_filter(tracing_subscriber::filter::LevelFilter::INFO)))
        .try_init()
        .context("installing the tracing subscriber")?;
    Ok(guard)
}

/// The trace id of the current span when OpenTelemetry is on; otherwise a
/// fresh incident id, logged with the error so the two can be matched.
pub fn current_trace_id() -> String {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    if span_context.is_valid() {
        span_context.trace_id().to_string()
    } else {
        uuid::Uuid::now_v7().simple().to_string()
    }
}

/// The W3C `traceparent` of the current span, when OpenTelemetry is on.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let sc = span.span_context();
    sc.is_valid()
        .then(|| format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8()))
}

/// The span of one incoming call, continuing the caller's trace when the
/// request carries a W3C `traceparent` (a client, the gateway, or an event
/// relay passing on the producer's context).
pub fn request_span<B>(
    service: &'static str,
    known: &crate::calls::Calls,
    request: &http::Request<B>,
) -> tracing::Span {
    // A path the server does not serve is `_OTHER`, as on the metrics.
    let (rpc_service, rpc_method) = known.labels(request.uri().path());
    // Attribute names of the OpenTelemetry RPC semantic conventions 1.26.
    let span = tracing::info_span!(
        "grpc",
        service,
        rpc.system = "grpc",
        rpc.service = rpc_service,
        rpc.method = rpc_method,
        tiejun.rpc.protocol = crate::calls::Protocol::of(request).as_str(),
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&opentelemetry_http::HeaderExtractor(request.headers()))
    });
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed: nothing to continue then.
        let _ = span.set_parent(parent);
    }
    // Log lines inside the call carry its trace and span ids (JSON logs
    // include the current span's fields), when OpenTelemetry is on.
    let context = span.context();
    let otel = context.span();
    let ids = otel.span_context();
    if ids.is_valid() {
        span.record("trace_id", tracing::field::display(ids.trace_id()));
        span.record("span_id", tracing::field::display(ids.span_id()));
    }
    span
}
