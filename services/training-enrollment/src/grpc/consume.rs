//! Events this service consumes (`app::consume`), each applied once (the
//! inbox) in the same transaction as its effect.

use crate::domain::ids::{AccountId, LearnerId};
use tiejun_platform::{
    Error,
    inbox::{self, Delivered},
};
use tiejun_proto::{
    events::v1::{
        DeliverRequest, DeliverResponse, event_consumer_service_server::EventConsumerService, event_envelope::Payload,
    },
    training::v1::AssignmentSource,
};
use tonic::Request;

use super::Training;
use crate::app::{
    consume::{Learner, put_in_training},
    enrollment::enrolled,
};

#[tiejun_platform::grpc_service(EventConsumerService)]
impl Training {
    async fn deliver(&self, request: Request<DeliverRequest>) -> Result<DeliverResponse, Error> {
        let event = Delivered::parse(request.into_inner())?;
        let learner = match &event.payload {
            Payload::RepHired(hired) => Learner {
                id: &LearnerId::required("event.rep_hired.person_id", &hired.person_id)?,
                city: hired.city.trim(),
                account_id: None,
                source: AssignmentSource::RepHired,
            },
            Payload::CustomerActivated(activated) => Learner {
                id: &LearnerId::required(
                    "event.customer_activated.contact_person_id",
                    &activated.contact_person_id,
                )?,
                city: activated.city.trim(),
                account_id: Some(&AccountId::from(activated.account_id.trim())),
                source: AssignmentSource::CustomerActivated,
            },
            _ => return Err(inbox::not_consumed_here(&event, "training-enrollment")),
        };
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        if !inbox::first_time(&mut tx, &event, now).await? {
            return Ok(DeliverResponse { duplicate: true });
        }
        let placed = put_in_training(&mut tx, db, &self.headquarters, &learner, now).await?;
        tx.commit().await?;
        // Counted as an AutoEnroll call counts them: once committed.
        placed.into_iter().for_each(enrolled);
        Ok(DeliverResponse { duplicate: false })
    }
}
