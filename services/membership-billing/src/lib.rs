//! membership-billing (`tiejun.billing.v1`): free membership forever, paid
//! memberships on top, renewals, entitlements and the renewal rate per rep.
//!
//! Built so far: the catalog (features under the free-forever rule, versioned
//! plans), the access policy of every RPC, health and reflection. The other
//! RPCs answer UNIMPLEMENTED until the membership-billing issue builds them.

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
pub const PACKAGE: &str = "tiejun.billing.v1";

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
/// billing` does.
pub async fn run(settings: ServiceSettings, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let cell = DbCell::new();
    let relay = Relay::new("billing", cell.clone(), settings.keys.clone(), settings.events.clone())?;
    let relay = tokio::spawn(relay.run(shutdown.clone()));
    let billing = grpc::Billing::new(cell.clone(), settings.clock.clone());
    let jobs = tokio::spawn(jobs::run(billing.clone(), settings.jobs.clone(), shutdown.clone()));
    let routes = grpc::routes(billing, settings.server.max_message_bytes);
    let service = StorageService {
        name: "billing",
        services: services(),
        policy: policy(),
        migrations: &MIGRATIONS,
    };
    let served = server::serve_service(service, settings, cell, routes, listener, shutdown).await;
    relay.abort();
    jobs.abort();
    served
}
