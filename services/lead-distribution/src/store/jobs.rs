//! Single-leader work: on PostgreSQL a transaction-scoped advisory lock
//! (`Tx::job_lock`, keys in `tiejun_platform::db::JobKey`) makes
//! replicas sharing one database take turns (the second waits, then finds
//! nothing left to do); on SQLite `BEGIN IMMEDIATE` already serialises
//! writers. Every run is recorded in `job_runs`.

use chrono::{DateTime, Utc};
use tiejun_platform::{db::Tx, error::Error, on_tx};

/// Records that `instance` ran `job` from `started` to `finished` (wall-clock
/// instants, for audit, whatever clock the rules read).
pub async fn record(
    tx: &mut Tx,
    job: &str,
    instance: &str,
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
) -> Result<(), Error> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO job_runs (job, run_id, instance, started_at, finished_at) VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(job)
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(instance)
    .bind(started)
    .bind(finished)
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}
