//! Logs, traces and metrics: `tracing` everywhere, JSON logs when stderr is
//! not a terminal (containers), readable logs on a terminal; OpenTelemetry
//! traces and metrics over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set (the standard `OTEL_*` variables configure the rest); metrics always
//! as Prometheus text too.
//!
//! **One service per component.** The gateway and each service are their
//! own OpenTelemetry service, `tiejun-gateway`, `tiejun-leads`,
//! `tiejun-billing`, `tiejun-training`, whether `tiejun up` runs them in one
//! process or Kubernetes in four: every span names its component (see
//! [`COMPONENT`]), and the exporter sends it under that component's
//! resource ([`export`]); every component records its metrics through its
//! own meter provider ([`meter`]), so under `up` the gateway's and a
//! service's `rpc.server.duration` are two series, told apart by
//! `service_name`. `OTEL_RESOURCE_ATTRIBUTES` adds to every resource; the
//! service name is the component's own, whatever `OTEL_SERVICE_NAME` says.
//!
//! The conventions, and what makes a span: [`spans`] (RPC, messaging) and
//! [`statements`] (database).

mod export;
pub mod logs;
pub mod spans;
pub mod statements;

use std::{
    collections::BTreeMap,
    io::IsTerminal as _,
    sync::{Mutex, OnceLock},
    time::Duration,
};

use anyhow::Context as _;
use opentelemetry::{
    metrics::MeterProvider as _,
    trace::{TraceContextExt as _, TracerProvider as _},
};
use opentelemetry_otlp::WithTonicConfig as _;
use opentelemetry_sdk::{Resource, metrics::SdkMeterProvider, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::{EnvFilter, Layer as _, layer::SubscriberExt as _, util::SubscriberInitExt as _};

pub use spans::{Side, client_span, record_status, request_span};

/// The span field naming the component a span belongs to (`gateway`,
/// `leads`, `billing`, `training`). The exporter turns it into the
/// resource's `service.name` and sends no such attribute.
pub const COMPONENT: &str = "tiejun.component";

/// How long the final flush of traces and metrics may take at shutdown:
/// inside the drain's budget, whatever a slow collector does.
pub const FLUSH_WITHIN: Duration = Duration::from_secs(2);

/// The OpenTelemetry `service.name` of a component
/// (`tiejun-leads`); a process that is no one component (`tiejun up`
/// outside any component's work) is plain `tiejun`.
pub fn service_name(component: &str) -> String {
    if component == "tiejun" {
        component.to_owned()
    } else {
        format!("tiejun-{component}")
    }
}

/// The resource of `component`: the standard variables' attributes, and its
/// own service name.
fn resource(component: &str) -> Resource {
    Resource::builder().with_service_name(service_name(component)).build()
}

/// What [`init`] set up, for the meter providers made later per component.
struct Pipeline {
    registry: crate::metrics::Registry,
    otlp: bool,
    meters: Mutex<BTreeMap<&'static str, SdkMeterProvider>>,
}

static PIPELINE: OnceLock<Pipeline> = OnceLock::new();

/// The meter of `component`, on its own provider (its resource, the shared
/// Prometheus registry, OTLP when configured). Before [`init`] (tests that
/// install their own), the global meter provider's.
pub fn meter(component: &'static str) -> opentelemetry::metrics::Meter {
    let Some(pipeline) = PIPELINE.get() else {
        return opentelemetry::global::meter("tiejun");
    };
    let mut meters = pipeline
        .meters
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(provider) = meters.get(component) {
        return provider.meter("tiejun");
    }
    match meter_provider(component, pipeline) {
        Ok(provider) => meters.entry(component).or_insert(provider).meter("tiejun"),
        Err(err) => {
            tracing::warn!(component, error = %format!("{err:#}"), "metrics of this component are not recorded");
            opentelemetry::global::meter("tiejun")
        }
    }
}

fn meter_provider(component: &'static str, pipeline: &Pipeline) -> anyhow::Result<SdkMeterProvider> {
    let mut builder = SdkMeterProvider::builder()
        .with_resource(resource(component))
        .with_reader(crate::metrics::prometheus_reader(&pipeline.registry)?);
    if pipeline.otlp {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled())
            .build()
            .context("building the OTLP metric exporter")?;
        builder = builder.with_periodic_exporter(export::Quiet::new(exporter));
    }
    Ok(builder.build())
}

/// Keeps the exporters alive; flushes them, within [`FLUSH_WITHIN`], when
/// dropped.
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    tracer: Option<SdkTracerProvider>,
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
        let tracer = self.tracer.take();
        let meters: Vec<SdkMeterProvider> = PIPELINE
            .get()
            .map(|p| {
                let meters = p.meters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                meters.values().cloned().collect()
            })
            .unwrap_or_default();
        if tracer.is_none() && !PIPELINE.get().is_some_and(|p| p.otlp) {
            return;
        }
        // A collector that accepts and never answers would hold the flush
        // for the exporter's whole timeout: wait at most FLUSH_WITHIN, then
        // let the process end without it.
        let (done, flushed) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            if let Some(tracer) = tracer {
                let _ = tracer.shutdown_with_timeout(FLUSH_WITHIN);
            }
            for meter in meters {
                let _ = meter.shutdown_with_timeout(FLUSH_WITHIN);
            }
            let _ = done.send(());
        });
        let _ = flushed.recv_timeout(FLUSH_WITHIN);
    }
}

/// True when the OTLP exporter should be wired.
pub fn otlp_enabled() -> bool {
    std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some_and(|v| !v.is_empty())
}

/// Whether spans are exported ([`span_layers`] installed): without it, the
/// spans that only traces need (CLIENT, PRODUCER, CONSUMER) are not made.
static TRACED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// True once this process exports spans.
pub fn traced() -> bool {
    TRACED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The layers that turn `tracing` spans into OpenTelemetry spans on
/// `tracer`: the RPC and messaging spans the code makes (INFO and above,
/// whatever the log level) without `tracing`'s bookkeeping attributes, and
/// one database span per statement ([`statements`]).
pub fn span_layers<S>(tracer: opentelemetry_sdk::trace::Tracer) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    TRACED.store(true, std::sync::atomic::Ordering::Relaxed);
    let spans = tracing_opentelemetry::layer()
        .with_tracer(tracer.clone())
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_target(false)
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    spans.and_then(statements::layer(tracer))
}

/// Installs the global subscriber of a process whose spans that name no
/// component go out as `default_component`. `RUST_LOG` filters the logs
/// (default `info`); spans at INFO and above are traced whatever it says.
/// Call once, early, from a Tokio runtime.
pub fn init(default_component: &'static str) -> anyhow::Result<TelemetryGuard> {
    let filter = log_filter();
    let fmt = if std::io::stderr().is_terminal() {
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        logs::json(std::io::stderr).boxed()
    };

    let otlp = otlp_enabled();
    let registry = crate::metrics::Registry::new();
    let _ = PIPELINE.set(Pipeline {
        registry: registry.clone(),
        otlp,
        meters: Mutex::default(),
    });
    let mut guard = TelemetryGuard {
        tracer: None,
        registry: Some(registry),
    };

    let otel = if otlp {
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
        let exporter = export::Routed::new(default_component)?;
        let provider = SdkTracerProvider::builder()
            .with_resource(resource(default_component))
            .with_batch_exporter(exporter)
            .build();
        let tracer = provider.tracer("tiejun");
        guard.tracer = Some(provider);
        Some(span_layers(tracer))
    } else {
        None
    };

    // RUST_LOG filters the logs only: traces keep every span at INFO and
    // above whatever the log level (RUST_LOG=warn must not empty them).
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel)
        .try_init()
        .context("installing the tracing subscriber")?;
    Ok(guard)
}

/// `RUST_LOG` (default `info`). The OTLP exporter's own complaints, one
/// per failed export, are left to [`export`]'s single line unless
/// `RUST_LOG` names them.
fn log_filter() -> EnvFilter {
    let given = std::env::var("RUST_LOG").unwrap_or_default();
    let mut filter = EnvFilter::try_new(if given.trim().is_empty() { "info" } else { &given })
        .unwrap_or_else(|_| EnvFilter::new("info"));
    if !given.contains("opentelemetry") {
        for quiet in [
            "opentelemetry-otlp=error",
            "opentelemetry_sdk=error",
            "opentelemetry=error",
        ] {
            if let Ok(directive) = quiet.parse() {
                filter = filter.add_directive(directive);
            }
        }
    }
    filter
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

/// The W3C `traceparent` of `span`, when OpenTelemetry is on.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span = context.span();
    let sc = span.span_context();
    sc.is_valid()
        .then(|| format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8()))
}

/// The W3C `traceparent` of the current span, when OpenTelemetry is on.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}
