//! Events this service consumes, each applied once (the inbox) in the same
//! transaction as its effect:
//! - ProgramCompleted of the employee onboarding → the rep becomes ACTIVE;
//! - RenewalDue → a RENEWAL lead, assigned to the rep who sold the
//!   subscription when that rep is ACTIVE, else first in the pool.

use chrono::{DateTime, Utc};
use tiejun_platform::{
    clock::{self, DEFAULT_ZONE},
    db::Tx,
    error::Error,
    inbox::{self, Delivered},
};
use tiejun_proto::{
    events::v1::{
        DeliverRequest, DeliverResponse, ProgramCompleted, RenewalDue,
        event_consumer_service_server::EventConsumerService, event_envelope::Payload,
    },
    leads::v1::{RepStatus, TransitionRule},
};
use tonic::{Request, Response, Status};

use super::Leads;
use crate::{
    domain::{company::CompanyName, phone::Phone},
    store::{
        distribution::assigned_event,
        events,
        holding::{self, Assignment},
        leads::{self, NewRenewal},
        reps,
    },
};

#[tonic::async_trait]
impl EventConsumerService for Leads {
    async fn deliver(&self, request: Request<DeliverRequest>) -> Result<Response<DeliverResponse>, Status> {
        let event = Delivered::parse(request.into_inner())?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        if !inbox::first_time(&mut tx, &event, now).await? {
            return Ok(Response::new(DeliverResponse { duplicate: true }));
        }
        match &event.payload {
            Payload::ProgramCompleted(done) => onboarded(&mut tx, done, now).await?,
            Payload::RenewalDue(due) => renewal_lead(&mut tx, due, now).await?,
            _ => return Err(inbox::not_consumed_here(&event, "lead-distribution").into()),
        }
        tx.commit().await?;
        Ok(Response::new(DeliverResponse { duplicate: false }))
    }
}

/// An ONBOARDING rep who completed the employee onboarding becomes ACTIVE;
/// anyone else (a customer, a rep already active or gone) is left as is.
async fn onboarded(tx: &mut Tx, done: &ProgramCompleted, now: DateTime<Utc>) -> Result<(), Error> {
    if !done.employee_onboarding {
        return Ok(());
    }
    let Some(rep) = reps::get_for_update(tx, done.person_id.trim()).await? else {
        tracing::info!("onboarding completed by someone who is not a rep; nothing to activate");
        return Ok(());
    };
    if rep.status == "ONBOARDING" {
        let reason = format!("onboarding completed (certificate {})", done.certificate_id);
        reps::set_status(tx, &rep.person_id, "ONBOARDING", RepStatus::Active, &reason, now).await?;
    }
    Ok(())
}

/// The renewal lead, and its assignment to the seller when still ACTIVE.
async fn renewal_lead(tx: &mut Tx, due: &RenewalDue, now: DateTime<Utc>) -> Result<(), Error> {
    if due.subscription_id.trim().is_empty() {
        return Err(Error::invalid("event.renewal_due.subscription_id", "is required"));
    }
    let company =
        CompanyName::parse(&due.company_name).map_err(|e| Error::invalid("event.renewal_due.company_name", e))?;
    // Billing validated the phone when the account was made; keep it as sent if our rules differ.
    let phone = Phone::parse(&due.phone).map_or_else(|_| due.phone.trim().to_owned(), |p| p.as_str().to_owned());
    let lead_id = uuid::Uuid::now_v7().to_string();
    let renewal = NewRenewal {
        subscription_id: due.subscription_id.trim(),
        account_id: due.account_id.trim(),
        company_name: company.as_str(),
        company_key: company.key(),
        contact_name: due.contact_name.trim(),
        phone: &phone,
        city: due.city.trim(),
    };
    leads::insert_renewal(tx, &lead_id, &renewal, now).await?;
    let seller = due.sold_by_person_id.trim();
    let active = match reps::get_for_update(tx, seller).await? {
        Some(rep) => rep.status == "ACTIVE",
        None => false,
    };
    if !active {
        tracing::info!(
            subscription = renewal.subscription_id,
            "seller not active; renewal lead pooled first in line"
        );
        return Ok(());
    }
    let day = clock::business_day(now, DEFAULT_ZONE).to_string();
    let reason = format!("renewal of subscription {} sold by this rep", renewal.subscription_id);
    let assignment = Assignment {
        lead_id: &lead_id,
        person_id: seller,
        business_day: &day,
        rule: TransitionRule::Renewal,
        run_id: None,
        position: None,
        reason: &reason,
        actor: "system",
    };
    holding::assign(tx, &assignment, now).await?;
    let row = leads::lock(tx, &lead_id)
        .await?
        .ok_or_else(|| Error::not_found("lead", &lead_id))?;
    events::push(tx, seller, &assigned_event(row, TransitionRule::Renewal, now), now).await?;
    Ok(())
}
