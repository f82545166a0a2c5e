//! Support for the end-to-end tests: start a service (or the whole suite) on
//! port 0 exactly as `tiejun` does, mint tokens, and talk to servers with
//! real gRPC clients.

pub mod billing;
pub mod connected;
pub mod echo;
pub mod fixture;
pub mod gateway;
pub mod leads;
pub mod proxy;
pub mod raw;
pub mod reflection;
pub mod training;

use std::{net::SocketAddr, time::Duration};

use tiejun_platform::{
    auth::{JwtKeys, Role, TokenSpec},
    clock,
    config::{DatabaseArgs, JobArgs, ServerArgs, ServiceSettings},
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::{Request, metadata::MetadataValue, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

/// With `TIEJUN_TEST_LOG` set (a `RUST_LOG` filter, e.g. `error`), the
/// servers a test starts log to the test's output: how to see the cause of
/// an INTERNAL a test got.
pub fn logs_when_asked() {
    if let Ok(filter) = std::env::var("TIEJUN_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// The secret every test server is started with.
pub const TEST_SECRET: &[u8] = b"tiejun-test-secret-0123456789abcdef";

/// The keys matching [`TEST_SECRET`].
pub fn keys() -> JwtKeys {
    JwtKeys::from_secret(TEST_SECRET).expect("test secret is long enough")
}

/// A token that passes every role gate, scoped to rep E0001, account A0001
/// and learner E0001: for tests that call every RPC of the descriptors.
pub fn every_role_token(subject: &str) -> String {
    let mut spec = TokenSpec::new(subject, &Role::ALL, Duration::from_secs(3600));
    spec.rep_id = Some("E0001".into());
    spec.account_id = Some("A0001".into());
    spec.learner_id = Some("E0001".into());
    keys().mint(&spec).expect("mint")
}

/// A token for `roles`, valid for an hour.
pub fn token(roles: &[Role]) -> String {
    token_of("test", roles)
}

/// A token of `subject` (one caller, as the per-caller limits count them)
/// for `roles`, valid for an hour.
pub fn token_of(subject: &str, roles: &[Role]) -> String {
    keys()
        .mint(&TokenSpec::new(subject, roles, Duration::from_secs(3600)))
        .expect("minting a test token")
}

/// `request` with `authorization: Bearer <token>`.
pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().expect("ascii token");
    request.metadata_mut().insert("authorization", value);
    request
}

/// Which service to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Svc {
    /// lead-distribution.
    Leads,
    /// membership-billing.
    Billing,
    /// training-enrollment.
    Training,
}

impl Svc {
    /// Every service.
    pub const ALL: [Svc; 3] = [Svc::Leads, Svc::Billing, Svc::Training];

    /// The services' gRPC names as the server advertises them.
    pub fn services(self) -> Vec<String> {
        match self {
            Svc::Leads => tiejun_leads::SERVICE.services(),
            Svc::Billing => tiejun_billing::SERVICE.services(),
            Svc::Training => tiejun_training::SERVICE.services(),
        }
    }

    /// The service's access policy.
    pub fn policy(self) -> tiejun_platform::auth::Policy {
        match self {
            Svc::Leads => tiejun_leads::policy(),
            Svc::Billing => tiejun_billing::policy(),
            Svc::Training => tiejun_training::policy(),
        }
    }

    /// The migrations of the service.
    pub fn migrations(self) -> &'static tiejun_platform::db::Migrations {
        match self {
            Svc::Leads => tiejun_leads::SERVICE.migrations,
            Svc::Billing => tiejun_billing::SERVICE.migrations,
            Svc::Training => tiejun_training::SERVICE.migrations,
        }
    }
}

/// A server started by a test; cancelled when dropped.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Cancel to start the graceful drain.
    pub shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Running {
    /// Wraps a spawned server task.
    pub fn new(addr: SocketAddr, shutdown: CancellationToken, task: JoinHandle<anyhow::Result<()>>) -> Self {
        Self {
            addr,
            shutdown,
            task: Some(task),
        }
    }

    /// Waits for the server task to end (after `shutdown` was cancelled) and
    /// returns what it returned.
    pub async fn join(mut self) -> anyhow::Result<()> {
        let task = self.task.take().expect("joined once");
        task.await?
    }

    /// A channel to the server.
    pub async fn channel(&self) -> Channel {
        channel(self.addr).await
    }
}

/// A lazily-connecting channel to `addr`.
pub async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("valid uri")
        .connect_lazy()
}

/// Starts `svc` on port 0 with `database_url`, as `tiejun serve` does.
pub async fn start_service(svc: Svc, database_url: &str) -> Running {
    start_service_with(svc, database_url, |_| {}).await
}

/// Like [`start_service`], on a clock the test moves by hand.
pub async fn start_service_at(svc: Svc, database_url: &str, clock: clock::SharedClock) -> Running {
    spawn_service(svc, database_url, |_| {}, clock, JobArgs::disabled()).await
}

/// Like [`start_service_at`], with the background jobs running every `interval`.
pub async fn start_service_with_jobs(
    svc: Svc,
    database_url: &str,
    clock: clock::SharedClock,
    interval: std::time::Duration,
) -> Running {
    spawn_service(
        svc,
        database_url,
        |_| {},
        clock,
        JobArgs {
            enabled: true,
            interval,
        },
    )
    .await
}

/// Like [`start_service`], with server settings adjusted by `tune`.
pub async fn start_service_with(svc: Svc, database_url: &str, tune: impl FnOnce(&mut ServerArgs)) -> Running {
    spawn_service(svc, database_url, tune, clock::system(), JobArgs::disabled()).await
}

async fn spawn_service(
    svc: Svc,
    database_url: &str,
    tune: impl FnOnce(&mut ServerArgs),
    clock: clock::SharedClock,
    jobs: JobArgs,
) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding port 0");
    let addr = listener.local_addr().expect("local addr");
    let mut server = ServerArgs::listening_on(addr);
    tune(&mut server);
    let settings = ServiceSettings {
        server,
        database: DatabaseArgs::for_url(database_url),
        keys: keys(),
        clock,
        jobs,
        events: tiejun_platform::events::EventArgs::none(),
        organisation: Default::default(),
    };
    spawn_on(svc, settings, listener)
}

/// Starts `svc` with `settings` on `listener`, as `tiejun serve` does.
pub fn spawn_on(svc: Svc, settings: ServiceSettings, listener: TcpListener) -> Running {
    let addr = listener.local_addr().expect("local addr");
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        match svc {
            Svc::Leads => tiejun_leads::run(settings, listener, stop).await,
            Svc::Billing => tiejun_billing::run(settings, listener, stop).await,
            Svc::Training => tiejun_training::run(settings, listener, stop).await,
        }
    });
    Running::new(addr, shutdown, task)
}

/// The overall health status of the server at `addr` (`None` if it does not answer).
pub async fn health(addr: SocketAddr, service: &str) -> Option<ServingStatus> {
    let mut client = HealthClient::new(channel(addr).await);
    let response = client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .ok()?;
    ServingStatus::try_from(response.into_inner().status).ok()
}

/// Waits until `addr` reports SERVING, up to `within`; false if it never did.
pub async fn wait_serving(addr: SocketAddr, within: Duration) -> bool {
    tokio::time::timeout(within, async {
        while health(addr, "").await != Some(ServingStatus::Serving) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .is_ok()
}

/// A plain HTTP/2 client without a deadline timer of its own (tonic's
/// channel enforces `grpc-timeout` locally, answering CANCELLED first): with
/// it, how a deadline ends is the server's answer.
pub type RawClient =
    hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, tonic::body::Body>;

/// A [`RawClient`] and the origin to give a generated client's `with_origin`.
pub fn raw_client(addr: SocketAddr) -> (RawClient, http::Uri) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let origin = format!("http://{addr}").parse().expect("valid uri");
    (client, origin)
}
