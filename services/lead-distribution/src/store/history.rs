//! The append-only `lead_history` (the database refuses updates and deletes).

use chrono::{DateTime, Utc};
use tiejun_platform::{
    db::{Database, Tx},
    error::Error,
    on_pool, on_tx,
    paging::Page,
};

/// One transition to record.
#[derive(Debug, Clone, Default)]
pub struct Transition<'a> {
    /// The lead.
    pub lead_id: &'a str,
    /// Who: a principal's subject or `system`.
    pub actor: &'a str,
    /// State before (`None` at intake).
    pub from_state: Option<&'a str>,
    /// State after.
    pub to_state: &'a str,
    /// Owner before.
    pub from_owner: Option<&'a str>,
    /// Owner after.
    pub to_owner: Option<&'a str>,
    /// The rule's stored name (`INTAKE`, `DISTRIBUTION`…).
    pub rule: &'a str,
    /// Reason.
    pub reason: &'a str,
    /// The distribution run, for distribution.
    pub run_id: Option<&'a str>,
    /// The rep's rotation position, for distribution.
    pub position: Option<i32>,
}

/// A row of `lead_history`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HistoryRow {
    /// Sequence within the lead.
    pub sequence: i32,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// State before.
    pub from_state: Option<String>,
    /// State after.
    pub to_state: String,
    /// Owner before.
    pub from_owner: Option<String>,
    /// Owner after.
    pub to_owner: Option<String>,
    /// Rule.
    pub rule: String,
    /// Reason.
    pub reason: String,
    /// Distribution run.
    pub distribution_run_id: Option<String>,
    /// Position in the rotation.
    pub rotation_position: Option<i32>,
}

/// Appends a transition (the lead's row lock, held by the caller, orders
/// appends for one lead).
pub async fn append(tx: &mut Tx, t: &Transition<'_>, now: DateTime<Utc>) -> Result<(), Error> {
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO lead_history (lead_id, sequence, occurred_at, actor, from_state, to_state, from_owner, to_owner, \
         rule, reason, distribution_run_id, rotation_position) \
         VALUES ($1, (SELECT COALESCE(MAX(sequence), 0) + 1 FROM lead_history WHERE lead_id = $1), $2, $3, $4, $5, \
         $6, $7, $8, $9, $10, $11)"
    )
    .bind(t.lead_id)
    .bind(now)
    .bind(t.actor)
    .bind(t.from_state)
    .bind(t.to_state)
    .bind(t.from_owner)
    .bind(t.to_owner)
    .bind(t.rule)
    .bind(t.reason)
    .bind(t.run_id)
    .bind(t.position)
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}

/// A lead's history, oldest first, one page plus one row.
pub async fn list(db: &Database, lead_id: &str, page: &Page) -> Result<Vec<HistoryRow>, Error> {
    Ok(on_pool!(db, |p| sqlx::query_as(
        "SELECT sequence, occurred_at, actor, from_state, to_state, from_owner, to_owner, rule, reason, \
         distribution_run_id, rotation_position FROM lead_history WHERE lead_id = $1 ORDER BY sequence \
         LIMIT $2 OFFSET $3"
    )
    .bind(lead_id)
    .bind(page.limit_plus_one())
    .bind(page.offset())
    .fetch_all(p)
    .await?))
}

/// Leads `person_id` received (distribution, reassignment, claims) and, of
/// those, claimed since `since`.
pub async fn received_since(db: &Database, person_id: &str, since: DateTime<Utc>) -> Result<(i32, i32), Error> {
    let (received, claimed): (i64, i64) = on_pool!(db, |p| sqlx::query_as(
        "SELECT count(*), COALESCE(SUM(CASE WHEN rule = 'SELF_CLAIM' THEN 1 ELSE 0 END), 0) FROM lead_history \
         WHERE to_owner = $1 AND occurred_at >= $2 AND from_state = 'POOL' \
         AND rule IN ('DISTRIBUTION', 'SELF_CLAIM', 'MANAGER_REASSIGN')"
    )
    .bind(person_id)
    .bind(since)
    .fetch_one(p)
    .await?);
    Ok((
        i32::try_from(received).unwrap_or(i32::MAX),
        i32::try_from(claimed).unwrap_or(i32::MAX),
    ))
}
