//! Member accounts: a free member registering, and the account of a
//! converted lead (by hand, or from LeadConverted), idempotent on the lead.

use crate::domain::ids::{AccountId, LeadId, PersonId};
use chrono::{DateTime, Utc};
use tiejun_platform::{db::Tx, error::Error, outbox};
use tiejun_proto::events::v1::{AccountOpened, event_envelope::Payload};

use crate::{
    domain::account::MemberDetails,
    store::accounts::{self, AccountRow},
};

/// Registers a free member.
pub async fn register(tx: &mut Tx, now: DateTime<Utc>, details: &MemberDetails) -> Result<AccountRow, Error> {
    let id = AccountId::mint();
    accounts::insert(tx, &id, details, None, None, now).await?;
    accounts::get_in(tx, &id)
        .await?
        .ok_or_else(|| Error::internal(format!("no account {id} after its insert")))
}

/// A converted lead and who sold it.
#[derive(Debug, Clone)]
pub struct Converted {
    /// The lead.
    pub lead_id: LeadId,
    /// The rep credited.
    pub sold_by: PersonId,
}

/// The account of a converted lead: made once; a second call for the same
/// lead returns the account it already has (`false`: not created now).
pub async fn from_lead(
    tx: &mut Tx,
    now: DateTime<Utc>,
    lead: &Converted,
    details: &MemberDetails,
) -> Result<(AccountRow, bool), Error> {
    let id = AccountId::mint();
    let created = accounts::insert(tx, &id, details, Some(&lead.lead_id), Some(&lead.sold_by), now).await?;
    let row = accounts::by_lead(tx, &lead.lead_id)
        .await?
        .ok_or_else(|| Error::internal(format!("no account for lead {} after its insert", lead.lead_id)))?;
    Ok((row, created))
}

/// LeadConverted consumed: the lead's account, and an AccountOpened back to
/// lead-distribution naming whichever account the lead has now.
pub async fn lead_converted(
    tx: &mut Tx,
    now: DateTime<Utc>,
    lead: &Converted,
    details: &MemberDetails,
) -> Result<(), Error> {
    let (account, _) = from_lead(tx, now, lead, details).await?;
    let opened = AccountOpened {
        account_id: account.account_id.into(),
        lead_id: lead.lead_id.to_string(),
        sold_by_person_id: lead.sold_by.to_string(),
    };
    outbox::append(tx, "billing", &lead.lead_id, Payload::AccountOpened(opened), now)
        .await
        .map(drop)
}
