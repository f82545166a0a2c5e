//! The transitions of one lead, inside the caller's transaction: assign,
//! return to the pool, keep private, resolve, follow up. Each takes the
//! lead's row as the caller locked it (`leads::lock`), changes it with a
//! conditional update on the state it was read in (so a caller that did not
//! lock it fails instead of overwriting a concurrent change), closes or opens
//! the ownership period (`assignments`), appends to the history, and tells
//! the rep through their feed where they should hear of it.

use crate::domain::ids::{AssignmentId, LeadId, PersonId};
use chrono::{DateTime, Utc};
use tiejun_platform::stored::Stored as _;
use tiejun_platform::{db::Tx, error::Error, execute, on_tx};
use tiejun_proto::leads::v1::{FollowUpKind, LeadState, TransitionRule};

use super::{
    feed::{self, Kind},
    history::{self, Transition},
    leads::{LeadRow, lead_columns},
    private_pools,
};
use crate::domain::{
    deadlines::{self, Held},
    rules::COOLDOWN,
};

/// What a lead's row becomes when it is assigned. The arguments are SQL
/// expressions of the statement that uses it: the owner, now, the first
/// deadline and the new ownership period's id. The claim and the
/// distribution write it in their own set-based statements.
macro_rules! assigned_set {
    ($owner:literal, $now:literal, $deadline:literal, $assignment:literal) => {
        concat!(
            "state = 'ASSIGNED', owner_person_id = ",
            $owner,
            ", assigned_at = ",
            $now,
            ", private_since = NULL, next_deadline_at = ",
            $deadline,
            ", warned_deadline_at = NULL, pool_priority = 0, assignment_id = ",
            $assignment,
            ", updated_at = ",
            $now
        )
    };
}
pub(crate) use assigned_set;

/// The next history sequence of lead `$lead` (an SQL expression). The
/// lead's row lock, which every writer holds, orders the appends of one lead.
macro_rules! next_sequence {
    ($lead:literal) => {
        concat!(
            "(SELECT COALESCE(MAX(h.sequence), 0) + 1 FROM lead_history h WHERE h.lead_id = ",
            $lead,
            ")"
        )
    };
}
pub(crate) use next_sequence;

/// A pool lead given to a rep outside a distribution run.
#[derive(Debug, Clone)]
pub struct Assignment<'a> {
    /// The lead, in the pool (the update is conditional on it).
    pub lead_id: &'a LeadId,
    /// The receiving rep.
    pub person_id: &'a PersonId,
    /// The business day it counts for.
    pub business_day: &'a str,
    /// SELF_CLAIM, MANAGER_REASSIGN, RECLAIM_HANDOVER or RENEWAL.
    pub rule: TransitionRule,
    /// Why, for the history.
    pub reason: &'a str,
    /// Who: a principal's subject or `system`.
    pub actor: &'a str,
}

/// The first deadline of a lead assigned at `now`.
pub fn first_deadline(now: DateTime<Utc>) -> DateTime<Utc> {
    deadlines::next_deadline(Held::Assigned { assigned_at: now }, None).0
}

/// Assigns a pool lead; `LEAD_NOT_IN_POOL` if it is no longer there.
pub async fn assign(tx: &mut Tx, a: &Assignment<'_>, now: DateTime<Utc>) -> Result<LeadRow, Error> {
    let assignment_id = AssignmentId::mint();
    let deadline = first_deadline(now);
    let sql = concat!(
        "UPDATE leads SET ",
        assigned_set!("$2", "$3", "$4", "$5"),
        " WHERE lead_id = $1 AND state = 'POOL' RETURNING ",
        lead_columns!()
    );
    let row: Option<LeadRow> = on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(a.lead_id)
        .bind(a.person_id)
        .bind(now)
        .bind(deadline)
        .bind(&assignment_id)
        .fetch_optional(c)
        .await?);
    let row = row.ok_or_else(|| Error::precondition("LEAD_NOT_IN_POOL", "the lead is no longer in the pool"))?;
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO assignments (assignment_id, lead_id, person_id, business_day, rule, reason, assigned_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(&assignment_id)
        .bind(&row.lead_id)
        .bind(a.person_id)
        .bind(a.business_day)
        .bind(a.rule.stored())
        .bind(a.reason)
        .bind(now)
    )?;
    let transition = Transition {
        lead_id: &row.lead_id,
        actor: a.actor,
        from_state: Some(LeadState::Pool),
        to_state: LeadState::Assigned,
        from_owner: None,
        to_owner: Some(a.person_id),
        rule: a.rule,
        reason: a.reason,
        ..Transition::default()
    };
    history::append(tx, &transition, now).await?;
    feed::push(
        tx,
        a.person_id,
        Kind::Assigned,
        &row.lead_id,
        a.rule,
        Some(deadline),
        now,
    )
    .await?;
    Ok(row)
}

/// Ends the open ownership period of `lead_id` with `outcome`.
async fn end_assignment(
    tx: &mut Tx,
    lead_id: &LeadId,
    outcome: TransitionRule,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query("UPDATE assignments SET ended_at = $2, outcome = $3 WHERE lead_id = $1 AND ended_at IS NULL")
            .bind(lead_id)
            .bind(now)
            .bind(outcome.stored())
    )?;
    Ok(())
}

/// A held lead leaving its owner for the pool.
#[derive(Debug, Clone)]
pub struct Release<'a> {
    /// The lead, locked, ASSIGNED or PRIVATE.
    pub lead: &'a LeadRow,
    /// Why (a reclaim rule, RELEASE, PRIVATE_SWAP, MANAGER_REASSIGN…).
    pub rule: TransitionRule,
    /// Free text.
    pub reason: &'a str,
    /// Who.
    pub actor: &'a str,
    /// The owner may not receive it again within the cooldown.
    pub cooldown: bool,
    /// Pool priority (leads back from a reclaim or a departure go out first).
    pub priority: i32,
    /// Tell the owner through their feed (it was taken, not given back).
    pub tell_owner: bool,
}

/// Returns a held lead to the pool; its row as it is now.
pub async fn release(tx: &mut Tx, r: &Release<'_>, now: DateTime<Utc>) -> Result<LeadRow, Error> {
    let owner = r
        .lead
        .owner_person_id
        .as_ref()
        .ok_or_else(|| Error::precondition("LEAD_NOT_HELD", "the lead is not assigned to anyone"))?;
    let from = r.lead.state.0;
    let sql = concat!(
        "UPDATE leads SET state = 'POOL', owner_person_id = NULL, assigned_at = NULL, private_since = NULL, \
         next_deadline_at = NULL, warned_deadline_at = NULL, assignment_id = NULL, pool_priority = $4, \
         updated_at = $5 WHERE lead_id = $1 AND owner_person_id = $2 AND state = $3 RETURNING ",
        lead_columns!()
    );
    let row: Option<LeadRow> = on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(&r.lead.lead_id)
        .bind(owner)
        .bind(from.stored())
        .bind(r.priority)
        .bind(now)
        .fetch_optional(c)
        .await?);
    let row = row.ok_or_else(|| Error::Aborted("the lead changed concurrently; retry".into()))?;
    end_assignment(tx, &row.lead_id, r.rule, now).await?;
    if from == LeadState::Private {
        private_pools::add(tx, owner, -1).await?;
    }
    if r.cooldown {
        execute!(
            tx,
            sqlx::query(
                "INSERT INTO lead_cooldowns (lead_id, person_id, until) VALUES ($1, $2, $3) \
                 ON CONFLICT (lead_id, person_id) DO UPDATE SET until = excluded.until"
            )
            .bind(&row.lead_id)
            .bind(owner)
            .bind(now + COOLDOWN)
        )?;
    }
    let transition = Transition {
        lead_id: &row.lead_id,
        actor: r.actor,
        from_state: Some(from),
        to_state: LeadState::Pool,
        from_owner: Some(owner),
        to_owner: None,
        rule: r.rule,
        reason: r.reason,
        ..Transition::default()
    };
    history::append(tx, &transition, now).await?;
    if r.tell_owner {
        feed::push(tx, owner, Kind::Reclaimed, &row.lead_id, r.rule, None, now).await?;
    }
    Ok(row)
}

/// Moves an own ASSIGNED lead to the private pool (the caller checked the
/// cap and holds the pool's row; the database refuses above it anyway).
pub async fn keep_private(tx: &mut Tx, lead: &LeadRow, now: DateTime<Utc>) -> Result<LeadRow, Error> {
    let owner = lead
        .owner_person_id
        .as_ref()
        .ok_or_else(|| Error::precondition("LEAD_NOT_HELD", "the lead is not assigned to anyone"))?;
    let (deadline, _) = deadlines::next_deadline(Held::Private { since: now }, lead.last_follow_up_at);
    let sql = concat!(
        "UPDATE leads SET state = 'PRIVATE', private_since = $3, next_deadline_at = $4, warned_deadline_at = NULL, \
         updated_at = $3 WHERE lead_id = $1 AND owner_person_id = $2 AND state = 'ASSIGNED' RETURNING ",
        lead_columns!()
    );
    let row: Option<LeadRow> = on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(&lead.lead_id)
        .bind(owner)
        .bind(now)
        .bind(deadline)
        .fetch_optional(c)
        .await?);
    let row = row.ok_or_else(|| Error::Aborted("the lead changed concurrently; retry".into()))?;
    private_pools::add(tx, owner, 1).await?;
    let transition = Transition {
        lead_id: &row.lead_id,
        actor: owner.as_str(),
        from_state: Some(LeadState::Assigned),
        to_state: LeadState::Private,
        from_owner: Some(owner),
        to_owner: Some(owner),
        rule: TransitionRule::KeepPrivate,
        ..Transition::default()
    };
    history::append(tx, &transition, now).await?;
    Ok(row)
}

/// A lead ending for good.
#[derive(Debug, Clone)]
pub struct Resolution<'a> {
    /// The lead, locked.
    pub lead: &'a LeadRow,
    /// CONVERTED or CLOSED.
    pub to: LeadState,
    /// Why.
    pub reason: &'a str,
    /// Who.
    pub actor: &'a str,
}

/// Ends a lead for good: CONVERTED or CLOSED; its row as it is now.
pub async fn resolve(tx: &mut Tx, r: &Resolution<'_>, now: DateTime<Utc>) -> Result<LeadRow, Error> {
    let from = r.lead.state.0;
    let sql = concat!(
        "UPDATE leads SET state = $3, owner_person_id = NULL, next_deadline_at = NULL, warned_deadline_at = NULL, \
         assignment_id = NULL, updated_at = $4 WHERE lead_id = $1 AND state = $2 RETURNING ",
        lead_columns!()
    );
    let row: Option<LeadRow> = on_tx!(tx, |c| sqlx::query_as(sql)
        .bind(&r.lead.lead_id)
        .bind(from.stored())
        .bind(r.to.stored())
        .bind(now)
        .fetch_optional(c)
        .await?);
    let row = row.ok_or_else(|| Error::Aborted("the lead changed concurrently; retry".into()))?;
    let rule = if r.to == LeadState::Converted {
        TransitionRule::Convert
    } else {
        TransitionRule::Close
    };
    end_assignment(tx, &row.lead_id, rule, now).await?;
    let owner = r.lead.owner_person_id.as_ref();
    if let (LeadState::Private, Some(owner)) = (from, owner) {
        private_pools::add(tx, owner, -1).await?;
    }
    let transition = Transition {
        lead_id: &row.lead_id,
        actor: r.actor,
        from_state: Some(from),
        to_state: r.to,
        from_owner: owner,
        to_owner: None,
        rule,
        reason: r.reason,
        ..Transition::default()
    };
    history::append(tx, &transition, now).await?;
    Ok(row)
}

/// Whether a follow-up kind resets deadlines: a call, visit or meeting, not a note.
pub fn qualifies(kind: FollowUpKind) -> bool {
    matches!(kind, FollowUpKind::Call | FollowUpKind::Visit | FollowUpKind::Meeting)
}

/// A follow-up on a held lead.
#[derive(Debug, Clone)]
pub struct FollowUp<'a> {
    /// The lead, locked, held by the one who made the contact.
    pub lead: &'a LeadRow,
    /// Where the lead stands.
    pub held: Held,
    /// Call, visit, meeting or note.
    pub kind: FollowUpKind,
    /// When the contact happened.
    pub occurred_at: DateTime<Utc>,
    /// What was said.
    pub notes: &'a str,
}

/// Records a follow-up and moves the lead's deadline if it qualifies; the
/// lead's row as it is now.
pub async fn follow_up(tx: &mut Tx, f: &FollowUp<'_>, now: DateTime<Utc>) -> Result<LeadRow, Error> {
    let owner = f.lead.owner_person_id.as_ref().unwrap_or_default();
    execute!(
        tx,
        sqlx::query(
            "INSERT INTO follow_ups (follow_up_id, lead_id, person_id, kind, occurred_at, notes, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&f.lead.lead_id)
        .bind(owner)
        .bind(f.kind.stored())
        .bind(f.occurred_at)
        .bind(f.notes)
        .bind(now)
    )?;
    let current = f.lead.state.0;
    let mut row = f.lead.clone();
    if qualifies(f.kind) {
        let last = f.lead.last_follow_up_at.map_or(f.occurred_at, |p| p.max(f.occurred_at));
        let (deadline, _) = deadlines::next_deadline(f.held, Some(last));
        let sql = concat!(
            "UPDATE leads SET last_follow_up_at = $2, next_deadline_at = $3, updated_at = $4 WHERE lead_id = $1 \
             RETURNING ",
            lead_columns!()
        );
        row = on_tx!(tx, |c| sqlx::query_as(sql)
            .bind(&f.lead.lead_id)
            .bind(last)
            .bind(deadline)
            .bind(now)
            .fetch_one(c)
            .await?);
        execute!(
            tx,
            sqlx::query(
                "UPDATE assignments SET first_follow_up_at = $2 WHERE lead_id = $1 AND ended_at IS NULL \
                 AND (first_follow_up_at IS NULL OR first_follow_up_at > $2)"
            )
            .bind(&f.lead.lead_id)
            .bind(f.occurred_at)
        )?;
    }
    let transition = Transition {
        lead_id: &f.lead.lead_id,
        actor: owner.as_str(),
        from_state: Some(current),
        to_state: current,
        from_owner: Some(owner),
        to_owner: Some(owner),
        rule: TransitionRule::FollowUp,
        reason: f.kind.stored(),
        ..Transition::default()
    };
    history::append(tx, &transition, now).await?;
    Ok(row)
}
