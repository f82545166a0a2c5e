//! The OTLP exporters behind the providers: spans sent under their
//! component's resource ([`Routed`]), and a collector that is down or slow
//! costing one log line and nothing else ([`Quiet`], [`Backoff`]).
//!
//! When an export fails, one WARN says so and what is dropped; exports are
//! then skipped (their data dropped and counted) for 5 s, doubling up to
//! 5 min between tries; the first that succeeds again logs how much was
//! lost. The SDK is told every export succeeded, so it logs nothing of its
//! own every few seconds.

use std::{
    collections::BTreeMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use opentelemetry::{KeyValue, Value};
use opentelemetry_otlp::WithTonicConfig as _;
use opentelemetry_sdk::{
    error::OTelSdkResult,
    metrics::{Temporality, data::ResourceMetrics, exporter::PushMetricExporter},
    trace::{SpanData, SpanExporter},
};

use super::COMPONENT;

/// The components whose spans get a resource of their own.
const COMPONENTS: [&str; 4] = ["gateway", "leads", "billing", "training"];
/// The first pause after a failed export.
const FIRST_PAUSE: Duration = Duration::from_secs(5);
/// The longest pause between two tries.
const LONGEST_PAUSE: Duration = Duration::from_secs(300);

/// See the module documentation.
#[derive(Debug)]
pub struct Backoff {
    signal: &'static str,
    state: Mutex<State>,
    /// Counts what is dropped, where `/metrics` shows it whatever the collector does.
    dropped: Option<opentelemetry::metrics::Counter<u64>>,
}

#[derive(Debug, Default)]
struct State {
    failures: u32,
    retry_at: Option<Instant>,
    dropped: u64,
}

impl Backoff {
    /// The backoff of one signal (`spans`, `metrics`).
    pub fn new(signal: &'static str) -> Self {
        Self {
            signal,
            state: Mutex::default(),
            dropped: None,
        }
    }

    /// Also counting what is dropped on `counter`.
    fn counting(mut self, counter: opentelemetry::metrics::Counter<u64>) -> Self {
        self.dropped = Some(counter);
        self
    }

    fn drop_items(&self, state: &mut State, items: u64) {
        state.dropped += items;
        if let Some(counter) = &self.dropped {
            counter.add(items, &[]);
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether to try an export now; if not, `items` are dropped.
    fn try_now(&self, items: u64) -> bool {
        let mut state = self.state();
        match state.retry_at {
            Some(at) if Instant::now() < at => {
                self.drop_items(&mut state, items);
                false
            }
            _ => true,
        }
    }

    fn outcome(&self, result: OTelSdkResult, items: u64) {
        let mut state = self.state();
        match result {
            Ok(()) => {
                if state.failures > 0 {
                    tracing::info!(
                        signal = self.signal,
                        dropped = state.dropped,
                        "the OpenTelemetry collector answers again"
                    );
                }
                *state = State::default();
            }
            Err(err) => {
                self.drop_items(&mut state, items);
                if state.failures == 0 {
                    tracing::warn!(
                        signal = self.signal,
                        error = %err,
                        "cannot export to the OpenTelemetry collector; dropping until it answers, trying again after a growing pause"
                    );
                }
                let pause = FIRST_PAUSE
                    .saturating_mul(2u32.saturating_pow(state.failures.min(16)))
                    .min(LONGEST_PAUSE);
                state.failures = state.failures.saturating_add(1);
                state.retry_at = Some(Instant::now() + pause);
            }
        }
    }

    /// Items dropped since the collector last answered.
    #[cfg(test)]
    fn dropped(&self) -> u64 {
        self.state().dropped
    }
}

/// The span exporter: one OTLP exporter per component, each with that
/// component's resource; a span goes to the exporter its [`COMPONENT`]
/// attribute names (which is not sent), or the process's default.
#[derive(Debug)]
pub struct Routed {
    default: opentelemetry_otlp::SpanExporter,
    components: BTreeMap<&'static str, opentelemetry_otlp::SpanExporter>,
    backoff: Backoff,
}

fn otlp_spans(component: &str) -> anyhow::Result<opentelemetry_otlp::SpanExporter> {
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled())
        .build()
        .context("building the OTLP span exporter")?;
    exporter.set_resource(&super::resource(component));
    Ok(exporter)
}

impl Routed {
    /// Exporters for every component, and `default` for spans naming none.
    pub fn new(default: &'static str) -> anyhow::Result<Self> {
        let mut components = BTreeMap::new();
        for component in COMPONENTS {
            components.insert(component, otlp_spans(component)?);
        }
        let dropped = super::meter(default)
            .u64_counter("tiejun.telemetry.spans_dropped")
            .with_unit("{span}")
            .with_description("Spans dropped because the OpenTelemetry collector did not take them")
            .build();
        Ok(Self {
            default: otlp_spans(default)?,
            components,
            backoff: Backoff::new("spans").counting(dropped),
        })
    }
}

/// Removes the component attribute from `attributes`, returning its value.
fn take_component(attributes: &mut Vec<KeyValue>) -> Option<String> {
    let at = attributes.iter().position(|kv| kv.key.as_str() == COMPONENT)?;
    match attributes.swap_remove(at).value {
        Value::String(s) => Some(s.as_str().to_owned()),
        other => Some(other.to_string()),
    }
}

impl SpanExporter for Routed {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let items = batch.len() as u64;
        if !self.backoff.try_now(items) {
            return Ok(());
        }
        let mut groups: BTreeMap<Option<&'static str>, Vec<SpanData>> = BTreeMap::new();
        for mut span in batch {
            let component = take_component(&mut span.attributes)
                .and_then(|c| self.components.get_key_value(c.as_str()).map(|(k, _)| *k));
            groups.entry(component).or_default().push(span);
        }
        let mut result = Ok(());
        for (component, spans) in groups {
            let exporter = component.and_then(|c| self.components.get(c)).unwrap_or(&self.default);
            result = exporter.export(spans).await;
            if result.is_err() {
                break;
            }
        }
        self.backoff.outcome(result, items);
        Ok(())
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        for exporter in self.components.values().chain([&self.default]) {
            let _ = exporter.shutdown_with_timeout(timeout);
        }
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    // Every component's exporter has its own resource already.
    fn set_resource(&mut self, _resource: &opentelemetry_sdk::Resource) {}
}

/// The one backoff of every component's metric exporter: one collector,
/// one line when it stops answering.
static METRICS: std::sync::LazyLock<Backoff> = std::sync::LazyLock::new(|| Backoff::new("metrics"));

/// A metric exporter that backs off as [`Backoff`] says, with every other
/// metric exporter of the process.
#[derive(Debug)]
pub struct Quiet<E> {
    inner: E,
    backoff: &'static Backoff,
}

impl<E> Quiet<E> {
    /// `inner`, quiet about a collector that does not answer.
    pub fn new(inner: E) -> Self {
        Self {
            inner,
            backoff: &METRICS,
        }
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Quiet<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        if !self.backoff.try_now(1) {
            return Ok(());
        }
        let result = self.inner.export(metrics).await;
        self.backoff.outcome(result, 1);
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_export_pauses_the_next_and_counts_what_is_dropped() {
        let backoff = Backoff::new("spans");
        assert!(backoff.try_now(3));
        backoff.outcome(
            Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure("down".into())),
            3,
        );
        assert!(!backoff.try_now(2), "within the pause, nothing is tried");
        assert_eq!(backoff.dropped(), 5);
        backoff.outcome(Ok(()), 1);
        assert!(backoff.try_now(1) && backoff.dropped() == 0);
    }

    #[test]
    fn the_component_attribute_routes_and_is_not_sent() {
        let mut attributes = vec![KeyValue::new("rpc.method", "GetRep"), KeyValue::new(COMPONENT, "leads")];
        assert_eq!(take_component(&mut attributes).as_deref(), Some("leads"));
        assert_eq!(attributes, vec![KeyValue::new("rpc.method", "GetRep")]);
        assert_eq!(take_component(&mut attributes), None);
    }
}
