//! The gateway in front of test backends, as `tiejun serve gateway` starts
//! it, with a resolver the test scripts.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tiejun_gateway::{BackendSpec, GatewaySettings, GatewayTuning, Lookup, Resolve, SharedResolver, Target};
use tiejun_platform::config::ServerArgs;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::Running;

/// The package of the echo services.
pub const ECHO_PACKAGE: &str = "tiejun.bench.v1";

/// A resolver whose answer the test sets.
#[derive(Debug, Default)]
pub struct ScriptedResolver {
    addrs: Mutex<Vec<SocketAddr>>,
}

impl ScriptedResolver {
    /// From now on every name resolves to `addrs`.
    pub fn set(&self, addrs: &[SocketAddr]) {
        *self.addrs.lock().expect("not poisoned") = addrs.to_vec();
    }
}

impl Resolve for ScriptedResolver {
    fn resolve<'a>(&'a self, _host: &'a str, _port: u16) -> Lookup<'a> {
        let addrs = self.addrs.lock().expect("not poisoned").clone();
        Box::pin(async move { Ok(addrs) })
    }
}

/// The echo package served by fixed endpoints.
pub fn echo_backend(addrs: &[SocketAddr]) -> BackendSpec {
    let urls: Vec<String> = addrs.iter().map(|a| format!("http://{a}")).collect();
    BackendSpec::parse(ECHO_PACKAGE, &urls).expect("valid endpoints")
}

/// The echo package behind a DNS name.
pub fn echo_backend_dns(name: &str) -> BackendSpec {
    BackendSpec {
        package: ECHO_PACKAGE.into(),
        target: Target::Dns {
            host: name.into(),
            port: 1,
        },
    }
}

/// Test defaults: fast probes and lookups, no rate limit (one test token
/// makes thousands of calls; the limit has its own test), and two workers
/// whatever the machine's CPUs, so that every gateway test meets calls
/// spread over workers as production does.
pub fn fast_tuning() -> GatewayTuning {
    GatewayTuning {
        rate_limit: 0,
        workers: 2,
        probe_interval: Duration::from_millis(100),
        dns_refresh: Duration::from_millis(100),
        ..GatewayTuning::default()
    }
}

/// Starts a gateway on port 0 in front of `backends`.
pub async fn start(
    backends: Vec<BackendSpec>,
    tuning: GatewayTuning,
    resolver: SharedResolver,
    tune: impl FnOnce(&mut ServerArgs),
) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding port 0");
    let addr = listener.local_addr().expect("local addr");
    let mut server = ServerArgs::listening_on(addr);
    tune(&mut server);
    let settings = GatewaySettings {
        server,
        keys: crate::keys(),
        backends,
        tuning,
        resolver,
    };
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let task = tokio::spawn(tiejun_gateway::run(settings, listener, stop));
    Running::new(addr, shutdown, task)
}

/// A gateway with test defaults in front of fixed echo endpoints.
pub async fn in_front_of(addrs: &[SocketAddr]) -> Running {
    tuned_in_front_of(addrs, fast_tuning(), |_| {}).await
}

/// A gateway with `tuning` and server settings adjusted by `tune` in front
/// of fixed echo endpoints.
pub async fn tuned_in_front_of(
    addrs: &[SocketAddr],
    tuning: GatewayTuning,
    tune: impl FnOnce(&mut ServerArgs),
) -> Running {
    start(
        vec![echo_backend(addrs)],
        tuning,
        Arc::new(tiejun_gateway::SystemResolver),
        tune,
    )
    .await
}
