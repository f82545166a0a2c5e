//! A manager moves a lead to another ACTIVE rep (DESIGN §4, manager RPCs).
//! It counts as received for the new owner but is an override: not limited
//! by their quota. The old owner, if any, hears of it in their feed.

use crate::domain::ids::{LeadId, PersonId};
use chrono::{DateTime, Utc};
use tiejun_platform::{auth::Principal, db::Tx, error::Error};
use tiejun_proto::leads::v1::{LeadState, RepStatus, TransitionRule};

use crate::{
    domain::access,
    store::{
        days,
        leads::LeadRow,
        reps,
        transitions::{self, Assignment, Release},
    },
};

/// The caller moves `lead_id` to `to` for `reason`.
pub async fn run(
    tx: &mut Tx,
    now: DateTime<Utc>,
    principal: &Principal,
    lead_id: &LeadId,
    to: &PersonId,
    reason: &str,
) -> Result<LeadRow, Error> {
    let day = super::business_day(now);
    // The new owner, share; the lead; their day; (in release) the old
    // owner's private pool.
    let rep = reps::lock_to_assign(tx, to).await?.ok_or_else(|| Error::missing(to))?;
    if rep.status != RepStatus::Active {
        return Err(Error::precondition("REP_NOT_ACTIVE", "leads go to ACTIVE reps only"));
    }
    access::may_manage(principal, &rep.team)?;
    let lead = super::lock_lead(tx, lead_id).await?;
    days::lock_one(tx, to, &day).await?;
    if let Some(owner) = lead.owner_person_id.as_ref() {
        super::owner_in_managed_team(tx, principal, owner).await?;
        if owner == to {
            return Err(Error::precondition("ALREADY_OWNER", "the rep already holds this lead"));
        }
        let release = Release {
            lead: &lead,
            rule: TransitionRule::ManagerReassign,
            reason,
            actor: &principal.subject,
            cooldown: false,
            priority: 0,
            tell_owner: true,
        };
        transitions::release(tx, &release, now).await?;
    } else if lead.state != LeadState::Pool {
        return Err(Error::precondition(
            "LEAD_RESOLVED",
            "the lead is already converted or closed",
        ));
    }
    let assignment = Assignment {
        lead_id,
        person_id: to,
        business_day: &day,
        rule: TransitionRule::ManagerReassign,
        reason,
        actor: &principal.subject,
    };
    let row = transitions::assign(tx, &assignment, now).await?;
    days::add_given(tx, to, &day, 1).await?;
    Ok(row)
}
