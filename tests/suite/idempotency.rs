//! Idempotency keys on both backends: replay, reuse, and concurrent retries.

use std::sync::Arc;

use chrono::Utc;
use tiejun_platform::{
    Error, both_backends,
    db::{Database, PoolSettings},
    idempotency::{self, Claim},
    testing::TestDatabase,
};
use tiejun_proto::bench::v1::EchoResponse;
use tiejun_tests::Svc;

/// Runs one idempotent "operation": claims the key, and if fresh, records
/// `response` after a pause that lets concurrent retries pile up.
async fn attempt(db: &Database, key: &str, hash: &str, response: &EchoResponse) -> Result<Claim<EchoResponse>, Error> {
    let mut tx = db.begin().await?;
    let claim = idempotency::claim::<EchoResponse>(&mut tx, "test/Op", key, hash, Utc::now()).await?;
    if claim == Claim::Fresh {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        idempotency::record(&mut tx, "test/Op", key, response).await?;
    }
    tx.commit().await?;
    Ok(claim)
}

async fn open(db: &TestDatabase) -> Database {
    let database = Database::connect(
        &db.url,
        &PoolSettings {
            max_connections: 25,
            ..PoolSettings::default()
        },
    )
    .await
    .expect("connect");
    database.migrate(Svc::Leads.migrations()).await.expect("migrate");
    database
}

#[both_backends]
async fn same_key_same_request_replays_the_first_response(db: TestDatabase) {
    let database = open(&db).await;
    let first = EchoResponse {
        payload: b"first".to_vec(),
        deadline_ms: 1,
    };
    assert_eq!(
        attempt(&database, "k1", "h1", &first).await.expect("fresh"),
        Claim::Fresh
    );
    let second = EchoResponse {
        payload: b"second".to_vec(),
        deadline_ms: 2,
    };
    assert_eq!(
        attempt(&database, "k1", "h1", &second).await.expect("replay"),
        Claim::Replay(first)
    );
}

#[both_backends]
async fn same_key_different_request_is_refused(db: TestDatabase) {
    let database = open(&db).await;
    let response = EchoResponse::default();
    attempt(&database, "k2", "h1", &response).await.expect("fresh");
    let err = attempt(&database, "k2", "h2", &response).await.expect_err("reused key");
    assert!(matches!(err, Error::IdempotencyKeyReused), "{err:?}");
}

#[both_backends]
async fn twenty_concurrent_retries_make_one_effect(db: TestDatabase) {
    let database = Arc::new(open(&db).await);
    let response = EchoResponse {
        payload: b"once".to_vec(),
        deadline_ms: 0,
    };
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let database = database.clone();
            let response = response.clone();
            tokio::spawn(async move { attempt(&database, "k3", "h", &response).await })
        })
        .collect();
    let mut fresh = 0;
    for task in tasks {
        match task.await.expect("task").expect("every retry answers") {
            Claim::Fresh => fresh += 1,
            Claim::Replay(r) => assert_eq!(r, response),
        }
    }
    assert_eq!(fresh, 1, "exactly one attempt did the work");
}
