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
mod target;
pub mod web;
pub mod worker;

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use tiejun_platform::{auth::JwtKeys, config::ServerArgs, server::CallLimits};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use forward::Forwarder;
pub use limit::RateLimit;
pub use pool::{ConnectSettings, Pool};
pub use probe::ProbeSettings;
pub use target::{Lookup, Resolve, SharedResolver, SystemResolver, Target};

/// The packages `tiejun serve gateway` routes, and the flag naming each
/// backend.
pub const ROUTED_PACKAGES: [(&str, &str); 3] = [
    ("tiejun.leads.v1", "leads"),
    ("tiejun.billing.v1", "billing"),
    ("tiejun.training.v1", "training"),
];

/// How often idle rate-limit buckets are forgotten.
const FORGET_IDLE_EVERY: Duration = Duration::from_secs(60);

/// One routed package and where its backend lives.
#[derive(Debug, Clone)]
pub struct BackendSpec {
    /// The proto package, e.g. `tiejun.leads.v1`.
    pub package: String,
    /// Its endpoints.
    pub target: Target,
}

impl BackendSpec {
    /// Parses `urls` (`http://host:port,…` or `dns://name:port`) for `package`.
    pub fn parse(package: &str, urls: &[String]) -> anyhow::Result<Self> {
        Ok(Self {
            package: package.to_owned(),
            target: Target::parse(urls).with_context(|| format!("endpoints of {package}"))?,
        })
    }
}

/// The gateway's own knobs, as flags with environment fallbacks.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayTuning {
    /// Calls a second allowed to each principal (token subject); 0: no limit.
    #[arg(long, env = "TIEJUN_RATE_LIMIT", default_value_t = 500)]
    pub rate_limit: u32,
    /// Burst allowed above the rate (the bucket's size).
    #[arg(long, env = "TIEJUN_RATE_BURST", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_burst: u32,
    /// Retries of a call safe to repeat (read-only, or carrying an idempotency key).
    #[arg(long, env = "TIEJUN_RETRIES", default_value_t = 2)]
    pub retries: u32,
    /// Between two health probes of every backend endpoint.
    #[arg(long, env = "TIEJUN_PROBE_INTERVAL", default_value = "1s", value_parser = humantime_duration)]
    pub probe_interval: Duration,
    /// Between two lookups of a dns:// backend name.
    #[arg(long, env = "TIEJUN_DNS_REFRESH", default_value = "5s", value_parser = humantime_duration)]
    pub dns_refresh: Duration,
    /// The longest a connection to an endpoint may take to open.
    #[arg(long, env = "TIEJUN_CONNECT_TIMEOUT", default_value = "1s", value_parser = humantime_duration)]
    pub connect_timeout: Duration,
    /// Browser origins allowed to call across origins (CORS), e.g.
    /// `https://backoffice.example.com`; comma-separated or repeated; `*` for
    /// any. None by default: a browser page on another origin is refused.
    #[arg(long = "cors-allow-origin", env = "TIEJUN_CORS_ALLOW_ORIGINS", value_delimiter = ',')]
    pub cors_allow_origins: Vec<String>,
    /// Threads that accept and forward calls, each with its own connections
    /// to every backend endpoint (as nginx's `worker_processes`); 0: one
    /// per CPU the process may use (its cgroup's CPU limit, in Kubernetes).
    #[arg(long, env = "TIEJUN_GATEWAY_WORKERS", default_value_t = 0)]
    pub workers: usize,
}

fn humantime_duration(s: &str) -> Result<Duration, String> {
    tiejun_platform::config::positive_duration(s)
}

impl Default for GatewayTuning {
    fn default() -> Self {
        Self {
            rate_limit: 500,
            rate_burst: 1000,
            retries: 2,
            probe_interval: Duration::from_secs(1),
            dns_refresh: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(1),
            cors_allow_origins: Vec::new(),
            workers: 0,
        }
    }
}

/// Everything the gateway needs to start.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Listening, limits, drain.
    pub server: ServerArgs,
    /// Verifies tokens at the edge.
    pub keys: JwtKeys,
    /// The services behind it.
    pub backends: Vec<BackendSpec>,
    /// Rate limits, deadlines, retries, probes.
    pub tuning: GatewayTuning,
    /// Looks up `dns://` targets.
    pub resolver: SharedResolver,
}

/// Every gRPC service of `packages`.
pub fn services_of(packages: &[String]) -> Vec<String> {
    packages.iter().flat_map(|p| tiejun_proto::service_names(p)).collect()
}

/// Every gRPC service `tiejun serve gateway` routes.
pub fn services() -> Vec<String> {
    services_of(&ROUTED_PACKAGES.map(|(p, _)| p.to_owned()))
}

/// Runs the gateway on `listener` until `shutdown`, exactly as `tiejun serve
/// gateway` does: its workers (see [`worker`]) serve the connections the
/// listener accepts, each on a thread of its own, and share the process's
/// rate limits and limits on calls in progress. When one worker fails the
/// others stop, and the first failure is the answer.
pub async fn run(settings: GatewaySettings, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let tuning = &settings.tuning;
    let process = worker::ProcessWide {
        limits: Arc::new(RateLimit::new(tuning.rate_limit, tuning.rate_burst)),
        calls: CallLimits::new(settings.server.concurrency_limit),
        edge: web::edge(&tuning.cors_allow_origins, settings.server.max_message_bytes)?,
    };
    let workers = worker::count(tuning.workers);
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
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(FORGET_IDLE_EVERY) => limits.forget_idle(),
        }
    }
}
