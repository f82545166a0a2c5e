//! A rep claims one lead from the pool (DESIGN §4, self-claim). The rule is
//! `domain::claim`; the database applies it in one statement on PostgreSQL
//! (`store::claim`), taking the rep, the lead and the rep's day row in the
//! lock order; without an idempotency key that statement is the whole call.

use crate::domain::ids::LeadId;
use chrono::{DateTime, Utc};
use tiejun_platform::{auth::Principal, db::Writer, error::Error};

use crate::{
    domain::{access, claim::claims_left},
    store::{
        claim::{self, Claim},
        leads::LeadRow,
    },
};

/// A claim that went through.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The lead, now the rep's.
    pub lead: LeadRow,
    /// Claims the rep has left today.
    pub claims_left: i32,
}

/// The caller (a rep) claims `lead_id`, through `w` (a transaction, or
/// autocommit when the call has no idempotency key).
pub async fn run(w: Writer<'_>, now: DateTime<Utc>, principal: &Principal, lead_id: &LeadId) -> Result<Claimed, Error> {
    let me = access::own_rep_id(principal)?;
    let day = super::business_day(now);
    let c = Claim {
        person_id: &me,
        lead_id,
        business_day: &day,
        actor: &principal.subject,
    };
    match claim::apply(w, &c, now).await? {
        Ok(claimed) => {
            crate::metrics::assigned(1, "SELF_CLAIM");
            Ok(Claimed {
                lead: claimed.lead,
                claims_left: claims_left(claimed.claimed_today),
            })
        }
        Err(refusal) => Err(refusal.error(&me, lead_id)),
    }
}
