//! The daily distribution (DESIGN §4): every ACTIVE rep gets their quota
//! less what they received today, dealt fairly by `domain::distribution`.
//! Runs on demand (`RunDistribution`, today only; a second run tops up) and
//! from the 08:00 scheduler, one run at a time across replicas (the job
//! lock), in one transaction that takes the reps, the pool and the reps'
//! day rows in the lock order; the pool is taken `SKIP LOCKED`, so claims in
//! flight keep their leads and the run never waits on one.

use crate::domain::ids::{PersonId, RunId};
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tiejun_platform::{
    db::{JobKey, Tx},
    error::Error,
};
use tiejun_proto::leads::v1::DistributionTrigger;

use crate::{
    domain::distribution::{self, PoolLead, Seat},
    store::{
        days,
        distribution::{self as runs, RunRecord},
        reps,
    },
};

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// The run.
    pub run_id: RunId,
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

/// Runs the distribution of today (`now`'s business day), by `actor`.
pub async fn run(
    tx: &mut Tx,
    now: DateTime<Utc>,
    trigger: DistributionTrigger,
    actor: &str,
) -> Result<RunOutcome, Error> {
    tx.job_lock(JobKey::Distribution).await?;
    deal_today(tx, now, trigger, actor).await
}

/// The scheduled run of today, unless it already happened (checked under
/// the job lock).
pub async fn scheduled(tx: &mut Tx, now: DateTime<Utc>) -> Result<Option<RunOutcome>, Error> {
    tx.job_lock(JobKey::Distribution).await?;
    if runs::scheduled_ran(tx, &super::business_day(now)).await? {
        return Ok(None);
    }
    deal_today(tx, now, DistributionTrigger::Scheduled, super::SYSTEM)
        .await
        .map(Some)
}

async fn deal_today(
    tx: &mut Tx,
    now: DateTime<Utc>,
    trigger: DistributionTrigger,
    actor: &str,
) -> Result<RunOutcome, Error> {
    let started = std::time::Instant::now();
    let day = super::business_day(now);
    let seed = runs::day_seed(tx, &day, now).await?;

    // The ACTIVE reps, share; the pool, skipping leads a call holds (only
    // when the day rows, read unlocked, leave anyone room); then the day
    // rows, locked, which the room is computed from.
    let active = reps::lock_active(tx).await?;
    let pool = if days::any_room(tx, &day).await? {
        runs::lock_pool(tx).await?
    } else {
        Vec::new()
    };
    days::ensure_active(tx, &day).await?;
    let received: HashMap<PersonId, i32> = days::lock_active(tx, &day).await?.into_iter().collect();
    let ids: Vec<PersonId> = active.iter().map(|(id, _, _)| id.clone()).collect();
    let by_id: HashMap<&str, (&str, i32)> = active
        .iter()
        .map(|(id, city, quota)| (id.as_str(), (city.as_str(), *quota)))
        .collect();
    let order = distribution::rotation(&ids, seed as u64);
    let seats: Vec<Seat> = order
        .iter()
        .map(|id| {
            let (city, quota) = by_id[id.as_str()];
            let room = (quota - received.get(id).copied().unwrap_or(0)).max(0);
            Seat {
                person_id: id.clone(),
                city: city.to_owned(),
                room: u32::try_from(room).unwrap_or(0),
            }
        })
        .collect();
    let mut cooling = if pool.is_empty() {
        HashMap::new()
    } else {
        runs::cooldowns(tx, now).await?
    };
    let candidates: Vec<PoolLead> = pool
        .into_iter()
        .map(|(lead_id, city)| PoolLead {
            cooldown: cooling.remove(lead_id.as_str()).unwrap_or_default(),
            lead_id: lead_id.into(),
            city,
        })
        .collect();
    let deals = distribution::deal(&seats, &candidates);

    let run_id = RunId::mint();
    if !deals.is_empty() {
        runs::apply(tx, &run_id, &day, &deals, actor, now).await?;
    }
    let mut per_rep: HashMap<&str, u32> = HashMap::new();
    for d in &deals {
        *per_rep.entry(d.person_id.as_str()).or_default() += 1;
    }
    let reps_short = seats
        .iter()
        .filter(|s| per_rep.get(s.person_id.as_str()).copied().unwrap_or(0) < s.room)
        .count();
    let outcome = RunOutcome {
        run_id: run_id.clone(),
        business_day: day.clone(),
        seed,
        reps_served: count(per_rep.len()),
        leads_assigned: count(deals.len()),
        reps_short: count(reps_short),
    };
    let record = RunRecord {
        run_id: &run_id,
        day: &day,
        trigger,
        ran_by: actor,
        rotation: &order,
        leads_assigned: outcome.leads_assigned,
        same_city: count(deals.iter().filter(|d| d.same_city).count()),
        reps_served: outcome.reps_served,
        reps_short: outcome.reps_short,
        started_at: now,
        finished_at: now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default(),
    };
    runs::record(tx, &record).await?;
    crate::metrics::assigned(outcome.leads_assigned, "DISTRIBUTION");
    Ok(outcome)
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
