//! Reads for the reports: ownership periods in a range, and daily reports.

use crate::domain::ids::PersonId;
use chrono::{DateTime, Utc};
use tiejun_platform::{
    clock::to_proto,
    db::{Database, Tx},
    error::Error,
    execute, on_pool,
    paging::Page,
};
use tiejun_proto::leads::v1::DailyReport;

use crate::domain::stats::Period;

/// Ownership periods that began on business days `from..=to`, for one rep or one team.
pub async fn assignments(
    db: &Database,
    person_id: Option<&PersonId>,
    team: Option<&str>,
    from: &str,
    to: &str,
) -> Result<Vec<(String, Period)>, Error> {
    type Row = (String, DateTime<Utc>, Option<DateTime<Utc>>, Option<String>);
    let rows: Vec<Row> = on_pool!(db, |p| {
        sqlx::query_as(
        "SELECT a.person_id, a.assigned_at, a.first_follow_up_at, a.outcome FROM assignments a \
         JOIN reps r ON r.person_id = a.person_id \
         WHERE a.business_day >= $1 AND a.business_day <= $2 AND ($3 = '' OR a.person_id = $3) AND ($4 = '' OR r.team = $4)"
    )
    .bind(from)
    .bind(to)
    .bind(person_id.map_or("", PersonId::as_str))
    .bind(team.unwrap_or(""))
    .fetch_all(p)
    .await?
    });
    Ok(rows
        .into_iter()
        .map(|(id, assigned_at, first_follow_up_at, outcome)| {
            (
                id,
                Period {
                    assigned_at,
                    first_follow_up_at,
                    outcome,
                },
            )
        })
        .collect())
}

/// Stores a rep's report for a day, replacing an earlier one.
pub async fn upsert_daily(tx: &mut Tx, r: &DailyReport, now: DateTime<Utc>) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO daily_reports (person_id, business_day, team, calls, visits, deals, summary, submitted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (person_id, business_day) DO UPDATE SET \
             team = excluded.team, calls = excluded.calls, visits = excluded.visits, deals = excluded.deals, \
             summary = excluded.summary, submitted_at = excluded.submitted_at"
        )
        .bind(&r.person_id)
        .bind(&r.business_day)
        .bind(&r.team)
        .bind(r.calls)
        .bind(r.visits)
        .bind(r.deals)
        .bind(&r.summary)
        .bind(now)
    )?;
    Ok(())
}

/// A team's reports for a day, by person_id, one page plus one row.
pub async fn daily(db: &Database, team: &str, day: &str, page: &Page) -> Result<Vec<DailyReport>, Error> {
    type Row = (String, String, i32, i32, i32, String, DateTime<Utc>, String);
    let rows: Vec<Row> = on_pool!(db, |p| sqlx::query_as(
        "SELECT person_id, business_day, calls, visits, deals, summary, submitted_at, team FROM daily_reports \
         WHERE team = $1 AND business_day = $2 ORDER BY person_id LIMIT $3 OFFSET $4"
    )
    .bind(team)
    .bind(day)
    .bind(page.limit_plus_one())
    .bind(page.offset())
    .fetch_all(p)
    .await?);
    Ok(rows
        .into_iter()
        .map(
            |(person_id, business_day, calls, visits, deals, summary, submitted_at, team)| DailyReport {
                person_id,
                business_day,
                calls,
                visits,
                deals,
                summary,
                submitted_at: Some(to_proto(submitted_at)),
                team,
            },
        )
        .collect())
}

/// ACTIVE reps of `team` with no report for `day`.
pub async fn missing_daily(db: &Database, team: &str, day: &str) -> Result<Vec<String>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_scalar(
        "SELECT r.person_id FROM reps r WHERE r.team = $1 AND r.status = 'ACTIVE' AND NOT EXISTS \
         (SELECT 1 FROM daily_reports d WHERE d.person_id = r.person_id AND d.business_day = $2) ORDER BY r.person_id"
    )
    .bind(team)
    .bind(day)
    .fetch_all(p)
    .await?))
}
