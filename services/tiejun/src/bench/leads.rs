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
use hdrhistogram::Histogram;
use tiejun_platform::auth::Role;
use tiejun_proto::leads::v1::{
    ActivateRepRequest, ClaimLeadRequest, ImportLeadsRequest, LeadInput, RegisterRepRequest, RunDistributionRequest,
    lead_service_client::LeadServiceClient, rep_service_client::RepServiceClient,
};
use tonic::Request;

use super::{
    ClaimArgs, DistributeArgs, Report,
    load::{Progress, fixed_rate},
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
    let response = LeadServiceClient::new(s.channel.clone())
        .max_decoding_message_size(64 * 1024 * 1024)
        .import_leads(authed(tokio_stream::iter(rows), &admin)?)
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

/// Every rep claims its 10 a day, `concurrency` claims in flight.
pub async fn claim(args: &ClaimArgs) -> anyhow::Result<Report> {
    let s = Service::start(&args.target, Which::Leads).await?;
    let seeding = Instant::now();
    seed_reps(&s, args.reps, 40).await?;
    let leads = seed_leads(&s, args.reps * 10).await?;
    let seed_seconds = seeding.elapsed().as_secs_f64();

    // Each worker takes every `concurrency`-th rep; each rep its own 10 leads.
    let tokens: Vec<String> = (0..args.reps)
        .map(|i| s.token(&[Role::SalesRep], Some(&rep_id(&s, i))))
        .collect::<anyhow::Result<_>>()?;
    let leads = Arc::new(leads);
    let tokens = Arc::new(tokens);
    if let Some(rate) = args.rate {
        return claim_at_rate(args, s, rate, leads, tokens, seed_seconds).await;
    }
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..args.concurrency.max(1) {
        let (channel, leads, tokens) = (s.channel.clone(), leads.clone(), tokens.clone());
        let (reps, step) = (args.reps, args.concurrency.max(1));
        workers.push(tokio::spawn(async move {
            let mut client = LeadServiceClient::new(channel);
            let mut histogram = Histogram::<u64>::new(3).expect("3 significant figures is valid");
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            for rep in (w..reps).step_by(step) {
                for k in 0..10 {
                    let request = ClaimLeadRequest {
                        lead_id: leads[rep * 10 + k].clone(),
                        idempotency_key: String::new(),
                    };
                    let mut request = Request::new(request);
                    if let Ok(v) = format!("Bearer {}", tokens[rep]).parse() {
                        request.metadata_mut().insert("authorization", v);
                    }
                    let call = Instant::now();
                    match client.claim_lead(request).await {
                        Ok(_) => {
                            let _ = histogram.record(call.elapsed().as_micros() as u64);
                        }
                        Err(status) => *errors.entry(format!("{:?}", status.code())).or_default() += 1,
                    }
                }
            }
            (histogram, errors)
        }));
    }
    let mut histogram = Histogram::<u64>::new(3)?;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for worker in workers {
        let (h, e) = worker.await?;
        histogram.add(&h)?;
        for (code, n) in e {
            *errors.entry(code).or_default() += n;
        }
    }
    let elapsed = started.elapsed();
    let mut report = Report::new("claim", s.backend, elapsed, histogram.len());
    report.seed_seconds = seed_seconds;
    report.errors = errors;
    report.latency = Some(super::report::Latency::of(&histogram));
    report.settings = BTreeMap::from([
        ("reps".into(), args.reps.to_string()),
        ("concurrency".into(), args.concurrency.to_string()),
        ("claims".into(), (args.reps * 10).to_string()),
    ]);
    s.stop().await?;
    Ok(report)
}

/// The open-loop variant: claim `i` is rep `i % reps`'s `(i / reps)`-th, so
/// every rep is claiming through the whole run, at `rate` claims a second.
async fn claim_at_rate(
    args: &ClaimArgs,
    s: Service,
    rate: u32,
    leads: Arc<Vec<String>>,
    tokens: Arc<Vec<String>>,
    seed_seconds: f64,
) -> anyhow::Result<Report> {
    let reps = args.reps.max(1);
    let total = reps * 10;
    let next = Arc::new(AtomicUsize::new(0));
    let client = LeadServiceClient::new(s.channel.clone());
    let duration = std::time::Duration::from_secs_f64(total as f64 / f64::from(rate.max(1)));
    let progress = Progress::new();
    let line = progress.show("claim");
    let outcome = fixed_rate(rate, duration, &progress, move || {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let (rep, k) = (i % reps, i / reps);
        let lead_id = leads.get(rep * 10 + k).cloned().unwrap_or_default();
        let request = authed(
            ClaimLeadRequest {
                lead_id,
                idempotency_key: String::new(),
            },
            &tokens[rep],
        );
        let mut client = client.clone();
        async move {
            let request = request.map_err(|e| tonic::Status::internal(e.to_string()))?;
            client.claim_lead(request).await.map(drop)
        }
    })
    .await;
    drop(line);
    let mut report = Report::new("claim", s.backend, outcome.elapsed, outcome.histogram.len());
    report.seed_seconds = seed_seconds;
    report.latency = Some(super::report::Latency::of(&outcome.histogram));
    report.errors = outcome.errors;
    report.settings = BTreeMap::from([
        ("reps".into(), args.reps.to_string()),
        ("rate".into(), format!("{rate}/s")),
        ("claims".into(), total.to_string()),
    ]);
    s.stop().await?;
    Ok(report)
}
