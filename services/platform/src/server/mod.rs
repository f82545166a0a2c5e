//! Server bootstrap shared by every service and the gateway: health with real
//! readiness, reflection v1 and v1alpha, auth, load shedding, message limits,
//! deadlines answered DEADLINE_EXCEEDED and a bounded graceful drain on SIGTERM.

mod hard_stop;
pub mod readiness;
mod reflection;
mod shed;

use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{service::Routes, transport::server::TcpIncoming};
use tonic_health::{ServingStatus, server::HealthReporter};

pub use hard_stop::HardStop;
pub use readiness::Readiness;
pub use shed::{CallLimits, ShareOfCalls, Shed};

use crate::{
    auth::{Auth, JwtKeys, Policy},
    config::{ServerArgs, ServiceSettings},
    db::{DbCell, Migrations},
    deadline::Deadlines,
    layer::{AroundLayer, gate},
    metrics::Red,
};

/// After the drain timeout, how long ended calls get to flush before the
/// server task is dropped.
const HARD_STOP_GRACE: Duration = Duration::from_secs(1);

/// Health service name of the health service itself. It answers SERVING
/// for as long as the process answers at all, draining or not, database or
/// not: the name a liveness probe asks for (readiness asks for `""`).
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

/// A whole server's HTTP service, type-erased: what an [`Edge`] wraps.
pub type HttpService = tower::util::BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    tower::BoxError,
>;

/// A translation in front of the server's every layer: it sees each call
/// before auth, limits and deadlines, and what it passes on is gRPC, so
/// that every protocol meets the same edge.
#[derive(Clone)]
pub struct Edge(pub std::sync::Arc<dyn Fn(HttpService) -> HttpService + Send + Sync>);

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Edge")
    }
}

/// What a server serves and how it decides it is ready.
#[derive(Debug)]
pub struct ServerSpec {
    /// Short name for logs (`leads`, `gateway`…).
    pub name: &'static str,
    /// Fully-qualified gRPC services served (health reports each by name,
    /// reflection lists them).
    pub services: Vec<String>,
    /// Per-RPC authorisation; `None` authenticates only (the gateway).
    pub policy: Option<Policy>,
    /// When the server may report SERVING.
    pub readiness: Readiness,
    /// Protocols translated in front of everything else, if any (the
    /// gateway's gRPC-Web, Connect and CORS); the server then also accepts
    /// HTTP/1.1.
    pub edge: Option<Edge>,
    /// The process's limits on calls in progress
    /// ([`CallLimits::new`]`(args.concurrency_limit)`, or one set shared
    /// by several servers in one process).
    pub limits: CallLimits,
}

/// A server's health: every advertised service and `""` move together.
/// Once draining, nothing can make it SERVING again.
#[derive(Debug, Clone)]
pub struct Health {
    reporter: HealthReporter,
    services: Vec<String>,
    draining: std::sync::Arc<tokio::sync::Mutex<bool>>,
    /// `tiejun.server.serving`: 1 while the whole server (`""`) is SERVING.
    serving: opentelemetry::metrics::Gauge<u64>,
}

impl Health {
    /// Sets every advertised service and `""` (the whole server) to `status`,
    /// unless the server is draining.
    pub async fn set_all(&self, status: ServingStatus) {
        let draining = self.draining.lock().await;
        if !*draining {
            self.apply(status).await;
        }
    }

    /// Sets each named service as `up` says, and `""` to SERVING only when
    /// all are up; unless the server is draining.
    pub async fn set_each(&self, up: &std::collections::BTreeMap<String, bool>) {
        let draining = self.draining.lock().await;
        if *draining {
            return;
        }
        let status = |up: bool| {
            if up {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            }
        };
        for (service, up) in up {
            self.reporter.set_service_status(service, status(*up)).await;
        }
        let all = !up.is_empty() && up.values().all(|u| *u);
        self.reporter.set_service_status("", status(all)).await;
        self.serving.record(u64::from(all), &[]);
    }

    /// NOT_SERVING for good: the server is shutting down.
    pub async fn drain(&self) {
        let mut draining = self.draining.lock().await;
        *draining = true;
        self.apply(ServingStatus::NotServing).await;
    }

    async fn apply(&self, status: ServingStatus) {
        self.reporter.set_service_status("", status).await;
        self.serving.record(u64::from(status == ServingStatus::Serving), &[]);
        for service in &self.services {
            self.reporter.set_service_status(service, status).await;
        }
    }
}

/// Where a server's connections come from.
#[derive(Debug)]
pub enum Incoming {
    /// It accepts them itself.
    Listener(TcpListener),
    /// Another task accepts them on `local` and hands them over (each of the
    /// gateway's workers); they are served until the sender is gone or the
    /// server stops.
    Handed {
        /// The address they were accepted on, for the logs.
        local: std::net::SocketAddr,
        /// The accepted connections, in non-blocking mode.
        connections: tokio::sync::mpsc::Receiver<std::net::TcpStream>,
    },
}

impl From<TcpListener> for Incoming {
    fn from(listener: TcpListener) -> Self {
        Self::Listener(listener)
    }
}

/// Accepted connections, with Nagle's algorithm off, as a server takes them.
type Connections = std::pin::Pin<Box<dyn futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> + Send>>;

impl Incoming {
    fn into_parts(self) -> anyhow::Result<(std::net::SocketAddr, Connections)> {
        use futures::StreamExt as _;
        match self {
            Self::Listener(listener) => {
                let local = listener.local_addr().context("listener address")?;
                Ok((local, Box::pin(TcpIncoming::from(listener).with_nodelay(Some(true)))))
            }
            Self::Handed { local, connections } => {
                let streams = tokio_stream::wrappers::ReceiverStream::new(connections).map(|stream| {
                    stream.set_nodelay(true)?;
                    tokio::net::TcpStream::from_std(stream)
                });
                Ok((local, Box::pin(streams)))
            }
        }
    }
}

/// Serves `routes` (the service's own gRPC services) on `listener` until
/// `shutdown` is cancelled, then drains: health goes NOT_SERVING, new calls
/// are still accepted for `drain_delay`, then the listener closes and
/// in-flight calls get up to `drain_timeout` to finish.
pub async fn serve(
    spec: ServerSpec,
    args: &ServerArgs,
    keys: JwtKeys,
    routes: Routes,
    listener: impl Into<Incoming>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (local, incoming) = listener.into().into_parts()?;
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let health = Health {
        reporter,
        services: spec.services.clone(),
        draining: Default::default(),
        serving: crate::telemetry::meter(spec.name)
            .u64_gauge("tiejun.server.serving")
            .with_unit("{server}")
            .with_description("1 while the server reports SERVING (ready), else 0")
            .build(),
    };
    health.set_all(ServingStatus::NotServing).await;
    health
        .reporter
        .set_service_status(HEALTH_SERVICE, ServingStatus::Serving)
        .await;

    let (reflection_v1, reflection_v1alpha) = reflection::services(&spec.services)?;
    let routes = routes
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);

    let auth = match spec.policy {
        Some(policy) => Auth::new(keys, policy),
        None => Auth::authenticate_only(keys),
    };
    let name = spec.name;
    let known = crate::calls::Calls::for_services(&spec.services);
    let (traced, deadlines) = (known.clone(), known.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let hard_stop = CancellationToken::new();
    let layers = tower::ServiceBuilder::new()
        .layer(AroundLayer::new(Red::new(name, known)))
        .layer(AroundLayer::new(HardStop::new(hard_stop.clone())))
        .layer(AroundLayer::new(Deadlines::new(args.default_deadline, deadlines)))
        .layer(spec.limits.shed.clone())
        .layer(gate(auth))
        .layer(spec.limits.share.clone());
    let builder = tonic::transport::Server::builder()
        .accept_http1(spec.edge.is_some())
        .max_concurrent_streams(args.max_concurrent_streams)
        .http2_max_header_list_size(args.max_header_bytes)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .trace_fn(move |req| crate::telemetry::request_span(name, &traced, req));
    let signal = async {
        let _ = stop_rx.await;
    };
    // Without an edge the layers go to tonic as they are: the services'
    // gRPC path stays exactly what it was before the gateway had an edge.
    let server: std::pin::Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>> = match &spec.edge {
        None => {
            let mut builder = builder.layer(layers);
            Box::pin(
                builder
                    .add_routes(routes)
                    .serve_with_incoming_shutdown(incoming, signal),
            )
        }
        Some(edge) => {
            let stack = layers.service(routes.prepare());
            let service = (edge.0)(HttpService::new(tower::ServiceExt::map_err(
                stack,
                tower::BoxError::from,
            )));
            Box::pin(builder.serve_with_incoming_shutdown(service, incoming, signal))
        }
    };
    let mut serving = tokio::spawn(server);
    let ready = tokio::spawn(spec.readiness.run(health.clone(), shutdown.clone()));
    tracing::info!(service = name, addr = %local, "listening");

    tokio::select! {
        result = &mut serving => {
            ready.abort();
            return result.context("server task")?.context("server failed");
        }
        () = shutdown.cancelled() => {}
    }

    health.drain().await;
    tracing::info!(service = name, delay = ?args.drain_delay, timeout = ?args.drain_timeout, "draining");
    tokio::time::sleep(args.drain_delay).await;
    let _ = stop_tx.send(());
    let outcome = match tokio::time::timeout(args.drain_timeout, &mut serving).await {
        Ok(result) => result.context("server task")?.context("server failed"),
        Err(_) => {
            tracing::warn!(service = name, "drain timeout reached; ending remaining calls");
            hard_stop.cancel();
            if tokio::time::timeout(HARD_STOP_GRACE, &mut serving).await.is_err() {
                serving.abort();
            }
            Ok(())
        }
    };
    if let Ok(Some(db)) = ready.await {
        db.close().await;
    }
    tracing::info!(service = name, "stopped");
    outcome
}

/// The event consumer service every storage-backed service also answers.
pub const EVENT_CONSUMER: &str = "tiejun.events.v1.EventConsumerService";

/// A storage-backed service, as its crate describes itself (a `static`).
#[derive(Debug)]
pub struct StorageService {
    /// Short name for logs, metrics and its events' producer.
    pub name: &'static str,
    /// The proto package it owns (`tiejun.leads.v1`).
    pub package: &'static str,
    /// Its access policy.
    pub policy: fn() -> Policy,
    /// Its schema.
    pub migrations: &'static Migrations,
}

impl StorageService {
    /// Every fully-qualified gRPC service it answers: its package's, read
    /// from the descriptors, and the event consumer.
    pub fn services(&self) -> Vec<String> {
        let mut services = tiejun_proto::service_names(self.package);
        services.push(EVENT_CONSUMER.to_owned());
        services
    }
}

/// Declares a storage-backed service crate's `PACKAGE` (the proto package
/// it owns) and its `SERVICE` ([`StorageService`]), by the layout every
/// service follows: its policy is `policy::policy`, its constraint table
/// `store::constraints::CONSTRAINTS`, its own migrations are in
/// `migrations/{postgres,sqlite}`, and `shared` places the platform's
/// shared tables ([`Shared`](crate::db::Shared)) at the versions they hold
/// in its history.
///
/// ```text
/// tiejun_platform::storage_service! {
///     name: "leads",
///     package: "tiejun.leads.v1",
///     shared: [(1, IdempotencyKeys), (4, EventDelivery), (6, EventReplayTrace)],
/// }
/// ```
#[macro_export]
macro_rules! storage_service {
    (
        name: $name:literal,
        package: $package:literal,
        shared: [$(($version:literal, $shared:ident)),* $(,)?] $(,)?
    ) => {
        /// The proto package this service owns.
        pub const PACKAGE: &str = $package;

        /// This service, as the shared serve entry runs it: its name, proto
        /// package, policy and schema (`tiejun_platform::storage_service!`).
        pub static SERVICE: $crate::server::StorageService = $crate::server::StorageService {
            name: $name,
            package: PACKAGE,
            policy: policy::policy,
            migrations: &$crate::db::Migrations {
                postgres: ::sqlx::migrate!("./migrations/postgres"),
                sqlite: ::sqlx::migrate!("./migrations/sqlite"),
                shared: &[$(($version, $crate::db::Shared::$shared)),*],
                constraints: store::constraints::CONSTRAINTS,
            },
        };
    };
}

/// What a service's own start hands the shared entry ([`run_service`]).
#[derive(Debug)]
pub struct Started {
    /// The routes of its gRPC services.
    pub routes: Routes,
    /// The background tasks it spawned (jobs), stopped when serving ends.
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The one serve entry of the storage-backed services: the database cell,
/// the event relay, the service's own `start` (its handlers' state, routes
/// and jobs), then [`serve_service`] until `shutdown`; the relay and the
/// jobs are stopped when serving ends.
pub async fn run_service(
    service: &'static StorageService,
    settings: ServiceSettings,
    listener: TcpListener,
    shutdown: CancellationToken,
    start: impl FnOnce(DbCell, &ServiceSettings, &CancellationToken) -> anyhow::Result<Started>,
) -> anyhow::Result<()> {
    let cell = DbCell::new();
    let relay = crate::relay::Relay::new(
        service.name,
        cell.clone(),
        settings.keys.clone(),
        settings.events.clone(),
    )?;
    let mut tasks = vec![tokio::spawn(relay.run(shutdown.clone()))];
    let started = start(cell.clone(), &settings, &shutdown)?;
    tasks.extend(started.tasks);
    let served = serve_service(service, settings, cell, started.routes, listener, shutdown).await;
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
    served
}

/// Serves a storage-backed service: ready once its database answers and is
/// migrated, with the pool handed to handlers through `cell`.
async fn serve_service(
    service: &'static StorageService,
    settings: ServiceSettings,
    cell: DbCell,
    routes: Routes,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    crate::telemetry::statements::describe_database(service.name, &settings.database.database_url);
    pool_metrics(service.name, cell.clone(), settings.database.pool().max_connections);
    let spec = ServerSpec {
        name: service.name,
        services: service.services(),
        policy: Some((service.policy)()),
        readiness: Readiness::Database {
            url: settings.database.database_url.clone(),
            pool: settings.database.pool(),
            migrations: service.migrations,
            cell,
        },
        edge: None,
        limits: CallLimits::new(settings.server.concurrency_limit),
    };
    serve(spec, &settings.server, settings.keys, routes, listener, shutdown).await
}

/// The pool's connections by the database client conventions 1.26:
/// `db.client.connection.count` by `db.client.connection.state` (`used`,
/// `idle`) and `db.client.connection.max`, read when metrics are collected.
fn pool_metrics(component: &'static str, cell: DbCell, max: u32) {
    let meter = crate::telemetry::meter(component);
    let pool = opentelemetry::KeyValue::new("db.client.connection.pool.name", component);
    let in_use = pool.clone();
    let _count = meter
        .i64_observable_up_down_counter("db.client.connection.count")
        .with_unit("{connection}")
        .with_description("Connections of the pool, used or idle")
        .with_callback(move |observer| {
            if let Ok(db) = cell.get() {
                let (open, idle) = db.pool_connections();
                let idle = i64::try_from(idle).unwrap_or(i64::MAX);
                let state = |s: &'static str| {
                    [
                        in_use.clone(),
                        opentelemetry::KeyValue::new("db.client.connection.state", s),
                    ]
                };
                observer.observe(i64::from(open) - idle, &state("used"));
                observer.observe(idle, &state("idle"));
            }
        })
        .build();
    let _max = meter
        .i64_observable_up_down_counter("db.client.connection.max")
        .with_unit("{connection}")
        .with_description("The most connections the pool opens")
        .with_callback(move |observer| observer.observe(i64::from(max), std::slice::from_ref(&pool)))
        .build();
}

/// Applies the message size limit to a generated tonic server, both ways:
/// `limited!(LeadServiceServer::new(svc), max_bytes)`.
#[macro_export]
macro_rules! limited {
    ($server:expr, $max:expr) => {
        $server.max_decoding_message_size($max).max_encoding_message_size($max)
    };
}
