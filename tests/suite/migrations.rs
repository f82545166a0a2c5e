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
