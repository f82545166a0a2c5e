//! lead-distribution (`tiejun.leads.v1`): the shared lead pool, fair daily
//! distribution, follow-up reclaim and the capped private pool.
//!
//! Where things live: the rules and their constants in [`domain`] (pure);
//! one module per use case in [`app`], with the lock order every write
//! follows; SQL in [`store`]; the gRPC handlers (decode, authorise, call one
//! use case, encode) in `grpc`; the 08:00 distribution and the deadline
//! sweep in `jobs`, calling the same use cases.

pub mod app;
mod convert;
pub mod domain;
mod grpc;
mod jobs;
mod metrics;
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
pub const PACKAGE: &str = "tiejun.leads.v1";

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
/// leads` does.
pub async fn run(settings: ServiceSettings, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let cell = DbCell::new();
    let relay = Relay::new("leads", cell.clone(), settings.keys.clone(), settings.events.clone())?;
    let relay = tokio::spawn(relay.run(shutdown.clone()));
    let leads = grpc::Leads::new(cell.clone(), settings.clock.clone(), shutdown.clone());
    let jobs = tokio::spawn(jobs::run(leads.clone(), settings.jobs.clone(), shutdown.clone()));
    let numbering = tokio::spawn(jobs::number_feed(leads.clone(), shutdown.clone()));
    let routes = grpc::routes(leads, settings.server.max_message_bytes);
    let service = StorageService {
        name: "leads",
        services: services(),
        policy: policy(),
        migrations: &MIGRATIONS,
    };
    let served = server::serve_service(service, settings, cell, routes, listener, shutdown).await;
    relay.abort();
    jobs.abort();
    numbering.abort();
    served
}
