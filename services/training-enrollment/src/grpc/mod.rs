//! The gRPC surface of training-enrollment. The outbox RPCs and event
//! consumption answer UNIMPLEMENTED (the generated default) until the events
//! issue builds them.

mod assignments;
mod catalog;
mod completion;
mod consume;
mod convert;
mod enrollment;
mod sessions;

use tiejun_platform::{clock::SharedClock, db::DbCell, limited};
use tiejun_proto::{
    events::v1::event_consumer_service_server::EventConsumerServiceServer,
    training::v1::{
        assignment_service_server::AssignmentServiceServer, certificate_service_server::CertificateServiceServer,
        compliance_service_server::ComplianceServiceServer, enrollment_service_server::EnrollmentServiceServer,
        outbox_service_server::OutboxServiceServer, program_service_server::ProgramServiceServer,
        session_service_server::SessionServiceServer,
    },
};
use tonic::service::Routes;

/// The event consumer service this server also answers.
pub(crate) const EVENT_CONSUMER: &str = "tiejun.events.v1.EventConsumerService";

/// The state every handler shares.
#[derive(Debug, Clone)]
pub(crate) struct Training {
    db: DbCell,
    clock: SharedClock,
}

tiejun_platform::outbox_service!(Training, tiejun_proto::training::v1);
/// The routes of every service of this server, with message limits.
pub(crate) fn routes(db: DbCell, clock: SharedClock, max: usize) -> Routes {
    let training = Training { db, clock };
    Routes::new(limited!(ProgramServiceServer::new(training.clone()), max))
        .add_service(limited!(SessionServiceServer::new(training.clone()), max))
        .add_service(limited!(AssignmentServiceServer::new(training.clone()), max))
        .add_service(limited!(EnrollmentServiceServer::new(training.clone()), max))
        .add_service(limited!(CertificateServiceServer::new(training.clone()), max))
        .add_service(limited!(ComplianceServiceServer::new(training.clone()), max))
        .add_service(limited!(OutboxServiceServer::new(training.clone()), max))
        .add_service(limited!(EventConsumerServiceServer::new(training), max))
}
