//! The whole suite in one process (`tiejun up`): the gateway on the given
//! port and the three services on the next three, each on its own listener
//! exactly as in production, on SQLite files in the data directory.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use anyhow::Context as _;
use tiejun_gateway::{BackendSpec, GatewaySettings, GatewayTuning, SystemResolver};
use tiejun_platform::{
    auth::{JwtKeys, Role, TokenSpec},
    clock,
    config::{DatabaseArgs, JobArgs, ServerArgs, ServiceSettings},
    events::EventArgs,
};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::{
    cli::{ServiceName, UpArgs},
    secret,
};

/// How long `up` waits for every component to report SERVING.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Lifetime of the admin token `up` prints.
const UP_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// A started suite.
#[derive(Debug)]
pub struct RunningSuite {
    /// The gateway's address.
    pub gateway: SocketAddr,
    /// Each service's own address, in the order of [`ServiceName::ALL`].
    pub services: Vec<(ServiceName, SocketAddr)>,
    /// An admin token valid for a day.
    pub token: String,
    /// The keys tokens are signed with (tests mint their own).
    pub keys: JwtKeys,
    tasks: JoinSet<(&'static str, anyhow::Result<()>)>,
    shutdown: CancellationToken,
}

impl RunningSuite {
    /// The lines `tiejun up` prints once ready.
    pub fn banner(&self) -> String {
        let mut out = format!("gateway listening on {}\n", self.gateway);
        for (name, addr) in &self.services {
            out.push_str(&format!("{} listening on {addr}\n", name.as_str()));
        }
        out.push_str(&format!("token: {}\n", self.token));
        out.push_str(&tour(self.gateway));
        out
    }

    /// Waits until every component has stopped (after shutdown); the first
    /// component that fails stops the others and its error is returned.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut first_error = None;
        while let Some(joined) = self.tasks.join_next().await {
            let (name, result) = joined.context("component task panicked")?;
            if let Err(err) = result {
                tracing::error!(component = name, error = format!("{err:#}"), "component failed");
                self.shutdown.cancel();
                first_error.get_or_insert(err.context(format!("{name} failed")));
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Starts the suite and returns once every component reports SERVING.
pub async fn start(args: &UpArgs, shutdown: CancellationToken) -> anyhow::Result<RunningSuite> {
    tiejun_platform::files::private_dir(&args.data_dir)?;
    let keys = JwtKeys::from_secret(secret::load_or_create(&args.data_dir)?.as_bytes())?;

    let gateway_listener = bind(args.host, args.port, 0).await?;
    let mut tasks = JoinSet::new();
    let mut services = Vec::new();
    let mut listeners = Vec::new();
    for (offset, name) in (1u16..).zip(ServiceName::ALL) {
        let listener = bind(args.host, args.port, offset).await?;
        services.push((name, listener.local_addr()?));
        listeners.push((name, listener));
    }
    // Every service delivers its events to the others' own ports.
    let events_to: Vec<String> = services
        .iter()
        .map(|(name, addr)| format!("{}=http://{addr}", name.as_str()))
        .collect();
    for (name, listener) in listeners {
        let addr = listener.local_addr()?;
        let db_path = args.data_dir.join(format!("{}.db", name.as_str()));
        let settings = ServiceSettings {
            server: ServerArgs::listening_on(addr),
            database: DatabaseArgs::for_url(format!("sqlite://{}", db_path.display())),
            keys: keys.clone(),
            clock: clock::system(),
            jobs: JobArgs::enabled(),
            events: EventArgs {
                events_to: events_to.clone(),
                ..EventArgs::none()
            },
            organisation: Default::default(),
        };
        let token = shutdown.clone();
        tasks.spawn(async move {
            let result = match name {
                ServiceName::Leads => tiejun_leads::run(settings, listener, token).await,
                ServiceName::Billing => tiejun_billing::run(settings, listener, token).await,
                ServiceName::Training => tiejun_training::run(settings, listener, token).await,
            };
            (name.as_str(), result)
        });
    }

    let gateway = gateway_listener.local_addr()?;
    let backend = |package: &str, name: ServiceName| {
        let urls: Vec<String> = services
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, addr)| format!("http://{addr}"))
            .collect();
        BackendSpec::parse(package, &urls)
    };
    let settings = GatewaySettings {
        server: ServerArgs::listening_on(gateway),
        keys: keys.clone(),
        backends: vec![
            backend("tiejun.leads.v1", ServiceName::Leads)?,
            backend("tiejun.billing.v1", ServiceName::Billing)?,
            backend("tiejun.training.v1", ServiceName::Training)?,
        ],
        tuning: GatewayTuning {
            cors_allow_origins: args.cors_allow_origins.clone(),
            ..GatewayTuning::default()
        },
        resolver: Arc::new(SystemResolver),
    };
    let token = shutdown.clone();
    tasks.spawn(async move { ("gateway", tiejun_gateway::run(settings, gateway_listener, token).await) });

    let mut suite = RunningSuite {
        gateway,
        services,
        token: keys.mint(&TokenSpec::new("tiejun-up-admin", &[Role::Admin], UP_TOKEN_TTL))?,
        keys,
        tasks,
        shutdown: shutdown.clone(),
    };
    let all: Vec<SocketAddr> = std::iter::once(gateway)
        .chain(suite.services.iter().map(|(_, a)| *a))
        .collect();
    tokio::select! {
        ready = tokio::time::timeout(READY_TIMEOUT, wait_all_serving(&all)) => {
            if ready.is_err() {
                shutdown.cancel();
                anyhow::bail!("the suite did not become ready within {READY_TIMEOUT:?}");
            }
        }
        Some(joined) = suite.tasks.join_next() => {
            shutdown.cancel();
            let (name, result) = joined.context("component task panicked")?;
            return Err(result.err().unwrap_or_else(|| anyhow::anyhow!("stopped early")).context(format!("{name} failed to start")));
        }
    }
    Ok(suite)
}

async fn bind(host: IpAddr, port: u16, offset: u16) -> anyhow::Result<TcpListener> {
    let port = if port == 0 {
        0
    } else {
        port.checked_add(offset).context("port out of range")?
    };
    TcpListener::bind((host, port))
        .await
        .with_context(|| format!("binding {host}:{port}"))
}

async fn wait_all_serving(addrs: &[SocketAddr]) {
    for addr in addrs {
        while !is_serving(*addr).await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// True when the server at `addr` answers health Check with SERVING.
pub async fn is_serving(addr: SocketAddr) -> bool {
    let Ok(channel) = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map(|e| e.connect_timeout(Duration::from_secs(1)))
    else {
        return false;
    };
    let Ok(channel) = channel.connect().await else {
        return false;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest { service: String::new() })
        .await
        .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32)
}

fn tour(gateway: SocketAddr) -> String {
    format!(
        r#"
try it (grpcurl):
  export TOKEN=<the token above>
  grpcurl -plaintext {gateway} list
  grpcurl -plaintext {gateway} grpc.health.v1.Health/Check
  grpcurl -plaintext {gateway} describe tiejun.leads.v1.LeadService
  grpcurl -plaintext -H "authorization: Bearer $TOKEN" -d '{{"person_id":"E1001"}}' {gateway} tiejun.leads.v1.RepService/GetRep
  tiejun token --sub zhang.wei --role sales_rep --rep-id E1001   # a rep's token
"#
    )
}
