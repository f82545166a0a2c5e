//! The gateway's workers, one thread each, as nginx's worker processes are:
//! each does all the work of every call on the connections it is given on
//! its own single-threaded runtime, with its own connections to every
//! backend endpoint, its own health probes of them and its own balancing. A
//! call is never handed from one thread to another on its way through,
//! which on a multi-threaded runtime cost the gateway a third of its CPU per
//! call (README, "Performance").
//!
//! One acceptor ([`accept`]) takes the connections from the listener and
//! deals them to the workers in turn, so that they spread evenly: workers
//! accepting from one socket themselves take them unevenly (the first awake
//! takes most), and `SO_REUSEPORT` would let another process of the same
//! user take a share of the port.
//!
//! What the process has once, the workers share ([`ProcessWide`]): each
//! caller's rate limit and the limits on calls in progress, so that
//! `--rate-limit` and `--concurrency-limit` mean the same with any number of
//! workers; what is read from the descriptors at start (the routes); and
//! the health it reports, which every worker's probes feed, so that a
//! health check says the same on whichever worker it lands.

use std::{net::SocketAddr, net::TcpStream, sync::Arc, time::Duration};

use anyhow::Context as _;
use tiejun_platform::server::{self, CallLimits, Edge, Incoming, Readiness, ServerSpec};
use tokio::{
    net::TcpListener,
    sync::{mpsc, oneshot},
};
use tokio_util::sync::CancellationToken;

use crate::{
    forward::{Forwarder, Shared},
    limit::RateLimit,
    pool::{ConnectSettings, Pool},
    probe::{ProbeSettings, Report, Statuses, watch_backend},
    retry::RetryPolicy,
    route::RouteTable,
    settings::{GatewaySettings, services_of},
    target::Target,
};

/// What every worker of one gateway process shares.
#[derive(Debug, Clone)]
pub struct ProcessWide {
    /// Paths to backends, read from the descriptors once.
    pub routes: Arc<RouteTable>,
    /// Each principal's calls a second.
    pub limits: Arc<RateLimit>,
    /// Calls in progress, in the whole process and per caller.
    pub calls: CallLimits,
    /// gRPC-Web, Connect and CORS in front of every worker's server.
    pub edge: Edge,
    /// The health every worker's server reports: the process's.
    pub statuses: Arc<Statuses>,
}

/// How many workers `requested` (`--workers`) means: 0 is one per CPU the
/// process may use, which std reads from the cgroup's CPU limit.
pub fn count(requested: usize) -> usize {
    match requested {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        n => n,
    }
}

/// Connections accepted but not yet taken by their worker, per worker.
const HANDED_AHEAD: usize = 64;

/// How long the acceptor waits after the listener failed (out of file
/// descriptors, say) before it accepts again.
const AFTER_ACCEPT_ERROR: Duration = Duration::from_millis(50);

/// A worker as the acceptor sees it: where its connections go.
pub type Hand = mpsc::Sender<TcpStream>;

/// Accepts connections on `listener` and deals them to `workers` in turn,
/// until every worker has stopped taking them (each stops when it begins
/// to drain).
pub async fn accept(listener: TcpListener, mut workers: Vec<Hand>) {
    let mut next = 0;
    while !workers.is_empty() {
        let mut stream = match listener.accept().await.and_then(|(stream, _)| stream.into_std()) {
            Ok(stream) => stream,
            Err(err) => {
                tracing::warn!(error = %err, "accepting a connection failed");
                tokio::time::sleep(AFTER_ACCEPT_ERROR).await;
                continue;
            }
        };
        // A worker that has stopped gives the connection back: the next one takes it.
        while !workers.is_empty() {
            next %= workers.len();
            match workers[next].send(stream).await {
                Ok(()) => {
                    next += 1;
                    break;
                }
                Err(mpsc::error::SendError(back)) => {
                    stream = back;
                    workers.remove(next);
                }
            }
        }
    }
}

/// Starts worker `index` on a thread of its own, serving the connections
/// handed to it (accepted on `local`) until `shutdown`; returns its hand and
/// its answer, which comes when it has drained and stopped.
pub fn spawn(
    index: usize,
    settings: GatewaySettings,
    process: ProcessWide,
    local: SocketAddr,
    shutdown: CancellationToken,
) -> anyhow::Result<(Hand, oneshot::Receiver<anyhow::Result<()>>)> {
    let (hand, connections) = mpsc::channel(HANDED_AHEAD);
    let incoming = Incoming::Handed { local, connections };
    let (answer, done) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("gateway-{index}"))
        .spawn(move || {
            let served = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("a gateway worker's runtime")
                .and_then(|runtime| runtime.block_on(serve(index, settings, process, incoming, shutdown)));
            let _ = answer.send(served);
        })
        .with_context(|| format!("starting gateway worker {index}"))?;
    Ok((hand, done))
}

/// The names the gateway reports health under for a backend: its package
/// and each of its services.
pub fn health_names(package: &str) -> Vec<String> {
    let mut names = tiejun_proto::service_names(package);
    names.push(package.to_owned());
    names
}

/// Worker `index`: its backend pools and their probes, and a server over
/// the forwarder, until `shutdown`.
async fn serve(
    index: usize,
    settings: GatewaySettings,
    process: ProcessWide,
    incoming: Incoming,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let tuning = &settings.tuning;
    let packages: Vec<String> = settings.backends.iter().map(|b| b.package.clone()).collect();
    let connect = ConnectSettings {
        connect_timeout: tuning.connect_timeout,
    };
    let probes = ProbeSettings {
        probe_interval: tuning.probe_interval,
        dns_refresh: tuning.dns_refresh,
    };
    // Stops the probes when the server stops, whatever the reason.
    let background = shutdown.child_token();
    let mut pools = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for backend in &settings.backends {
        let uris = match &backend.target {
            Target::Static(uris) => uris.clone(),
            Target::Dns { .. } => Vec::new(),
        };
        let pool = Arc::new(Pool::new(&backend.package, &uris, connect));
        let report = Report {
            statuses: process.statuses.clone(),
            worker: index,
            names: health_names(&backend.package),
        };
        tasks.spawn(watch_backend(
            pool.clone(),
            backend.target.clone(),
            settings.resolver.clone(),
            probes,
            report,
            background.clone(),
        ));
        pools.push(pool);
    }
    let shared = Arc::new(Shared {
        routes: process.routes,
        pools,
        limits: process.limits,
        retry: RetryPolicy::new(tuning.retries),
        max_message_bytes: settings.server.max_message_bytes,
    });
    let spec = ServerSpec {
        name: "gateway",
        services: services_of(&packages),
        policy: None,
        readiness: Readiness::Follow(process.statuses.watch()),
        edge: Some(process.edge),
        limits: process.calls,
    };
    let routes = Forwarder::new(shared).into_routes();
    let served = server::serve(spec, &settings.server, settings.keys, routes, incoming, shutdown).await;
    background.cancel();
    tasks.shutdown().await;
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_are_dealt_in_turn_to_the_workers_still_taking_them() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (first, mut to_first) = mpsc::channel(HANDED_AHEAD);
        let (stopped, to_stopped) = mpsc::channel(HANDED_AHEAD);
        let (third, mut to_third) = mpsc::channel(HANDED_AHEAD);
        drop(to_stopped);
        let acceptor = tokio::spawn(accept(listener, vec![first, stopped, third]));
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
        }
        let mut dealt = [0, 0];
        for _ in 0..4 {
            tokio::select! {
                Some(_) = to_first.recv() => dealt[0] += 1,
                Some(_) = to_third.recv() => dealt[1] += 1,
            }
        }
        assert_eq!(dealt, [2, 2], "two each to the workers still taking them");
        drop((to_first, to_third));
        clients.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
        tokio::time::timeout(Duration::from_secs(5), acceptor)
            .await
            .expect("the acceptor stops once no worker takes connections")
            .expect("no panic");
    }

    #[test]
    fn zero_workers_is_one_per_cpu_and_a_number_is_taken_as_it_is() {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        assert_eq!(count(0), cpus);
        assert_eq!(count(3), 3);
    }
}
