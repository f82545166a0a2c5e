//! lead-distribution from outside, on both backends, one file per part of
//! the service: reps and their lifecycle (`reps`), who may act on what
//! (`scope`), intake with duplicate detection and masking (`intake`), the
//! claim rule (`claim`), the daily distribution (`distribution`), follow-up
//! deadlines and reclaim (`reclaim`), the capped private pool
//! (`private_pool`), a lead's history and figures (`history`), daily reports
//! (`reports`), WatchRepEvents (`watch`), the rules the schema holds
//! (`schema`), and every write at once (`rush`). The calls most of them make
//! are here.

use std::time::Duration;

use tiejun_proto::leads::v1::{
    ClaimLeadRequest, CreateLeadRequest, FollowUpKind, GetLeadRequest, LeadHistoryEntry, LeadInput,
    ListLeadHistoryRequest, RecordFollowUpRequest, RegisterRepRequest, RunDistributionRequest, RunReclaimSweepRequest,
    TransitionRule, lead_service_client::LeadServiceClient,
};
use tiejun_tests::{
    authed,
    leads::{LeadsFixture, admin, lead_input, registration, rep_token},
};
use tonic::transport::Channel;

mod claim;
mod distribution;
mod history;
mod intake;
mod private_pool;
mod reclaim;
mod reports;
mod reps;
mod rush;
mod schema;
mod scope;
mod watch;

pub(super) fn register(person_id: &str) -> RegisterRepRequest {
    registration(person_id)
}

pub(super) fn input(company: &str, phone: &str) -> LeadInput {
    LeadInput {
        company_name: company.into(),
        phone: phone.into(),
        email: "wang.jingli@example.com".into(),
        ..lead_input(0, "杭州", 70)
    }
}

pub(super) fn create(company: &str, phone: &str) -> CreateLeadRequest {
    CreateLeadRequest {
        lead: Some(input(company, phone)),
        idempotency_key: String::new(),
    }
}

pub(super) fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:02}")).collect()
}

pub(super) async fn distribute(f: &LeadsFixture) -> tiejun_proto::leads::v1::RunDistributionResponse {
    f.leads()
        .await
        .run_distribution(authed(RunDistributionRequest::default(), &admin()))
        .await
        .expect("run")
        .into_inner()
}

pub(super) async fn sweep(f: &LeadsFixture) -> tiejun_proto::leads::v1::RunReclaimSweepResponse {
    f.leads()
        .await
        .run_reclaim_sweep(authed(RunReclaimSweepRequest {}, &admin()))
        .await
        .expect("sweep")
        .into_inner()
}

pub(super) async fn claim(
    client: &mut LeadServiceClient<Channel>,
    person: &str,
    lead_id: &str,
) -> Result<i32, tonic::Status> {
    let request = ClaimLeadRequest {
        lead_id: lead_id.into(),
        idempotency_key: String::new(),
    };
    client
        .claim_lead(authed(request, &rep_token(person)))
        .await
        .map(|r| r.into_inner().claims_left_today)
}

/// A lead's history as an admin reads it, oldest first.
pub(super) async fn history(f: &LeadsFixture, lead_id: &str) -> Vec<LeadHistoryEntry> {
    let request = ListLeadHistoryRequest {
        lead_id: lead_id.into(),
        ..Default::default()
    };
    let history = f
        .leads()
        .await
        .list_lead_history(authed(request, &admin()))
        .await
        .expect("history");
    history.into_inner().entries
}

pub(super) async fn history_rules(f: &LeadsFixture, lead_id: &str) -> Vec<TransitionRule> {
    history(f, lead_id).await.iter().map(|e| e.rule()).collect()
}

pub(super) async fn follow_up(f: &LeadsFixture, person: &str, lead_id: &str, kind: FollowUpKind) {
    let request = RecordFollowUpRequest {
        lead_id: lead_id.into(),
        kind: kind as i32,
        ..Default::default()
    };
    f.leads()
        .await
        .record_follow_up(authed(request, &rep_token(person)))
        .await
        .expect("follow-up");
}

pub(super) async fn lead(f: &LeadsFixture, lead_id: &str) -> tiejun_proto::leads::v1::Lead {
    let request = GetLeadRequest {
        lead_id: lead_id.into(),
    };
    f.leads()
        .await
        .get_lead(authed(request, &admin()))
        .await
        .expect("get")
        .into_inner()
        .lead
        .expect("lead")
}

pub(super) fn manager_of(team: &str) -> String {
    let mut spec = tiejun_platform::auth::TokenSpec::new(
        "manager",
        &[tiejun_platform::auth::Role::SalesManager],
        Duration::from_secs(3600),
    );
    spec.team = Some(team.to_owned());
    tiejun_tests::keys().mint(&spec).expect("mint")
}
