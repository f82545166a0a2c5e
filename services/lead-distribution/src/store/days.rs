//! Per rep and business day: leads distributed and claimed. The claim limit
//! is a CHECK; quota room is taken with conditional updates.

use tiejun_platform::{
    db::{Backend, Tx},
    error::Error,
    on_tx,
};

/// The most leads a rep may claim from the pool in one business day.
pub const CLAIMS_PER_DAY: i32 = 10;

/// Makes sure the rows for `person_ids` on `day` exist.
pub async fn ensure(tx: &mut Tx, person_ids: &[String], day: &str) -> Result<(), Error> {
    for chunk in person_ids.chunks(400) {
        let values: Vec<String> = (0..chunk.len()).map(|i| format!("(${}, $1)", i + 2)).collect();
        let sql = format!(
            "INSERT INTO rep_days (person_id, business_day) VALUES {} ON CONFLICT (person_id, business_day) DO NOTHING",
            values.join(", ")
        );
        on_tx!(tx, |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(day);
            for id in chunk {
                q = q.bind(id);
            }
            q.execute(c).await.map(drop)
        })?;
    }
    Ok(())
}

/// Each rep's (distributed + claimed) on `day`, locked on PostgreSQL so no
/// claim changes it until the caller commits.
pub async fn received_for_update(tx: &mut Tx, day: &str) -> Result<Vec<(String, i32)>, Error> {
    let sql = match tx.backend() {
        Backend::Postgres => {
            "SELECT person_id, distributed + claimed FROM rep_days WHERE business_day = $1 ORDER BY person_id FOR UPDATE"
        }
        Backend::Sqlite => {
            "SELECT person_id, distributed + claimed FROM rep_days WHERE business_day = $1 ORDER BY person_id"
        }
    };
    Ok(on_tx!(tx, |c| sqlx::query_as(sql).bind(day).fetch_all(c).await?))
}

/// Adds `n` distributed leads to a rep's day.
pub async fn add_distributed(tx: &mut Tx, person_id: &str, day: &str, n: i32) -> Result<(), Error> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE rep_days SET distributed = distributed + $3 WHERE person_id = $1 AND business_day = $2"
    )
    .bind(person_id)
    .bind(day)
    .bind(n)
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}

/// Takes one unit of a rep's room if (distributed + claimed) stays within `quota`.
pub async fn take_room(tx: &mut Tx, person_id: &str, day: &str, quota: i32) -> Result<bool, Error> {
    ensure(tx, &[person_id.to_owned()], day).await?;
    let n = on_tx!(tx, |c| sqlx::query(
        "UPDATE rep_days SET distributed = distributed + 1 \
         WHERE person_id = $1 AND business_day = $2 AND distributed + claimed < $3"
    )
    .bind(person_id)
    .bind(day)
    .bind(quota)
    .execute(c)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// Why a claim was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRefused {
    /// 10 claims already today.
    ClaimLimit,
    /// Received today (distributed + claimed) has reached the quota.
    QuotaExhausted,
}

/// Counts one claim and returns the claims left today, or why not: at most
/// 10 claims a day, and what a rep receives in a day (distributed + claimed)
/// never exceeds their quota. One statement, checked on the locked row.
pub async fn take_claim(
    tx: &mut Tx,
    person_id: &str,
    day: &str,
    quota: i32,
) -> Result<Result<i32, ClaimRefused>, Error> {
    let left: Option<i32> = on_tx!(tx, |c| sqlx::query_scalar(
        "INSERT INTO rep_days (person_id, business_day, claimed) VALUES ($1, $2, 1) \
         ON CONFLICT (person_id, business_day) DO UPDATE SET claimed = rep_days.claimed + 1 \
         WHERE rep_days.claimed < $3 AND rep_days.distributed + rep_days.claimed < $4 RETURNING $3 - claimed"
    )
    .bind(person_id)
    .bind(day)
    .bind(CLAIMS_PER_DAY)
    .bind(quota)
    .fetch_optional(c)
    .await?);
    if let Some(left) = left {
        return Ok(Ok(left));
    }
    let claimed: i32 = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT claimed FROM rep_days WHERE person_id = $1 AND business_day = $2"
    )
    .bind(person_id)
    .bind(day)
    .fetch_one(c)
    .await?);
    Ok(Err(if claimed >= CLAIMS_PER_DAY {
        ClaimRefused::ClaimLimit
    } else {
        ClaimRefused::QuotaExhausted
    }))
}
