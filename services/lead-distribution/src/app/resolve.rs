//! Every lead ends converted or closed (DESIGN §4, resolution). Converting
//! emits LeadConverted through the outbox, in the same transaction.

use crate::domain::ids::LeadId;
use chrono::{DateTime, Utc};
use tiejun_platform::{auth::Principal, clock::to_proto, db::Tx, error::Error, outbox};
use tiejun_proto::{
    events::v1::{LeadConverted, event_envelope::Payload},
    leads::v1::LeadState,
};

use crate::{
    domain::access,
    store::{
        leads::LeadRow,
        transitions::{self, Resolution},
    },
};

/// The producer name on this service's events.
pub const PRODUCER: &str = "leads";

/// The owner (or staff for them) converts a held lead into a customer.
pub async fn convert(
    tx: &mut Tx,
    now: DateTime<Utc>,
    principal: &Principal,
    lead_id: &LeadId,
    notes: &str,
) -> Result<LeadRow, Error> {
    let lead = super::lock_lead(tx, lead_id).await?;
    let owner = super::owner_for_caller(tx, principal, &lead).await?;
    let resolution = Resolution {
        lead: &lead,
        to: LeadState::Converted,
        reason: if notes.is_empty() { "converted" } else { notes },
        actor: &principal.subject,
    };
    let row = transitions::resolve(tx, &resolution, now).await?;
    let event = LeadConverted {
        lead_id: lead.lead_id.to_string(),
        person_id: owner.to_string(),
        company_name: lead.company_name.clone(),
        contact_name: lead.contact_name.clone(),
        phone: lead.phone.clone(),
        email: lead.email.clone(),
        city: lead.city.clone(),
        converted_at: Some(to_proto(now)),
    };
    outbox::append(tx, PRODUCER, &lead.lead_id, Payload::LeadConverted(event), now).await?;
    crate::metrics::converted();
    tracing::info!(lead_id = %lead.lead_id, person_id = %owner, "lead converted");
    Ok(row)
}

/// Closes a lead for good: a held lead by its owner or staff, a pool lead by
/// staff only.
pub async fn close(
    tx: &mut Tx,
    now: DateTime<Utc>,
    principal: &Principal,
    lead_id: &LeadId,
    reason: &str,
) -> Result<LeadRow, Error> {
    let lead = super::lock_lead(tx, lead_id).await?;
    match lead.state.0 {
        LeadState::Pool if access::is_staff(principal) => {}
        LeadState::Pool => return Err(Error::PermissionDenied("only staff close a pool lead".into())),
        LeadState::Assigned | LeadState::Private => {
            super::owner_for_caller(tx, principal, &lead).await?;
        }
        _ => {
            return Err(Error::precondition(
                "LEAD_RESOLVED",
                "the lead is already converted or closed",
            ));
        }
    }
    let resolution = Resolution {
        lead: &lead,
        to: LeadState::Closed,
        reason,
        actor: &principal.subject,
    };
    transitions::resolve(tx, &resolution, now).await
}
