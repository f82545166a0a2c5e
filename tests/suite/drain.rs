//! Graceful shutdown: NOT_SERVING at once, in-flight calls complete, and the
//! drain is bounded.

use std::time::Duration;

use tiejun_proto::bench::v1::{EchoRequest, echo_service_client::EchoServiceClient};
use tiejun_tests::{authed, echo, health, token, wait_serving};
use tonic_health::pb::health_check_response::ServingStatus;

fn slow(delay: Duration) -> EchoRequest {
    EchoRequest {
        payload: b"still here".to_vec(),
        delay: Some(delay.try_into().expect("duration")),
    }
}

#[tokio::test]
async fn in_flight_call_completes_during_graceful_shutdown() {
    let server = echo::start(|a| a.drain_delay = Duration::from_millis(300)).await;
    assert!(wait_serving(server.addr, Duration::from_secs(10)).await);
    let channel = server.channel().await;
    let token = token(&[]);

    let mut client = EchoServiceClient::new(channel.clone());
    let call = tokio::spawn(async move { client.echo(authed(slow(Duration::from_millis(1500)), &token)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.shutdown.cancel();

    // During the drain delay the server still answers, and says NOT_SERVING.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut health_client = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = health_client
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await
        .expect("health answers while draining")
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::NotServing as i32);

    let response = call.await.expect("task").expect("the in-flight call succeeds");
    assert_eq!(response.into_inner().payload, b"still here");
    server.join().await.expect("server stopped cleanly");
}

#[tokio::test]
async fn drain_is_bounded_by_the_timeout() {
    let server = echo::start(|a| a.drain_timeout = Duration::from_millis(300)).await;
    let addr = server.addr;
    assert!(wait_serving(server.addr, Duration::from_secs(10)).await);
    let mut client = EchoServiceClient::new(server.channel().await);
    let token = token(&[]);
    let call = tokio::spawn(async move { client.echo(authed(slow(Duration::from_secs(60)), &token)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.shutdown.cancel();
    // A 60 s call must not hold the server: the drain gives up after 300 ms.
    tokio::time::timeout(Duration::from_secs(20), server.join())
        .await
        .expect("the drain timeout bounds the shutdown")
        .expect("server stopped");
    assert!(
        call.await.expect("task").is_err(),
        "the abandoned call fails rather than hangs"
    );
    assert_eq!(health(addr, "").await, None, "nothing answers after shutdown");
}
