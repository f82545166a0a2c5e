//! What the gateway is started with: its backends, its knobs (flags with
//! environment fallbacks) and the whole of its settings.

use std::time::Duration;

use anyhow::Context as _;
use tiejun_platform::{auth::JwtKeys, config::ServerArgs};

use crate::target::{SharedResolver, Target};

/// The packages `tiejun serve gateway` routes, and the flag naming each
/// backend.
pub const ROUTED_PACKAGES: [(&str, &str); 3] = [
    ("tiejun.leads.v1", "leads"),
    ("tiejun.billing.v1", "billing"),
    ("tiejun.training.v1", "training"),
];

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
