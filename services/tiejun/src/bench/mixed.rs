//! A realistic blend of the suite's calls through the gateway, the way a
//! working day looks from the outside: mostly entitlement checks from other
//! services, reps and managers reading leads, training checks, and a trickle
//! of writes (new leads, new members). The blend is fixed and weighted by a
//! call counter, not random, so two runs make the same calls.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::Context as _;
use tiejun_platform::auth::Role;
use tiejun_proto::{
    billing::v1::{RegisterMemberRequest, account_service_client::AccountServiceClient},
    leads::v1::{
        CreateLeadRequest, GetRepRequest, LeadInput, ListLeadsRequest, lead_service_client::LeadServiceClient,
        rep_service_client::RepServiceClient,
    },
    training::v1::{CheckRequirementRequest, assignment_service_client::AssignmentServiceClient},
};
use tokio_util::sync::CancellationToken;
use tonic::{Status, transport::Channel};

use super::{
    Report, Target,
    drive::{DriveArgs, measure, mint, report, run_suffix},
    entitlement::{checker, seed},
    service::authed,
};

/// Out of every 20 calls: the blend, in the order they are made.
const BLEND: [(Kind, u64); 6] = [
    (Kind::CheckEntitlement, 10),
    (Kind::ListLeads, 3),
    (Kind::GetRep, 2),
    (Kind::CheckRequirement, 2),
    (Kind::CreateLead, 2),
    (Kind::RegisterMember, 1),
];

#[derive(Debug, Clone, Copy)]
enum Kind {
    CheckEntitlement,
    ListLeads,
    GetRep,
    CheckRequirement,
    CreateLead,
    RegisterMember,
}

fn kind_of(n: u64) -> Kind {
    let total: u64 = BLEND.iter().map(|(_, w)| w).sum();
    let mut slot = n % total;
    for (kind, weight) in BLEND {
        if slot < weight {
            return kind;
        }
        slot -= weight;
    }
    Kind::CheckEntitlement
}

type Call = Pin<Box<dyn Future<Output = Result<(), Status>> + Send>>;

/// Seeds (the demo data set and a paying account), then drives the blend.
pub async fn run(args: &DriveArgs) -> anyhow::Result<Report> {
    let stop = CancellationToken::new();
    let (channel, keys, local) = match &args.store.endpoint {
        Some(target) => (Target::channel_to(target).await?, args.store.target_keys()?, None),
        None => {
            let dir = match &args.store.work_dir {
                Some(parent) => tempfile::tempdir_in(parent)?,
                None => tempfile::tempdir()?,
            };
            let up = crate::cli::UpArgs::local(dir.path().to_owned());
            let suite = crate::suite::start(&up, stop.clone()).await?;
            let channel = Channel::from_shared(format!("http://{}", suite.gateway))?
                .connect()
                .await?;
            let keys = suite.keys.clone();
            (channel, keys, Some((suite, dir)))
        }
    };
    let seeding = std::time::Instant::now();
    let admin = mint(&keys, &[Role::Admin])?;
    crate::demo::load_via(&channel, &admin)
        .await
        .context("seeding the demo data set")?;
    let suffix = run_suffix();
    let (account, feature) = seed(&channel, &mint(&keys, &[Role::BillingAdmin])?, &suffix).await?;
    let seed_seconds = seeding.elapsed().as_secs_f64();

    let entitlement = checker(channel.clone(), account, feature, mint(&keys, &[Role::Service])?);
    let (leads, reps) = (
        LeadServiceClient::new(channel.clone()),
        RepServiceClient::new(channel.clone()),
    );
    let (training, members) = (
        AssignmentServiceClient::new(channel.clone()),
        AccountServiceClient::new(channel),
    );
    // Phones of this run's new leads and members start at a random place,
    // so a second run on the same database does not meet the first's.
    let counter = Arc::new(AtomicU64::new(rand::random_range(0..50_000_000)));
    let suffix = Arc::new(suffix);
    let call = move || -> Call {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let (admin, suffix) = (admin.clone(), suffix.clone());
        match kind_of(n) {
            Kind::CheckEntitlement => entitlement(),
            Kind::ListLeads => {
                let mut c = leads.clone();
                Box::pin(async move {
                    let request = ListLeadsRequest {
                        page_size: 20,
                        ..Default::default()
                    };
                    c.list_leads(to_status(authed(request, &admin))?).await.map(drop)
                })
            }
            Kind::GetRep => {
                let mut c = reps.clone();
                Box::pin(async move {
                    let request = GetRepRequest {
                        person_id: format!("E100{}", 1 + n % 5),
                    };
                    c.get_rep(to_status(authed(request, &admin))?).await.map(drop)
                })
            }
            Kind::CheckRequirement => {
                let mut c = training.clone();
                Box::pin(async move {
                    let request = CheckRequirementRequest {
                        person_id: format!("E100{}", 1 + n % 5),
                        program_id: "employee_onboarding".into(),
                        at: None,
                    };
                    c.check_requirement(to_status(authed(request, &admin))?).await.map(drop)
                })
            }
            Kind::CreateLead => {
                let mut c = leads.clone();
                Box::pin(async move {
                    let request = CreateLeadRequest {
                        lead: Some(LeadInput {
                            company_name: format!("压测{suffix}号{n}贸易有限公司"),
                            contact_name: "王经理".into(),
                            phone: format!("139{:08}", n % 100_000_000),
                            city: "Hangzhou".into(),
                            industry: "五金".into(),
                            source: "website".into(),
                            score: (n % 100) as i32,
                            ..Default::default()
                        }),
                        idempotency_key: format!("mixed-{suffix}-{n}"),
                    };
                    c.create_lead(to_status(authed(request, &admin))?).await.map(drop)
                })
            }
            Kind::RegisterMember => {
                let mut c = members.clone();
                Box::pin(async move {
                    let request = RegisterMemberRequest {
                        company_name: format!("压测会员{suffix}-{n}"),
                        contact_name: "李".into(),
                        phone: format!("137{:08}", n % 100_000_000),
                        city: "Hangzhou".into(),
                        ..Default::default()
                    };
                    c.register_member(to_status(authed(request, &admin))?).await.map(drop)
                })
            }
        }
    };
    let (outcome, processes) = measure("mixed", args, call).await?;
    let backend = if local.is_some() { "sqlite" } else { "remote" };
    let mut report = report("mixed", backend, args, outcome, processes);
    report.seed_seconds = seed_seconds;
    report.settings.insert(
        "blend".into(),
        BLEND
            .iter()
            .map(|(kind, weight)| format!("{kind:?} {weight}/20"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    if let Some((suite, _dir)) = local {
        stop.cancel();
        suite.wait().await?;
    }
    Ok(report)
}

fn to_status<T>(request: anyhow::Result<tonic::Request<T>>) -> Result<tonic::Request<T>, Status> {
    request.map_err(|e| Status::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blend_is_half_entitlement_checks_and_a_tenth_writes_of_leads() {
        let kinds: Vec<Kind> = (0..20_000).map(kind_of).collect();
        let count = |f: fn(&Kind) -> bool| kinds.iter().filter(|k| f(k)).count();
        assert_eq!(count(|k| matches!(k, Kind::CheckEntitlement)), 10_000);
        assert_eq!(count(|k| matches!(k, Kind::CreateLead)), 2_000);
        assert_eq!(count(|k| matches!(k, Kind::RegisterMember)), 1_000);
    }
}
