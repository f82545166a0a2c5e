//! The append-only `lead_history` (the database refuses updates and deletes).

use crate::domain::ids::{LeadId, PersonId, RunId};
use chrono::{DateTime, Utc};
use tiejun_platform::{
    db::{Database, Tx},
    error::Error,
    execute, on_pool,
    paging::Page,
};
use tiejun_proto::leads::v1::{LeadState, TransitionRule};

use super::transitions::next_sequence;
use tiejun_platform::stored::{Named, Stored as _};

/// One transition to record.
#[derive(Debug, Clone, Default)]
pub struct Transition<'a> {
    /// The lead.
    pub lead_id: &'a LeadId,
    /// Who: a principal's subject or `system`.
    pub actor: &'a str,
    /// State before (`None` at intake).
    pub from_state: Option<LeadState>,
    /// State after.
    pub to_state: LeadState,
    /// Owner before.
    pub from_owner: Option<&'a PersonId>,
    /// Owner after.
    pub to_owner: Option<&'a PersonId>,
    /// The rule.
    pub rule: TransitionRule,
    /// Reason.
    pub reason: &'a str,
    /// The distribution run, for distribution.
    pub run_id: Option<&'a RunId>,
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
    pub from_state: Option<Named<LeadState>>,
    /// State after.
    pub to_state: Named<LeadState>,
    /// Owner before.
    pub from_owner: Option<String>,
    /// Owner after.
    pub to_owner: Option<String>,
    /// Rule.
    pub rule: Named<TransitionRule>,
    /// Reason.
    pub reason: String,
    /// Distribution run.
    pub distribution_run_id: Option<RunId>,
    /// Position in the rotation.
    pub rotation_position: Option<i32>,
}

/// Appends a transition (the lead's row lock, held by the caller, orders
/// appends for one lead).
pub async fn append(tx: &mut Tx, t: &Transition<'_>, now: DateTime<Utc>) -> Result<(), Error> {
    const SQL: &str = concat!(
        "INSERT INTO lead_history (lead_id, sequence, occurred_at, actor, from_state, to_state, from_owner, to_owner, \
         rule, reason, distribution_run_id, rotation_position) VALUES ($1, ",
        next_sequence!("$1"),
        ", $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    );
    execute!(
        tx,
        sqlx::query(SQL)
            .bind(t.lead_id)
            .bind(now)
            .bind(t.actor)
            .bind(t.from_state.map(LeadState::stored))
            .bind(t.to_state.stored())
            .bind(t.from_owner)
            .bind(t.to_owner)
            .bind(t.rule.stored())
            .bind(t.reason)
            .bind(t.run_id)
            .bind(t.position)
    )?;
    Ok(())
}

/// A lead's history, oldest first, one page plus one row.
pub async fn list(db: &Database, lead_id: &LeadId, page: &Page) -> Result<Vec<HistoryRow>, Error> {
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
