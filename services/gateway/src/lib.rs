//! The gateway: the one gRPC endpoint clients and operators talk to
//! (DESIGN §7).
//!
//! It routes by proto package to each backend and forwards the HTTP/2
//! request and response as they are (no re-encoding: unary and every
//! streaming kind, metadata and trailers intact). It verifies tokens at the
//! edge, limits each principal's rate, gives unary calls a default deadline
//! and passes the remaining one on, retries calls that are safe to repeat
//! when a backend was unavailable, and balances every request over the
//! backend's endpoints (power of two choices on calls in flight), ejecting
//! endpoints that fail and probing them back. It serves its own health (per
//! backend) and reflection over the merged descriptor set of every service.
//! It runs as workers, one thread each, that do all of a call's work
//! ([`worker`]).

mod forward;
mod limit;
mod pool;
mod probe;
mod retry;
mod route;
mod settings;
mod target;
pub mod web;
pub mod worker;

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use tiejun_platform::server::CallLimits;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use forward::Forwarder;
pub use limit::RateLimit;
pub use pool::{ConnectSettings, Pool};
pub use probe::ProbeSettings;
pub use settings::{BackendSpec, GatewaySettings, GatewayTuning, ROUTED_PACKAGES, services, services_of};
pub use target::{Lookup, Resolve, SharedResolver, SystemResolver, Target};

/// How often idle rate-limit buckets are forgotten.
const FORGET_IDLE_EVERY: Duration = Duration::from_secs(60);

/// Runs the gateway on `listener` until `shutdown`, exactly as `tiejun serve
/// gateway` does: its workers (see [`worker`]) serve the connections the
/// listener accepts, each on a thread of its own, and share the process's
/// rate limits and limits on calls in progress. When one worker fails the
/// others stop, and the first failure is the answer.
pub async fn run(settings: GatewaySettings, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let tuning = &settings.tuning;
    let packages: Vec<String> = settings.backends.iter().map(|b| b.package.clone()).collect();
    let workers = worker::count(tuning.workers);
    let names: Vec<String> = packages.iter().flat_map(|p| worker::health_names(p)).collect();
    let process = worker::ProcessWide {
        routes: Arc::new(route::RouteTable::new(&packages)),
        limits: Arc::new(RateLimit::new(tuning.rate_limit, tuning.rate_burst)),
        calls: CallLimits::new(settings.server.concurrency_limit),
        edge: web::edge(&tuning.cors_allow_origins, settings.server.max_message_bytes)?,
        statuses: Arc::new(probe::Statuses::new(workers, &names)),
    };
    let local = listener.local_addr().context("the gateway's listener")?;
    // Stops every worker when one fails, without cancelling the caller's token.
    let stop = shutdown.child_token();
    let mut hands = Vec::new();
    let mut running = tokio::task::JoinSet::new();
    for index in 0..workers {
        let (hand, done) = worker::spawn(index, settings.clone(), process.clone(), local, stop.clone())
            .inspect_err(|_| stop.cancel())?;
        hands.push(hand);
        running.spawn(async move {
            done.await.unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "gateway worker {index} ended without an answer (a panic)"
                ))
            })
        });
    }
    let acceptor = tokio::spawn(worker::accept(listener, hands));
    let housekeeping = tokio::spawn(forget_idle_principals(process.limits.clone(), stop.clone()));
    tracing::info!(workers, "gateway workers started");
    let mut first_failure = None;
    while let Some(ended) = running.join_next().await {
        if let Err(err) = ended.context("gateway worker")? {
            stop.cancel();
            first_failure.get_or_insert(err);
        }
    }
    acceptor.abort();
    housekeeping.abort();
    first_failure.map_or(Ok(()), Err)
}

async fn forget_idle_principals(limits: Arc<RateLimit>, shutdown: CancellationToken) {
    tiejun_platform::shutdown::every(FORGET_IDLE_EVERY, &shutdown, || {
        limits.forget_idle();
        std::future::ready(())
    })
    .await;
}
