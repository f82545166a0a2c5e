//! A lead-distribution server on a manual clock, with a direct database
//! handle for checking invariants, and helpers to set up reps and leads.

use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use tiejun_platform::{
    auth::{Role, TokenSpec},
    clock::ManualClock,
    db::{Database, PoolSettings},
    on_pool_raw,
    testing::TestDatabase,
};
use tiejun_proto::leads::v1::{
    ActivateRepRequest, ImportLeadsRequest, LeadInput, RegisterRepRequest, lead_service_client::LeadServiceClient,
    rep_service_client::RepServiceClient,
};
use tonic::transport::Channel;

use crate::{Running, Svc, authed, keys, start_service_at, token, wait_serving};

/// 09:00 on Monday 2 March 2026 in Shanghai: every test starts here.
pub fn monday_morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0)
        .single()
        .expect("valid instant")
}

/// A running lead-distribution service.
#[derive(Debug)]
pub struct LeadsFixture {
    /// The server.
    pub server: Running,
    /// A direct connection to its database.
    pub db: Database,
    /// The clock it reads.
    pub clock: ManualClock,
    /// The database URL (a second instance can share it).
    pub url: String,
    _test_db: TestDatabase,
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
        crate::logs_when_asked();
        let clock = ManualClock::new(monday_morning());
        let server = start_service_at(Svc::Leads, &test_db.url, std::sync::Arc::new(clock.clone())).await;
        assert!(
            wait_serving(server.addr, Duration::from_secs(30)).await,
            "leads never SERVING"
        );
        let db = Database::connect(&test_db.url, &PoolSettings::default())
            .await
            .expect("test connection");
        Self {
            server,
            db,
            clock,
            url: test_db.url.clone(),
            _test_db: test_db,
        }
    }

    /// A channel to the server.
    pub async fn channel(&self) -> Channel {
        self.server.channel().await
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

    /// A number from a query with one text argument.
    pub async fn scalar(&self, sql: &'static str, arg: &str) -> i64 {
        on_pool_raw!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(arg)
            .fetch_one(p)
            .await
            .expect("scalar"))
    }

    /// Moves the clock.
    pub fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
    }
}
