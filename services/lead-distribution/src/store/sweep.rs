//! The reads and writes of the deadline sweep (the use case is
//! `app::sweep`): leads coming up to a deadline and leads past one, each
//! locked without waiting, and the sweep's housekeeping.

use chrono::{DateTime, Utc};
use tiejun_platform::{db::Tx, error::Error, execute, locked, on_tx};

use super::leads::{LeadRow, lead_columns};

/// Whether any held lead is past its deadline at `now` (unlocked: tells the
/// sweep whether it needs the reps' rows at all).
pub async fn any_due(tx: &mut Tx, now: DateTime<Utc>) -> Result<bool, Error> {
    Ok(on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM leads WHERE state IN ('ASSIGNED', 'PRIVATE') AND next_deadline_at <= $1)"
    )
    .bind(now)
    .fetch_one(c)
    .await?))
}

/// Held leads past their deadline at `now`, oldest deadline first, locked;
/// leads another call holds right now are skipped (the next sweep takes them).
pub async fn lock_due(tx: &mut Tx, now: DateTime<Utc>) -> Result<Vec<LeadRow>, Error> {
    let sql = locked!(
        tx,
        concat!(
            "SELECT ",
            lead_columns!(),
            " FROM leads WHERE state IN ('ASSIGNED', 'PRIVATE') AND next_deadline_at <= $1 \
             ORDER BY next_deadline_at, lead_id"
        ),
        "FOR NO KEY UPDATE SKIP LOCKED"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(sql).bind(now).fetch_all(c).await?))
}

/// Held leads whose deadline falls in `(now, until]` and was not warned of
/// yet, marked warned and returned (as they were) in one statement; leads
/// another call holds right now are skipped.
pub async fn take_warnable(tx: &mut Tx, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<LeadRow>, Error> {
    let sql = locked!(
        tx,
        "UPDATE leads SET warned_deadline_at = next_deadline_at WHERE lead_id IN (SELECT lead_id FROM leads \
         WHERE state IN ('ASSIGNED', 'PRIVATE') AND next_deadline_at > $1 AND next_deadline_at <= $2 \
         AND (warned_deadline_at IS NULL OR warned_deadline_at <> next_deadline_at)",
        "FOR NO KEY UPDATE SKIP LOCKED",
        concat!(") RETURNING ", lead_columns!())
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(now)
        .bind(until)
        .fetch_all(c)
        .await?))
}

/// Forgets cooldowns that ended by `now`; rows a release is renewing right
/// now are skipped (the next sweep takes them).
pub async fn forget_cooldowns(tx: &mut Tx, now: DateTime<Utc>) -> Result<(), Error> {
    let sql = locked!(
        tx,
        "DELETE FROM lead_cooldowns WHERE (lead_id, person_id) IN (SELECT lead_id, person_id FROM lead_cooldowns \
         WHERE until <= $1",
        "FOR UPDATE SKIP LOCKED",
        ")"
    );
    execute!(tx, sqlx::query(sql).bind(now))?;
    Ok(())
}

/// Records that `instance` ran `job` from `started` to `finished` (wall-clock
/// instants, for audit, whatever clock the rules read).
pub async fn record_run(
    tx: &mut Tx,
    job: &str,
    instance: &str,
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO job_runs (job, run_id, instance, started_at, finished_at) VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(job)
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(instance)
        .bind(started)
        .bind(finished)
    )?;
    Ok(())
}
