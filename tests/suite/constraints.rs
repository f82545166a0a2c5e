//! Every unique, CHECK and foreign-key constraint of every migrated schema,
//! read from the database itself (PostgreSQL's `pg_constraint` and unique
//! indexes; SQLite's table definitions, `index_list` and
//! `foreign_key_list`), has exactly one entry in its service's constraint
//! table, so a violation answers a precise code. A constraint added by a
//! migration without an entry fails here; so does an entry whose
//! constraint is gone, and two entries that read alike but mean different
//! things. Then real violations of each kind go through the same
//! conversion every handler uses.

use sqlx::Row as _;
use tiejun_platform::{
    both_backends,
    constraint::{Constraint, Kind, SHARED},
    db::{Backend, Database, PoolSettings},
    error::Error,
    testing::TestDatabase,
};
use tiejun_tests::Svc;
use tonic::Code;

/// A constraint as the database reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    kind: Kind,
    table: String,
    /// PostgreSQL: the name. SQLite: what its messages carry (a CHECK's
    /// name or expression, a unique key's columns); a foreign key, which
    /// SQLite never names, gets PostgreSQL's generated name.
    label: String,
}

fn table_of(svc: Svc) -> Vec<Constraint> {
    SHARED.iter().chain(svc.migrations().constraints).copied().collect()
}

async fn postgres_constraints(pool: &sqlx::PgPool) -> Vec<Found> {
    let rows = sqlx::query(
        "SELECT contype::text AS kind, conname::text AS name, conrelid::regclass::text AS tbl FROM pg_constraint \
         WHERE connamespace = 'public'::regnamespace AND contype IN ('p', 'u', 'c', 'f') \
         UNION ALL \
         SELECT 'u', indexrelid::regclass::text, indrelid::regclass::text FROM pg_index i \
         JOIN pg_class t ON t.oid = i.indrelid \
         WHERE i.indisunique AND t.relnamespace = 'public'::regnamespace \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
    )
    .fetch_all(pool)
    .await
    .expect("catalog");
    rows.iter()
        .map(|r| Found {
            kind: match r.get::<String, _>("kind").as_str() {
                "p" | "u" => Kind::Unique,
                "c" => Kind::Check,
                _ => Kind::ForeignKey,
            },
            label: r.get("name"),
            table: r.get("tbl"),
        })
        .collect()
}

async fn sqlite_constraints(pool: &sqlx::SqlitePool) -> Vec<Found> {
    let tables: Vec<(String, String)> =
        sqlx::query_as("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            .fetch_all(pool)
            .await
            .expect("schema");
    let mut found = Vec::new();
    for (table, sql) in tables {
        for label in checks(&sql) {
            found.push(Found {
                kind: Kind::Check,
                table: table.clone(),
                label,
            });
        }
        let indexes: Vec<(String, i64)> = sqlx::query_as("SELECT name, \"unique\" FROM pragma_index_list(?)")
            .bind(&table)
            .fetch_all(pool)
            .await
            .expect("indexes");
        for (index, unique) in indexes {
            if unique == 0 {
                continue;
            }
            let columns: Vec<(Option<String>,)> =
                sqlx::query_as("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                    .bind(&index)
                    .fetch_all(pool)
                    .await
                    .expect("index columns");
            let label = if columns.iter().any(|(c,)| c.is_none()) {
                format!("index '{index}'")
            } else {
                let names: Vec<_> = columns
                    .into_iter()
                    .map(|(c,)| format!("{table}.{}", c.unwrap_or_default()))
                    .collect();
                names.join(", ")
            };
            found.push(Found {
                kind: Kind::Unique,
                table: table.clone(),
                label,
            });
        }
        let keys: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, \"from\" FROM pragma_foreign_key_list(?) ORDER BY id, seq")
                .bind(&table)
                .fetch_all(pool)
                .await
                .expect("foreign keys");
        let mut by_id: Vec<(i64, Vec<String>)> = Vec::new();
        for (id, column) in keys {
            match by_id.iter_mut().find(|(k, _)| *k == id) {
                Some((_, columns)) => columns.push(column),
                None => by_id.push((id, vec![column])),
            }
        }
        for (_, columns) in by_id {
            found.push(Found {
                kind: Kind::ForeignKey,
                table: table.clone(),
                label: format!("{table}_{}_fkey", columns.join("_")),
            });
        }
    }
    found
}

/// The CHECKs of one `CREATE TABLE`, as SQLite reports them: the name of a
/// named one, else its expression.
fn checks(sql: &str) -> Vec<String> {
    let upper = sql.to_ascii_uppercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = upper[from..].find("CHECK").map(|i| i + from) {
        from = at + 5;
        let before = &upper[..at];
        let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if before.ends_with(is_word) || upper[from..].starts_with(is_word) {
            continue;
        }
        let Some(open) = upper[from..].find('(').map(|i| i + from) else {
            continue;
        };
        if !upper[from..open].trim().is_empty() {
            continue;
        }
        let mut depth = 0;
        let mut close = open;
        for (i, c) in sql[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                close = open + i;
                break;
            }
        }
        let expression = sql[open + 1..close].trim().to_owned();
        let words: Vec<&str> = sql[..at].split_whitespace().rev().take(2).collect();
        let named = words.get(1).is_some_and(|w| w.eq_ignore_ascii_case("CONSTRAINT"));
        out.push(if named { words[0].to_owned() } else { expression });
        from = close;
    }
    out
}

fn matches(entry: &Constraint, found: &Found, backend: Backend) -> bool {
    entry.kind == found.kind
        && match (backend, found.kind) {
            (Backend::Postgres, _) | (Backend::Sqlite, Kind::ForeignKey) => entry.name == found.label,
            (Backend::Sqlite, _) => entry.sqlite == found.label,
        }
}

#[both_backends]
async fn every_constraint_of_every_schema_has_one_meaning(db: TestDatabase) {
    let backend = db.backend;
    for svc in Svc::ALL {
        let fresh = TestDatabase::of(backend).await.expect("same backend available");
        let database = Database::connect(&fresh.url, &PoolSettings::default())
            .await
            .expect("connect");
        database.migrate(svc.migrations()).await.expect("migrate");
        let found = match &database {
            Database::Postgres(pool) => postgres_constraints(pool).await,
            Database::Sqlite(db) => sqlite_constraints(&db.pool).await,
        };
        let table = table_of(svc);
        let mut unmapped = Vec::new();
        for f in &found {
            let entries: Vec<_> = table.iter().filter(|e| matches(e, f, backend)).collect();
            let meanings: Vec<_> = entries.iter().map(|e| e.meaning).collect();
            if entries.is_empty() || meanings.iter().any(|m| *m != meanings[0]) {
                unmapped.push(format!("{:?} {} on {}: {entries:?}", f.kind, f.label, f.table));
            }
        }
        assert!(
            unmapped.is_empty(),
            "{svc:?} on {backend:?}: constraints without one meaning:\n{}",
            unmapped.join("\n")
        );
        if backend == Backend::Postgres {
            let stale: Vec<_> = table
                .iter()
                .filter(|e| !found.iter().any(|f| matches(e, f, backend)))
                .map(|e| e.name)
                .collect();
            assert!(
                stale.is_empty(),
                "{svc:?}: entries for constraints that do not exist: {stale:?}"
            );
        }
        assert!(
            found.len() >= 20,
            "{svc:?} on {backend:?}: only {} constraints read",
            found.len()
        );
        database.close().await;
    }
}

/// Where the three services' tables (and [`SHARED`]) use the same name or
/// the same SQLite form, they mean the same: one process may run all three,
/// and SQLite's messages do not say which table they come from.
#[test]
fn entries_that_read_alike_mean_the_same() {
    let all: Vec<Constraint> = Svc::ALL.into_iter().flat_map(table_of).collect();
    for a in &all {
        for b in &all {
            let alike = a.kind == b.kind && (a.name == b.name || (!a.sqlite.is_empty() && a.sqlite == b.sqlite));
            assert!(
                !alike || a.meaning == b.meaning || a.kind == Kind::ForeignKey,
                "{a:?} and {b:?} read alike"
            );
        }
    }
}

async fn run(database: &Database, sql: &str) -> Result<(), sqlx::Error> {
    match database {
        Database::Postgres(pool) => sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(pool)
            .await
            .map(drop),
        Database::Sqlite(db) => sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&db.pool)
            .await
            .map(drop),
    }
}

/// Real violations of each kind, on this backend, become their entries'
/// codes through `From<sqlx::Error>`: the parsing of SQLite's messages and
/// PostgreSQL's constraint names is exercised, not assumed.
#[both_backends]
async fn violations_answer_their_constraints_code(db: TestDatabase) {
    let database = Database::connect(&db.url, &PoolSettings::default())
        .await
        .expect("connect");
    database.migrate(Svc::Leads.migrations()).await.expect("migrate");
    let rep = |id: &str, quota: i32| {
        format!(
            "INSERT INTO reps (person_id, name, team, city, daily_quota, status, hired_at, updated_at) \
             VALUES ('{id}', 'Rep', 'T', '杭州', {quota}, 'ACTIVE', '2026-03-02 01:00:00+00:00', '2026-03-02 01:00:00+00:00')"
        )
    };
    run(&database, &rep("R1", 40)).await.expect("a rep");
    run(
        &database,
        "INSERT INTO private_pools (person_id, size) VALUES ('R1', 30)",
    )
    .await
    .expect("a full pool");
    let cases: [(String, Code, &str); 5] = [
        (rep("R1", 40), Code::AlreadyExists, "a unique key"),
        (rep("R2", 99), Code::InvalidArgument, "an unnamed CHECK"),
        (
            "UPDATE private_pools SET size = size + 1 WHERE person_id = 'R1'".into(),
            Code::FailedPrecondition,
            "a named CHECK",
        ),
        (
            "UPDATE reps SET status = 'ASLEEP' WHERE person_id = 'R1'".into(),
            Code::Internal,
            "an invariant",
        ),
        (
            "INSERT INTO private_pools (person_id, size) VALUES ('nobody', 0)".into(),
            Code::Aborted,
            "a foreign key",
        ),
    ];
    for (sql, code, what) in cases {
        let err = run(&database, &sql).await.expect_err(what);
        let answer = Error::from(err);
        assert_eq!(answer.code(), code, "{what} on {:?}: {answer:?}", db.backend);
        if code == Code::InvalidArgument {
            let Error::InvalidArgument(violations) = &answer else {
                unreachable!("checked by code")
            };
            assert_eq!(violations[0].field, "daily_quota");
        }
    }
    database.close().await;
}
