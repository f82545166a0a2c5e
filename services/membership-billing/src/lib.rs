//! membership-billing (`tiejun.billing.v1`): free membership forever, paid
//! memberships on top, renewals, entitlements and the renewal rate per rep.
//!
//! Laid out as every tiejun service is: `domain` holds the rules, pure and
//! unit-tested; `app` the use cases, one function each, that the gRPC
//! handlers, the renewal job and the event consumer all call; `store` the
//! SQL, written once for both backends; `convert` rows as messages; `grpc`
//! only decodes, authorises, calls and encodes.

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
    db::{Migrations, Shared},
    server::{self, Started, StorageService},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use policy::policy;

/// The proto package this service owns.
pub const PACKAGE: &str = "tiejun.billing.v1";

/// The schema, per backend: this service's migrations and the platform's
/// shared tables at their places in its history.
pub static MIGRATIONS: Migrations = Migrations {
    postgres: sqlx::migrate!("./migrations/postgres"),
    sqlite: sqlx::migrate!("./migrations/sqlite"),
    shared: &[
        (1, Shared::IdempotencyKeys),
        (7, Shared::EventDelivery),
        (8, Shared::EventReplayTrace),
    ],
    constraints: store::constraints::CONSTRAINTS,
};

/// This service, as the shared serve entry runs it.
pub static SERVICE: StorageService = StorageService {
    name: "billing",
    package: PACKAGE,
    policy,
    migrations: &MIGRATIONS,
};

/// Every gRPC service this server answers (its package and the event consumer).
pub fn services() -> Vec<String> {
    SERVICE.services()
}

/// Runs the service on `listener` until `shutdown`, exactly as `tiejun serve
/// billing` does.
pub async fn run(settings: ServiceSettings, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    server::run_service(&SERVICE, settings, listener, shutdown, |cell, settings, shutdown| {
        let billing = grpc::Billing::new(cell, settings.clock.clone());
        let tasks = vec![tokio::spawn(jobs::run(
            billing.clone(),
            settings.jobs.clone(),
            shutdown.clone(),
        ))];
        let routes = grpc::routes(billing, settings.server.max_message_bytes);
        Ok(Started { routes, tasks })
    })
    .await
}
