//! The gRPC surface: decode, authorise, call one use case (`crate::app`),
//! encode; errors map to precise codes in one place (the platform's
//! `Error`). No SQL lives here.

mod consume;
mod leads;
mod reports;
mod reps;
mod watch;

use tiejun_platform::{clock::SharedClock, db::DbCell, limited};
use tiejun_proto::{
    events::v1::event_consumer_service_server::EventConsumerServiceServer,
    leads::v1::{
        lead_service_server::LeadServiceServer, outbox_service_server::OutboxServiceServer,
        rep_service_server::RepServiceServer, report_service_server::ReportServiceServer,
    },
};
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

/// The state every handler shares.
#[derive(Debug, Clone)]
pub(crate) struct Leads {
    db: DbCell,
    clock: SharedClock,
    /// This process, in `job_runs`.
    instance: String,
    /// Ends the streams on shutdown.
    shutdown: CancellationToken,
}

impl Leads {
    /// The database cell.
    pub(crate) fn db(&self) -> &DbCell {
        &self.db
    }

    /// Now, by the service's clock.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// This process's id in `job_runs`.
    pub(crate) fn instance(&self) -> &str {
        &self.instance
    }

    /// The handlers' state.
    pub(crate) fn new(db: DbCell, clock: SharedClock, shutdown: CancellationToken) -> Self {
        Self {
            db,
            clock,
            instance: uuid::Uuid::now_v7().to_string(),
            shutdown,
        }
    }
}

tiejun_platform::outbox_service!(Leads, tiejun_proto::leads::v1);

/// The routes of every service of this server, with message limits.
pub(crate) fn routes(leads: Leads, max: usize) -> Routes {
    Routes::new(limited!(RepServiceServer::new(leads.clone()), max))
        .add_service(limited!(LeadServiceServer::new(leads.clone()), max))
        .add_service(limited!(ReportServiceServer::new(leads.clone()), max))
        .add_service(limited!(OutboxServiceServer::new(leads.clone()), max))
        .add_service(limited!(EventConsumerServiceServer::new(leads), max))
}
