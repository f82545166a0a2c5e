//! Both backends open and migrate every service's schema from empty, twice.

use tiejun_platform::{
    both_backends,
    db::{Database, PoolSettings},
    testing::TestDatabase,
};
use tiejun_tests::Svc;

#[both_backends]
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
        let expected = svc
            .migrations()
            .migrator(db.backend)
            .expect("versions given once")
            .iter()
            .count();
        assert_eq!(applied as usize, expected, "{svc:?} on {:?}", db.backend);
        database.close().await;
    }
}

/// lead-distribution's migration 0005 moves data: the private pools out of
/// `reps`, the duplicate keys out of `leads`, the ownership periods and the
/// history into tables without foreign keys (rebuilt on SQLite). A database
/// at 0004 with rows in it comes out whole, its rules still enforced.
#[both_backends]
async fn the_leads_schema_upgrades_a_populated_database(db: TestDatabase) {
    let database = Database::connect(&db.url, &PoolSettings::default())
        .await
        .expect("connect");
    let migrations = tiejun_leads::SERVICE.migrations;
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
        let migrator = migrations.migrator(db.backend).expect("versions given once");
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

/// What every deployed database recorded: service, backend, version and the
/// SHA-384 of the migration's SQL. sqlx refuses to start a service whose
/// applied migration changed, so a released migration never does: a change
/// is a new migration, and a new migration adds its line here.
const APPLIED: &[(&str, &str, i64, &str)] = &[
    (
        "lead-distribution",
        "postgres",
        1,
        "a62f97a2ccac89b37d961abfaea5fd75f04b92cd868bf18cdacf7160d7ccd6f705f6e2b786b8d2995dce4f6540f24913",
    ),
    (
        "lead-distribution",
        "postgres",
        2,
        "d59910db0aa01f85e10a354a17660f011e6f7911ae7badd7050ab74c87cca21ec6e6e0265f0f27ee9f0c58c252850d62",
    ),
    (
        "lead-distribution",
        "postgres",
        3,
        "4e4fe039552e126a6a009b8e409112ae108883c8d5a219aa9df652343570848fe6b686f5d4f7fac8b23800b92bb8e711",
    ),
    (
        "lead-distribution",
        "postgres",
        4,
        "b3ee8ba4dbf2a8ce784e4cde17f24f1d3ca821928133279583097414e7df407879378b325bc8480309198d57e4cc54f2",
    ),
    (
        "lead-distribution",
        "postgres",
        5,
        "30ae7dc06b5ef88b0c1b161ca2374037e0851a9d9c2a2eca3bbcef01e1a2d97d1ab14dcb56fa2c9d52d2357e351dcd9e",
    ),
    (
        "lead-distribution",
        "postgres",
        6,
        "d91a93acd1ad83d8609978ec6448204f820b46adc238342060607670b73c095afeae5f87c9672c285c4c9b16cf7139cd",
    ),
    (
        "lead-distribution",
        "postgres",
        7,
        "8f59d73b5a624cff91900eb7942dcf3fef4f456298d6cdfb5fd5befa5a08f0adde8df5d6145008c275455e23251b8496",
    ),
    (
        "lead-distribution",
        "postgres",
        8,
        "cf4a59596ddcad906b1cb3d851b508a4ba46ffa92a412f3d31358e1026355e7cfa3bd2af1360c29806ae1f66297c1618",
    ),
    (
        "lead-distribution",
        "sqlite",
        1,
        "fd0cb8e29eb52b0ef2f917422b9f78f062faaf900cf26683f08c6ca1e875b547daaa025889b13836037af136b696bf86",
    ),
    (
        "lead-distribution",
        "sqlite",
        2,
        "1c317d8bf2bee1c21748eb2a2c6170c0b80c8c25afa49b655716343056a121d360f3ba6d7154be5bd799a0cd390245f3",
    ),
    (
        "lead-distribution",
        "sqlite",
        3,
        "0327fa07bc8f63b3a9e193c966c576d5c980af17d466af8647d01ec16317578269ca21ba898bad19ce1c9f400a104f33",
    ),
    (
        "lead-distribution",
        "sqlite",
        4,
        "30bd84d1e3bce65e4ca6c3a72eddbdc8f98deaf8d8e619f0d74828df2da83271837c04282ac0bb288f72b5ffd7117ee5",
    ),
    (
        "lead-distribution",
        "sqlite",
        5,
        "f4c93981dad0b98c0bbb0d05bfa4daf454c35a5ea76cfe5726b2c49046b9ad693840290c03ea52a417cdede91064808f",
    ),
    (
        "lead-distribution",
        "sqlite",
        6,
        "d91a93acd1ad83d8609978ec6448204f820b46adc238342060607670b73c095afeae5f87c9672c285c4c9b16cf7139cd",
    ),
    (
        "lead-distribution",
        "sqlite",
        7,
        "8f59d73b5a624cff91900eb7942dcf3fef4f456298d6cdfb5fd5befa5a08f0adde8df5d6145008c275455e23251b8496",
    ),
    (
        "lead-distribution",
        "sqlite",
        8,
        "b47a229cdde7241c3870c65cd04a4f869678b478f838190497303155b3296b3b23688efb6743077ae3d3081e764902ee",
    ),
    (
        "membership-billing",
        "postgres",
        1,
        "a62f97a2ccac89b37d961abfaea5fd75f04b92cd868bf18cdacf7160d7ccd6f705f6e2b786b8d2995dce4f6540f24913",
    ),
    (
        "membership-billing",
        "postgres",
        2,
        "f5457813a89f4b2642a918e1b25592f1dfd5fd9378f807881a23186837dce99d24f1e9d80d2362c68b2f2e286d670047",
    ),
    (
        "membership-billing",
        "postgres",
        3,
        "8f29172efbf6f7d88b5825f5dd7ac6077442c1ccfe146179581e967952206c6a3621f7c54c3ceec176ba938de931a0cc",
    ),
    (
        "membership-billing",
        "postgres",
        4,
        "e2108affea96fe5a3e28a487600e54a19cf52c2a9c3e089afc55462dcb441bde563f5c1e5c56fe408dc5c35437ba6f53",
    ),
    (
        "membership-billing",
        "postgres",
        5,
        "f23d9ada9a30661d0497750561194113d3b82b37a40a4d8262571320fd08371a22ebae568aadfeca76e6437934eda5e8",
    ),
    (
        "membership-billing",
        "postgres",
        6,
        "d0d81746bdb6330efc5054999729c5716f64d65e207bc3c714dc130d6e9eed8cd36788a02749c766c9b87d637d80a88d",
    ),
    (
        "membership-billing",
        "postgres",
        7,
        "b3ee8ba4dbf2a8ce784e4cde17f24f1d3ca821928133279583097414e7df407879378b325bc8480309198d57e4cc54f2",
    ),
    (
        "membership-billing",
        "postgres",
        8,
        "d91a93acd1ad83d8609978ec6448204f820b46adc238342060607670b73c095afeae5f87c9672c285c4c9b16cf7139cd",
    ),
    (
        "membership-billing",
        "sqlite",
        1,
        "fd0cb8e29eb52b0ef2f917422b9f78f062faaf900cf26683f08c6ca1e875b547daaa025889b13836037af136b696bf86",
    ),
    (
        "membership-billing",
        "sqlite",
        2,
        "cb4640d7dfd6a3625ba978b31672861ba6d8c586dd10bcff8e888a768c19c1b7e20359981f94aadd9fe0867b256de80d",
    ),
    (
        "membership-billing",
        "sqlite",
        3,
        "cd266b6dcbc8ae19ed9a3a2ae50d8b5eae683ad46f7d64e52677824111e59b4c97c382140fb2e16c3819796b575c7f90",
    ),
    (
        "membership-billing",
        "sqlite",
        4,
        "ce4c2c8363232718eddd60dc5b8c471839bf448de22616884be8cbd151d4ab6664b2edda021f21051d16c1da7b787a0f",
    ),
    (
        "membership-billing",
        "sqlite",
        5,
        "8958837c50d971907b74f6887ed1d949ca680921ad6c6ea869704069e6ba5b5ac8ecc8ceeb1c913a225c5e9725dcadb8",
    ),
    (
        "membership-billing",
        "sqlite",
        6,
        "d0d81746bdb6330efc5054999729c5716f64d65e207bc3c714dc130d6e9eed8cd36788a02749c766c9b87d637d80a88d",
    ),
    (
        "membership-billing",
        "sqlite",
        7,
        "30bd84d1e3bce65e4ca6c3a72eddbdc8f98deaf8d8e619f0d74828df2da83271837c04282ac0bb288f72b5ffd7117ee5",
    ),
    (
        "membership-billing",
        "sqlite",
        8,
        "d91a93acd1ad83d8609978ec6448204f820b46adc238342060607670b73c095afeae5f87c9672c285c4c9b16cf7139cd",
    ),
    (
        "training-enrollment",
        "postgres",
        1,
        "a62f97a2ccac89b37d961abfaea5fd75f04b92cd868bf18cdacf7160d7ccd6f705f6e2b786b8d2995dce4f6540f24913",
    ),
    (
        "training-enrollment",
        "postgres",
        2,
        "6d2b47f65ef7d04c2d54f1e961e7bf8d00321ebe5d97ce894b8b7bfb43eedf533042de5611390614028f73c1096db942",
    ),
    (
        "training-enrollment",
        "postgres",
        3,
        "0a56000b643880a90e7e4c8bbef7da0a368b787ae12d69d541d3383a61b164cd36b6eda55b66398259a09cd72845fdb2",
    ),
    (
        "training-enrollment",
        "postgres",
        4,
        "b3ee8ba4dbf2a8ce784e4cde17f24f1d3ca821928133279583097414e7df407879378b325bc8480309198d57e4cc54f2",
    ),
    (
        "training-enrollment",
        "postgres",
        5,
        "d91a93acd1ad83d8609978ec6448204f820b46adc238342060607670b73c095afeae5f87c9672c285c4c9b16cf7139cd",
    ),
    (
        "training-enrollment",
        "sqlite",
        1,
        "fd0cb8e29eb52b0ef2f917422b9f78f062faaf900cf26683f08c6ca1e875b547daaa025889b13836037af136b696bf86",
    ),
    (
        "training-enrollment",
        "sqlite",
        2,
        "a9abea8f89c6b7f6a727c0b5b2cff15ce0f4c7956eaaa576c40965e217fdd7b54861e5eb7725dd40450fe30747ef203a",
    ),
    (
        "training-enrollment",
        "sqlite",
        3,
        "9fd11200184909bb4f84fe4be824262628dd17660cafd5f03710906b83eb1e125b59d2eab775d50c4d6838ca2c0360c5",
    ),
    (
        "training-enrollment",
        "sqlite",
        4,
        "30bd84d1e3bce65e4ca6c3a72eddbdc8f98deaf8d8e619f0d74828df2da83271837c04282ac0bb288f72b5ffd7117ee5",
    ),
    (
        "training-enrollment",
        "sqlite",
        5,
        "d91a93acd1ad83d8609978ec6448204f820b46adc238342060607670b73c095afeae5f87c9672c285c4c9b16cf7139cd",
    ),
];

/// Every migration of every service, on both backends (the platform's shared
/// tables at their places included), is the one its databases recorded, and
/// nothing is missing or extra.
#[test]
fn every_released_migration_keeps_its_version_and_checksum() {
    use tiejun_platform::db::Backend;
    let mut found = Vec::new();
    for (svc, name) in Svc::ALL
        .into_iter()
        .zip(["lead-distribution", "membership-billing", "training-enrollment"])
    {
        for backend in [Backend::Postgres, Backend::Sqlite] {
            let migrator = svc.migrations().migrator(backend).expect("versions given once");
            let versions: Vec<i64> = migrator.iter().map(|m| m.version).collect();
            let expected: Vec<i64> = (1..=versions.len() as i64).collect();
            assert_eq!(
                versions,
                expected,
                "{name} on {}: one of each version from 1",
                backend.as_str()
            );
            for migration in migrator.iter() {
                found.push((
                    name,
                    backend.as_str(),
                    migration.version,
                    hex::encode(&migration.checksum),
                ));
            }
        }
    }
    let pinned: Vec<(&str, &str, i64, String)> = APPLIED
        .iter()
        .map(|&(name, backend, version, sum)| (name, backend, version, sum.to_owned()))
        .collect();
    assert_eq!(found, pinned);
}
