//! Per-request balancing: calls spread over every endpoint, an endpoint
//! that dies costs only its calls in flight and gets traffic again when it
//! returns, a DNS name's changing addresses are followed, and the gateway's
//! health follows its backends.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tiejun_platform::auth::Role;
use tiejun_proto::bench::v1::{EchoRequest, echo_service_client::EchoServiceClient};
use tiejun_tests::{
    Running, authed, echo,
    gateway::{self, ScriptedResolver, echo_backend_dns, fast_tuning},
    health, token,
};
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;

async fn echo_on(addr: &str) -> (Running, Arc<echo::Seen>) {
    let listener = TcpListener::bind(addr).await.expect("bind");
    // Killed means killed: no drain, calls in progress end at once.
    echo::start_on(listener, |a| a.drain_timeout = Duration::ZERO).await
}

async fn echoes(n: usize) -> Vec<(Running, Arc<echo::Seen>)> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(echo_on("127.0.0.1:0").await);
    }
    out
}

async fn call(client: &mut EchoServiceClient<Channel>, token: &str, delay: Duration) -> Result<(), tonic::Status> {
    let request = EchoRequest {
        payload: b"ping".to_vec(),
        delay: Some(delay.try_into().expect("small")),
    };
    client.echo(authed(request, token)).await.map(drop)
}

async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    tokio::time::timeout(within, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_thousand_calls_spread_within_15_percent_over_three_endpoints() {
    let backends = echoes(3).await;
    let addrs: Vec<SocketAddr> = backends.iter().map(|(r, _)| r.addr).collect();
    let gw = gateway::in_front_of(&addrs).await;
    // One client, one HTTP/2 connection to the gateway: no pinning behind it.
    let client = EchoServiceClient::new(gw.channel().await);
    let token = token(&[Role::Admin]);
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let (mut client, token) = (client.clone(), token.clone());
            tokio::spawn(async move {
                for _ in 0..500 {
                    call(&mut client, &token, Duration::ZERO).await.expect("served");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    let counts: Vec<u64> = backends.iter().map(|(_, seen)| seen.calls()).collect();
    assert_eq!(counts.iter().sum::<u64>(), 3000);
    assert!(
        counts.iter().all(|c| (850..=1150).contains(c)),
        "calls per endpoint {counts:?} are not within ±15% of 1000"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_killed_mid_run_costs_only_its_calls_in_flight_and_gets_traffic_back() {
    let mut backends = echoes(3).await;
    let addrs: Vec<SocketAddr> = backends.iter().map(|(r, _)| r.addr).collect();
    let gw = gateway::in_front_of(&addrs).await;
    let client = EchoServiceClient::new(gw.channel().await);
    let token = token(&[Role::Admin]);
    let concurrency = 6;
    let (ok, failed, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (mut client, token) = (client.clone(), token.clone());
            let (ok, failed, stop) = (ok.clone(), failed.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    match call(&mut client, &token, Duration::from_millis(5)).await {
                        Ok(()) => ok.fetch_add(1, Ordering::SeqCst),
                        Err(_) => failed.fetch_add(1, Ordering::SeqCst),
                    };
                }
            })
        })
        .collect();
    assert!(eventually(Duration::from_secs(10), || ok.load(Ordering::SeqCst) >= 300).await);

    // Kill the first endpoint.
    let (victim, victim_seen) = backends.remove(0);
    victim.shutdown.cancel();
    victim.join().await.expect("stopped");
    let before = victim_seen.calls();
    let served_at_kill = ok.load(Ordering::SeqCst);
    assert!(
        eventually(Duration::from_secs(10), || ok.load(Ordering::SeqCst)
            >= served_at_kill + 300)
        .await
    );
    assert_eq!(victim_seen.calls(), before, "no call reached a dead endpoint");
    let after_kill = failed.load(Ordering::SeqCst);
    assert!(
        after_kill <= concurrency,
        "{after_kill} calls failed; at most the {concurrency} in flight may"
    );

    // Bring it back on the same address: the probe readmits it.
    let (_back, back_seen) = echo_on(&addrs[0].to_string()).await;
    assert!(
        eventually(Duration::from_secs(10), || back_seen.calls() >= 50).await,
        "traffic returns to the restarted endpoint"
    );
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("worker");
    }
    assert_eq!(failed.load(Ordering::SeqCst), after_kill, "no failure after the return");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_name_whose_addresses_change_is_followed() {
    let backends = echoes(2).await;
    let (a, b) = (&backends[0], &backends[1]);
    let resolver = Arc::new(ScriptedResolver::default());
    resolver.set(&[a.0.addr]);
    let gw = gateway::start(
        vec![echo_backend_dns("echo.tiejun.svc.cluster.local")],
        fast_tuning(),
        resolver.clone(),
        |_| {},
    )
    .await;
    assert!(tiejun_tests::wait_serving(gw.addr, Duration::from_secs(10)).await);
    let mut client = EchoServiceClient::new(gw.channel().await);
    let token = token(&[Role::Admin]);
    for _ in 0..20 {
        call(&mut client, &token, Duration::ZERO).await.expect("served by a");
    }
    assert_eq!((a.1.calls(), b.1.calls()), (20, 0));

    resolver.set(&[b.0.addr]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..20 {
        call(&mut client, &token, Duration::ZERO).await.expect("served by b");
    }
    assert_eq!((a.1.calls(), b.1.calls()), (20, 20), "the new address took over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_is_serving_while_each_backend_has_a_healthy_endpoint() {
    let (backend, _seen) = echo_on("127.0.0.1:0").await;
    let addr = backend.addr;
    let gw = gateway::in_front_of(&[addr]).await;
    assert!(tiejun_tests::wait_serving(gw.addr, Duration::from_secs(10)).await);
    for name in ["tiejun.bench.v1", "tiejun.bench.v1.EchoService"] {
        assert_eq!(health(gw.addr, name).await, Some(ServingStatus::Serving), "{name}");
    }

    backend.shutdown.cancel();
    backend.join().await.expect("stopped");
    let down = async {
        while health(gw.addr, "").await != Some(ServingStatus::NotServing) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), down)
        .await
        .expect("NOT_SERVING once the only endpoint is gone");
    assert_eq!(
        health(gw.addr, "tiejun.bench.v1").await,
        Some(ServingStatus::NotServing)
    );
    // A call meanwhile is answered at once, not left hanging.
    let mut client = EchoServiceClient::new(gw.channel().await);
    let status = tokio::time::timeout(
        Duration::from_secs(2),
        call(&mut client, &token(&[Role::Admin]), Duration::ZERO),
    )
    .await
    .expect("answered")
    .expect_err("nobody to serve it");
    assert_eq!(status.code(), tonic::Code::Unavailable);

    let (_again, _) = echo_on(&addr.to_string()).await;
    assert!(tiejun_tests::wait_serving(gw.addr, Duration::from_secs(5)).await);
}

/// A backend whose health says NOT_SERVING to its first check and SERVING
/// to every later one: two workers probing it once each see it differently.
#[derive(Debug, Default)]
struct FirstCheckDown {
    checks: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl tonic_health::pb::health_server::Health for FirstCheckDown {
    async fn check(
        &self,
        _: tonic::Request<tonic_health::pb::HealthCheckRequest>,
    ) -> Result<tonic::Response<tonic_health::pb::HealthCheckResponse>, tonic::Status> {
        let status = if self.checks.fetch_add(1, Ordering::SeqCst) == 0 {
            ServingStatus::NotServing
        } else {
            ServingStatus::Serving
        };
        Ok(tonic::Response::new(tonic_health::pb::HealthCheckResponse {
            status: status.into(),
        }))
    }

    type WatchStream = tokio_stream::Empty<Result<tonic_health::pb::HealthCheckResponse, tonic::Status>>;

    async fn watch(
        &self,
        _: tonic::Request<tonic_health::pb::HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("not probed"))
    }
}

/// Probes far apart (each bounded to 2 s), so that what the first probes
/// found stands for the whole test.
fn one_probe_each() -> tiejun_gateway::GatewayTuning {
    tiejun_gateway::GatewayTuning {
        probe_interval: Duration::from_secs(60),
        ..fast_tuning()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_worker_answers_a_health_check_for_the_whole_process() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let backend = listener.local_addr().expect("addr");
    let health_service = FirstCheckDown::default();
    let checks = health_service.checks.clone();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(tonic_health::pb::health_server::HealthServer::new(health_service))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let gw = gateway::tuned_in_front_of(&[backend], one_probe_each(), |_| {}).await;
    assert!(
        eventually(Duration::from_secs(10), || checks.load(Ordering::SeqCst) >= 2).await,
        "both workers probed the backend"
    );

    // Connections are dealt to the two workers in turn: four checks, two on each.
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(health(gw.addr, "").await);
    }
    assert_eq!(
        answers,
        [Some(ServingStatus::NotServing); 4],
        "one worker found the backend down, so the process is not serving, on either worker"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_is_not_serving_before_every_backend_was_probed() {
    let (echo, _seen) = echo_on("127.0.0.1:0").await;
    // A backend that takes connections and never answers: its first probe
    // takes the whole 2 s it is allowed.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let backends = vec![
        gateway::echo_backend(&[echo.addr]),
        tiejun_gateway::BackendSpec::parse("tiejun.leads.v1", &[format!("http://{silent_addr}")]).expect("valid"),
    ];
    let gw = gateway::start(
        backends,
        one_probe_each(),
        Arc::new(tiejun_gateway::SystemResolver),
        |_| {},
    )
    .await;

    let mut echo_seen_up = false;
    let watched = async {
        loop {
            let whole = health(gw.addr, "").await;
            assert_ne!(
                whole,
                Some(ServingStatus::Serving),
                "SERVING while the leads backend was still being probed"
            );
            echo_seen_up |= health(gw.addr, gateway::ECHO_PACKAGE).await == Some(ServingStatus::Serving);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(1500), watched).await;
    assert!(echo_seen_up, "the echo backend was found up meanwhile");
}
