//! Reading distribution runs back, for the audit RPCs.

use crate::domain::ids::{PersonId, RunId};
use chrono::{DateTime, Utc};
use tiejun_platform::{db::Database, error::Error, on_pool, paging::Page};
use tiejun_proto::leads::v1::DistributionTrigger;

use tiejun_platform::stored::Named;

/// A row of `distribution_runs` with its day's seed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RunRow {
    /// The run.
    pub run_id: RunId,
    /// Its business day.
    pub business_day: String,
    /// Scheduled or on demand.
    pub trigger: Named<DistributionTrigger>,
    /// Who ran it (empty for runs recorded before this was kept).
    pub ran_by: String,
    /// The day's seed.
    pub seed: i64,
    /// The rotation, comma-separated.
    pub rotation: String,
    /// When it began.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// Leads assigned.
    pub leads_assigned: i32,
    /// Of those, in the rep's city.
    pub same_city: i32,
    /// Reps served.
    pub reps_served: i32,
    /// Reps short.
    pub reps_short: i32,
}

macro_rules! columns {
    () => {
        "r.run_id, r.business_day, r.trigger, r.ran_by, d.seed, r.rotation, r.started_at, r.finished_at, \
         r.leads_assigned, r.same_city, r.reps_served, r.reps_short"
    };
}

/// Runs, newest first, of one day or of every day (`day` empty).
pub async fn list(db: &Database, day: &str, page: &Page) -> Result<Vec<RunRow>, Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM distribution_runs r JOIN distribution_days d ON d.business_day = r.business_day \
         WHERE ($1 = '' OR r.business_day = $1) ORDER BY r.started_at DESC, r.run_id DESC LIMIT $2 OFFSET $3"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(sql)
        .bind(day)
        .bind(page.limit_plus_one())
        .bind(page.offset())
        .fetch_all(p)
        .await?))
}

/// One run.
pub async fn get(db: &Database, run_id: &RunId) -> Result<Option<RunRow>, Error> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM distribution_runs r JOIN distribution_days d ON d.business_day = r.business_day WHERE r.run_id = $1"
    );
    Ok(on_pool!(db, |p| sqlx::query_as(sql)
        .bind(run_id)
        .fetch_optional(p)
        .await?))
}

/// What one rep received in a run.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ShareRow {
    /// The rep.
    pub person_id: PersonId,
    /// Their team.
    pub team: String,
    /// Their rotation position.
    pub rotation_position: i32,
    /// Leads received.
    pub leads_assigned: i64,
    /// Of those, in their city.
    pub same_city: i64,
}

/// Each rep's share of run `run_id`, in rotation order.
pub async fn shares(db: &Database, run_id: &RunId) -> Result<Vec<ShareRow>, Error> {
    Ok(on_pool!(db, |p| {
        sqlx::query_as(
        "SELECT a.person_id, r.team, COALESCE(a.rotation_position, 0) AS rotation_position, COUNT(*) AS leads_assigned, \
         COALESCE(SUM(a.same_city), 0) AS same_city FROM assignments a JOIN reps r ON r.person_id = a.person_id \
         WHERE a.distribution_run_id = $1 GROUP BY a.person_id, r.team, a.rotation_position \
         ORDER BY a.rotation_position"
    )
    .bind(run_id)
    .fetch_all(p)
    .await?
    }))
}
