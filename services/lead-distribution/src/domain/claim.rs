//! A rep claiming one lead from the pool (DESIGN §4, self-claim): who may,
//! which lead, and the two daily limits. This is the rule; the store applies
//! a claim only when the same predicate holds on the rows it has locked
//! (`store::claim`), and a test holds the two to each other on both
//! databases.

use crate::domain::ids::{LeadId, PersonId};
use tiejun_platform::error::Error;
use tiejun_proto::leads::v1::{LeadState, RepStatus};

use super::rules::{CLAIMS_PER_DAY, COOLDOWN, days};

/// What a claim is decided on, read together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimFacts {
    /// The claiming rep's status and daily quota, if the rep exists.
    pub rep: Option<(RepStatus, i32)>,
    /// The lead's state, if the lead exists.
    pub lead: Option<LeadState>,
    /// The rep lost this lead within the cooldown.
    pub cooling: bool,
    /// The rep's claims today.
    pub claimed_today: i32,
    /// What the rep received today (distributed + claimed).
    pub received_today: i32,
}

/// Why a claim is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRefusal {
    /// No such rep.
    UnknownRep,
    /// Only ACTIVE reps claim.
    RepNotActive,
    /// No such lead.
    UnknownLead,
    /// Someone holds it, or it is resolved.
    NotInPool,
    /// The rep lost it within the cooldown.
    InCooldown,
    /// [`CLAIMS_PER_DAY`] claims already today.
    ClaimLimit,
    /// The rep received their quota today.
    QuotaExhausted {
        /// The rep's daily quota.
        quota: i32,
    },
}

/// The claim rule: `Ok` when the rep may take the lead now.
pub fn check(f: &ClaimFacts) -> Result<(), ClaimRefusal> {
    let (status, quota) = f.rep.ok_or(ClaimRefusal::UnknownRep)?;
    if status != RepStatus::Active {
        return Err(ClaimRefusal::RepNotActive);
    }
    match f.lead {
        None => return Err(ClaimRefusal::UnknownLead),
        Some(LeadState::Pool) => {}
        Some(_) => return Err(ClaimRefusal::NotInPool),
    }
    if f.cooling {
        return Err(ClaimRefusal::InCooldown);
    }
    if f.claimed_today >= CLAIMS_PER_DAY {
        return Err(ClaimRefusal::ClaimLimit);
    }
    if f.received_today >= quota {
        return Err(ClaimRefusal::QuotaExhausted { quota });
    }
    Ok(())
}

/// Claims left today after a claim that brought the count to `claimed_today`.
pub fn claims_left(claimed_today: i32) -> i32 {
    (CLAIMS_PER_DAY - claimed_today).max(0)
}

impl ClaimRefusal {
    /// The error a caller sees, with its reason.
    pub fn error(self, person_id: &PersonId, lead_id: &LeadId) -> Error {
        match self {
            Self::UnknownRep => Error::missing(person_id),
            Self::UnknownLead => Error::missing(lead_id),
            Self::RepNotActive => Error::precondition("REP_NOT_ACTIVE", "only ACTIVE reps claim leads"),
            Self::NotInPool => Error::precondition("LEAD_NOT_IN_POOL", "the lead is no longer in the pool"),
            Self::InCooldown => Error::precondition(
                "LEAD_IN_COOLDOWN",
                format!("you lost this lead less than {} days ago", days(COOLDOWN)),
            ),
            Self::ClaimLimit => Error::precondition(
                "DAILY_CLAIM_LIMIT",
                format!("at most {CLAIMS_PER_DAY} claims per business day"),
            ),
            Self::QuotaExhausted { quota } => Error::precondition(
                "DAILY_QUOTA_EXHAUSTED",
                format!("you have received your {quota} leads for today"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimable() -> ClaimFacts {
        ClaimFacts {
            rep: Some((RepStatus::Active, 40)),
            lead: Some(LeadState::Pool),
            cooling: false,
            claimed_today: 0,
            received_today: 0,
        }
    }

    #[test]
    fn an_active_rep_claims_a_pool_lead() {
        assert_eq!(check(&claimable()), Ok(()));
        assert_eq!(claims_left(1), CLAIMS_PER_DAY - 1);
    }

    #[test]
    fn the_first_rule_broken_is_the_reason() {
        let mut f = claimable();
        f.rep = Some((RepStatus::Paused, 40));
        f.lead = Some(LeadState::Assigned);
        assert_eq!(check(&f), Err(ClaimRefusal::RepNotActive));
        f.rep = Some((RepStatus::Active, 40));
        assert_eq!(check(&f), Err(ClaimRefusal::NotInPool));
        f.lead = Some(LeadState::Pool);
        f.cooling = true;
        f.claimed_today = CLAIMS_PER_DAY;
        assert_eq!(check(&f), Err(ClaimRefusal::InCooldown));
    }

    #[test]
    fn claims_stop_at_the_daily_limit_and_at_the_quota() {
        let mut f = claimable();
        f.claimed_today = CLAIMS_PER_DAY - 1;
        f.received_today = 39;
        assert_eq!(check(&f), Ok(()));
        f.received_today = 40;
        assert_eq!(check(&f), Err(ClaimRefusal::QuotaExhausted { quota: 40 }));
        f.claimed_today = CLAIMS_PER_DAY;
        assert_eq!(check(&f), Err(ClaimRefusal::ClaimLimit));
    }
}
