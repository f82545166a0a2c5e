//! The two ways a scenario drives an endpoint: flat out (closed loop, N
//! calls in flight) and at a fixed rate (open loop: calls start on schedule
//! whether or not earlier ones finished, so a slow server faces more calls
//! in flight rather than fewer). Latency counts from the moment a call is
//! sent: tokio's timer wakes up to a millisecond late, and counting from
//! the schedule would add that noise to every figure; the achieved rate
//! shows whether the generator kept its schedule.

use std::{
    collections::BTreeMap,
    future::Future,
    io::IsTerminal as _,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use tonic::Status;

/// What a run measured.
#[derive(Debug)]
pub struct Outcome {
    /// Latency of successful calls, in microseconds.
    pub histogram: Histogram<u64>,
    /// Failures by gRPC code.
    pub errors: BTreeMap<String, u64>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Default for Outcome {
    fn default() -> Self {
        Self::new()
    }
}

impl Outcome {
    /// Records one call a scenario made itself, without a progress line.
    pub fn record_call(&mut self, took: Duration, result: Result<(), Status>) {
        match result {
            Ok(()) => {
                let _ = self.histogram.record(took.as_micros() as u64);
            }
            Err(status) => *self.errors.entry(format!("{:?}", status.code())).or_default() += 1,
        }
    }

    fn new() -> Self {
        Self {
            histogram: Histogram::new(3).expect("3 significant figures is valid"),
            errors: BTreeMap::new(),
            elapsed: Duration::ZERO,
        }
    }

    fn record(&mut self, took: Duration, result: Result<(), Status>, progress: &Progress) {
        match result {
            Ok(()) => {
                let _ = self.histogram.record(took.as_micros() as u64);
                progress.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(status) => {
                *self.errors.entry(format!("{:?}", status.code())).or_default() += 1;
                progress.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Adds `other`'s calls to these.
    pub fn merge(&mut self, other: Outcome) {
        let _ = self.histogram.add(&other.histogram);
        for (code, n) in other.errors {
            *self.errors.entry(code).or_default() += n;
        }
    }

    /// Successful calls per second.
    pub fn rate(&self) -> f64 {
        self.histogram.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Calls so far, shared by the workers of a run and read by its progress line.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl Progress {
    /// Counters nobody shows.
    pub fn new() -> Self {
        Self::default()
    }

    /// Shows the counts on stderr until the returned guard is dropped: a line
    /// rewritten every second on a terminal, a line every five seconds in a log.
    pub fn show(&self, label: &str) -> ProgressLine {
        let (progress, label) = (self.clone(), label.to_owned());
        let terminal = std::io::stderr().is_terminal();
        let every = Duration::from_secs(if terminal { 1 } else { 5 });
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let mut last = 0;
            let mut tick = tokio::time::interval_at((started + every).into(), every);
            loop {
                tick.tick().await;
                let ok = progress.ok.load(Ordering::Relaxed);
                let failed = progress.failed.load(Ordering::Relaxed);
                let rate = (ok - last) as f64 / every.as_secs_f64();
                last = ok;
                let line = format!(
                    "{label}: {:>4.0} s  {ok} ok  {failed} failed  {rate:.0}/s",
                    started.elapsed().as_secs_f64()
                );
                if terminal {
                    eprint!("\r{line}   ");
                } else {
                    eprintln!("{line}");
                }
            }
        });
        ProgressLine { task, terminal }
    }
}

/// Stops a progress line when dropped.
#[derive(Debug)]
pub struct ProgressLine {
    task: tokio::task::JoinHandle<()>,
    terminal: bool,
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.task.abort();
        if self.terminal {
            eprintln!();
        }
    }
}

/// Calls `call` from `concurrency` workers until `duration` has passed.
pub async fn flat_out<F, Fut>(concurrency: usize, duration: Duration, progress: &Progress, call: F) -> Outcome
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), Status>> + Send,
{
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (call, progress) = (call.clone(), progress.clone());
            tokio::spawn(async move {
                let mut outcome = Outcome::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let result = call().await;
                    outcome.record(t.elapsed(), result, &progress);
                }
                outcome
            })
        })
        .collect();
    let mut total = Outcome::new();
    for worker in workers {
        if let Ok(outcome) = worker.await {
            total.merge(outcome);
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// Starts `rate` calls a second for `duration`, each on schedule.
pub async fn fixed_rate<F, Fut>(rate: u32, duration: Duration, progress: &Progress, call: F) -> Outcome
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), Status>> + Send + 'static,
{
    let period = Duration::from_secs(1) / rate.max(1);
    let total_calls = (duration.as_secs_f64() * f64::from(rate.max(1))) as u64;
    let started = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // Results are recorded as they arrive, so the progress line moves.
    let recorder = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut outcome = Outcome::new();
            while let Some((took, result)) = rx.recv().await {
                outcome.record(took, result, &progress);
            }
            outcome
        })
    };
    for i in 0..total_calls {
        let scheduled = started + period * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(scheduled.into()).await;
        let (fut, tx) = (call(), tx.clone());
        tokio::spawn(async move {
            let sent = Instant::now();
            let result = fut.await;
            let _ = tx.send((sent.elapsed(), result));
        });
    }
    drop(tx);
    let mut outcome = recorder.await.unwrap_or_else(|_| Outcome::new());
    outcome.elapsed = started.elapsed();
    outcome
}
