//! A stored state or kind that no release wrote (a database that broke its
//! own CHECKs) fails the row it is on, in every service and on both
//! backends: INTERNAL with the trace id, the stored value kept out of the
//! answer (it is in the log), never read as UNSPECIFIED or a default.

use tiejun_platform::{both_backends, db::Database, on_pool_raw, testing::TestDatabase};
use tiejun_proto::{
    billing::v1::{
        GetInvoiceRequest, GetPlanRequest, GetSubscriptionRequest, ListSubscriptionsRequest,
        catalog_service_client::CatalogServiceClient, subscription_service_client::SubscriptionServiceClient,
    },
    leads::v1::{GetLeadRequest, ListLeadsRequest, lead_service_client::LeadServiceClient},
    training::v1::{
        GetEnrollmentRequest, GetSessionRequest, ListSessionsRequest,
        enrollment_service_client::EnrollmentServiceClient, session_service_client::SessionServiceClient,
    },
};
use tiejun_tests::{
    authed,
    billing::{BillingFixture, billing_admin},
    leads::{LeadsFixture, admin, lead_input},
    training::{TrainingFixture, trainer},
};
use tonic::Code;

/// What no release ever stored.
const CORRUPT: &str = "NO_RELEASE_WROTE_THIS";

/// Sets `table.column` to [`CORRUPT`] where `key_column = key`, past the
/// table's CHECKs, on the fixture's own connection: SQLite ignores them on
/// one connection of its pool (and heeds them again after), PostgreSQL has
/// them dropped (the database is the test's own).
async fn corrupt(db: &Database, table: &str, column: &str, key_column: &str, key: &str) {
    let update = format!("UPDATE {table} SET {column} = '{CORRUPT}' WHERE {key_column} = '{key}'");
    let changed = match db {
        Database::Sqlite(sqlite) => {
            let mut conn = sqlite.pool.acquire().await.expect("connection");
            sqlx::query("PRAGMA ignore_check_constraints = ON")
                .execute(&mut *conn)
                .await
                .expect("pragma");
            let done = sqlx::query(sqlx::AssertSqlSafe(update)).execute(&mut *conn).await;
            sqlx::query("PRAGMA ignore_check_constraints = OFF")
                .execute(&mut *conn)
                .await
                .expect("pragma");
            done.expect("corrupting update").rows_affected()
        }
        Database::Postgres(pool) => {
            let drop_checks = format!(
                "DO $$ DECLARE c record; BEGIN \
                 FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = '{table}'::regclass AND contype = 'c' \
                 LOOP EXECUTE format('ALTER TABLE {table} DROP CONSTRAINT %I', c.conname); END LOOP; END $$"
            );
            sqlx::query(sqlx::AssertSqlSafe(drop_checks))
                .execute(pool)
                .await
                .expect("dropping the CHECKs");
            sqlx::query(sqlx::AssertSqlSafe(update))
                .execute(pool)
                .await
                .expect("corrupting update")
                .rows_affected()
        }
    };
    assert!(changed > 0, "no row of {table} where {key_column} = {key}");
}

/// One text from a query with no arguments.
async fn text(db: &Database, sql: &'static str) -> String {
    on_pool_raw!(db, |p| sqlx::query_scalar::<_, String>(sql)
        .fetch_one(p)
        .await
        .expect(sql))
}

/// The answer is INTERNAL with a trace id and without the stored value.
#[track_caller]
fn assert_internal<T: std::fmt::Debug>(what: &str, answer: Result<T, tonic::Status>) {
    let status = answer.expect_err(what);
    assert_eq!(status.code(), Code::Internal, "{what}: {status:?}");
    assert!(status.message().contains("trace id"), "{what}: {status:?}");
    assert!(
        !status.message().contains(CORRUPT),
        "{what}: the value stays in the log: {status:?}"
    );
}

#[both_backends]
async fn billing_rows_with_a_state_no_release_wrote_fail(db: TestDatabase) {
    let billing = BillingFixture::start(db, None).await;
    billing.catalog(&[("pro", 1_000)]).await;
    let (account, subscription) = billing.paid_member(1, "pro", "U1").await;
    let invoice = text(&billing.db, "SELECT invoice_id FROM invoices").await;
    let mut subscriptions = SubscriptionServiceClient::new(billing.channel.clone());
    let mut catalog = CatalogServiceClient::new(billing.channel.clone());

    corrupt(&billing.db, "subscriptions", "state", "subscription_id", &subscription).await;
    let get = GetSubscriptionRequest {
        subscription_id: subscription.clone(),
    };
    assert_internal(
        "GetSubscription",
        subscriptions.get_subscription(authed(get, &billing_admin())).await,
    );
    let list = ListSubscriptionsRequest {
        account_id: account,
        ..Default::default()
    };
    assert_internal(
        "ListSubscriptions",
        subscriptions.list_subscriptions(authed(list, &billing_admin())).await,
    );

    corrupt(&billing.db, "invoices", "status", "invoice_id", &invoice).await;
    let get = GetInvoiceRequest { invoice_id: invoice };
    assert_internal(
        "GetInvoice",
        subscriptions.get_invoice(authed(get, &billing_admin())).await,
    );

    corrupt(&billing.db, "plans", "period", "plan_id", "pro").await;
    let get = GetPlanRequest {
        plan_id: "pro".into(),
        version: 0,
    };
    assert_internal("GetPlan", catalog.get_plan(authed(get, &billing_admin())).await);
}

#[both_backends]
async fn training_rows_with_a_state_no_release_wrote_fail(db: TestDatabase) {
    let training = TrainingFixture::start(db).await;
    training.onboarding().await;
    let session = training.session("杭州", 3, 10).await;
    let enrollment = training.enroll(&session, "U1").await.expect("enrol").enrollment_id;
    let mut sessions = SessionServiceClient::new(training.server.channel().await);
    let mut enrollments = EnrollmentServiceClient::new(training.server.channel().await);

    corrupt(&training.db, "enrollments", "status", "enrollment_id", &enrollment).await;
    let get = GetEnrollmentRequest {
        enrollment_id: enrollment,
    };
    assert_internal(
        "GetEnrollment",
        enrollments.get_enrollment(authed(get, &trainer())).await,
    );

    corrupt(&training.db, "sessions", "status", "session_id", &session).await;
    let get = GetSessionRequest {
        session_id: session.clone(),
    };
    assert_internal("GetSession", sessions.get_session(authed(get, &trainer())).await);
    let list = ListSessionsRequest {
        city: "杭州".into(),
        ..Default::default()
    };
    assert_internal("ListSessions", sessions.list_sessions(authed(list, &trainer())).await);
}

#[both_backends]
async fn lead_rows_with_a_state_no_release_wrote_fail(db: TestDatabase) {
    let leads = LeadsFixture::start(db).await;
    let lead = leads.import(vec![lead_input(1, "杭州", 50)]).await.remove(0);
    let mut client = LeadServiceClient::new(leads.channel().await);

    corrupt(&leads.db, "leads", "state", "lead_id", &lead).await;
    let get = GetLeadRequest { lead_id: lead };
    assert_internal("GetLead", client.get_lead(authed(get, &admin())).await);
    let list = ListLeadsRequest {
        city: "杭州".into(),
        ..Default::default()
    };
    assert_internal("ListLeads", client.list_leads(authed(list, &admin())).await);
}
