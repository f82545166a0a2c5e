//! The gRPC surface of training-enrollment: one module per service of
//! `tiejun.training.v1`, each RPC decoding, authorising, calling one use
//! case (`crate::app`) or store read, and encoding (`crate::convert`).

mod assignments;
mod catalog;
mod consume;
mod enrollment;
mod sessions;

use crate::{convert, domain::session::Headquarters};

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

/// The state every handler shares.
#[derive(Debug, Clone)]
pub(crate) struct Training {
    db: DbCell,
    clock: SharedClock,
    /// AutoEnroll's fallback city.
    headquarters: Headquarters,
}

tiejun_platform::outbox_service!(Training, tiejun_proto::training::v1);
/// The routes of every service of this server, with message limits.
pub(crate) fn routes(db: DbCell, clock: SharedClock, headquarters: Headquarters, max: usize) -> Routes {
    let training = Training {
        db,
        clock,
        headquarters,
    };
    Routes::new(limited!(ProgramServiceServer::new(training.clone()), max))
        .add_service(limited!(SessionServiceServer::new(training.clone()), max))
        .add_service(limited!(AssignmentServiceServer::new(training.clone()), max))
        .add_service(limited!(EnrollmentServiceServer::new(training.clone()), max))
        .add_service(limited!(CertificateServiceServer::new(training.clone()), max))
        .add_service(limited!(ComplianceServiceServer::new(training.clone()), max))
        .add_service(limited!(OutboxServiceServer::new(training.clone()), max))
        .add_service(limited!(EventConsumerServiceServer::new(training), max))
}
