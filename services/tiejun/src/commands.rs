//! What each subcommand does.

use anyhow::Context as _;
use std::{net::SocketAddr, sync::Arc};

use tiejun_gateway::{BackendSpec, GatewaySettings, SystemResolver};
use tiejun_platform::{
    auth::{JwtKeys, TokenSpec},
    clock,
    config::{DatabaseArgs, ServiceSettings},
    db::Database,
    metrics, shutdown,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    cli::{GatewayArgs, ServeTarget, ServiceArgs, ServiceName, TokenArgs, UpArgs},
    secret, suite,
};

/// `tiejun up`: start, print the banner, run until SIGTERM or Ctrl-C. The
/// process's metrics (every component's) are on the port after the
/// services' (`--port` + 4; any free port with `--port 0`).
pub async fn up(args: UpArgs, registry: Option<metrics::Registry>) -> anyhow::Result<()> {
    let stop = shutdown::on_signal();
    let suite = suite::start(&args, stop.clone()).await?;
    if args.demo {
        crate::demo::load(suite.gateway, &suite.token).await?;
        println!("demo data loaded (billing catalog, training programmes and sessions, reps and leads)");
    }
    if let Some(registry) = registry {
        let port = if args.port == 0 { 0 } else { args.port.saturating_add(4) };
        let listener = TcpListener::bind(SocketAddr::new(args.host, port))
            .await
            .with_context(|| format!("binding the metrics port {port}"))?;
        println!("metrics on http://{}/metrics", listener.local_addr()?);
        tokio::spawn(metrics::serve(listener, registry, stop));
    }
    print!("{}", suite.banner());
    suite.wait().await
}

/// `tiejun serve <component>`.
pub async fn serve(target: ServeTarget, registry: Option<metrics::Registry>) -> anyhow::Result<()> {
    match target {
        ServeTarget::Gateway(args) => serve_gateway(args, registry).await,
        ServeTarget::Leads(args) => serve_service(ServiceName::Leads, args, registry).await,
        ServeTarget::Billing(args) => serve_service(ServiceName::Billing, args, registry).await,
        ServeTarget::Training(args) => serve_service(ServiceName::Training, args, registry).await,
    }
}

/// Serves `/metrics` on `addr` beside the gRPC server, until `stop`.
async fn admin_port(
    addr: SocketAddr,
    registry: Option<metrics::Registry>,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let Some(registry) = registry else {
        return Ok(());
    };
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!("binding the metrics port {addr} (on one host, give each process its own --metrics-listen)")
    })?;
    tokio::spawn(metrics::serve(listener, registry, stop.clone()));
    Ok(())
}

async fn serve_service(
    name: ServiceName,
    args: ServiceArgs,
    registry: Option<metrics::Registry>,
) -> anyhow::Result<()> {
    args.database.check()?;
    let keys = args.auth.keys()?;
    args.events.consumers()?;
    let listener = TcpListener::bind(args.server.listen)
        .await
        .with_context(|| format!("binding {}", args.server.listen))?;
    let settings = ServiceSettings {
        keys,
        server: args.server,
        database: args.database,
        clock: clock::system(),
        jobs: args.jobs,
        events: args.events,
        organisation: args.organisation,
    };
    let stop = shutdown::on_signal();
    admin_port(args.metrics_listen, registry, &stop).await?;
    match name {
        ServiceName::Leads => tiejun_leads::run(settings, listener, stop).await,
        ServiceName::Billing => tiejun_billing::run(settings, listener, stop).await,
        ServiceName::Training => tiejun_training::run(settings, listener, stop).await,
    }
}

async fn serve_gateway(args: GatewayArgs, registry: Option<metrics::Registry>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.server.listen)
        .await
        .with_context(|| format!("binding {}", args.server.listen))?;
    let settings = GatewaySettings {
        keys: args.auth.keys()?,
        server: args.server,
        backends: vec![
            BackendSpec::parse("tiejun.leads.v1", &args.leads).context("--leads")?,
            BackendSpec::parse("tiejun.billing.v1", &args.billing).context("--billing")?,
            BackendSpec::parse("tiejun.training.v1", &args.training).context("--training")?,
        ],
        tuning: args.tuning,
        resolver: Arc::new(SystemResolver),
    };
    let stop = shutdown::on_signal();
    admin_port(args.metrics_listen, registry, &stop).await?;
    tiejun_gateway::run(settings, listener, stop).await
}

/// `tiejun migrate <service>`.
pub async fn migrate(service: ServiceName, database: DatabaseArgs) -> anyhow::Result<()> {
    database.check()?;
    // Every rollout, not only a fresh volume: a database lost or never made
    // (an interrupted first start of PostgreSQL) is made here.
    if Database::create_if_missing(&database.database_url).await? {
        println!("{} database created", service.as_str());
    }
    let db = Database::connect(&database.database_url, &database.pool()).await?;
    let migrations = match service {
        ServiceName::Leads => tiejun_leads::SERVICE.migrations,
        ServiceName::Billing => tiejun_billing::SERVICE.migrations,
        ServiceName::Training => tiejun_training::SERVICE.migrations,
    };
    db.migrate(migrations).await?;
    println!("{} schema up to date ({})", service.as_str(), db.backend().as_str());
    db.close().await;
    Ok(())
}

/// `tiejun token`: the token alone on stdout.
pub fn token(args: TokenArgs) -> anyhow::Result<String> {
    let has_secret = args.auth.jwt_secret.is_some() || args.auth.jwt_secret_file.is_some();
    let keys = match (&args.data_dir, has_secret) {
        (Some(dir), _) => JwtKeys::from_secret(secret::read(dir)?.as_bytes())?,
        (None, true) => args.auth.keys()?,
        (None, false) => JwtKeys::from_secret(secret::read(std::path::Path::new("./tiejun-data"))?.as_bytes())?,
    };
    let mut spec = TokenSpec::new(args.sub, &args.roles, args.ttl);
    spec.rep_id = args.rep_id;
    spec.account_id = args.account_id;
    spec.learner_id = args.learner_id;
    spec.team = args.team;
    keys.mint(&spec)
}
