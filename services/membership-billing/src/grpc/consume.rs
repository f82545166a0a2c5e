//! Events this service consumes, each applied once (the inbox) in the same
//! transaction as its effect: LeadConverted → the member account of the
//! converted company, remembering the lead and the rep who sold it, and an
//! AccountOpened back to lead-distribution naming that account.

use tiejun_platform::{
    inbox::{self, Delivered},
    outbox,
};
use tiejun_proto::events::v1::{
    AccountOpened, DeliverRequest, DeliverResponse, event_consumer_service_server::EventConsumerService,
    event_envelope::Payload,
};
use tonic::{Request, Response, Status};

use super::Billing;
use crate::{domain::account::MemberDetails, store::accounts};

#[tonic::async_trait]
impl EventConsumerService for Billing {
    async fn deliver(&self, request: Request<DeliverRequest>) -> Result<Response<DeliverResponse>, Status> {
        let event = Delivered::parse(request.into_inner())?;
        let Payload::LeadConverted(converted) = &event.payload else {
            return Err(inbox::not_consumed_here(&event, "membership-billing").into());
        };
        let details = MemberDetails::parse(
            &converted.company_name,
            &converted.contact_name,
            &converted.phone,
            &converted.email,
            &converted.city,
            "",
        )?;
        let lead_id = converted.lead_id.trim();
        let sold_by = converted.person_id.trim();
        if lead_id.is_empty() || sold_by.is_empty() {
            return Err(
                tiejun_platform::Error::invalid("event.lead_converted", "lead_id and person_id are required").into(),
            );
        }
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        if !inbox::first_time(&mut tx, &event, now).await? {
            return Ok(Response::new(DeliverResponse { duplicate: true }));
        }
        // Idempotent on the lead too: an account made by hand for it is kept.
        let id = uuid::Uuid::now_v7().to_string();
        accounts::insert(&mut tx, &id, &details, Some(lead_id), Some(sold_by), now).await?;
        // Whichever account the lead has now, lead-distribution learns it.
        let account = accounts::by_lead(&mut tx, lead_id).await?.ok_or_else(|| {
            tiejun_platform::Error::internal(format!("no account for lead {lead_id} after its insert"))
        })?;
        let opened = AccountOpened {
            account_id: account.account_id.clone(),
            lead_id: lead_id.to_owned(),
            sold_by_person_id: sold_by.to_owned(),
        };
        outbox::append(&mut tx, "billing", lead_id, Payload::AccountOpened(opened), now).await?;
        tx.commit().await?;
        Ok(Response::new(DeliverResponse { duplicate: false }))
    }
}
