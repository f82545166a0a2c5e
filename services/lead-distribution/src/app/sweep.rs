//! The deadline sweep (DESIGN §4, follow-up deadline; private pool): a
//! warning 6 h before any deadline, once per deadline; every lead past its
//! deadline taken back from its owner (who may not receive it again within
//! the cooldown) and handed at once to a colleague with room today, decided
//! for the whole sweep by `domain::handover` (same city first), else back
//! to the pool first in line. One sweep at a time across replicas (the job
//! lock), in one transaction, in the lock order.

use std::collections::HashMap;
use tiejun_platform::stored::Stored as _;

use chrono::{DateTime, Duration, Utc};
use tiejun_platform::{
    db::{JobKey, Tx},
    error::Error,
};
use tiejun_proto::leads::v1::TransitionRule;

use crate::domain::ids::PersonId;
use crate::{
    domain::{
        deadlines,
        distribution::Seat,
        handover::{self, Returned},
        rules::{RETURNED_PRIORITY, WARNING_AHEAD},
    },
    store::{
        days, distribution as runs,
        feed::{self, Kind},
        reps, sweep,
        transitions::{self, Assignment, Release},
    },
};

/// How long a rep's feed keeps events.
pub const FEED_RETENTION: Duration = Duration::days(7);

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepOutcome {
    /// Warnings sent.
    pub warnings_sent: i32,
    /// Leads reclaimed.
    pub leads_reclaimed: i32,
    /// Of those, handed to a colleague.
    pub leads_reassigned: i32,
    /// Of those, handed to a colleague in the lead's city.
    pub leads_same_city: i32,
    /// Of those, returned to the pool with priority.
    pub leads_pooled: i32,
}

/// Sweeps at `now`, by `actor` (a caller's subject, or `system` for the
/// job); `instance` is this process, for `job_runs`.
pub async fn run(tx: &mut Tx, now: DateTime<Utc>, actor: &str, instance: &str) -> Result<SweepOutcome, Error> {
    tx.job_lock(JobKey::Sweep).await?;
    let started = Utc::now();
    let day = super::business_day(now);
    let mut outcome = SweepOutcome::default();

    // Only when a lead is due: the reps who may receive a handover, share.
    let due_now = sweep::any_due(tx, now).await?;
    let active = if due_now {
        reps::lock_active(tx).await?
    } else {
        Vec::new()
    };

    // The leads, skipping any a call holds: the warnings, then the leads
    // past a deadline; then the day rows of the reps who may receive them.
    outcome.warnings_sent = warn(tx, now).await?;
    let due = sweep::lock_due(tx, now).await?;
    let received: HashMap<PersonId, i32> = if due.is_empty() || active.is_empty() {
        HashMap::new()
    } else {
        days::ensure_active(tx, &day).await?;
        days::lock_active(tx, &day).await?.into_iter().collect()
    };
    let seats: Vec<Seat> = active
        .into_iter()
        .map(|(person_id, city, quota)| {
            let room = (quota - received.get(&person_id).copied().unwrap_or(0)).max(0);
            Seat {
                person_id,
                city,
                room: u32::try_from(room).unwrap_or(0),
            }
        })
        .collect();
    let mut cooling = if due.is_empty() {
        HashMap::new()
    } else {
        runs::cooldowns(tx, now).await?
    };
    let mut returned = Vec::with_capacity(due.len());
    let mut rules = HashMap::with_capacity(due.len());
    for lead in &due {
        let (Some(owner), Some(held)) = (lead.owner_person_id.as_deref(), lead.held()) else {
            continue;
        };
        let (_, rule) = deadlines::next_deadline(held, lead.last_follow_up_at);
        let reason = format!("deadline missed: {}", rule.stored());
        // For a PRIVATE lead, its owner's pool (the last in the lock order).
        let release = Release {
            lead,
            rule,
            reason: &reason,
            actor,
            cooldown: true,
            priority: RETURNED_PRIORITY,
            tell_owner: true,
        };
        transitions::release(tx, &release, now).await?;
        outcome.leads_reclaimed += 1;
        let mut barred = cooling.remove(&lead.lead_id).unwrap_or_default();
        barred.insert(owner.into());
        rules.insert(lead.lead_id.as_str(), rule);
        returned.push(Returned {
            lead_id: lead.lead_id.clone(),
            city: lead.city.clone(),
            barred,
        });
    }

    let plan = handover::plan(&returned, &seats);
    for h in &plan {
        let rule = rules.get(h.lead_id.as_str()).map_or("", |r| r.stored());
        let reason = format!(
            "handed over after a reclaim ({rule}), {}",
            if h.same_city { "same city" } else { "any city" }
        );
        let assignment = Assignment {
            lead_id: &h.lead_id,
            person_id: &h.person_id,
            business_day: &day,
            rule: TransitionRule::ReclaimHandover,
            reason: &reason,
            actor,
        };
        transitions::assign(tx, &assignment, now).await?;
        days::add_given(tx, &h.person_id, &day, 1).await?;
        outcome.leads_reassigned += 1;
        outcome.leads_same_city += i32::from(h.same_city);
    }
    outcome.leads_pooled = outcome.leads_reclaimed - outcome.leads_reassigned;

    feed::prune(tx, now - FEED_RETENTION).await?;
    sweep::forget_cooldowns(tx, now).await?;
    sweep::record_run(tx, "sweep", instance, started, Utc::now()).await?;
    crate::metrics::reclaimed(outcome.leads_reclaimed);
    crate::metrics::assigned(outcome.leads_reassigned, "RECLAIM_HANDOVER");
    Ok(outcome)
}

/// Warns the owners of leads whose deadline is less than [`WARNING_AHEAD`]
/// away, once per deadline.
async fn warn(tx: &mut Tx, now: DateTime<Utc>) -> Result<i32, Error> {
    let soon = sweep::take_warnable(tx, now, now + WARNING_AHEAD).await?;
    let mut sent = 0;
    for lead in &soon {
        let (Some(owner), Some(deadline), Some(held)) = (&lead.owner_person_id, lead.next_deadline_at, lead.held())
        else {
            continue;
        };
        let (_, rule) = deadlines::next_deadline(held, lead.last_follow_up_at);
        feed::push(tx, owner, Kind::Warning, &lead.lead_id, rule, Some(deadline), now).await?;
        sent += 1;
    }
    Ok(sent)
}
