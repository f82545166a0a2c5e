//! `rep_days`: what each rep received (distributed, reassigned, handed over)
//! and claimed per business day: the counters the quota and the claim limit
//! are enforced on (the claim limit is also the CHECK
//! `rep_days_claim_limit`). Third in the lock order, after `reps` and
//! `leads`.

use crate::domain::ids::{PersonId, RunId};
use tiejun_platform::{
    db::{Database, Tx},
    error::Error,
    execute, locked, on_pool, on_tx,
};

/// Makes sure every ACTIVE rep has a row for `day`, in person_id order.
pub async fn ensure_active(tx: &mut Tx, day: &str) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO rep_days (person_id, business_day) SELECT person_id, $1 FROM reps WHERE status = 'ACTIVE' \
             ORDER BY person_id ON CONFLICT (person_id, business_day) DO NOTHING"
        )
        .bind(day)
    )?;
    Ok(())
}

/// Whether any ACTIVE rep has room left on `day`, read without locks: a
/// distribution that finds none need not lock the pool.
pub async fn any_room(tx: &mut Tx, day: &str) -> Result<bool, Error> {
    Ok(on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM reps r LEFT JOIN rep_days d ON d.person_id = r.person_id \
         AND d.business_day = $1 WHERE r.status = 'ACTIVE' \
         AND COALESCE(d.distributed + d.claimed, 0) < r.daily_quota)"
    )
    .bind(day)
    .fetch_one(c)
    .await?))
}

/// Every ACTIVE rep's received today (distributed + claimed), the rows
/// locked in person_id order so no claim changes them until commit. Call
/// [`ensure_active`] first.
pub async fn lock_active(tx: &mut Tx, day: &str) -> Result<Vec<(PersonId, i32)>, Error> {
    let sql = locked!(
        tx,
        "SELECT d.person_id, d.distributed + d.claimed FROM rep_days d JOIN reps r ON r.person_id = d.person_id \
         WHERE d.business_day = $1 AND r.status = 'ACTIVE' ORDER BY d.person_id",
        "FOR NO KEY UPDATE OF d"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(sql).bind(day).fetch_all(c).await?))
}

/// One rep's row for `day`, created if missing and locked: (received, claimed).
pub async fn lock_one(tx: &mut Tx, person_id: &PersonId, day: &str) -> Result<(i32, i32), Error> {
    Ok(on_tx!(tx, |c| sqlx::query_as(
        "INSERT INTO rep_days (person_id, business_day) VALUES ($1, $2) ON CONFLICT (person_id, business_day) \
         DO UPDATE SET claimed = rep_days.claimed RETURNING distributed + claimed, claimed"
    )
    .bind(person_id)
    .bind(day)
    .fetch_one(c)
    .await?))
}

/// Adds `n` leads given to a rep (not claimed) on `day`; the row is locked.
pub async fn add_given(tx: &mut Tx, person_id: &PersonId, day: &str, n: i32) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query("UPDATE rep_days SET distributed = distributed + $3 WHERE person_id = $1 AND business_day = $2")
            .bind(person_id)
            .bind(day)
            .bind(n)
    )?;
    Ok(())
}

/// Adds what distribution run `run_id` gave each rep on `day`; the rows are locked.
pub async fn add_given_by_run(tx: &mut Tx, run_id: &RunId, day: &str) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "UPDATE rep_days SET distributed = distributed + g.n FROM \
             (SELECT person_id, COUNT(*) AS n FROM assignments WHERE distribution_run_id = $1 GROUP BY person_id) AS g \
             WHERE rep_days.person_id = g.person_id AND rep_days.business_day = $2"
        )
        .bind(run_id)
        .bind(day)
    )?;
    Ok(())
}

/// A rep's (received, claimed) on `day`, for display.
pub async fn received(db: &Database, person_id: &PersonId, day: &str) -> Result<(i32, i32), Error> {
    let row: Option<(i32, i32)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT distributed + claimed, claimed FROM rep_days WHERE person_id = $1 AND business_day = $2"
    )
    .bind(person_id)
    .bind(day)
    .fetch_optional(p)
    .await?);
    Ok(row.unwrap_or((0, 0)))
}
