//! The one fixture every service's tests start from: the service on its own
//! test database, at [`monday_morning`] on a clock the test moves by hand,
//! with a channel to it and a direct connection to its database. The
//! service fixtures (`LeadsFixture`, `BillingFixture`, `TrainingFixture`)
//! are this plus the calls their tests make.

use std::{sync::Arc, time::Duration};

use tiejun_platform::{
    clock::ManualClock,
    db::{Database, PoolSettings},
    on_pool_raw,
    testing::TestDatabase,
};
use tonic::transport::Channel;

use crate::{Running, Svc, leads::monday_morning, start_service_at, start_service_with_jobs, wait_serving};

/// A running service on its own test database.
#[derive(Debug)]
pub struct Fixture {
    /// The server.
    pub server: Running,
    /// A channel to it.
    pub channel: Channel,
    /// A direct connection to its database.
    pub db: Database,
    /// The clock it reads.
    pub clock: ManualClock,
    /// The database URL (a second instance can share it).
    pub url: String,
    _test_db: TestDatabase,
}

impl Fixture {
    /// Starts `svc` on `test_db`; with `jobs_every`, its background jobs run
    /// at that interval, else not at all.
    pub async fn start(svc: Svc, test_db: TestDatabase, jobs_every: Option<Duration>) -> Self {
        crate::logs_when_asked();
        let clock = ManualClock::new(monday_morning());
        let shared = Arc::new(clock.clone());
        let server = match jobs_every {
            Some(every) => start_service_with_jobs(svc, &test_db.url, shared, every).await,
            None => start_service_at(svc, &test_db.url, shared).await,
        };
        assert!(
            wait_serving(server.addr, Duration::from_secs(30)).await,
            "{svc:?} never SERVING"
        );
        let channel = server.channel().await;
        let db = Database::connect(&test_db.url, &PoolSettings::default())
            .await
            .expect("test connection");
        Self {
            server,
            channel,
            db,
            clock,
            url: test_db.url.clone(),
            _test_db: test_db,
        }
    }

    /// Moves the service's clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
    }

    /// A number from a query with one text argument.
    pub async fn scalar(&self, sql: &'static str, arg: &str) -> i64 {
        on_pool_raw!(&self.db, |p| sqlx::query_scalar(sql)
            .bind(arg)
            .fetch_one(p)
            .await
            .expect("scalar"))
    }
}
