//! The lead-distribution scenarios.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use anyhow::Context as _;
use tiejun_platform::auth::Role;
use tiejun_proto::leads::v1::{
    ActivateRepRequest, ClaimLeadRequest, ImportLeadsRequest, LeadInput, RegisterRepRequest, RunDistributionRequest,
    lead_service_client::LeadServiceClient, rep_service_client::RepServiceClient,
};
use tonic::Request;

use super::{
    ClaimArgs, DistributeArgs, Report,
    load::{Outcome, Progress, fixed_rate},
    service::{Service, Which, authed},
};

fn rep_id(s: &Service, i: usize) -> String {
    format!("B{}{i:05}", s.run)
}

/// Registers and activates `n` reps in a handful of cities.
async fn seed_reps(s: &Service, n: usize, quota: i32) -> anyhow::Result<()> {
    let admin = s.token(&[Role::Admin], None)?;
    let mut reps = RepServiceClient::new(s.channel.clone());
    for i in 0..n {
        let person_id = rep_id(s, i);
        let register = RegisterRepRequest {
            person_id: person_id.clone(),
            name: format!("Bench Rep {i}"),
            team: format!("Team-{}", i / 10),
            city: CITIES[i % CITIES.len()].into(),
            daily_quota: quota,
        };
        reps.register_rep(authed(register, &admin)?)
            .await
            .context("RegisterRep")?;
        reps.activate_rep(authed(
            ActivateRepRequest {
                person_id,
                reason: "bench".into(),
            },
            &admin,
        )?)
        .await
        .context("ActivateRep")?;
    }
    Ok(())
}

const CITIES: [&str; 5] = ["杭州", "宁波", "温州", "义乌", "上海"];

/// Imports `n` leads and returns their ids.
async fn seed_leads(s: &Service, n: usize) -> anyhow::Result<Vec<String>> {
    let admin = s.token(&[Role::Admin], None)?;
    let rows: Vec<ImportLeadsRequest> = (0..n)
        .map(|i| ImportLeadsRequest {
            row: i as i64 + 1,
            lead: Some(LeadInput {
                company_name: format!("基准测试贸易{}{i:06}号", s.run),
                contact_name: "王经理".into(),
                phone: format!("139{:08}", (s.phone_base + i as u64) % 100_000_000),
                email: String::new(),
                city: CITIES[i % CITIES.len()].into(),
                industry: "textiles".into(),
                source: "bench".into(),
                score: 1 + (i % 100) as i32,
            }),
        })
        .collect();
    let mut request = authed(tokio_stream::iter(rows), &admin)?;
    // The default deadline bounds a whole client stream, request included;
    // a 40,000-row import is given the time it needs.
    request.set_timeout(std::time::Duration::from_secs(600));
    let response = LeadServiceClient::new(s.channel.clone())
        .max_decoding_message_size(64 * 1024 * 1024)
        .import_leads(request)
        .await
        .context("ImportLeads")?
        .into_inner();
    anyhow::ensure!(
        response.created as usize == n,
        "import refused {} rows",
        response.refused
    );
    Ok(response.results.into_iter().map(|r| r.lead_id).collect())
}

/// One distribution run of `leads` leads over `reps` reps.
pub async fn distribute(args: &DistributeArgs) -> anyhow::Result<Report> {
    let s = Service::start(&args.target, Which::Leads).await?;
    let seeding = Instant::now();
    seed_reps(&s, args.reps, args.quota).await?;
    seed_leads(&s, args.leads).await?;
    let seed_seconds = seeding.elapsed().as_secs_f64();

    let admin = s.token(&[Role::Admin], None)?;
    let started = Instant::now();
    let run = LeadServiceClient::new(s.channel.clone())
        .run_distribution(authed(RunDistributionRequest::default(), &admin)?)
        .await
        .context("RunDistribution")?
        .into_inner();
    let elapsed = started.elapsed();
    let mut report = Report::new("distribute", s.backend, elapsed, run.leads_assigned as u64);
    report.seed_seconds = seed_seconds;
    report.settings = BTreeMap::from([
        ("leads".into(), args.leads.to_string()),
        ("reps".into(), args.reps.to_string()),
        ("quota".into(), args.quota.to_string()),
    ]);
    report.figures = BTreeMap::from([
        ("leads_assigned".into(), run.leads_assigned.to_string()),
        ("reps_served".into(), run.reps_served.to_string()),
        ("reps_short".into(), run.reps_short.to_string()),
    ]);
    s.stop().await?;
    Ok(report)
}

/// Every rep claims its 10 a day, `concurrency` claims in flight (or at
/// `rate` a second), after a warm-up by reps of its own.
pub async fn claim(args: &ClaimArgs) -> anyhow::Result<Report> {
    let s = Service::start(&args.target, Which::Leads).await?;
    let seeding = Instant::now();
    // Warm-up reps: enough for the warm-up at the rate, or flat out at
    // roughly the rate a service on this machine sustains.
    let per_second = args.rate.map_or(3_000, |r| r as usize);
    let warm = if args.warmup.is_zero() {
        0
    } else {
        (args.warmup.as_secs_f64() * per_second as f64 / 10.0).ceil() as usize
    };
    seed_reps(&s, args.reps + warm, 40).await?;
    let leads = Arc::new(seed_leads(&s, (args.reps + warm) * 10).await?);
    let tokens: Vec<String> = (0..args.reps + warm)
        .map(|i| s.token(&[Role::SalesRep], Some(&rep_id(&s, i))))
        .collect::<anyhow::Result<_>>()?;
    let tokens = Arc::new(tokens);
    let seed_seconds = seeding.elapsed().as_secs_f64();
    let claimers = |first: usize, count: usize| Claimers {
        channel: s.channel.clone(),
        leads: leads.clone(),
        tokens: tokens.clone(),
        first,
        count,
    };
    if warm > 0 {
        let warming = claimers(args.reps, warm);
        match args.rate {
            Some(rate) => drop(warming.at_rate(rate, Some(args.warmup)).await),
            None => drop(warming.flat_out(args.concurrency, Some(args.warmup)).await),
        }
    }
    let measured = claimers(0, args.reps);
    let (outcome, mode) = match args.rate {
        Some(rate) => (measured.at_rate(rate, None).await, format!("{rate}/s")),
        None => (
            measured.flat_out(args.concurrency, None).await,
            format!("{} in flight", args.concurrency),
        ),
    };
    let mut report = Report::new("claim", s.backend, outcome.elapsed, outcome.histogram.len());
    report.seed_seconds = seed_seconds;
    report.latency = Some(super::report::Latency::of(&outcome.histogram));
    report.errors = outcome.errors;
    report.settings = BTreeMap::from([
        ("reps".into(), args.reps.to_string()),
        (
            if args.rate.is_some() { "rate" } else { "concurrency" }.into(),
            if args.rate.is_some() {
                mode
            } else {
                args.concurrency.to_string()
            },
        ),
        ("claims".into(), (args.reps * 10).to_string()),
        (
            "warmup".into(),
            format!("{:?} by {warm} reps of their own", args.warmup),
        ),
    ]);
    s.stop().await?;
    Ok(report)
}

/// Reps `first..first + count` claiming their 10 leads each: rep `r` owns
/// `leads[r * 10..r * 10 + 10]`.
struct Claimers {
    channel: tonic::transport::Channel,
    leads: Arc<Vec<String>>,
    tokens: Arc<Vec<String>>,
    first: usize,
    count: usize,
}

impl Claimers {
    /// The `k`-th claim of rep `rep` (absolute index).
    fn request(&self, rep: usize, k: usize) -> anyhow::Result<Request<ClaimLeadRequest>> {
        authed(
            ClaimLeadRequest {
                lead_id: self.leads.get(rep * 10 + k).cloned().unwrap_or_default(),
                idempotency_key: String::new(),
            },
            &self.tokens[rep],
        )
    }

    /// Closed loop: `concurrency` workers, each claiming for every
    /// `concurrency`-th rep in turn, until done or `limit` has passed.
    async fn flat_out(self, concurrency: usize, limit: Option<std::time::Duration>) -> Outcome {
        let started = Instant::now();
        let this = Arc::new(self);
        let step = concurrency.max(1);
        let mut workers = Vec::new();
        for w in 0..step {
            let this = this.clone();
            workers.push(tokio::spawn(async move {
                let mut client = LeadServiceClient::new(this.channel.clone());
                let mut outcome = Outcome::default();
                for rep in (this.first + w..this.first + this.count).step_by(step) {
                    for k in 0..10 {
                        if limit.is_some_and(|l| started.elapsed() >= l) {
                            return outcome;
                        }
                        let Ok(request) = this.request(rep, k) else { continue };
                        let call = Instant::now();
                        let result = client.claim_lead(request).await.map(drop);
                        outcome.record_call(call.elapsed(), result);
                    }
                }
                outcome
            }));
        }
        let mut total = Outcome::default();
        for worker in workers {
            if let Ok(outcome) = worker.await {
                total.merge(outcome);
            }
        }
        total.elapsed = started.elapsed();
        total
    }

    /// Open loop: claim `i` is rep `first + i % count`'s `(i / count)`-th, so
    /// every rep is claiming through the whole run, at `rate` claims a second,
    /// for all 10 claims of every rep or for `limit`.
    async fn at_rate(self, rate: u32, limit: Option<std::time::Duration>) -> Outcome {
        let count = self.count.max(1);
        let all = std::time::Duration::from_secs_f64((count * 10) as f64 / f64::from(rate.max(1)));
        let duration = limit.map_or(all, |l| l.min(all));
        let next = Arc::new(AtomicUsize::new(0));
        let progress = Progress::new();
        let line = progress.show("claim");
        let this = Arc::new(self);
        let outcome = fixed_rate(rate, duration, &progress, move || {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let request = this.request(this.first + i % count, i / count);
            let mut client = LeadServiceClient::new(this.channel.clone());
            async move {
                let request = request.map_err(|e| tonic::Status::internal(e.to_string()))?;
                client.claim_lead(request).await.map(drop)
            }
        })
        .await;
        drop(line);
        outcome
    }
}
