//! Both backends open and migrate every service's schema from empty, twice.

use tiejun_platform::{
    both_backends,
    db::{Database, PoolSettings},
    testing::TestDatabase,
};
use tiejun_tests::Svc;

async fn migrations_apply_from_empty_twice(db: TestDatabase) {
    for svc in Svc::ALL {
        // A fresh database per service, as in production.
        let fresh = TestDatabase::of(db.backend).await.expect("same backend available");
        let database = Database::connect(&fresh.url, &PoolSettings::default())
            .await
            .expect("connect");
        database.migrate(svc.migrations()).await.expect("first migration");
        database
            .migrate(svc.migrations())
            .await
            .expect("second migration is a no-op");
        let applied = match &database {
            Database::Sqlite(db) => {
                let pool = &db.pool;
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations")
                    .fetch_one(pool)
                    .await
            }
            Database::Postgres(pool) => {
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations")
                    .fetch_one(pool)
                    .await
            }
        }
        .expect("migration table");
        let expected = match db.backend {
            tiejun_platform::db::Backend::Sqlite => svc.migrations().sqlite.iter().count(),
            tiejun_platform::db::Backend::Postgres => svc.migrations().postgres.iter().count(),
        };
        assert_eq!(applied as usize, expected, "{svc:?} on {:?}", db.backend);
        database.close().await;
    }
}

both_backends!(migrate_twice, migrations_apply_from_empty_twice);

/// lead-distribution's migration 0005 moves data: the private pools out of
/// `reps`, the duplicate keys out of `leads`, the ownership periods and the
/// history into tables without foreign keys (rebuilt on SQLite). A database
/// at 0004 with rows in it comes out whole, its rules still enforced.
async fn the_leads_schema_upgrades_a_populated_database(db: TestDatabase) {
    let database = Database::connect(&db.url, &PoolSettings::default())
        .await
        .expect("connect");
    let migrations = &tiejun_leads::MIGRATIONS;
    let statements: [&str; 9] = [
        "INSERT INTO reps (person_id, name, team, city, daily_quota, status, hired_at, updated_at, private_count) \
         VALUES ('U1', 'Rep U1', 'T', '杭州', 40, 'ACTIVE', '2026-03-02 01:00:00+00:00', '2026-03-02 01:00:00+00:00', 2)",
        "INSERT INTO leads (lead_id, kind, company_name, company_key, contact_name, phone, city, score, state, \
         owner_person_id, created_at, updated_at) VALUES ('L1', 'NEW_BUSINESS', 'Co 1', 'co1', 'Wang', '13800000001', \
         '杭州', 50, 'PRIVATE', 'U1', '2026-03-02 01:00:00+00:00', '2026-03-02 01:00:00+00:00')",
        "INSERT INTO leads (lead_id, kind, company_name, company_key, contact_name, phone, city, score, state, \
         owner_person_id, created_at, updated_at) VALUES ('L2', 'NEW_BUSINESS', 'Co 2', 'co2', 'Li', '13800000002', \
         '杭州', 50, 'PRIVATE', 'U1', '2026-03-02 01:00:00+00:00', '2026-03-02 01:00:00+00:00')",
        "INSERT INTO leads (lead_id, kind, company_name, company_key, contact_name, phone, city, score, state, \
         created_at, updated_at) VALUES ('L3', 'RENEWAL', 'Co 1', 'co1', 'Wang', '13800000001', '杭州', 90, 'POOL', \
         '2026-03-02 01:00:00+00:00', '2026-03-02 01:00:00+00:00')",
        "INSERT INTO assignments (assignment_id, lead_id, person_id, business_day, rule, reason, assigned_at) \
         VALUES ('A1', 'L1', 'U1', '2026-03-02', 'SELF_CLAIM', 'claimed', '2026-03-02 01:00:00+00:00')",
        "INSERT INTO lead_history (lead_id, sequence, occurred_at, actor, to_state, rule) \
         VALUES ('L1', 1, '2026-03-02 01:00:00+00:00', 'ops', 'POOL', 'INTAKE')",
        "INSERT INTO lead_history (lead_id, sequence, occurred_at, actor, from_state, to_state, to_owner, rule) \
         VALUES ('L1', 2, '2026-03-02 01:00:00+00:00', 'U1', 'POOL', 'ASSIGNED', 'U1', 'SELF_CLAIM')",
        "INSERT INTO rep_events (person_id, payload, created_at) VALUES ('U1', '', '2026-03-02 01:00:00+00:00')",
        "INSERT INTO distribution_days (business_day, seed, created_at) VALUES ('2026-03-02', 7, '2026-03-02 01:00:00+00:00')",
    ];
    let count = |sql: &'static str| {
        let database = database.clone();
        async move {
            tiejun_platform::on_pool_raw!(&database, |p| sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(p)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}")))
        }
    };
    tiejun_platform::on_pool_raw!(&database, |p| {
        let migrator = match db.backend {
            tiejun_platform::db::Backend::Sqlite => &migrations.sqlite,
            tiejun_platform::db::Backend::Postgres => &migrations.postgres,
        };
        migrator.run_to(4, p).await.expect("up to 0004");
        for sql in statements {
            let sql = sql.replace(
                "''",
                if db.backend == tiejun_platform::db::Backend::Postgres {
                    "''::bytea"
                } else {
                    "X''"
                },
            );
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(p)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    });
    database
        .migrate(migrations)
        .await
        .expect("0005 onto the populated schema");
    assert_eq!(
        count("SELECT CAST(size AS BIGINT) FROM private_pools WHERE person_id = 'U1'").await,
        2
    );
    assert_eq!(count("SELECT count(*) FROM lead_keys").await, 2, "new business only");
    assert_eq!(
        count("SELECT count(*) FROM assignments WHERE assignment_id = 'A1' AND ended_at IS NULL").await,
        1
    );
    assert_eq!(count("SELECT count(*) FROM lead_history WHERE lead_id = 'L1'").await, 2);
    assert_eq!(
        count("SELECT count(*) FROM rep_events").await,
        0,
        "the old feed is not carried over"
    );
    // The rules the rebuilt tables hold.
    let refused = |sql: &'static str| {
        let database = database.clone();
        async move {
            tiejun_platform::on_pool_raw!(&database, |p| sqlx::query(sql).execute(p).await.map(drop)).expect_err(sql)
        }
    };
    refused("UPDATE lead_history SET actor = 'someone else'").await;
    refused("DELETE FROM lead_history").await;
    refused(
        "INSERT INTO assignments (assignment_id, lead_id, person_id, business_day, rule, reason, assigned_at) \
         VALUES ('A2', 'L1', 'U1', '2026-03-02', 'SELF_CLAIM', 'twice', '2026-03-02 01:00:00+00:00')",
    )
    .await;
    refused("INSERT INTO lead_keys (lead_id, phone, company_key) VALUES ('L3', '13800000001', 'other')").await;
    refused("UPDATE private_pools SET size = 31").await;
}

both_backends!(leads_0005_upgrade, the_leads_schema_upgrades_a_populated_database);
