//! The transitions of one lead, inside the caller's transaction: assign,
//! return to the pool, keep private, resolve, follow up. Each is a
//! conditional update on the state it expects, so a concurrent change makes
//! it fail instead of being overwritten, and each closes or opens the
//! ownership period (`assignments`) and appends to the history.

use chrono::{DateTime, Utc};
use tiejun_platform::{db::Tx, error::Error, on_tx};
use tiejun_proto::leads::v1::{FollowUpKind, LeadState, TransitionRule};

use super::history::{self, Transition};
use crate::domain::deadlines::{self, Held};

/// Stored name of a state.
fn state(s: LeadState) -> &'static str {
    s.as_str_name().trim_start_matches("LEAD_STATE_")
}

/// Stored name of a rule.
pub fn rule(r: TransitionRule) -> &'static str {
    r.as_str_name().trim_start_matches("TRANSITION_RULE_")
}

/// Why an assignment happens.
#[derive(Debug, Clone)]
pub struct Assignment<'a> {
    /// The lead (must be in the pool).
    pub lead_id: &'a str,
    /// The receiving rep.
    pub person_id: &'a str,
    /// The business day it counts for.
    pub business_day: &'a str,
    /// DISTRIBUTION, SELF_CLAIM or MANAGER_REASSIGN.
    pub rule: TransitionRule,
    /// The distribution run, if any.
    pub run_id: Option<&'a str>,
    /// The rep's position in the rotation, if any.
    pub position: Option<i32>,
    /// Human-readable why.
    pub reason: &'a str,
    /// Who: a subject or `system`.
    pub actor: &'a str,
}

/// Assigns a pool lead. Fails with `LEAD_NOT_IN_POOL` if it is no longer there.
pub async fn assign(tx: &mut Tx, a: &Assignment<'_>, now: DateTime<Utc>) -> Result<String, Error> {
    let assignment_id = uuid::Uuid::now_v7().to_string();
    let (deadline, _) = deadlines::next_deadline(Held::Assigned { assigned_at: now }, None);
    let moved = on_tx!(tx, |c| sqlx::query(
        "UPDATE leads SET state = 'ASSIGNED', owner_person_id = $2, assigned_at = $3, private_since = NULL, \
         next_deadline_at = $4, warned_deadline_at = NULL, pool_priority = 0, assignment_id = $5, updated_at = $3 \
         WHERE lead_id = $1 AND state = 'POOL'"
    )
    .bind(a.lead_id)
    .bind(a.person_id)
    .bind(now)
    .bind(deadline)
    .bind(&assignment_id)
    .execute(c)
    .await?
    .rows_affected());
    if moved != 1 {
        return Err(Error::precondition(
            "LEAD_NOT_IN_POOL",
            "the lead is no longer in the pool",
        ));
    }
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO assignments (assignment_id, lead_id, person_id, business_day, rule, distribution_run_id, \
         rotation_position, reason, assigned_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )
    .bind(&assignment_id)
    .bind(a.lead_id)
    .bind(a.person_id)
    .bind(a.business_day)
    .bind(rule(a.rule))
    .bind(a.run_id)
    .bind(a.position)
    .bind(a.reason)
    .bind(now)
    .execute(c)
    .await
    .map(drop))?;
    let transition = Transition {
        lead_id: a.lead_id,
        actor: a.actor,
        from_state: Some(state(LeadState::Pool)),
        to_state: state(LeadState::Assigned),
        from_owner: None,
        to_owner: Some(a.person_id),
        rule: rule(a.rule),
        reason: a.reason,
        run_id: a.run_id,
        position: a.position,
    };
    history::append(tx, &transition, now).await?;
    Ok(assignment_id)
}

/// Ends the open ownership period of `lead_id` with `outcome`.
async fn end_assignment(tx: &mut Tx, lead_id: &str, outcome: &str, now: DateTime<Utc>) -> Result<(), Error> {
    on_tx!(tx, |c| sqlx::query(
        "UPDATE assignments SET ended_at = $2, outcome = $3 WHERE lead_id = $1 AND ended_at IS NULL"
    )
    .bind(lead_id)
    .bind(now)
    .bind(outcome)
    .execute(c)
    .await
    .map(drop))?;
    Ok(())
}

/// Changes a rep's private pool size by `delta`; the database refuses to go
/// above the cap (`PRIVATE_POOL_FULL`).
async fn private_count(tx: &mut Tx, person_id: &str, delta: i32) -> Result<(), Error> {
    let result = on_tx!(tx, |c| sqlx::query(
        "UPDATE reps SET private_count = private_count + $2 WHERE person_id = $1"
    )
    .bind(person_id)
    .bind(delta)
    .execute(c)
    .await
    .map(drop));
    match result {
        Err(err) if is_check_violation(&err) => Err(Error::precondition(
            "PRIVATE_POOL_FULL",
            "the private pool is at its cap of 30",
        )),
        other => Ok(other?),
    }
}

fn is_check_violation(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|db| db.is_check_violation())
}

/// A lead leaving its owner.
#[derive(Debug, Clone)]
pub struct Release<'a> {
    /// The lead.
    pub lead_id: &'a str,
    /// Its owner now.
    pub owner: &'a str,
    /// Its state now (ASSIGNED or PRIVATE).
    pub from: LeadState,
    /// Why (a reclaim rule, RELEASE, PRIVATE_SWAP, MANAGER_REASSIGN…).
    pub rule: TransitionRule,
    /// Free text.
    pub reason: &'a str,
    /// Who.
    pub actor: &'a str,
    /// The owner may not receive it again within the cooldown.
    pub cooldown: bool,
    /// Pool priority (reclaimed leads go out first).
    pub priority: i32,
}

/// Returns a held lead to the pool.
pub async fn release(tx: &mut Tx, r: &Release<'_>, now: DateTime<Utc>) -> Result<(), Error> {
    let moved = on_tx!(tx, |c| sqlx::query(
        "UPDATE leads SET state = 'POOL', owner_person_id = NULL, assigned_at = NULL, private_since = NULL, \
         next_deadline_at = NULL, warned_deadline_at = NULL, assignment_id = NULL, pool_priority = $4, \
         updated_at = $5 WHERE lead_id = $1 AND owner_person_id = $2 AND state = $3"
    )
    .bind(r.lead_id)
    .bind(r.owner)
    .bind(state(r.from))
    .bind(r.priority)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected());
    if moved != 1 {
        return Err(Error::Aborted("the lead changed concurrently; retry".into()));
    }
    end_assignment(tx, r.lead_id, rule(r.rule), now).await?;
    if r.from == LeadState::Private {
        private_count(tx, r.owner, -1).await?;
    }
    if r.cooldown {
        on_tx!(tx, |c| sqlx::query(
            "INSERT INTO lead_cooldowns (lead_id, person_id, until) VALUES ($1, $2, $3) \
             ON CONFLICT (lead_id, person_id) DO UPDATE SET until = excluded.until"
        )
        .bind(r.lead_id)
        .bind(r.owner)
        .bind(now + deadlines::COOLDOWN)
        .execute(c)
        .await
        .map(drop))?;
    }
    let transition = Transition {
        lead_id: r.lead_id,
        actor: r.actor,
        from_state: Some(state(r.from)),
        to_state: state(LeadState::Pool),
        from_owner: Some(r.owner),
        to_owner: None,
        rule: rule(r.rule),
        reason: r.reason,
        ..Transition::default()
    };
    history::append(tx, &transition, now).await
}

/// Moves an own ASSIGNED lead to the private pool (the cap is the database's).
pub async fn keep_private(
    tx: &mut Tx,
    lead_id: &str,
    owner: &str,
    last_follow_up: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    private_count(tx, owner, 1).await?;
    let (deadline, _) = deadlines::next_deadline(Held::Private { since: now }, last_follow_up);
    let moved = on_tx!(tx, |c| sqlx::query(
        "UPDATE leads SET state = 'PRIVATE', private_since = $3, next_deadline_at = $4, warned_deadline_at = NULL, \
         updated_at = $3 WHERE lead_id = $1 AND owner_person_id = $2 AND state = 'ASSIGNED'"
    )
    .bind(lead_id)
    .bind(owner)
    .bind(now)
    .bind(deadline)
    .execute(c)
    .await?
    .rows_affected());
    if moved != 1 {
        return Err(Error::Aborted("the lead changed concurrently; retry".into()));
    }
    let transition = Transition {
        lead_id,
        actor: owner,
        from_state: Some(state(LeadState::Assigned)),
        to_state: state(LeadState::Private),
        from_owner: Some(owner),
        to_owner: Some(owner),
        rule: rule(TransitionRule::KeepPrivate),
        ..Transition::default()
    };
    history::append(tx, &transition, now).await
}

/// A lead ending for good.
#[derive(Debug, Clone)]
pub struct Resolution<'a> {
    /// The lead.
    pub lead_id: &'a str,
    /// Its owner, if held.
    pub owner: Option<&'a str>,
    /// Its state now.
    pub from: LeadState,
    /// CONVERTED or CLOSED.
    pub to: LeadState,
    /// Why.
    pub reason: &'a str,
    /// Who.
    pub actor: &'a str,
}

/// Ends a lead for good: CONVERTED or CLOSED.
pub async fn resolve(tx: &mut Tx, r: &Resolution<'_>, now: DateTime<Utc>) -> Result<(), Error> {
    let moved = on_tx!(tx, |c| sqlx::query(
        "UPDATE leads SET state = $3, owner_person_id = NULL, next_deadline_at = NULL, warned_deadline_at = NULL, \
         assignment_id = NULL, updated_at = $4 WHERE lead_id = $1 AND state = $2"
    )
    .bind(r.lead_id)
    .bind(state(r.from))
    .bind(state(r.to))
    .bind(now)
    .execute(c)
    .await?
    .rows_affected());
    if moved != 1 {
        return Err(Error::Aborted("the lead changed concurrently; retry".into()));
    }
    let rule = if r.to == LeadState::Converted {
        TransitionRule::Convert
    } else {
        TransitionRule::Close
    };
    end_assignment(tx, r.lead_id, self::rule(rule), now).await?;
    if let (LeadState::Private, Some(owner)) = (r.from, r.owner) {
        private_count(tx, owner, -1).await?;
    }
    let transition = Transition {
        lead_id: r.lead_id,
        actor: r.actor,
        from_state: Some(state(r.from)),
        to_state: state(r.to),
        from_owner: r.owner,
        to_owner: None,
        rule: self::rule(rule),
        reason: r.reason,
        ..Transition::default()
    };
    history::append(tx, &transition, now).await
}

/// Whether a follow-up kind resets deadlines.
pub fn qualifies(kind: FollowUpKind) -> bool {
    matches!(kind, FollowUpKind::Call | FollowUpKind::Visit | FollowUpKind::Meeting)
}

/// A follow-up on a held lead.
#[derive(Debug, Clone)]
pub struct FollowUp<'a> {
    /// The lead.
    pub lead_id: &'a str,
    /// Its owner (who made the contact).
    pub owner: &'a str,
    /// Where the lead stands.
    pub held: Held,
    /// The latest qualifying follow-up before this one.
    pub previous: Option<DateTime<Utc>>,
    /// Call, visit, meeting or note.
    pub kind: FollowUpKind,
    /// When the contact happened.
    pub occurred_at: DateTime<Utc>,
    /// What was said.
    pub notes: &'a str,
}

/// Records a follow-up on a held lead and moves its deadline if it qualifies.
pub async fn follow_up(tx: &mut Tx, f: &FollowUp<'_>, now: DateTime<Utc>) -> Result<(), Error> {
    let kind = f.kind.as_str_name().trim_start_matches("FOLLOW_UP_KIND_");
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO follow_ups (follow_up_id, lead_id, person_id, kind, occurred_at, notes, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(f.lead_id)
    .bind(f.owner)
    .bind(kind)
    .bind(f.occurred_at)
    .bind(f.notes)
    .bind(now)
    .execute(c)
    .await
    .map(drop))?;
    let current = match f.held {
        Held::Assigned { .. } => state(LeadState::Assigned),
        Held::Private { .. } => state(LeadState::Private),
    };
    if qualifies(f.kind) {
        let last = f.previous.map_or(f.occurred_at, |p| p.max(f.occurred_at));
        let (deadline, _) = deadlines::next_deadline(f.held, Some(last));
        on_tx!(tx, |c| sqlx::query(
            "UPDATE leads SET last_follow_up_at = $2, next_deadline_at = $3, updated_at = $4 WHERE lead_id = $1"
        )
        .bind(f.lead_id)
        .bind(last)
        .bind(deadline)
        .bind(now)
        .execute(c)
        .await
        .map(drop))?;
        on_tx!(tx, |c| sqlx::query(
            "UPDATE assignments SET first_follow_up_at = $2 WHERE lead_id = $1 AND ended_at IS NULL \
             AND (first_follow_up_at IS NULL OR first_follow_up_at > $2)"
        )
        .bind(f.lead_id)
        .bind(f.occurred_at)
        .execute(c)
        .await
        .map(drop))?;
    }
    let transition = Transition {
        lead_id: f.lead_id,
        actor: f.owner,
        from_state: Some(current),
        to_state: current,
        from_owner: Some(f.owner),
        to_owner: Some(f.owner),
        rule: rule(TransitionRule::FollowUp),
        reason: kind,
        ..Transition::default()
    };
    history::append(tx, &transition, now).await
}
