//! `tiejun.events.v1.EventConsumerService`: events from the other services,
//! each applied once in one transaction (`crate::app::consume`).

use tiejun_platform::{Error, inbox::Delivered};
use tiejun_proto::events::v1::{DeliverRequest, DeliverResponse, event_consumer_service_server::EventConsumerService};
use tonic::Request;

use super::Leads;
use crate::app::consume;

#[tiejun_platform::grpc_service(EventConsumerService)]
impl Leads {
    async fn deliver(&self, request: Request<DeliverRequest>) -> Result<DeliverResponse, Error> {
        let event = Delivered::parse(request.into_inner())?;
        let db = self.db.get()?;
        let now = self.now();
        let mut tx = db.begin().await?;
        let duplicate = consume::deliver(&mut tx, now, &event).await?;
        tx.commit().await?;
        Ok(DeliverResponse { duplicate })
    }
}
