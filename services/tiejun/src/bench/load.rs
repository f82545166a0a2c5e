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

impl Outcome {
    fn new() -> Self {
        Self {
            histogram: Histogram::new(3).expect("3 significant figures is valid"),
            errors: BTreeMap::new(),
            elapsed: Duration::ZERO,
        }
    }

    fn record(&mut self, took: Duration, result: Result<(), Status>) {
        match result {
            Ok(()) => {
                let _ = self.histogram.record(took.as_micros() as u64);
            }
            Err(status) => *self.errors.entry(format!("{:?}", status.code())).or_default() += 1,
        }
    }

    fn merge(&mut self, other: Outcome) {
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

/// Calls `call` from `concurrency` workers until `duration` has passed.
pub async fn flat_out<F, Fut>(concurrency: usize, duration: Duration, call: F) -> Outcome
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), Status>> + Send,
{
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut outcome = Outcome::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let result = call().await;
                    outcome.record(t.elapsed(), result);
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
pub async fn fixed_rate<F, Fut>(rate: u32, duration: Duration, call: F) -> Outcome
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), Status>> + Send + 'static,
{
    let period = Duration::from_secs(1) / rate.max(1);
    let total_calls = (duration.as_secs_f64() * f64::from(rate.max(1))) as u64;
    let started = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
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
    let mut outcome = Outcome::new();
    while let Some((took, result)) = rx.recv().await {
        outcome.record(took, result);
    }
    outcome.elapsed = started.elapsed();
    outcome
}
