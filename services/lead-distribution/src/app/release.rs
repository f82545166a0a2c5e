//! A held lead goes back to the pool: by its owner, or by staff for them,
//! with a reason (DESIGN §4). The owner may not receive it again within the
//! cooldown.

use crate::domain::ids::LeadId;
use chrono::{DateTime, Utc};
use tiejun_platform::{auth::Principal, db::Tx, error::Error};
use tiejun_proto::leads::v1::TransitionRule;

use crate::{
    domain::lead::text,
    store::{
        leads::LeadRow,
        transitions::{self, Release},
    },
};

/// A required free-text reason (1–500 characters).
pub fn reason(field: &str, raw: &str) -> Result<String, Error> {
    text(raw, 1, 500).map_err(|e| Error::invalid(field, e))
}

/// The caller returns `lead_id` to the pool for `reason`.
pub async fn run(
    tx: &mut Tx,
    now: DateTime<Utc>,
    principal: &Principal,
    lead_id: &LeadId,
    reason: &str,
) -> Result<LeadRow, Error> {
    let lead = super::lock_lead(tx, lead_id).await?;
    super::owner_for_caller(tx, principal, &lead).await?;
    let release = Release {
        lead: &lead,
        rule: TransitionRule::Release,
        reason,
        actor: &principal.subject,
        cooldown: true,
        priority: 0,
        tell_owner: false,
    };
    transitions::release(tx, &release, now).await
}
