//! The events this service consumes, each applied once (the inbox) in the
//! same transaction as its effect:
//! - ProgramCompleted of the employee onboarding: the rep becomes ACTIVE;
//! - RenewalDue: a RENEWAL lead, given to the rep who sold the subscription
//!   when that rep is ACTIVE, else first in line in the pool;
//! - AccountOpened: the converted lead's `account_id`, once billing has the
//!   account (a lead this service does not know, or one that already names
//!   an account, is left as is).

use crate::domain::ids::{AccountId, LeadId, PersonId, SubscriptionId};
use chrono::{DateTime, Utc};
use tiejun_platform::{
    db::Tx,
    error::Error,
    inbox::{self, Delivered},
};
use tiejun_proto::{
    events::v1::{AccountOpened, ProgramCompleted, RenewalDue, event_envelope::Payload},
    leads::v1::{RepStatus, TransitionRule},
};

use crate::{
    domain::{company::CompanyName, phone::Phone},
    store::{
        leads::{self, NewRenewal},
        reps,
        transitions::{self, Assignment},
    },
};

/// Applies `event` unless it was applied before; true for a repeat.
pub async fn deliver(tx: &mut Tx, now: DateTime<Utc>, event: &Delivered) -> Result<bool, Error> {
    if !inbox::first_time(tx, event, now).await? {
        return Ok(true);
    }
    match &event.payload {
        Payload::ProgramCompleted(done) => onboarded(tx, now, done).await?,
        Payload::RenewalDue(due) => renewal(tx, now, due).await?,
        Payload::AccountOpened(opened) => account_opened(tx, now, opened).await?,
        _ => return Err(inbox::not_consumed_here(event, "lead-distribution")),
    }
    Ok(false)
}

/// An ONBOARDING rep who completed the employee onboarding becomes ACTIVE;
/// anyone else (a customer, a rep already active or gone) is left as is.
pub async fn onboarded(tx: &mut Tx, now: DateTime<Utc>, done: &ProgramCompleted) -> Result<(), Error> {
    if !done.employee_onboarding {
        return Ok(());
    }
    let Some(rep) = reps::lock_for_change(tx, &PersonId::from(done.person_id.trim())).await? else {
        tracing::info!("onboarding completed by someone who is not a rep; nothing to activate");
        return Ok(());
    };
    if rep.status == RepStatus::Onboarding {
        let reason = format!("onboarding completed (certificate {})", done.certificate_id);
        reps::set_status(
            tx,
            &rep.person_id,
            RepStatus::Onboarding,
            RepStatus::Active,
            &reason,
            now,
        )
        .await?;
    }
    Ok(())
}

/// The renewal lead, and its assignment to the seller when still ACTIVE.
pub async fn renewal(tx: &mut Tx, now: DateTime<Utc>, due: &RenewalDue) -> Result<(), Error> {
    tiejun_platform::id::required("event.renewal_due.subscription_id", &due.subscription_id)?;
    let company =
        CompanyName::parse(&due.company_name).map_err(|e| Error::invalid("event.renewal_due.company_name", e))?;
    // Billing validated the phone when the account was made; keep it as sent if our rules differ.
    let phone = Phone::parse(&due.phone).map_or_else(|_| due.phone.trim().to_owned(), |p| p.as_str().to_owned());
    // The seller, share, before the lead (the lock order).
    let seller = PersonId::from(due.sold_by_person_id.trim());
    let active = reps::lock_to_assign(tx, &seller)
        .await?
        .is_some_and(|rep| rep.status == RepStatus::Active);
    let lead_id = LeadId::mint();
    let renewal = NewRenewal {
        subscription_id: &SubscriptionId::from(due.subscription_id.trim()),
        account_id: &AccountId::from(due.account_id.trim()),
        company_name: company.as_str(),
        company_key: company.key(),
        contact_name: due.contact_name.trim(),
        phone: &phone,
        city: due.city.trim(),
    };
    leads::insert_renewal(tx, &lead_id, &renewal, now).await?;
    if !active {
        tracing::info!(
            subscription = %renewal.subscription_id,
            "seller not active; renewal lead pooled first in line"
        );
        return Ok(());
    }
    let day = super::business_day(now);
    let reason = format!("renewal of subscription {} sold by this rep", renewal.subscription_id);
    let assignment = Assignment {
        lead_id: &lead_id,
        person_id: &seller,
        business_day: &day,
        rule: TransitionRule::Renewal,
        reason: &reason,
        actor: super::SYSTEM,
    };
    transitions::assign(tx, &assignment, now).await?;
    Ok(())
}

/// A converted lead learns its account.
async fn account_opened(tx: &mut Tx, now: DateTime<Utc>, opened: &AccountOpened) -> Result<(), Error> {
    let (lead_id, account_id) = (
        LeadId::from(opened.lead_id.trim()),
        AccountId::from(opened.account_id.trim()),
    );
    if lead_id.is_empty() || account_id.is_empty() {
        return Err(Error::invalid(
            "event.account_opened",
            "lead_id and account_id are required",
        ));
    }
    if !leads::set_account(tx, &lead_id, &account_id, now).await? {
        tracing::info!("an account opened for a lead that names one already, or is not ours; left as is");
    }
    Ok(())
}
