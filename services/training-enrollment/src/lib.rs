//! training-enrollment (`tiejun.training.v1`): onboarding before leads, training
//! for every new paying customer, city sessions with seats and waitlists.
//!
//! Built so far: programmes and courses, city sessions, and enrolment with
//! seats that never exceed capacity and a FIFO waitlist promoted on
//! cancellation; the access policy of every RPC. AutoEnroll, completion,
//! certificates, requirements and compliance answer UNIMPLEMENTED.

pub mod domain;
mod grpc;
mod policy;
pub mod store;

use tiejun_platform::{
    config::ServiceSettings,
    db::{DbCell, Migrations},
    relay::Relay,
    server::{self, StorageService},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use policy::policy;

/// The proto package this service owns.
pub const PACKAGE: &str = "tiejun.training.v1";

/// The schema, per backend.
pub static MIGRATIONS: Migrations = Migrations {
    postgres: sqlx::migrate!("./migrations/postgres"),
    sqlite: sqlx::migrate!("./migrations/sqlite"),
    constraints: store::constraints::CONSTRAINTS,
};

/// Every gRPC service this server answers (its package and the event consumer).
pub fn services() -> Vec<String> {
    let mut services = tiejun_proto::service_names(PACKAGE);
    services.push(grpc::EVENT_CONSUMER.to_owned());
    services
}

/// Runs the service on `listener` until `shutdown`, exactly as `tiejun serve
/// training` does.
pub async fn run(settings: ServiceSettings, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let cell = DbCell::new();
    let relay = Relay::new("training", cell.clone(), settings.keys.clone(), settings.events.clone())?;
    let relay = tokio::spawn(relay.run(shutdown.clone()));
    let routes = grpc::routes(cell.clone(), settings.clock.clone(), settings.server.max_message_bytes);
    let service = StorageService {
        name: "training",
        services: services(),
        policy: policy(),
        migrations: &MIGRATIONS,
    };
    let served = server::serve_service(service, settings, cell, routes, listener, shutdown).await;
    relay.abort();
    served
}
