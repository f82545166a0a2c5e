//! Assignments: who must complete which programme, by when.

use crate::domain::ids::{AccountId, AssignmentId, LearnerId, ProgramId};
use chrono::{DateTime, Utc};
use tiejun_platform::stored::Named;
use tiejun_platform::{
    db::{Database, Tx},
    error::Error,
    execute, on_pool, on_tx,
    paging::Page,
};
use tiejun_proto::training::v1::AssignmentSource;

/// A row of `assignments`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AssignmentRow {
    /// Id.
    pub assignment_id: AssignmentId,
    /// Learner.
    pub learner_id: LearnerId,
    /// Programme.
    pub program_id: ProgramId,
    /// Manual, RepHired or CustomerActivated.
    pub source: Named<AssignmentSource>,
    /// Learner's city.
    pub city: String,
    /// Billing account (customer assignments).
    pub account_id: Option<AccountId>,
    /// Assigned.
    pub assigned_at: DateTime<Utc>,
    /// Due.
    pub due_at: DateTime<Utc>,
    /// Completed.
    pub completed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "assignment_id, learner_id, program_id, source, city, account_id, assigned_at, due_at, completed_at";

/// What to assign.
#[derive(Debug, Clone)]
pub struct NewAssignment<'a> {
    /// Learner.
    pub learner_id: &'a LearnerId,
    /// Programme.
    pub program_id: &'a ProgramId,
    /// Why.
    pub source: AssignmentSource,
    /// City.
    pub city: &'a str,
    /// Account.
    pub account_id: Option<&'a AccountId>,
    /// Due.
    pub due_at: DateTime<Utc>,
}

/// Assigns a programme (once per learner and programme: a repeat returns the first).
pub async fn assign(tx: &mut Tx, a: &NewAssignment<'_>, now: DateTime<Utc>) -> Result<AssignmentRow, Error> {
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO assignments (assignment_id, learner_id, program_id, source, city, account_id, \
             assigned_at, due_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (learner_id, program_id) DO NOTHING"
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(a.learner_id)
        .bind(a.program_id)
        .bind(Named(a.source))
        .bind(a.city)
        .bind(a.account_id)
        .bind(now)
        .bind(a.due_at)
    )?;
    get_in(tx, a.learner_id, a.program_id)
        .await?
        .ok_or_else(|| Error::Aborted("assignment vanished; retry".into()))
}

/// The assignment of a learner to a programme, inside a transaction.
pub async fn get_in(
    tx: &mut Tx,
    learner_id: &LearnerId,
    program_id: &ProgramId,
) -> Result<Option<AssignmentRow>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM assignments WHERE learner_id = $1 AND program_id = $2");
    Ok(on_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(learner_id)
        .bind(program_id)
        .fetch_optional(c)
        .await?))
}

/// Marks an assignment completed.
pub async fn complete(
    tx: &mut Tx,
    learner_id: &LearnerId,
    program_id: &ProgramId,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "UPDATE assignments SET completed_at = $3 \
             WHERE learner_id = $1 AND program_id = $2 AND completed_at IS NULL"
        )
        .bind(learner_id)
        .bind(program_id)
        .bind(now)
    )?;
    Ok(())
}

/// Assignments filtered by learner and programme ('' for all), by due date.
pub async fn list(db: &Database, learner_id: &str, program_id: &str, page: &Page) -> Result<Vec<AssignmentRow>, Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM assignments WHERE ($1 = '' OR learner_id = $1) AND ($2 = '' OR program_id = $2) \
         ORDER BY due_at, assignment_id LIMIT $3 OFFSET $4"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(learner_id)
        .bind(program_id)
        .bind(page.limit_plus_one())
        .bind(page.offset())
        .fetch_all(p)
        .await?))
}

/// Every assignment not completed by `at`, optionally for one programme.
pub async fn incomplete(db: &Database, program_id: &ProgramId) -> Result<Vec<AssignmentRow>, Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM assignments WHERE completed_at IS NULL AND ($1 = '' OR program_id = $1) \
         ORDER BY due_at, assignment_id"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(program_id)
        .fetch_all(p)
        .await?))
}

/// Customer assignments (from CustomerActivated), completed or not.
pub async fn customer(db: &Database) -> Result<Vec<AssignmentRow>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM assignments WHERE source = 'CUSTOMER_ACTIVATED' ORDER BY assigned_at");
    Ok(on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(p)
        .await?))
}
