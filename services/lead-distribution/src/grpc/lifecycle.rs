//! A lead's life after intake: distribution and the sweep on demand, claims,
//! follow-ups, the private pool swap, release, conversion, closing and
//! manager reassignment. Every change is one transaction.

use chrono::{DateTime, NaiveDate, Utc};
use tiejun_platform::{
    auth::Principal,
    clock::{self, DEFAULT_ZONE, from_proto, to_proto},
    db::Tx,
    error::Error,
    idempotency, outbox,
};
use tiejun_proto::{
    events::v1::{LeadConverted, event_envelope::Payload},
    leads::v1::{
        ClaimLeadRequest, ClaimLeadResponse, CloseLeadRequest, CloseLeadResponse, ConvertLeadRequest,
        ConvertLeadResponse, FollowUpKind, KeepPrivateRequest, KeepPrivateResponse, LeadReclaimed, LeadState,
        ReassignLeadRequest, ReassignLeadResponse, RecordFollowUpRequest, RecordFollowUpResponse, ReleaseLeadRequest,
        ReleaseLeadResponse, RepStatus, RunDistributionRequest, RunDistributionResponse, RunReclaimSweepRequest,
        RunReclaimSweepResponse, TransitionRule, WatchRepEventsResponse, watch_rep_events_response::Event,
    },
};

use super::{Leads, PRODUCER, access};
use crate::{
    convert,
    domain::{lead::text, rep::status_from_name},
    store::{
        days::{self, ClaimRefused},
        distribution::{self, assigned_event},
        events,
        holding::{self, Assignment, FollowUp, Release, Resolution},
        leads::{self, LeadRow},
        reps,
        sweep::{self, held},
    },
};

/// Follow-ups may be dated this far ahead of the server's clock (clock skew).
const FUTURE_SKEW: chrono::Duration = chrono::Duration::minutes(1);

fn required_reason(field: &str, raw: &str) -> Result<String, Error> {
    text(raw, 1, 500).map_err(|e| Error::invalid(field, e))
}

fn lead_id(raw: &str) -> Result<&str, Error> {
    let id = raw.trim();
    if id.is_empty() {
        Err(Error::invalid("lead_id", "is required"))
    } else {
        Ok(id)
    }
}

async fn lock_lead(tx: &mut Tx, id: &str) -> Result<LeadRow, Error> {
    leads::lock(tx, id).await?.ok_or_else(|| Error::not_found("lead", id))
}

/// The caller's own held lead, or why not.
fn own_held(principal: &Principal, row: &LeadRow) -> Result<String, Error> {
    let me = access::own_rep_id(principal)?;
    match row.owner_person_id.as_deref() {
        Some(owner) if owner == me => Ok(me.to_owned()),
        Some(_) => Err(Error::PermissionDenied("this lead belongs to another rep".into())),
        None => Err(Error::precondition(
            "LEAD_NOT_HELD",
            "the lead is not assigned to anyone",
        )),
    }
}

/// The owner of a held lead the caller may act on: its owner, or staff.
fn held_by_owner_or_staff(principal: &Principal, row: &LeadRow) -> Result<String, Error> {
    match row.owner_person_id.as_deref() {
        Some(owner) if access::is_staff(principal) => Ok(owner.to_owned()),
        _ => own_held(principal, row),
    }
}

/// A team-limited manager may act on a held lead only if its owner is in their team.
async fn owner_in_managed_team(tx: &mut Tx, principal: &Principal, owner: &str) -> Result<(), Error> {
    if access::managed_team(principal).is_none() || principal.rep_id.as_deref() == Some(owner) {
        return Ok(());
    }
    let rep = reps::get_for_update(tx, owner)
        .await?
        .ok_or_else(|| Error::not_found("rep", owner))?;
    access::may_manage(principal, &rep.team)
}

impl Leads {
    fn today(&self) -> NaiveDate {
        clock::business_day(self.clock.now(), DEFAULT_ZONE)
    }

    pub(super) async fn run_distribution_rpc(
        &self,
        r: &RunDistributionRequest,
    ) -> Result<RunDistributionResponse, Error> {
        let today = self.today();
        let day = match r.business_day.trim() {
            "" => today,
            raw => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map_err(|_| Error::invalid("business_day", "must be YYYY-MM-DD"))?,
        };
        if day != today {
            return Err(Error::invalid(
                "business_day",
                format!("only today's distribution ({today}) can run"),
            ));
        }
        let db = self.db.get()?;
        let mut tx = db.begin().await?;
        let run = distribution::run(&mut tx, day, "ON_DEMAND", self.clock.now()).await?;
        tx.commit().await?;
        crate::metrics::assigned(run.leads_assigned, "DISTRIBUTION");
        tracing::info!(run_id = %run.run_id, day = %run.business_day, assigned = run.leads_assigned, "distribution ran");
        Ok(RunDistributionResponse {
            run_id: run.run_id,
            business_day: run.business_day,
            rotation_seed: run.seed,
            reps_served: run.reps_served,
            leads_assigned: run.leads_assigned,
            reps_short: run.reps_short,
        })
    }

    pub(super) async fn run_sweep_rpc(&self, _: &RunReclaimSweepRequest) -> Result<RunReclaimSweepResponse, Error> {
        let db = self.db.get()?;
        let mut tx = db.begin().await?;
        let s = sweep::run(&mut tx, self.clock.now(), self.today(), &self.instance).await?;
        tx.commit().await?;
        crate::metrics::reclaimed(s.leads_reclaimed);
        Ok(RunReclaimSweepResponse {
            warnings_sent: s.warnings_sent,
            leads_reclaimed: s.leads_reclaimed,
            leads_reassigned: s.leads_reassigned,
            leads_pooled: s.leads_pooled,
        })
    }

    pub(super) async fn claim_rpc(
        &self,
        principal: &Principal,
        r: &ClaimLeadRequest,
    ) -> Result<ClaimLeadResponse, Error> {
        let me = access::own_rep_id(principal)?.to_owned();
        let id = lead_id(&r.lead_id)?;
        let key = idempotency::Key::of(&me, "ClaimLead", &r.idempotency_key, r)?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let day = self.today().to_string();
        let mut tx = db.begin().await?;
        if let Some(key) = &key
            && let Some(first) = key.replay(&mut tx, now).await?
        {
            return Ok(first);
        }
        let rep = reps::get_for_update(&mut tx, &me)
            .await?
            .ok_or_else(|| Error::not_found("rep", &me))?;
        if status_from_name(&rep.status) != RepStatus::Active {
            return Err(Error::precondition("REP_NOT_ACTIVE", "only ACTIVE reps claim leads"));
        }
        let row = lock_lead(&mut tx, id).await?;
        if row.state != "POOL" {
            return Err(Error::precondition(
                "LEAD_NOT_IN_POOL",
                "the lead is no longer in the pool",
            ));
        }
        if in_cooldown(&mut tx, id, &me, now).await? {
            return Err(Error::precondition(
                "LEAD_IN_COOLDOWN",
                "you lost this lead less than 30 days ago",
            ));
        }
        let left = match days::take_claim(&mut tx, &me, &day, rep.daily_quota).await? {
            Ok(left) => left,
            Err(ClaimRefused::ClaimLimit) => {
                return Err(Error::precondition(
                    "DAILY_CLAIM_LIMIT",
                    "at most 10 claims per business day",
                ));
            }
            Err(ClaimRefused::QuotaExhausted) => {
                return Err(Error::precondition(
                    "DAILY_QUOTA_EXHAUSTED",
                    format!("you have received your {} leads for today", rep.daily_quota),
                ));
            }
        };
        let assignment = Assignment {
            lead_id: id,
            person_id: &me,
            business_day: &day,
            rule: TransitionRule::SelfClaim,
            run_id: None,
            position: None,
            reason: "claimed from the pool",
            actor: &principal.subject,
        };
        holding::assign(&mut tx, &assignment, now).await?;
        let row = lock_lead(&mut tx, id).await?;
        events::push(
            &mut tx,
            &me,
            &assigned_event(row.clone(), TransitionRule::SelfClaim, now),
            now,
        )
        .await?;
        let response = ClaimLeadResponse {
            lead: Some(convert::lead(row, true)),
            claims_left_today: left,
        };
        if let Some(key) = &key {
            key.record(&mut tx, &response).await?;
        }
        tx.commit().await?;
        crate::metrics::assigned(1, "SELF_CLAIM");
        Ok(response)
    }

    pub(super) async fn follow_up_rpc(
        &self,
        principal: &Principal,
        r: &RecordFollowUpRequest,
    ) -> Result<RecordFollowUpResponse, Error> {
        let id = lead_id(&r.lead_id)?;
        let kind = match FollowUpKind::try_from(r.kind) {
            Ok(FollowUpKind::Unspecified) | Err(_) => {
                return Err(Error::invalid("kind", "CALL, VISIT, MEETING or NOTE"));
            }
            Ok(kind) => kind,
        };
        let notes = text(&r.notes, 0, 2000).map_err(|e| Error::invalid("notes", e))?;
        let now = self.clock.now();
        let occurred_at = match &r.occurred_at {
            None => now,
            Some(ts) => from_proto(ts).ok_or_else(|| Error::invalid("occurred_at", "not a valid instant"))?,
        };
        if occurred_at > now + FUTURE_SKEW {
            return Err(Error::invalid("occurred_at", "must not be in the future"));
        }
        let db = self.db.get()?;
        let mut tx = db.begin().await?;
        let row = lock_lead(&mut tx, id).await?;
        let me = own_held(principal, &row)?;
        let held = held(&row).ok_or_else(|| Error::precondition("LEAD_NOT_HELD", "the lead is not held"))?;
        if row.assigned_at.is_some_and(|at| occurred_at < at) {
            return Err(Error::invalid(
                "occurred_at",
                "must not be before the lead was assigned to you",
            ));
        }
        let follow_up = FollowUp {
            lead_id: id,
            owner: &me,
            held,
            previous: row.last_follow_up_at,
            kind,
            occurred_at,
            notes: &notes,
        };
        holding::follow_up(&mut tx, &follow_up, now).await?;
        let row = lock_lead(&mut tx, id).await?;
        tx.commit().await?;
        Ok(RecordFollowUpResponse {
            lead: Some(convert::lead(row, true)),
        })
    }

    pub(super) async fn keep_private_rpc(
        &self,
        principal: &Principal,
        r: &KeepPrivateRequest,
    ) -> Result<KeepPrivateResponse, Error> {
        let id = lead_id(&r.lead_id)?;
        let mut releases: Vec<&str> = r.release_lead_ids.iter().map(|s| s.trim()).collect();
        releases.sort_unstable();
        releases.dedup();
        if releases.contains(&id) {
            return Err(Error::invalid(
                "release_lead_ids",
                "must not contain the lead being kept",
            ));
        }
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        let me = access::own_rep_id(principal)?.to_owned();
        // The rep row first: concurrent swaps by one rep queue here.
        let rep = reps::get_for_update(&mut tx, &me)
            .await?
            .ok_or_else(|| Error::not_found("rep", &me))?;
        let row = lock_lead(&mut tx, id).await?;
        own_held(principal, &row)?;
        if row.state != "ASSIGNED" {
            return Err(Error::precondition(
                "LEAD_NOT_ASSIGNED",
                "only an ASSIGNED lead can be kept private",
            ));
        }
        let mut released_rows = Vec::new();
        for rid in &releases {
            let released = lock_lead(&mut tx, rid).await?;
            if released.owner_person_id.as_deref() != Some(me.as_str()) || released.state != "PRIVATE" {
                return Err(Error::invalid(
                    "release_lead_ids",
                    format!("{rid} is not one of your PRIVATE leads"),
                ));
            }
            released_rows.push(released);
        }
        let cap = 30;
        let after = rep.private_count + 1 - releases.len() as i32;
        if after > cap {
            let needed = after - cap;
            return Err(Error::precondition(
                "PRIVATE_POOL_FULL",
                format!("your private pool is at its cap of {cap}: release {needed} lead(s) to keep this one"),
            ));
        }
        let reason = if r.release_reason.trim().is_empty() {
            format!("swapped for {id}")
        } else {
            r.release_reason.trim().to_owned()
        };
        for released in &released_rows {
            let release = Release {
                lead_id: &released.lead_id,
                owner: &me,
                from: LeadState::Private,
                rule: TransitionRule::PrivateSwap,
                reason: &reason,
                actor: &principal.subject,
                cooldown: true,
                priority: 0,
            };
            holding::release(&mut tx, &release, now).await?;
        }
        holding::keep_private(&mut tx, id, &me, row.last_follow_up_at, now).await?;
        let row = lock_lead(&mut tx, id).await?;
        let size = reps::get_for_update(&mut tx, &me)
            .await?
            .map(|r| r.private_count)
            .unwrap_or_default();
        tx.commit().await?;
        Ok(KeepPrivateResponse {
            lead: Some(convert::lead(row, true)),
            released_lead_ids: releases.iter().map(|s| (*s).to_owned()).collect(),
            private_pool_size: size,
        })
    }

    pub(super) async fn release_rpc(
        &self,
        principal: &Principal,
        r: &ReleaseLeadRequest,
    ) -> Result<ReleaseLeadResponse, Error> {
        let id = lead_id(&r.lead_id)?;
        let reason = required_reason("reason", &r.reason)?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        let row = lock_lead(&mut tx, id).await?;
        let owner = held_by_owner_or_staff(principal, &row)?;
        owner_in_managed_team(&mut tx, principal, &owner).await?;
        let release = Release {
            lead_id: id,
            owner: &owner,
            from: convert::lead_state(&row.state),
            rule: TransitionRule::Release,
            reason: &reason,
            actor: &principal.subject,
            cooldown: true,
            priority: 0,
        };
        holding::release(&mut tx, &release, now).await?;
        let row = lock_lead(&mut tx, id).await?;
        tx.commit().await?;
        Ok(ReleaseLeadResponse {
            lead: Some(convert::lead(row, false)),
        })
    }

    pub(super) async fn convert_rpc(
        &self,
        principal: &Principal,
        r: &ConvertLeadRequest,
    ) -> Result<ConvertLeadResponse, Error> {
        let id = lead_id(&r.lead_id)?;
        let notes = text(&r.notes, 0, 2000).map_err(|e| Error::invalid("notes", e))?;
        let key = idempotency::Key::of(&principal.subject, "ConvertLead", &r.idempotency_key, r)?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        if let Some(key) = &key
            && let Some(first) = key.replay(&mut tx, now).await?
        {
            return Ok(first);
        }
        let row = lock_lead(&mut tx, id).await?;
        let owner = held_by_owner_or_staff(principal, &row)?;
        owner_in_managed_team(&mut tx, principal, &owner).await?;
        let from = convert::lead_state(&row.state);
        let reason = if notes.is_empty() { "converted" } else { notes.as_str() };
        let resolution = Resolution {
            lead_id: id,
            owner: Some(&owner),
            from,
            to: LeadState::Converted,
            reason,
            actor: &principal.subject,
        };
        holding::resolve(&mut tx, &resolution, now).await?;
        let event = LeadConverted {
            lead_id: id.to_owned(),
            person_id: owner.clone(),
            company_name: row.company_name.clone(),
            contact_name: row.contact_name.clone(),
            phone: row.phone.clone(),
            email: row.email.clone(),
            city: row.city.clone(),
            converted_at: Some(to_proto(now)),
        };
        outbox::append(&mut tx, PRODUCER, id, Payload::LeadConverted(event), now).await?;
        let row = lock_lead(&mut tx, id).await?;
        let response = ConvertLeadResponse {
            lead: Some(convert::lead(row, true)),
        };
        if let Some(key) = &key {
            key.record(&mut tx, &response).await?;
        }
        tx.commit().await?;
        crate::metrics::converted();
        tracing::info!(lead_id = %id, person_id = %owner, "lead converted");
        Ok(response)
    }

    pub(super) async fn close_rpc(
        &self,
        principal: &Principal,
        r: &CloseLeadRequest,
    ) -> Result<CloseLeadResponse, Error> {
        let id = lead_id(&r.lead_id)?;
        let reason = required_reason("reason", &r.reason)?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        let row = lock_lead(&mut tx, id).await?;
        let from = convert::lead_state(&row.state);
        let owner = match from {
            LeadState::Pool if access::is_staff(principal) => None,
            LeadState::Pool => return Err(Error::PermissionDenied("only staff close a pool lead".into())),
            LeadState::Assigned | LeadState::Private => {
                let owner = held_by_owner_or_staff(principal, &row)?;
                owner_in_managed_team(&mut tx, principal, &owner).await?;
                Some(owner)
            }
            _ => {
                return Err(Error::precondition(
                    "LEAD_RESOLVED",
                    "the lead is already converted or closed",
                ));
            }
        };
        let resolution = Resolution {
            lead_id: id,
            owner: owner.as_deref(),
            from,
            to: LeadState::Closed,
            reason: &reason,
            actor: &principal.subject,
        };
        holding::resolve(&mut tx, &resolution, now).await?;
        let row = lock_lead(&mut tx, id).await?;
        tx.commit().await?;
        Ok(CloseLeadResponse {
            lead: Some(convert::lead(row, true)),
        })
    }

    pub(super) async fn reassign_rpc(
        &self,
        principal: &Principal,
        r: &ReassignLeadRequest,
    ) -> Result<ReassignLeadResponse, Error> {
        let id = lead_id(&r.lead_id)?;
        let reason = required_reason("reason", &r.reason)?;
        let to = crate::domain::rep::person_id(&r.to_person_id).map_err(|e| Error::invalid("to_person_id", e))?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let day = self.today().to_string();
        let mut tx = db.begin().await?;
        let rep = reps::get_for_update(&mut tx, &to)
            .await?
            .ok_or_else(|| Error::not_found("rep", &to))?;
        if status_from_name(&rep.status) != RepStatus::Active {
            return Err(Error::precondition("REP_NOT_ACTIVE", "leads go to ACTIVE reps only"));
        }
        access::may_manage(principal, &rep.team)?;
        let row = lock_lead(&mut tx, id).await?;
        let from = convert::lead_state(&row.state);
        if let Some(owner) = row.owner_person_id.as_deref() {
            owner_in_managed_team(&mut tx, principal, owner).await?;
            if owner == to {
                return Err(Error::precondition("ALREADY_OWNER", "the rep already holds this lead"));
            }
            let release = Release {
                lead_id: id,
                owner,
                from,
                rule: TransitionRule::ManagerReassign,
                reason: &reason,
                actor: &principal.subject,
                cooldown: false,
                priority: 0,
            };
            holding::release(&mut tx, &release, now).await?;
            let lost = WatchRepEventsResponse {
                occurred_at: Some(to_proto(now)),
                event: Some(Event::Reclaimed(LeadReclaimed {
                    lead_id: id.to_owned(),
                    rule: TransitionRule::ManagerReassign as i32,
                })),
            };
            events::push(&mut tx, owner, &lost, now).await?;
        } else if from != LeadState::Pool {
            return Err(Error::precondition(
                "LEAD_RESOLVED",
                "the lead is already converted or closed",
            ));
        }
        let assignment = Assignment {
            lead_id: id,
            person_id: &to,
            business_day: &day,
            rule: TransitionRule::ManagerReassign,
            run_id: None,
            position: None,
            reason: &reason,
            actor: &principal.subject,
        };
        holding::assign(&mut tx, &assignment, now).await?;
        days::ensure(&mut tx, std::slice::from_ref(&to), &day).await?;
        days::add_distributed(&mut tx, &to, &day, 1).await?;
        let row = lock_lead(&mut tx, id).await?;
        events::push(
            &mut tx,
            &to,
            &assigned_event(row.clone(), TransitionRule::ManagerReassign, now),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(ReassignLeadResponse {
            lead: Some(convert::lead(row, true)),
        })
    }
}

async fn in_cooldown(tx: &mut Tx, lead_id: &str, person_id: &str, now: DateTime<Utc>) -> Result<bool, Error> {
    let n: i64 = tiejun_platform::on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT count(*) FROM lead_cooldowns WHERE lead_id = $1 AND person_id = $2 AND until > $3"
    )
    .bind(lead_id)
    .bind(person_id)
    .bind(now)
    .fetch_one(c)
    .await?);
    Ok(n > 0)
}
