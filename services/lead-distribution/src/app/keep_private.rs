//! The owner keeps an ASSIGNED lead in the private pool; at the cap, the
//! same call gives back as many own PRIVATE leads, in one swap (DESIGN §4,
//! private pool; the rule is `domain::private_pool`).

use crate::domain::ids::LeadId;
use chrono::{DateTime, Utc};
use tiejun_platform::{auth::Principal, db::Tx, error::Error};
use tiejun_proto::leads::v1::{LeadState, TransitionRule};

use crate::{
    domain::{access, private_pool},
    store::{
        leads::{self, LeadRow},
        private_pools,
        transitions::{self, Release},
    },
};

/// A keep as the caller asked for it, validated.
#[derive(Debug, Clone)]
pub struct Input {
    /// The ASSIGNED lead to keep.
    pub lead_id: LeadId,
    /// Own PRIVATE leads to give back in the same swap (distinct, not the kept one).
    pub release_lead_ids: Vec<LeadId>,
    /// Why they are given back (defaults to "swapped for <lead>").
    pub release_reason: String,
}

impl Input {
    /// Validates the request's fields.
    pub fn parse(lead_id: &str, releases: &[String], reason: &str) -> Result<Self, Error> {
        let lead_id = LeadId::required("lead_id", lead_id)?;
        let mut release_lead_ids: Vec<LeadId> = releases.iter().map(|s| LeadId::from(s.trim())).collect();
        release_lead_ids.sort_unstable();
        release_lead_ids.dedup();
        if release_lead_ids.contains(&lead_id) {
            return Err(Error::invalid(
                "release_lead_ids",
                "must not contain the lead being kept",
            ));
        }
        let release_reason = match reason.trim() {
            "" => format!("swapped for {lead_id}"),
            r => r.to_owned(),
        };
        Ok(Self {
            lead_id,
            release_lead_ids,
            release_reason,
        })
    }
}

/// What a keep did.
#[derive(Debug, Clone)]
pub struct Kept {
    /// The lead, now PRIVATE.
    pub lead: LeadRow,
    /// The leads given back.
    pub released: Vec<LeadId>,
    /// The pool's size after the swap.
    pub pool_size: i32,
}

/// The caller keeps `input.lead_id`, giving back `input.release_lead_ids`.
pub async fn run(tx: &mut Tx, now: DateTime<Utc>, principal: &Principal, input: &Input) -> Result<Kept, Error> {
    let me = access::own_rep_id(principal)?.to_owned();
    // The kept lead and the released ones, in lead_id order (the lock order).
    let mut ids: Vec<&LeadId> = input.release_lead_ids.iter().collect();
    ids.push(&input.lead_id);
    let rows = leads::lock_many(tx, &ids).await?;
    let kept = rows
        .iter()
        .find(|r| r.lead_id == input.lead_id)
        .ok_or_else(|| Error::missing(&input.lead_id))?;
    access::own_held(principal, kept.owner_person_id.as_ref())?;
    if kept.state != LeadState::Assigned {
        return Err(Error::precondition(
            "LEAD_NOT_ASSIGNED",
            "only an ASSIGNED lead can be kept private",
        ));
    }
    let mut released = Vec::with_capacity(input.release_lead_ids.len());
    for id in &input.release_lead_ids {
        match rows.iter().find(|r| r.lead_id == *id) {
            Some(r) if r.owner_person_id.as_deref() == Some(me.as_str()) && r.state == LeadState::Private => {
                released.push(r)
            }
            _ => {
                return Err(Error::invalid(
                    "release_lead_ids",
                    format!("{id} is not one of your PRIVATE leads"),
                ));
            }
        }
    }
    // The pool's row, last in the lock order, then the rule.
    let size = private_pools::lock(tx, &me).await?;
    let after = private_pool::keep_one(size, released.len()).map_err(|full| full.error())?;
    for lead in released {
        let release = Release {
            lead,
            rule: TransitionRule::PrivateSwap,
            reason: &input.release_reason,
            actor: &principal.subject,
            cooldown: true,
            priority: 0,
            tell_owner: false,
        };
        transitions::release(tx, &release, now).await?;
    }
    let lead = transitions::keep_private(tx, kept, now).await?;
    Ok(Kept {
        lead,
        released: input.release_lead_ids.clone(),
        pool_size: after,
    })
}
