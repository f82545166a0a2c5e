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
    server::{self, Started},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use policy::policy;

tiejun_platform::storage_service! {
    name: "billing",
    package: "tiejun.billing.v1",
    shared: [(1, IdempotencyKeys), (7, EventDelivery), (8, EventReplayTrace)],
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
