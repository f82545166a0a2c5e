//! Reps' working lives (DESIGN §4): hiring (RepHired to the outbox), the
//! quota, ONBOARDING → ACTIVE ⇄ PAUSED / ON_LEAVE → DEPARTED, and departure,
//! which returns every lead the rep holds to the pool, first in line, in the
//! same transaction. Each takes the rep's row to change it (first in the
//! lock order).

use crate::domain::ids::PersonId;
use chrono::{DateTime, Utc};
use tiejun_platform::stored::Stored as _;
use tiejun_platform::{auth::Principal, clock::to_proto, db::Tx, error::Error, outbox};
use tiejun_proto::{
    events::v1::{RepHired, event_envelope::Payload},
    leads::v1::{RepStatus, TransitionRule},
};

use super::resolve::PRODUCER;
use crate::{
    domain::{
        access,
        rep::{NewRep, allowed_from},
        rules::RETURNED_PRIORITY,
    },
    store::{
        leads,
        reps::{self, Inserted, RepRow},
        transitions::{self, Release},
    },
};

/// Registers a new rep as ONBOARDING and emits RepHired; the same
/// registration again returns the rep as it is.
pub async fn register(tx: &mut Tx, now: DateTime<Utc>, principal: &Principal, new: &NewRep) -> Result<RepRow, Error> {
    access::may_manage(principal, &new.team)?;
    match reps::insert(tx, new, now).await? {
        Inserted::Created(row) => {
            let event = RepHired {
                person_id: row.person_id.to_string(),
                name: row.name.clone(),
                team: row.team.clone(),
                city: row.city.clone(),
                hired_at: Some(to_proto(now)),
            };
            outbox::append(tx, PRODUCER, &row.person_id, Payload::RepHired(event), now).await?;
            tracing::info!(person_id = %row.person_id, team = %row.team, "rep registered");
            Ok(row)
        }
        Inserted::Existing(row) => Ok(row),
    }
}

/// The rep, locked to change, or NOT_FOUND; a team-limited manager only for
/// their own team.
async fn lock_managed(tx: &mut Tx, principal: &Principal, person_id: &PersonId) -> Result<RepRow, Error> {
    let rep = reps::lock_for_change(tx, person_id)
        .await?
        .ok_or_else(|| Error::missing(person_id))?;
    access::may_manage(principal, &rep.team)?;
    Ok(rep)
}

/// Sets a rep's daily quota (validated by the caller, `domain::rep::quota`).
pub async fn set_quota(
    tx: &mut Tx,
    now: DateTime<Utc>,
    principal: &Principal,
    person_id: &PersonId,
    quota: i32,
) -> Result<RepRow, Error> {
    lock_managed(tx, principal, person_id).await?;
    reps::set_quota(tx, person_id, quota, now)
        .await?
        .ok_or_else(|| Error::missing(person_id))
}

/// Moves a rep to `to` if they are in one of `from` (already `to`: no
/// change). `from` is the status machine's (`domain::rep::allowed_from`) or
/// narrower: ActivateRep starts from ONBOARDING only, ResumeRep from a
/// suspension only.
pub async fn change_status(
    tx: &mut Tx,
    now: DateTime<Utc>,
    principal: &Principal,
    person_id: &PersonId,
    from: &[RepStatus],
    to: RepStatus,
    reason: &str,
) -> Result<RepRow, Error> {
    let rep = lock_managed(tx, principal, person_id).await?;
    let status = rep.status.0;
    if status == to {
        return Ok(rep);
    }
    if !from.contains(&status) || !allowed_from(to).contains(&status) {
        return Err(Error::precondition(
            "REP_STATUS_TRANSITION",
            format!("a {} rep cannot become {}", status.stored(), to.stored()),
        ));
    }
    reps::set_status(tx, person_id, status, to, reason, now).await
}

/// A departure: every lead the rep holds back to the pool, first in line,
/// and the rep DEPARTED (already departed: nothing to do).
pub async fn depart(
    tx: &mut Tx,
    now: DateTime<Utc>,
    principal: &Principal,
    person_id: &PersonId,
    reason: &str,
) -> Result<(RepRow, usize), Error> {
    // The rep, so no claim or distribution gives them a lead now.
    let rep = lock_managed(tx, principal, person_id).await?;
    if rep.status == RepStatus::Departed {
        return Ok((rep, 0));
    }
    // Everything they hold; (in release) their pool.
    let held = leads::lock_held_by(tx, person_id).await?;
    for lead in &held {
        let release = Release {
            lead,
            rule: TransitionRule::OwnerDeparted,
            reason,
            actor: &principal.subject,
            cooldown: false,
            priority: RETURNED_PRIORITY,
            tell_owner: false,
        };
        transitions::release(tx, &release, now).await?;
    }
    let row = reps::set_status(tx, person_id, rep.status.0, RepStatus::Departed, reason, now).await?;
    tracing::info!(%person_id, leads_returned = held.len(), "rep departed");
    Ok((row, held.len()))
}
