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
    server::{self, Started},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use policy::policy;

tiejun_platform::storage_service! {
    name: "leads",
    package: "tiejun.leads.v1",
    shared: [(1, IdempotencyKeys), (4, EventDelivery), (6, EventReplayTrace)],
}

/// Runs the service on `listener` until `shutdown`, exactly as `tiejun serve
/// leads` does.
pub async fn run(settings: ServiceSettings, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    server::run_service(&SERVICE, settings, listener, shutdown, |cell, settings, shutdown| {
        let leads = grpc::Leads::new(cell, settings.clock.clone(), shutdown.clone());
        let tasks = vec![
            tokio::spawn(jobs::run(leads.clone(), settings.jobs.clone(), shutdown.clone())),
            tokio::spawn(jobs::number_feed(leads.clone(), shutdown.clone())),
        ];
        let routes = grpc::routes(leads, settings.server.max_message_bytes);
        Ok(Started { routes, tasks })
    })
    .await
}
