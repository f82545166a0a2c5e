//! A caller that opens calls and never finishes sending them (slowloris):
//! 5 HTTP/2 connections × 250 streams, HEADERS only, a valid token without a
//! role, unary calls and server streams. Against the gateway and against a
//! service port, while it lasts:
//! another caller's calls and health checks answer as usual (none shed), the
//! attacker holds at most its share of the server's calls, and every one of
//! its streams has its answer by the default deadline.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use tiejun_proto::bench::v1::{EchoRequest, echo_service_client::EchoServiceClient};
use tiejun_tests::{authed, echo, gateway, health, token_of, wait_serving};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

const CONNECTIONS: usize = 5;
const STREAMS: usize = 250;
const DEADLINE: Duration = Duration::from_secs(2);
/// `--concurrency-limit` left at its default (1024), of which one caller
/// may hold a quarter.
const SHARE: usize = 1024 / 4;

/// One attacker stream's end: its gRPC code and when it came.
type Ending = (Code, Duration);

/// Opens the attack's streams on `addr` and returns, once every one has its
/// answer, how each ended.
async fn attack(addr: SocketAddr, token: String, opened: tokio::sync::mpsc::Sender<()>) -> Vec<Ending> {
    let started = Instant::now();
    let mut endings = tokio::task::JoinSet::new();
    let mut held = Vec::new();
    for _ in 0..CONNECTIONS {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (mut sender, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
        tokio::spawn(connection);
        for i in 0..STREAMS {
            sender = sender.ready().await.expect("stream slot");
            // A unary call, and a server stream, which has no deadline of
            // its own but must still receive its request in time.
            let path = [
                "tiejun.bench.v1.EchoService/Echo",
                "tiejun.bench.v1.StreamService/Expand",
            ][i % 2];
            let request = http::Request::post(format!("http://{addr}/{path}"))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .header("authorization", format!("Bearer {token}"))
                .body(())
                .expect("request");
            // The body is never sent: the stream stays open from our side.
            let (response, body) = sender.send_request(request, false).expect("send headers");
            held.push(body);
            endings.spawn(async move { (grpc_code(response).await, started.elapsed()) });
        }
    }
    opened.send(()).await.expect("announce");
    let endings = endings.join_all().await;
    drop(held);
    endings
}

/// The `grpc-status` of a response, from its head (trailers-only) or its
/// trailers.
async fn grpc_code(response: h2::client::ResponseFuture) -> Code {
    let response = response.await.expect("a response head");
    let code = |headers: &http::HeaderMap| {
        headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok()?.parse::<i32>().ok())
            .map(Code::from_i32)
    };
    if let Some(code) = code(response.headers()) {
        return code;
    }
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        chunk.expect("response data");
    }
    let trailers = body.trailers().await.expect("trailers").expect("grpc trailers");
    code(&trailers).expect("grpc-status in the trailers")
}

/// While the attack holds its streams: `rounds` calls and health checks by
/// another caller, each answered OK / SERVING; their slowest time.
async fn someone_else(addr: SocketAddr, rounds: usize) -> Duration {
    let channel = tiejun_tests::channel(addr).await;
    let mut client = EchoServiceClient::new(channel);
    let token = token_of("bystander", &[]);
    let mut slowest = Duration::ZERO;
    for _ in 0..rounds {
        let started = Instant::now();
        let answer = client
            .echo(authed(
                EchoRequest {
                    payload: vec![7],
                    delay: None,
                },
                &token,
            ))
            .await;
        assert!(answer.is_ok(), "a bystander's call during the attack: {answer:?}");
        assert_eq!(
            health(addr, "").await,
            Some(ServingStatus::Serving),
            "health during the attack"
        );
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    slowest
}

/// Runs the attack on `addr` and checks what the module documentation says.
async fn holds_against_the_attack(addr: SocketAddr, name: &str) {
    assert!(wait_serving(addr, Duration::from_secs(10)).await, "{name} serving");
    let (opened_tx, mut opened) = tokio::sync::mpsc::channel(1);
    let attacker = tokio::spawn(attack(addr, token_of("attacker", &[]), opened_tx));
    opened.recv().await.expect("the attack's streams are open");
    let slowest = someone_else(addr, 20).await;
    let endings = tokio::time::timeout(DEADLINE * 5, attacker)
        .await
        .unwrap_or_else(|_| panic!("{name}: attacker streams still open long after the default deadline"))
        .expect("attacker");

    assert_eq!(endings.len(), CONNECTIONS * STREAMS);
    let held: Vec<_> = endings
        .iter()
        .filter(|(code, _)| *code == Code::DeadlineExceeded)
        .collect();
    let refused = endings
        .iter()
        .filter(|(code, _)| *code == Code::ResourceExhausted)
        .count();
    assert_eq!(
        held.len() + refused,
        endings.len(),
        "{name}: every attacker stream ends DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED: {:?}",
        endings
            .iter()
            .find(|(c, _)| !matches!(c, Code::DeadlineExceeded | Code::ResourceExhausted))
    );
    assert!(
        !held.is_empty() && held.len() <= SHARE,
        "{name}: the attacker held {} calls; its share is {SHARE}",
        held.len()
    );
    let last = endings.iter().map(|(_, at)| *at).max().expect("endings");
    assert!(
        last < DEADLINE + Duration::from_secs(3),
        "{name}: the last attacker stream ended after {last:?}, the default deadline is {DEADLINE:?}"
    );
    // Generous: the point is that nobody waits for the attacker to leave.
    assert!(
        slowest < Duration::from_secs(1),
        "{name}: a bystander's call and health check took {slowest:?}"
    );
    println!(
        "{name}: attacker held {} and was refused {refused}, all ended by {last:?}; bystander's slowest {slowest:?}",
        held.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_never_sends_its_requests_stalls_nobody() {
    let backend = echo::start(|a| a.default_deadline = DEADLINE).await;
    holds_against_the_attack(backend.addr, "a service port").await;
    let gw = gateway::tuned_in_front_of(&[backend.addr], gateway::fast_tuning(), |a| {
        a.default_deadline = DEADLINE;
    })
    .await;
    holds_against_the_attack(gw.addr, "the gateway").await;
}
