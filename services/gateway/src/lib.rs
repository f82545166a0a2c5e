//! The gateway: the one gRPC endpoint clients and operators talk to.
//!
//! Built so far: routing by proto package to each backend, forwarding the
//! HTTP/2 request and response as they are (no re-encoding: unary and every
//! streaming kind, metadata and trailers intact), per-request balancing over
//! a static endpoint list (tower's power of two choices), token verification
//! at the edge, its own health, and reflection over the merged descriptor set
//! of every service. Rate limits, deadlines, retries, DNS re-resolution and
//! ejection come with the gateway issue.

mod forward;

use anyhow::Context as _;
use tiejun_platform::{
    auth::JwtKeys,
    config::ServerArgs,
    server::{self, Readiness, ServerSpec},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use forward::{Backend, Forwarder};

/// The packages the gateway routes, and the backend each goes to.
pub const ROUTED_PACKAGES: [(&str, &str); 3] = [
    ("tiejun.leads.v1", "leads"),
    ("tiejun.billing.v1", "billing"),
    ("tiejun.training.v1", "training"),
];

/// Where each backend lives: one or more `http://host:port` endpoints.
#[derive(Debug, Clone)]
pub struct Backends {
    /// lead-distribution endpoints.
    pub leads: Vec<String>,
    /// membership-billing endpoints.
    pub billing: Vec<String>,
    /// training-enrollment endpoints.
    pub training: Vec<String>,
}

/// Everything the gateway needs to start.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Listening, limits, drain.
    pub server: ServerArgs,
    /// Verifies tokens at the edge.
    pub keys: JwtKeys,
    /// The services behind it.
    pub backends: Backends,
}

/// Every gRPC service reachable through the gateway.
pub fn services() -> Vec<String> {
    ROUTED_PACKAGES
        .iter()
        .flat_map(|(package, _)| tiejun_proto::service_names(package))
        .collect()
}

/// Runs the gateway on `listener` until `shutdown`, exactly as `tiejun serve
/// gateway` does.
pub async fn run(settings: GatewaySettings, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let b = &settings.backends;
    let backends = vec![
        Backend::new("tiejun.leads.v1", &b.leads).context("--leads")?,
        Backend::new("tiejun.billing.v1", &b.billing).context("--billing")?,
        Backend::new("tiejun.training.v1", &b.training).context("--training")?,
    ];
    let routes = Forwarder::new(backends).into_routes();
    let spec = ServerSpec {
        name: "gateway",
        services: services(),
        policy: None,
        readiness: Readiness::Immediate,
    };
    server::serve(spec, &settings.server, settings.keys, routes, listener, shutdown).await
}
