//! A lead-distribution server on a manual clock, with a direct database
//! handle for checking invariants, and helpers to set up reps and leads.

use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use tiejun_platform::{
    auth::{Role, TokenSpec},
    on_pool_raw,
    testing::TestDatabase,
};
use tiejun_proto::leads::v1::{
    ActivateRepRequest, ImportLeadsRequest, LeadInput, RegisterRepRequest, lead_service_client::LeadServiceClient,
    rep_service_client::RepServiceClient,
};
use tonic::transport::Channel;

use crate::{Svc, authed, fixture::Fixture, keys, token};

/// 09:00 on Monday 2 March 2026 in Shanghai: every test starts here.
pub fn monday_morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0)
        .single()
        .expect("valid instant")
}

/// A running lead-distribution service: the [`Fixture`] and the calls
/// lead-distribution's tests make.
#[derive(Debug)]
pub struct LeadsFixture(pub Fixture);

impl std::ops::Deref for LeadsFixture {
    type Target = Fixture;

    fn deref(&self) -> &Fixture {
        &self.0
    }
}

/// An admin token.
pub fn admin() -> String {
    token(&[Role::Admin])
}

/// A rep's token, scoped to `person_id`.
pub fn rep_token(person_id: &str) -> String {
    let mut spec = TokenSpec::new(person_id, &[Role::SalesRep], Duration::from_secs(3600 * 24 * 400));
    spec.rep_id = Some(person_id.to_owned());
    keys().mint(&spec).expect("mint")
}

/// A registration in Hangzhou.
pub fn registration(person_id: &str) -> RegisterRepRequest {
    RegisterRepRequest {
        person_id: person_id.into(),
        name: format!("Rep {person_id}"),
        team: "Hangzhou-1".into(),
        city: "杭州".into(),
        daily_quota: 0,
    }
}

/// A lead in `city` with a unique phone and company derived from `n`.
pub fn lead_input(n: usize, city: &str, score: i32) -> LeadInput {
    LeadInput {
        company_name: format!("测试贸易{n:05}号"),
        contact_name: "王经理".into(),
        phone: format!("138{n:08}"),
        email: format!("buyer{n}@example.com"),
        city: city.into(),
        industry: "textiles".into(),
        source: "Canton Fair".into(),
        score,
    }
}

impl LeadsFixture {
    /// Starts the service on `test_db` at [`monday_morning`].
    pub async fn start(test_db: TestDatabase) -> Self {
        Self(Fixture::start(Svc::Leads, test_db, None).await)
    }

    /// A channel to the server.
    pub async fn channel(&self) -> Channel {
        self.0.channel.clone()
    }

    /// A RepService client.
    pub async fn reps(&self) -> RepServiceClient<Channel> {
        RepServiceClient::new(self.channel().await)
    }

    /// A LeadService client.
    pub async fn leads(&self) -> LeadServiceClient<Channel> {
        LeadServiceClient::new(self.channel().await)
    }

    /// Registers and activates reps with `quota` (0: the default).
    pub async fn active_reps(&self, ids: &[&str], quota: i32) {
        let mut reps = self.reps().await;
        for id in ids {
            let mut r = registration(id);
            r.daily_quota = quota;
            reps.register_rep(authed(r, &admin())).await.expect("register");
            reps.activate_rep(authed(
                ActivateRepRequest {
                    person_id: (*id).into(),
                    reason: String::new(),
                },
                &admin(),
            ))
            .await
            .expect("activate");
        }
    }

    /// Imports `inputs` and returns the new ids in order.
    pub async fn import(&self, inputs: Vec<LeadInput>) -> Vec<String> {
        let rows: Vec<_> = inputs
            .into_iter()
            .enumerate()
            .map(|(i, lead)| ImportLeadsRequest {
                row: i as i64 + 1,
                lead: Some(lead),
            })
            .collect();
        let n = rows.len();
        let response = self
            .leads()
            .await
            .import_leads(authed(tokio_stream::iter(rows), &admin()))
            .await
            .expect("import");
        let response = response.into_inner();
        assert_eq!(
            response.created as usize, n,
            "import refused rows: {:?}",
            response.results
        );
        response.results.into_iter().map(|r| r.lead_id).collect()
    }

    /// Hands a lead to a rep directly in the database, as an assignment would.
    pub async fn assign_directly(&self, lead_id: &str, person_id: &str) {
        on_pool_raw!(&self.db, |p| sqlx::query(
            "UPDATE leads SET state = 'ASSIGNED', owner_person_id = $2, assigned_at = created_at WHERE lead_id = $1"
        )
        .bind(lead_id)
        .bind(person_id)
        .execute(p)
        .await
        .map(drop)
        .expect("assign"));
    }
}
