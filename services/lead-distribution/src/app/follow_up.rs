//! The owner records a follow-up on a held lead; a call, visit or meeting
//! moves its deadline (DESIGN §4, follow-up deadline).

use crate::domain::ids::LeadId;
use chrono::{DateTime, Utc};
use tiejun_platform::{auth::Principal, clock, db::Tx, error::Error};
use tiejun_proto::leads::v1::FollowUpKind;

use crate::{
    domain::access,
    store::{
        leads::LeadRow,
        transitions::{self, FollowUp},
    },
};

/// A follow-up as the caller gave it, validated.
#[derive(Debug, Clone)]
pub struct Input {
    /// The lead.
    pub lead_id: LeadId,
    /// Call, visit, meeting or note.
    pub kind: FollowUpKind,
    /// When it happened (not after now + `clock::FUTURE_SKEW`).
    pub occurred_at: DateTime<Utc>,
    /// What was said.
    pub notes: String,
}

/// The owner records `input`.
pub async fn run(tx: &mut Tx, now: DateTime<Utc>, principal: &Principal, input: &Input) -> Result<LeadRow, Error> {
    clock::not_future("occurred_at", input.occurred_at, now)?;
    let lead = super::lock_lead(tx, &input.lead_id).await?;
    access::own_held(principal, lead.owner_person_id.as_ref())?;
    let held = lead
        .held()
        .ok_or_else(|| Error::precondition("LEAD_NOT_HELD", "the lead is not held"))?;
    if lead.assigned_at.is_some_and(|at| input.occurred_at < at) {
        return Err(Error::invalid(
            "occurred_at",
            "must not be before the lead was assigned to you",
        ));
    }
    let follow_up = FollowUp {
        lead: &lead,
        held,
        kind: input.kind,
        occurred_at: input.occurred_at,
        notes: &input.notes,
    };
    transitions::follow_up(tx, &follow_up, now).await
}
