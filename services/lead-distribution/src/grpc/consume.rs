//! `tiejun.events.v1.EventConsumerService`: events from the other services,
//! each applied once in one transaction (`crate::app::consume`).

use tiejun_platform::inbox::Delivered;
use tiejun_proto::events::v1::{DeliverRequest, DeliverResponse, event_consumer_service_server::EventConsumerService};
use tonic::{Request, Response, Status};

use super::Leads;
use crate::app::consume;

#[tonic::async_trait]
impl EventConsumerService for Leads {
    async fn deliver(&self, request: Request<DeliverRequest>) -> Result<Response<DeliverResponse>, Status> {
        let event = Delivered::parse(request.into_inner())?;
        let db = self.db.get()?;
        let now = self.now();
        let mut tx = db.begin().await?;
        let duplicate = consume::deliver(&mut tx, now, &event).await?;
        tx.commit().await?;
        Ok(Response::new(DeliverResponse { duplicate }))
    }
}
