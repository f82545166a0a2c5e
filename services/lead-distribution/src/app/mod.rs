//! The use cases of lead distribution, one module each. A use case takes the
//! transaction, the clock's now, who acts and validated input, and returns
//! what happened. gRPC handlers decode, authorise, call one use case and
//! encode; the background jobs and the event consumers call the same
//! functions, so a rule runs the same way whoever triggers it.
//!
//! # Lock order
//!
//! Every write transaction of this service takes its row locks in this
//! order and never goes back to an earlier level:
//!
//! 0. the call's own singletons: a job's advisory lock (distribution,
//!    sweep), the idempotency key, the event's inbox row;
//! 1. `reps`, by person_id: `FOR SHARE` to rely on a rep's status and quota
//!    while giving them a lead (claim, distribution, handover, reassign,
//!    renewal), `FOR NO KEY UPDATE` to change them (status, quota,
//!    departure);
//! 2. `leads`, by lead_id: batch work (distribution, sweep, warnings) takes
//!    them `SKIP LOCKED` and so never waits on a lead;
//! 3. `rep_days`, by person_id: the day's counters the quota and the claim
//!    limit are enforced on;
//! 4. `private_pools`, by person_id;
//! 5. then only rows no other transaction can hold: inserts into
//!    append-only tables (assignments, history, feeds, outbox) and the rows
//!    of a lead already locked (its ownership period, its cooldowns).
//!
//! | use case | 1 `reps` | 2 `leads` | 3 `rep_days` | 4 `private_pools` |
//! |---|---|---|---|---|
//! | [`claim`] | the rep, share | the lead | the rep's | |
//! | [`distribute`] | every ACTIVE rep, share | the pool, skip locked | theirs | |
//! | [`sweep`] | every ACTIVE rep, share (when a lead is due) | warned and due leads, skip locked | theirs | the owners' of reclaimed PRIVATE leads |
//! | [`reassign`] | the new owner, share | the lead | the new owner's | the old owner's (PRIVATE) |
//! | [`keep_private`] | | the lead and the released ones | | the rep's |
//! | [`release`], [`resolve`] | | the lead | | the owner's (PRIVATE) |
//! | [`follow_up`] | | the lead | | |
//! | [`reps::depart`] | the rep, no key update | the rep's held leads | | the rep's |
//! | [`reps`] (status, quota), [`consume::onboarded`] | the rep, no key update | | | |
//! | [`consume::renewal`] | the seller, share | the new lead | | |
//!
//! Two transactions deadlock only when each waits for a lock the other
//! holds; with one order, the one holding the later lock never waits for an
//! earlier one, so the wait cannot close a circle. The lead comes before
//! the day row so that a claim can lock its lead, check it and only then
//! take a place in the day, in one statement that never applies half a
//! claim (`store::claim`). Foreign-key checks cannot invert the order:
//! inserting or updating a row that references `reps` or `leads` takes
//! `FOR KEY SHARE` on the referenced row, which conflicts only with
//! `FOR UPDATE` and with a change to a key. Nothing here takes `FOR UPDATE`
//! on a rep or a lead (changes take `FOR NO KEY UPDATE`, as a plain UPDATE
//! that changes no key does), no key ever changes and no rep or lead is
//! deleted, so a foreign-key check never waits.
//!
//! SQLite has one writer at a time (`BEGIN IMMEDIATE`), so nothing can
//! deadlock there; the same code runs on both.

pub mod claim;
pub mod consume;
pub mod distribute;
pub mod follow_up;
pub mod intake;
pub mod keep_private;
pub mod reassign;
pub mod release;
pub mod reps;
pub mod resolve;
pub mod scope;
pub mod sweep;

use crate::domain::ids::{LeadId, PersonId};
use tiejun_platform::{auth::Principal, clock, db::Tx, error::Error};

use crate::{
    domain::access,
    store::{leads, leads::LeadRow, reps as rep_rows},
};

/// Who acts when no caller does (the scheduler, the sweep job, a consumer).
pub const SYSTEM: &str = "system";

/// The business day of `now`, stored form.
pub fn business_day(now: chrono::DateTime<chrono::Utc>) -> String {
    clock::business_day(now, clock::DEFAULT_ZONE).to_string()
}

/// The lead, locked, or NOT_FOUND.
pub(crate) async fn lock_lead(tx: &mut Tx, lead_id: &LeadId) -> Result<LeadRow, Error> {
    leads::lock(tx, lead_id).await?.ok_or_else(|| Error::missing(lead_id))
}

/// The owner of a held `lead`, when the caller may act on it: its owner
/// themself, or staff for them (a team-limited manager only within their
/// team). The one rule for releasing, converting and closing a held lead.
pub(crate) async fn owner_for_caller(tx: &mut Tx, principal: &Principal, lead: &LeadRow) -> Result<PersonId, Error> {
    let owner = access::owner_or_staff(principal, lead.owner_person_id.as_ref())?;
    owner_in_managed_team(tx, principal, &owner).await?;
    Ok(owner)
}

/// A team-limited manager may act on a held lead only if its owner is in
/// their team (a rep's team never changes, so it is read without a lock).
pub(crate) async fn owner_in_managed_team(tx: &mut Tx, principal: &Principal, owner: &PersonId) -> Result<(), Error> {
    if access::managed_team(principal).is_none() || principal.rep_id.as_deref() == Some(owner.as_str()) {
        return Ok(());
    }
    let team = rep_rows::team_of(tx, owner)
        .await?
        .ok_or_else(|| Error::missing(owner))?;
    access::may_manage(principal, &team)
}
