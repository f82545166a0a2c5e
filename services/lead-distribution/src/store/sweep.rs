//! The deadline sweep: a warning 6 h before any deadline (once per deadline),
//! and reclaim of every lead past its deadline: back from its owner (who may
//! not receive it again within the cooldown), then straight to the ACTIVE rep
//! with the most room today (same city first), or to the pool with priority.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use tiejun_platform::{
    clock::to_proto,
    db::{Backend, Tx},
    error::Error,
    on_tx,
};
use tiejun_proto::leads::v1::{
    DeadlineWarning, LeadReclaimed, LeadState, TransitionRule, WatchRepEventsResponse, watch_rep_events_response::Event,
};

use super::{
    days,
    distribution::assigned_event,
    events, holding,
    holding::{Assignment, Release},
    jobs,
    leads::LeadRow,
};
use crate::{
    convert,
    domain::deadlines::{self, Held},
};

/// How long rep events are kept for watchers.
const EVENT_RETENTION: Duration = Duration::days(7);

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepOutcome {
    /// Warnings sent.
    pub warnings_sent: i32,
    /// Leads reclaimed.
    pub leads_reclaimed: i32,
    /// Of those, handed to another rep.
    pub leads_reassigned: i32,
    /// Of those, pooled with priority.
    pub leads_pooled: i32,
}

/// Where a held lead stands, from its row.
pub fn held(row: &LeadRow) -> Option<Held> {
    match (convert::lead_state(&row.state), row.assigned_at, row.private_since) {
        (LeadState::Assigned, Some(assigned_at), _) => Some(Held::Assigned { assigned_at }),
        (LeadState::Private, _, Some(since)) => Some(Held::Private { since }),
        _ => None,
    }
}

/// Runs one sweep at `now` for business day `day`.
pub async fn run(tx: &mut Tx, now: DateTime<Utc>, day: NaiveDate, instance: &str) -> Result<SweepOutcome, Error> {
    tx.job_lock(tiejun_platform::db::JobKey::Sweep).await?;
    let started = Utc::now();
    let mut outcome = SweepOutcome {
        warnings_sent: warn(tx, now).await?,
        ..SweepOutcome::default()
    };

    let sql = match tx.backend() {
        Backend::Postgres => super::leads::DUE_FOR_UPDATE_PG,
        Backend::Sqlite => super::leads::DUE_SQLITE,
    };
    let due: Vec<LeadRow> = on_tx!(tx, |c| sqlx::query_as(sql).bind(now).fetch_all(c).await?);
    if !due.is_empty() {
        let day = day.to_string();
        let mut seats = Seats::load(tx, &day).await?;
        for row in &due {
            reclaim(tx, row, &mut seats, &day, now, &mut outcome).await?;
        }
    }
    events::prune(tx, now - EVENT_RETENTION).await?;
    on_tx!(tx, |c| sqlx::query("DELETE FROM lead_cooldowns WHERE until <= $1")
        .bind(now)
        .execute(c)
        .await
        .map(drop))?;
    jobs::record(tx, "sweep", instance, started, Utc::now()).await?;
    Ok(outcome)
}

async fn warn(tx: &mut Tx, now: DateTime<Utc>) -> Result<i32, Error> {
    let soon: Vec<LeadRow> = on_tx!(tx, |c| sqlx::query_as(super::leads::WARNABLE)
        .bind(now)
        .bind(now + deadlines::WARNING_AHEAD)
        .fetch_all(c)
        .await?);
    for row in &soon {
        let (Some(owner), Some(deadline), Some(held)) = (&row.owner_person_id, row.next_deadline_at, held(row)) else {
            continue;
        };
        let (_, rule) = deadlines::next_deadline(held, row.last_follow_up_at);
        let left = (deadline - now).to_std().unwrap_or_default();
        let event = WatchRepEventsResponse {
            occurred_at: Some(to_proto(now)),
            event: Some(Event::Warning(DeadlineWarning {
                lead_id: row.lead_id.clone(),
                deadline_at: Some(to_proto(deadline)),
                time_left: prost_types::Duration::try_from(left).ok(),
                rule: rule as i32,
            })),
        };
        events::push(tx, owner, &event, now).await?;
        on_tx!(tx, |c| sqlx::query(
            "UPDATE leads SET warned_deadline_at = next_deadline_at WHERE lead_id = $1"
        )
        .bind(&row.lead_id)
        .execute(c)
        .await
        .map(drop))?;
    }
    Ok(soon.len() as i32)
}

/// Active reps, their cities and room today, for reassignment.
struct Seats {
    reps: Vec<(String, String, i32)>,
    room: HashMap<String, i32>,
}

impl Seats {
    async fn load(tx: &mut Tx, day: &str) -> Result<Self, Error> {
        let reps: Vec<(String, String, i32)> = on_tx!(tx, |c| sqlx::query_as(
            "SELECT person_id, city, daily_quota FROM reps WHERE status = 'ACTIVE' ORDER BY person_id"
        )
        .fetch_all(c)
        .await?);
        let ids: Vec<String> = reps.iter().map(|r| r.0.clone()).collect();
        days::ensure(tx, &ids, day).await?;
        let received: HashMap<String, i32> = days::received_for_update(tx, day).await?.into_iter().collect();
        let room = reps
            .iter()
            .map(|(id, _, q)| (id.clone(), q - received.get(id).copied().unwrap_or(0)))
            .collect();
        Ok(Self { reps, room })
    }

    /// The rep to hand `row` to: not `loser`, not in cooldown, with room;
    /// same city first, then the most room, then person_id.
    fn pick(&self, row: &LeadRow, loser: &str, cooling: &[String]) -> Option<(String, i32)> {
        self.reps
            .iter()
            .filter(|(id, _, _)| id != loser && !cooling.contains(id) && self.room[id] > 0)
            .max_by_key(|(id, city, _)| (*city == row.city, self.room[id], std::cmp::Reverse(id.clone())))
            .map(|(id, _, quota)| (id.clone(), *quota))
    }
}

async fn reclaim(
    tx: &mut Tx,
    row: &LeadRow,
    seats: &mut Seats,
    day: &str,
    now: DateTime<Utc>,
    outcome: &mut SweepOutcome,
) -> Result<(), Error> {
    let (Some(owner), Some(held)) = (row.owner_person_id.as_deref(), held(row)) else {
        return Ok(());
    };
    let (_, rule) = deadlines::next_deadline(held, row.last_follow_up_at);
    let reason = format!("deadline missed: {}", holding::rule(rule));
    let release = Release {
        lead_id: &row.lead_id,
        owner,
        from: convert::lead_state(&row.state),
        rule,
        reason: &reason,
        actor: "system",
        cooldown: true,
        priority: 1,
    };
    holding::release(tx, &release, now).await?;
    let reclaimed = WatchRepEventsResponse {
        occurred_at: Some(to_proto(now)),
        event: Some(Event::Reclaimed(LeadReclaimed {
            lead_id: row.lead_id.clone(),
            rule: rule as i32,
        })),
    };
    events::push(tx, owner, &reclaimed, now).await?;
    outcome.leads_reclaimed += 1;

    let cooling: Vec<String> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT person_id FROM lead_cooldowns WHERE lead_id = $1 AND until > $2"
    )
    .bind(&row.lead_id)
    .bind(now)
    .fetch_all(c)
    .await?);
    let Some((next, quota)) = seats.pick(row, owner, &cooling) else {
        outcome.leads_pooled += 1;
        return Ok(());
    };
    if !days::take_room(tx, &next, day, quota).await? {
        outcome.leads_pooled += 1;
        return Ok(());
    }
    if let Some(room) = seats.room.get_mut(&next) {
        *room -= 1;
    }
    let reason = format!("reassigned after reclaim ({})", holding::rule(rule));
    let assignment = Assignment {
        lead_id: &row.lead_id,
        person_id: &next,
        business_day: day,
        rule: TransitionRule::Distribution,
        run_id: None,
        position: None,
        reason: &reason,
        actor: "system",
    };
    holding::assign(tx, &assignment, now).await?;
    let mut assigned = row.clone();
    assigned.state = "ASSIGNED".into();
    assigned.owner_person_id = Some(next.clone());
    assigned.assigned_at = Some(now);
    assigned.next_deadline_at = Some(deadlines::next_deadline(Held::Assigned { assigned_at: now }, None).0);
    let event = assigned_event(assigned, TransitionRule::Distribution, now);
    events::push(tx, &next, &event, now).await?;
    outcome.leads_reassigned += 1;
    Ok(())
}
