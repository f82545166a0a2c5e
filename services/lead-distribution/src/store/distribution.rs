//! The reads and writes of a distribution run (the use case is
//! `app::distribute`): the day's seed, the pool locked without waiting, the
//! cooldowns, and the deal applied set-based: the ownership periods are
//! inserted in one statement, and the leads, the history, the feeds and the
//! day counters follow from them in one statement each.

use crate::domain::ids::{LeadId, PersonId, RunId};
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rand::Rng as _;
use tiejun_platform::{
    db::{Backend, Tx},
    error::Error,
    execute, locked, on_tx,
};
use tiejun_proto::leads::v1::{DistributionTrigger, TransitionRule};

use super::transitions::{assigned_set, first_deadline, next_sequence};
use tiejun_platform::stored::Stored as _;

use crate::domain::distribution::Deal;

/// The day's rotation seed: drawn by the day's first run, reused by top-ups.
pub async fn day_seed(tx: &mut Tx, day: &str, now: DateTime<Utc>) -> Result<i64, Error> {
    let drawn: i64 = rand::rng().random::<i64>() & i64::MAX;
    Ok(on_tx!(tx, |c| sqlx::query_scalar(
        "INSERT INTO distribution_days (business_day, seed, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (business_day) DO UPDATE SET seed = distribution_days.seed RETURNING seed"
    )
    .bind(day)
    .bind(drawn)
    .bind(now)
    .fetch_one(c)
    .await?))
}

/// Whether the scheduled run of `day` happened.
pub async fn scheduled_ran(tx: &mut Tx, day: &str) -> Result<bool, Error> {
    let n: i64 = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT count(*) FROM distribution_runs WHERE business_day = $1 AND trigger = 'SCHEDULED'"
    )
    .bind(day)
    .fetch_one(c)
    .await?);
    Ok(n > 0)
}

/// The pool in distribution order (pool priority, score, age): (lead_id,
/// city), locked; leads another call holds right now are skipped, so a
/// distribution never waits on a lead.
pub async fn lock_pool(tx: &mut Tx) -> Result<Vec<(String, String)>, Error> {
    let sql = locked!(
        tx,
        "SELECT lead_id, city FROM leads WHERE state = 'POOL' ORDER BY pool_priority DESC, score DESC, created_at, lead_id",
        "FOR NO KEY UPDATE SKIP LOCKED"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(sql).fetch_all(c).await?))
}

/// Who may not receive each lead now: lead → reps whose cooldown on it runs.
pub async fn cooldowns(tx: &mut Tx, now: DateTime<Utc>) -> Result<HashMap<LeadId, HashSet<PersonId>>, Error> {
    let rows: Vec<(LeadId, PersonId)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT lead_id, person_id FROM lead_cooldowns WHERE until > $1"
    )
    .bind(now)
    .fetch_all(c)
    .await?);
    let mut map: HashMap<LeadId, HashSet<PersonId>> = HashMap::new();
    for (lead, person) in rows {
        map.entry(lead).or_default().insert(person);
    }
    Ok(map)
}

/// The deals of a run as one JSON array of `[assignment_id, lead_id,
/// person_id, position, round, same_city]`: one parameter whatever the size
/// (a statement with a parameter per value is quadratic in SQLite's
/// parameter lookup). In lead_id order, which is the order the leads were
/// stored in (UUIDv7), so the writes walk the table and its indexes forward.
fn deal_rows(deals: &[Deal]) -> String {
    let mut sorted: Vec<&Deal> = deals.iter().collect();
    sorted.sort_unstable_by(|a, b| a.lead_id.cmp(&b.lead_id));
    let rows: Vec<serde_json::Value> = sorted
        .into_iter()
        .map(|d| {
            serde_json::json!([
                uuid::Uuid::now_v7().to_string(),
                d.lead_id,
                d.person_id,
                d.position,
                d.round,
                u8::from(d.same_city)
            ])
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// A statement reading `$1`'s deal rows as a table `d` with one JSON column
/// `v`, between `$before` and `$after`.
macro_rules! from_deal_rows {
    ($tx:expr, $before:expr, $after:literal) => {
        match $tx.backend() {
            Backend::Postgres => concat!($before, " json_array_elements(CAST($1 AS json)) AS d(v) ", $after),
            Backend::Sqlite => concat!($before, " (SELECT value AS v FROM json_each($1)) AS d ", $after),
        }
    };
}

/// Applies the deals of run `run_id` for `day`: the leads (locked by the
/// caller) first, so the ownership periods' foreign-key checks meet rows
/// this transaction already holds; then the ownership periods, the history
/// (by `actor`), the feeds and the reps' day counters (their rows are locked
/// by the caller too). Fails ABORTED if a dealt lead left the pool, which
/// the caller's lock makes impossible.
pub async fn apply(
    tx: &mut Tx,
    run_id: &RunId,
    day: &str,
    deals: &[Deal],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let rows = deal_rows(deals);
    let deadline = first_deadline(now);
    let sql = from_deal_rows!(
        tx,
        concat!(
            "UPDATE leads SET ",
            assigned_set!("v->>2", "$2", "$3", "v->>0"),
            " FROM"
        ),
        "WHERE leads.lead_id = v->>1 AND leads.state = 'POOL'"
    );
    let moved = execute!(tx, sqlx::query(sql).bind(&rows).bind(now).bind(deadline))?;
    if moved != deals.len() as u64 {
        return Err(Error::Aborted("pool leads changed during distribution; retry".into()));
    }
    let sql = from_deal_rows!(
        tx,
        "INSERT INTO assignments (assignment_id, lead_id, person_id, business_day, rule, distribution_run_id, \
         rotation_position, round, same_city, reason, assigned_at) \
         SELECT v->>0, v->>1, v->>2, $2, $3, $4, CAST(v->>3 AS INTEGER), CAST(v->>4 AS INTEGER), \
         CAST(v->>5 AS INTEGER), 'round ' || (v->>4) || CASE WHEN CAST(v->>5 AS INTEGER) = 1 \
         THEN ', same city' ELSE ', any city' END, $5 FROM",
        ""
    );
    execute!(
        tx,
        sqlx::query(sql)
            .bind(&rows)
            .bind(day)
            .bind(TransitionRule::Distribution.stored())
            .bind(run_id)
            .bind(now)
    )?;
    execute!(tx, sqlx::query(concat!(
        "INSERT INTO lead_history (lead_id, sequence, occurred_at, actor, from_state, to_state, from_owner, to_owner, \
         rule, reason, distribution_run_id, rotation_position) SELECT a.lead_id, ",
        next_sequence!("a.lead_id"),
        ", $2, $3, 'POOL', 'ASSIGNED', NULL, a.person_id, a.rule, a.reason, a.distribution_run_id, \
         a.rotation_position FROM assignments a WHERE a.distribution_run_id = $1"
    ))
    .bind(run_id)
    .bind(now)
    .bind(actor))?;
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO rep_events (person_id, kind, lead_id, rule, deadline_at, created_at) \
             SELECT a.person_id, 'ASSIGNED', a.lead_id, a.rule, $2, $3 FROM assignments a \
             WHERE a.distribution_run_id = $1 ORDER BY a.round, a.rotation_position"
        )
        .bind(run_id)
        .bind(deadline)
        .bind(now)
    )?;
    super::days::add_given_by_run(tx, run_id, day).await
}

/// A finished run, for the audit.
#[derive(Debug, Clone)]
pub struct RunRecord<'a> {
    /// The run.
    pub run_id: &'a RunId,
    /// The business day.
    pub day: &'a str,
    /// Scheduled or on demand.
    pub trigger: DistributionTrigger,
    /// Who ran it.
    pub ran_by: &'a str,
    /// The rotation, first seat first.
    pub rotation: &'a [PersonId],
    /// Leads assigned.
    pub leads_assigned: i32,
    /// Of those, in the rep's city.
    pub same_city: i32,
    /// Reps that received at least one.
    pub reps_served: i32,
    /// Reps left short of their room.
    pub reps_short: i32,
    /// When it began (the clock's now).
    pub started_at: DateTime<Utc>,
    /// When it finished: `started_at` plus the time it took.
    pub finished_at: DateTime<Utc>,
}

/// Records a finished run.
pub async fn record(tx: &mut Tx, r: &RunRecord<'_>) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO distribution_runs (run_id, business_day, trigger, rotation, leads_assigned, reps_served, \
             reps_short, started_at, finished_at, ran_by, same_city) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        )
        .bind(r.run_id)
        .bind(r.day)
        .bind(r.trigger.stored())
        .bind(r.rotation.iter().map(PersonId::as_str).collect::<Vec<_>>().join(","))
        .bind(r.leads_assigned)
        .bind(r.reps_served)
        .bind(r.reps_short)
        .bind(r.started_at)
        .bind(r.finished_at)
        .bind(r.ran_by)
        .bind(r.same_city)
    )?;
    Ok(())
}
