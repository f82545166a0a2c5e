//! What a benchmark run reports.

use std::{collections::BTreeMap, fmt, time::Duration};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::watch::ProcessFigures;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Calls measured.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// A scenario's results.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario.
    pub scenario: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Scenario parameters.
    pub settings: BTreeMap<String, String>,
    /// Wall time of the measured part.
    pub seconds: f64,
    /// Successful operations per second over the measured part.
    pub rate_per_second: f64,
    /// Successful operations.
    pub ok: u64,
    /// Failures by gRPC code.
    pub errors: BTreeMap<String, u64>,
    /// Per-call latency, when the scenario makes many calls.
    pub latency: Option<Latency>,
    /// Scenario-specific figures.
    pub figures: BTreeMap<String, String>,
    /// How long seeding took (not measured).
    pub seed_seconds: f64,
    /// The watched processes (`--watch`) over the measured part.
    pub processes: Vec<ProcessFigures>,
}

impl Report {
    /// A report of `ok` operations in `elapsed`.
    pub fn new(scenario: &str, backend: &str, elapsed: Duration, ok: u64) -> Self {
        let seconds = elapsed.as_secs_f64();
        Self {
            scenario: scenario.to_owned(),
            backend: backend.to_owned(),
            settings: BTreeMap::new(),
            seconds,
            rate_per_second: if seconds > 0.0 { ok as f64 / seconds } else { 0.0 },
            ok,
            errors: BTreeMap::new(),
            latency: None,
            figures: BTreeMap::new(),
            seed_seconds: 0.0,
            processes: Vec::new(),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "scenario   {} on {}", self.scenario, self.backend)?;
        for (k, v) in &self.settings {
            writeln!(f, "  {k:<10} {v}")?;
        }
        writeln!(f, "seeded in  {:.2} s (not measured)", self.seed_seconds)?;
        writeln!(f, "time       {:.3} s", self.seconds)?;
        writeln!(f, "ok         {} ({:.1}/s)", self.ok, self.rate_per_second)?;
        for (code, n) in &self.errors {
            writeln!(f, "error      {code}: {n}")?;
        }
        if let Some(l) = &self.latency {
            writeln!(
                f,
                "latency ms p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
                l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
            )?;
        }
        for (k, v) in &self.figures {
            writeln!(f, "  {k:<16} {v}")?;
        }
        for process in &self.processes {
            writeln!(f, "process    {process}")?;
        }
        Ok(())
    }
}
