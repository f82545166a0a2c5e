//! The gRPC surface: decode, authorise, call the domain and the store,
//! encode, map errors. RPCs not built yet answer UNIMPLEMENTED (the
//! generated default), so a client can tell "not yet" from "refused".

mod access;
mod convert;
mod intake;
mod reps;

use tiejun_platform::{clock::SharedClock, db::DbCell, limited};
use tiejun_proto::{
    events::v1::event_consumer_service_server::{EventConsumerService, EventConsumerServiceServer},
    leads::v1::{
        lead_service_server::LeadServiceServer,
        outbox_service_server::{OutboxService, OutboxServiceServer},
        rep_service_server::RepServiceServer,
        report_service_server::{ReportService, ReportServiceServer},
    },
};
use tonic::service::Routes;

/// The event consumer service this server also answers.
pub(crate) const EVENT_CONSUMER: &str = "tiejun.events.v1.EventConsumerService";

/// The producer name written on this service's events.
pub(crate) const PRODUCER: &str = "leads";

/// The state every handler shares.
#[derive(Debug, Clone)]
pub(crate) struct Leads {
    db: DbCell,
    clock: SharedClock,
}

impl ReportService for Leads {}
impl OutboxService for Leads {}
impl EventConsumerService for Leads {}

/// The routes of every service of this server, with message limits.
pub(crate) fn routes(db: DbCell, clock: SharedClock, max: usize) -> Routes {
    let leads = Leads { db, clock };
    Routes::new(limited!(RepServiceServer::new(leads.clone()), max))
        .add_service(limited!(LeadServiceServer::new(leads.clone()), max))
        .add_service(limited!(ReportServiceServer::new(leads.clone()), max))
        .add_service(limited!(OutboxServiceServer::new(leads.clone()), max))
        .add_service(limited!(EventConsumerServiceServer::new(leads), max))
}
