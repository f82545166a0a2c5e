//! The rules the schema holds: every numeric bound a CHECK puts on a rule
//! equals the domain's constant, and none is missing from the list.

use tiejun_platform::{both_backends, on_pool_raw, testing::TestDatabase};
use tiejun_tests::leads::{LeadsFixture, lead_input};

/// Every numeric bound the schema puts on a lead-distribution rule, beside
/// the domain constant it must equal: (table, column, the constant's range).
fn rule_bounds() -> Vec<(&'static str, &'static str, std::ops::RangeInclusive<i32>)> {
    use tiejun_leads::domain::rules::{CLAIMS_PER_DAY, PRIVATE_POOL_CAP, QUOTA_RANGE, SCORE_RANGE};
    vec![
        ("reps", "daily_quota", QUOTA_RANGE),
        ("leads", "score", SCORE_RANGE),
        ("rep_days", "claimed", 0..=CLAIMS_PER_DAY),
        ("private_pools", "size", 0..=PRIVATE_POOL_CAP),
    ]
}

/// `CHECK (((c >= lo) AND (c <= hi)))`, as PostgreSQL prints a BETWEEN.
fn range_check(def: &str) -> Option<(String, i32, i32)> {
    let inner = def
        .strip_prefix("CHECK (")?
        .trim_end_matches(')')
        .trim_start_matches('(');
    let (low, high) = inner.split_once(" AND ")?;
    let (column, lo) = low.trim_matches(|c| c == '(' || c == ')').split_once(" >= ")?;
    let (column2, hi) = high.trim_matches(|c| c == '(' || c == ')').split_once(" <= ")?;
    (column == column2).then(|| Some((column.to_owned(), lo.parse().ok()?, hi.parse().ok()?)))?
}

#[both_backends]
async fn the_database_holds_each_rule_bound_at_the_domains_constant(db: TestDatabase) {
    let backend = db.backend;
    let f = LeadsFixture::start(db).await;
    f.active_reps(&["B1"], 30).await;
    f.import(vec![lead_input(1, "杭州", 50)]).await;
    on_pool_raw!(&f.db, |p| {
        sqlx::query("INSERT INTO rep_days (person_id, business_day) VALUES ('B1', '2026-03-02')")
            .execute(p)
            .await
            .expect("day");
        sqlx::query("INSERT INTO private_pools (person_id) VALUES ('B1')")
            .execute(p)
            .await
            .expect("pool");
    });
    for (table, column, range) in rule_bounds() {
        let set = |value: i32| {
            let sql = format!("UPDATE {table} SET {column} = {value}");
            let db = f.db.clone();
            async move {
                on_pool_raw!(&db, |p| sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(p)
                    .await
                    .map(drop))
            }
        };
        for value in [*range.start(), *range.end()] {
            set(value)
                .await
                .unwrap_or_else(|e| panic!("{table}.{column} = {value} is within the rule: {e}"));
        }
        for value in [range.start() - 1, range.end() + 1] {
            let refused = set(value)
                .await
                .expect_err(&format!("{table}.{column} = {value} breaks the rule"));
            assert!(
                refused.as_database_error().is_some_and(|e| e.is_check_violation()),
                "{table}.{column} = {value}: {refused}"
            );
        }
    }
    if backend == tiejun_platform::db::Backend::Postgres {
        // And the list above is every such bound: a new one must be added to it.
        let defs: Vec<(String, String)> = on_pool_raw!(&f.db, |p| sqlx::query_as(
            "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE contype = 'c' AND connamespace = 'public'::regnamespace"
        )
        .fetch_all(p)
        .await
        .expect("constraints"));
        let listed = rule_bounds();
        for (table, def) in defs {
            let Some((column, lo, hi)) = range_check(&def) else {
                continue;
            };
            let known = listed.iter().find(|(t, c, _)| *t == table && *c == column);
            let known = known.unwrap_or_else(|| panic!("{table}: {def} bounds a rule rule_bounds() does not list"));
            assert_eq!((lo, hi), (*known.2.start(), *known.2.end()), "{table}.{column}: {def}");
        }
    }
}
