//! The shape shared by the scenarios that drive an endpoint with calls
//! (`echo`, `entitlement`, `mixed`): where (`--target`, or a server started
//! in this process), how (`--rate` on schedule, or flat out at
//! `--concurrency`), how long, after what warm-up, and which processes to
//! watch while it runs.

use std::{collections::BTreeMap, future::Future, time::Duration};

use anyhow::Context as _;
use tiejun_platform::auth::{JwtKeys, Role, TokenSpec};
use tonic::Status;

use super::{
    Report, Target,
    load::{Outcome, Progress, fixed_rate, flat_out},
    report::Latency,
    watch::{ProcessFigures, Sample, Watched},
};

/// The protocol the calls are made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchProtocol {
    /// gRPC over HTTP/2.
    Grpc,
    /// Connect JSON over HTTP/1.1 (`entitlement` at a `--target` gateway).
    Connect,
}

/// How a scenario drives its endpoint.
#[derive(Debug, clap::Args)]
pub struct DriveArgs {
    /// The protocol of the calls: `grpc`, or `connect` (JSON over HTTP/1.1;
    /// `entitlement` at a `--target` gateway only).
    #[arg(long, value_enum, default_value = "grpc")]
    pub protocol: BenchProtocol,
    /// Calls started a second, on schedule (open loop). Without it: flat out.
    #[arg(long)]
    pub rate: Option<u32>,
    /// Calls in flight at once when flat out (and during warm-up).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// How long the measured part lasts.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Unmeasured calls, flat out, before it.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// A process whose CPU time and memory to report, as NAME=PID (repeatable).
    #[arg(long = "watch")]
    pub watch: Vec<Watched>,
    /// Where: --target, or a server started here; --json.
    #[command(flatten)]
    pub store: Target,
}

/// A token signed with `keys` for `roles`, valid for an hour.
pub fn mint(keys: &JwtKeys, roles: &[Role]) -> anyhow::Result<String> {
    keys.mint(&TokenSpec::new("bench", roles, Duration::from_secs(3600)))
}

/// A short suffix unique to this run, so seeding a long-lived target twice
/// does not collide with the first run's rows.
pub fn run_suffix() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    id[id.len() - 10..].to_owned()
}

/// Warms up, then measures `call` as `args` says while watching the
/// processes it names.
pub async fn measure<F, Fut>(label: &str, args: &DriveArgs, call: F) -> anyhow::Result<(Outcome, Vec<ProcessFigures>)>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), Status>> + Send + 'static,
{
    if !args.warmup.is_zero() {
        flat_out(args.concurrency, args.warmup, &Progress::new(), call.clone()).await;
    }
    let before = sample_all(&args.watch)?;
    let progress = Progress::new();
    let line = progress.show(label);
    let outcome = match args.rate {
        Some(rate) => fixed_rate(rate, args.duration, &progress, call).await,
        None => flat_out(args.concurrency, args.duration, &progress, call).await,
    };
    drop(line);
    let after = sample_all(&args.watch)?;
    let processes = args
        .watch
        .iter()
        .zip(before.into_iter().zip(after))
        .map(|(w, (b, a))| ProcessFigures::between(w, b, a, outcome.histogram.len()))
        .collect();
    Ok((outcome, processes))
}

fn sample_all(watch: &[Watched]) -> anyhow::Result<Vec<Sample>> {
    watch
        .iter()
        .map(|w| Sample::of(w.pid).with_context(|| format!("reading /proc for {} (pid {})", w.name, w.pid)))
        .collect()
}

/// The report of a driven run.
pub fn report(
    scenario: &str,
    backend: &str,
    args: &DriveArgs,
    outcome: Outcome,
    processes: Vec<ProcessFigures>,
) -> Report {
    let mut report = Report::new(scenario, backend, outcome.elapsed, outcome.histogram.len());
    report.latency = Some(Latency::of(&outcome.histogram));
    report.errors = outcome.errors;
    report.processes = processes;
    report.settings = BTreeMap::from([
        (
            "target".into(),
            args.store.endpoint.clone().unwrap_or_else(|| "in this process".into()),
        ),
        (
            "mode".into(),
            match args.rate {
                Some(rate) => format!("fixed rate {rate}/s"),
                None => format!("flat out, {} in flight", args.concurrency),
            },
        ),
        ("duration".into(), humantime::format_duration(args.duration).to_string()),
        ("warmup".into(), humantime::format_duration(args.warmup).to_string()),
    ]);
    report
}
