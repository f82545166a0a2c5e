//! training-enrollment (`tiejun.training.v1`): onboarding before leads, training
//! for every new paying customer, city sessions with seats and waitlists.
//!
//! Laid out as every tiejun service is: `domain` holds the rules, pure and
//! unit-tested (AutoEnroll's choice of session, when assignments are due,
//! who counts as untrained); `app` the use cases that the gRPC handlers and
//! the event consumer both call; `store` the SQL, written once for both
//! backends; `convert` rows as messages; `grpc` only decodes, authorises,
//! calls and encodes.

pub mod app;
mod convert;
pub mod domain;
mod grpc;
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
    name: "training",
    package: "tiejun.training.v1",
    shared: [(1, IdempotencyKeys), (4, EventDelivery), (5, EventReplayTrace)],
}

/// Runs the service on `listener` until `shutdown`, exactly as `tiejun serve
/// training` does.
pub async fn run(settings: ServiceSettings, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    server::run_service(&SERVICE, settings, listener, shutdown, |cell, settings, _| {
        let headquarters = domain::session::Headquarters::new(&settings.organisation.headquarters)
            .map_err(|e| anyhow::anyhow!("--headquarters: {e}"))?;
        let routes = grpc::routes(
            cell,
            settings.clock.clone(),
            headquarters,
            settings.server.max_message_bytes,
        );
        Ok(Started {
            routes,
            tasks: Vec::new(),
        })
    })
    .await
}
