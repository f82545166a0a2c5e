//! One distribution run for a business day, in one transaction: the day's
//! seed (drawn by its first run, reused by top-ups), each ACTIVE rep's room
//! (quota − received today, the day rows locked against concurrent claims),
//! the pool in priority order (locked, skipping leads a claim holds), the
//! cooldowns, the deal (pure, `domain::distribution`), then the changes in
//! multi-row statements. Runs are serialised across replicas by an advisory
//! lock on PostgreSQL and by `BEGIN IMMEDIATE` on SQLite.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use rand::Rng as _;
use tiejun_platform::{
    db::{Backend, Tx},
    error::Error,
    on_tx,
};
use tiejun_proto::leads::v1::{LeadAssigned, TransitionRule, WatchRepEventsResponse, watch_rep_events_response::Event};

use super::{days, holding, leads::LeadRow};
use crate::{
    convert,
    domain::{
        deadlines::{self, Held},
        distribution::{self, Deal, PoolLead, Seat},
    },
};

/// Rows per multi-row statement (well under both backends' parameter limits).
const CHUNK: usize = 500;

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// The run.
    pub run_id: String,
    /// The day.
    pub business_day: String,
    /// The day's rotation seed.
    pub seed: i64,
    /// Reps that received at least one lead.
    pub reps_served: i32,
    /// Leads assigned.
    pub leads_assigned: i32,
    /// Reps left short of quota because the pool ran dry.
    pub reps_short: i32,
}

/// Runs the distribution for `day`.
pub async fn run(tx: &mut Tx, day: NaiveDate, trigger: &str, now: DateTime<Utc>) -> Result<RunOutcome, Error> {
    tx.job_lock(tiejun_platform::db::JobKey::Distribution).await?;
    let day = day.to_string();
    let seed = day_seed(tx, &day, now).await?;

    let reps: Vec<(String, String, i32)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT person_id, city, daily_quota FROM reps WHERE status = 'ACTIVE' ORDER BY person_id"
    )
    .fetch_all(c)
    .await?);
    let ids: Vec<String> = reps.iter().map(|(id, _, _)| id.clone()).collect();
    days::ensure(tx, &ids, &day).await?;
    let received: HashMap<String, i32> = days::received_for_update(tx, &day).await?.into_iter().collect();
    let by_id: HashMap<&str, (&str, i32)> = reps
        .iter()
        .map(|(id, city, q)| (id.as_str(), (city.as_str(), *q)))
        .collect();
    let order = distribution::rotation(&ids, seed as u64);
    let seats: Vec<Seat> = order
        .iter()
        .map(|id| {
            let (city, quota) = by_id[id.as_str()];
            let room = (quota - received.get(id).copied().unwrap_or(0)).max(0) as u32;
            Seat {
                person_id: id.clone(),
                city: city.to_owned(),
                room,
            }
        })
        .collect();

    let pool = if seats.iter().any(|s| s.room > 0) {
        pool_for_update(tx, now).await?
    } else {
        Vec::new()
    };
    let cooldowns = active_cooldowns(tx, now).await?;
    let candidates: Vec<PoolLead> = pool
        .iter()
        .map(|row| PoolLead {
            lead_id: row.lead_id.clone(),
            city: row.city.clone(),
            cooldown: cooldowns.get(&row.lead_id).cloned().unwrap_or_default(),
        })
        .collect();
    let deals = distribution::deal(&seats, &candidates);

    let run_id = uuid::Uuid::now_v7().to_string();
    let rows: HashMap<&str, &LeadRow> = pool.iter().map(|r| (r.lead_id.as_str(), r)).collect();
    for chunk in deals.chunks(CHUNK) {
        apply(tx, chunk, &rows, &day, &run_id, now).await?;
    }
    let mut per_rep: HashMap<&str, i32> = HashMap::new();
    for d in &deals {
        *per_rep.entry(d.person_id.as_str()).or_default() += 1;
    }
    add_distributed(tx, &per_rep, &day).await?;

    let reps_short = seats
        .iter()
        .filter(|s| per_rep.get(s.person_id.as_str()).copied().unwrap_or(0) < s.room as i32)
        .count();
    let outcome = RunOutcome {
        run_id: run_id.clone(),
        business_day: day.clone(),
        seed,
        reps_served: per_rep.len() as i32,
        leads_assigned: deals.len() as i32,
        reps_short: reps_short as i32,
    };
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO distribution_runs (run_id, business_day, trigger, rotation, leads_assigned, reps_served, \
         reps_short, started_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
    )
    .bind(&run_id)
    .bind(&day)
    .bind(trigger)
    .bind(order.join(","))
    .bind(outcome.leads_assigned)
    .bind(outcome.reps_served)
    .bind(outcome.reps_short)
    .bind(now)
    .execute(c)
    .await
    .map(drop))?;
    Ok(outcome)
}

/// The scheduled run of `day`, unless one already happened (checked under the lock).
pub async fn run_scheduled(tx: &mut Tx, day: NaiveDate, now: DateTime<Utc>) -> Result<Option<RunOutcome>, Error> {
    tx.job_lock(tiejun_platform::db::JobKey::Distribution).await?;
    let n: i64 = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT count(*) FROM distribution_runs WHERE business_day = $1 AND trigger = 'SCHEDULED'"
    )
    .bind(day.to_string())
    .fetch_one(c)
    .await?);
    if n > 0 {
        return Ok(None);
    }
    run(tx, day, "SCHEDULED", now).await.map(Some)
}

async fn day_seed(tx: &mut Tx, day: &str, now: DateTime<Utc>) -> Result<i64, Error> {
    let drawn: i64 = rand::rng().random::<i64>() & i64::MAX;
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO distribution_days (business_day, seed, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (business_day) DO NOTHING"
    )
    .bind(day)
    .bind(drawn)
    .bind(now)
    .execute(c)
    .await
    .map(drop))?;
    Ok(on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT seed FROM distribution_days WHERE business_day = $1"
    )
    .bind(day)
    .fetch_one(c)
    .await?))
}

async fn pool_for_update(tx: &mut Tx, _now: DateTime<Utc>) -> Result<Vec<LeadRow>, Error> {
    let sql = match tx.backend() {
        Backend::Postgres => super::leads::POOL_FOR_UPDATE_PG,
        Backend::Sqlite => super::leads::POOL_SQLITE,
    };
    Ok(on_tx!(tx, |c| sqlx::query_as(sql).fetch_all(c).await?))
}

async fn active_cooldowns(tx: &mut Tx, now: DateTime<Utc>) -> Result<HashMap<String, HashSet<String>>, Error> {
    let rows: Vec<(String, String)> = on_tx!(tx, |c| sqlx::query_as(
        "SELECT lead_id, person_id FROM lead_cooldowns WHERE until > $1"
    )
    .bind(now)
    .fetch_all(c)
    .await?);
    let mut map: HashMap<String, HashSet<String>> = HashMap::new();
    for (lead, person) in rows {
        map.entry(lead).or_default().insert(person);
    }
    Ok(map)
}

fn placeholders(rows: usize, per_row: usize, first: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (0..per_row).map(|c| format!("${}", first + r * per_row + c)).collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Applies one chunk of deals: leads, assignments, history, rep events.
async fn apply(
    tx: &mut Tx,
    deals: &[Deal],
    rows: &HashMap<&str, &LeadRow>,
    day: &str,
    run_id: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let (deadline, _) = deadlines::next_deadline(Held::Assigned { assigned_at: now }, None);
    let assignment_ids: Vec<String> = deals.iter().map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let reasons: Vec<String> = deals
        .iter()
        .map(|d| {
            format!(
                "round {}, {}",
                d.round,
                if d.same_city { "same city" } else { "any city" }
            )
        })
        .collect();

    let sql = format!(
        "UPDATE leads SET state = 'ASSIGNED', owner_person_id = v.column2, assignment_id = v.column3, \
         assigned_at = $1, next_deadline_at = $2, private_since = NULL, warned_deadline_at = NULL, pool_priority = 0, \
         updated_at = $1 FROM (VALUES {}) AS v WHERE leads.lead_id = v.column1 AND leads.state = 'POOL'",
        placeholders(deals.len(), 3, 3)
    );
    let moved = on_tx!(tx, |c| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(deadline);
        for (d, id) in deals.iter().zip(&assignment_ids) {
            q = q.bind(&d.lead_id).bind(&d.person_id).bind(id);
        }
        q.execute(c).await?.rows_affected()
    });
    if moved != deals.len() as u64 {
        return Err(Error::Aborted("pool leads changed during distribution; retry".into()));
    }

    let sql = format!(
        "INSERT INTO assignments (assignment_id, lead_id, person_id, rotation_position, reason, business_day, rule, \
         distribution_run_id, assigned_at) SELECT v.column1, v.column2, v.column3, v.column4, v.column5, $1, $2, $3, $4 \
         FROM (VALUES {}) AS v",
        placeholders(deals.len(), 5, 5)
    );
    on_tx!(tx, |c| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(day)
            .bind(holding::rule(TransitionRule::Distribution))
            .bind(run_id)
            .bind(now);
        for ((d, id), reason) in deals.iter().zip(&assignment_ids).zip(&reasons) {
            q = q
                .bind(id)
                .bind(&d.lead_id)
                .bind(&d.person_id)
                .bind(d.position as i32)
                .bind(reason);
        }
        q.execute(c).await.map(drop)
    })?;

    let sql = format!(
        "INSERT INTO lead_history (lead_id, sequence, occurred_at, actor, from_state, to_state, from_owner, to_owner, \
         rule, reason, distribution_run_id, rotation_position) \
         SELECT v.column1, (SELECT COALESCE(MAX(h.sequence), 0) + 1 FROM lead_history h WHERE h.lead_id = v.column1), \
         $1, 'system', 'POOL', 'ASSIGNED', NULL, v.column2, $2, v.column3, $3, v.column4 FROM (VALUES {}) AS v",
        placeholders(deals.len(), 4, 4)
    );
    on_tx!(tx, |c| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(holding::rule(TransitionRule::Distribution))
            .bind(run_id);
        for (d, reason) in deals.iter().zip(&reasons) {
            q = q
                .bind(&d.lead_id)
                .bind(&d.person_id)
                .bind(reason)
                .bind(d.position as i32);
        }
        q.execute(c).await.map(drop)
    })?;

    let sql = format!(
        "INSERT INTO rep_events (person_id, payload, created_at) SELECT v.column1, v.column2, $1 FROM (VALUES {}) AS v",
        placeholders(deals.len(), 2, 2)
    );
    let payloads: Vec<Vec<u8>> = deals
        .iter()
        .map(|d| {
            let mut row = (*rows[d.lead_id.as_str()]).clone();
            row.state = "ASSIGNED".into();
            row.owner_person_id = Some(d.person_id.clone());
            row.assigned_at = Some(now);
            row.next_deadline_at = Some(deadline);
            prost::Message::encode_to_vec(&assigned_event(row, TransitionRule::Distribution, now))
        })
        .collect();
    on_tx!(tx, |c| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
        for (d, payload) in deals.iter().zip(&payloads) {
            q = q.bind(&d.person_id).bind(payload);
        }
        q.execute(c).await.map(drop)
    })?;
    Ok(())
}

/// The rep event for an assignment (the owner sees the contact).
pub fn assigned_event(row: LeadRow, rule: TransitionRule, now: DateTime<Utc>) -> WatchRepEventsResponse {
    WatchRepEventsResponse {
        occurred_at: Some(tiejun_platform::clock::to_proto(now)),
        event: Some(Event::Assigned(LeadAssigned {
            lead: Some(convert::lead(row, true)),
            rule: rule as i32,
        })),
    }
}

async fn add_distributed(tx: &mut Tx, per_rep: &HashMap<&str, i32>, day: &str) -> Result<(), Error> {
    let entries: Vec<(&str, i32)> = per_rep.iter().map(|(k, v)| (*k, *v)).collect();
    for chunk in entries.chunks(CHUNK) {
        let sql = format!(
            "UPDATE rep_days SET distributed = distributed + v.column2 FROM (VALUES {}) AS v \
             WHERE rep_days.person_id = v.column1 AND rep_days.business_day = $1",
            placeholders(chunk.len(), 2, 2)
        );
        on_tx!(tx, |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(day);
            for (id, n) in chunk {
                q = q.bind(*id).bind(*n);
            }
            q.execute(c).await.map(drop)
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_rows_after_the_shared_parameters() {
        assert_eq!(super::placeholders(2, 3, 3), "($3, $4, $5), ($6, $7, $8)");
    }
}
