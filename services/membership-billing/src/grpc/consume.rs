//! Events this service consumes, each applied once (the inbox) in the same
//! transaction as its effect: LeadConverted → the converted company's
//! member account (`app::accounts::lead_converted`).

use tiejun_platform::{
    Error,
    inbox::{self, Delivered},
};
use tiejun_proto::events::v1::{
    DeliverRequest, DeliverResponse, event_consumer_service_server::EventConsumerService, event_envelope::Payload,
};
use tonic::Request;

use super::Billing;
use crate::{
    app::accounts::{self, Converted},
    domain::{
        account::MemberDetails,
        ids::{LeadId, PersonId},
    },
};

#[tiejun_platform::grpc_service(EventConsumerService)]
impl Billing {
    async fn deliver(&self, request: Request<DeliverRequest>) -> Result<DeliverResponse, Error> {
        let event = Delivered::parse(request.into_inner())?;
        let Payload::LeadConverted(converted) = &event.payload else {
            return Err(inbox::not_consumed_here(&event, "membership-billing"));
        };
        let c = converted;
        let details = MemberDetails::parse(&c.company_name, &c.contact_name, &c.phone, &c.email, &c.city, "")
            .map_err(|e| e.within("event.lead_converted."))?;
        let lead = Converted {
            lead_id: LeadId::required("event.lead_converted.lead_id", &c.lead_id)?,
            sold_by: PersonId::required("event.lead_converted.person_id", &c.person_id)?,
        };
        let db = self.db.get()?;
        let now = self.now();
        let mut tx = db.begin().await?;
        if !inbox::first_time(&mut tx, &event, now).await? {
            return Ok(DeliverResponse { duplicate: true });
        }
        accounts::lead_converted(&mut tx, now, &lead, &details).await?;
        tx.commit().await?;
        Ok(DeliverResponse { duplicate: false })
    }
}
