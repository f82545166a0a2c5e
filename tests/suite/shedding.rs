//! Load shedding: calls over the concurrency limit are refused at once with
//! RESOURCE_EXHAUSTED and a RetryInfo delay, on a service port and on the
//! gateway, whose limit is the whole process's however many workers carry
//! the calls.

use std::time::Duration;

use tiejun_proto::bench::v1::{EchoRequest, EchoResponse, echo_service_client::EchoServiceClient};
use tiejun_tests::{authed, echo, gateway, token, token_of, wait_serving};
use tokio::task::JoinHandle;
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt as _;

/// A call that holds its place for 2 s, on `channel` as `token`'s caller.
fn slow_call(channel: Channel, token: &str) -> JoinHandle<Result<tonic::Response<EchoResponse>, tonic::Status>> {
    let mut client = EchoServiceClient::new(channel);
    let request = authed(
        EchoRequest {
            payload: vec![1],
            delay: Some(Duration::from_secs(2).try_into().expect("duration")),
        },
        token,
    );
    tokio::spawn(async move { client.echo(request).await })
}

/// How many of `calls` ran; every other one must have been shed with
/// RESOURCE_EXHAUSTED and a RetryInfo delay.
async fn ran(calls: Vec<JoinHandle<Result<tonic::Response<EchoResponse>, tonic::Status>>>) -> usize {
    let mut ok = 0;
    for call in calls {
        match call.await.expect("task") {
            Ok(_) => ok += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                assert!(status.get_details_retry_info().is_some(), "shed without RetryInfo");
            }
        }
    }
    ok
}

#[tokio::test]
async fn calls_over_the_concurrency_limit_are_shed_with_retry_info() {
    let server = echo::start(|a| a.concurrency_limit = 2).await;
    assert!(wait_serving(server.addr, Duration::from_secs(10)).await);
    let channel = server.channel().await;
    let token = token(&[]);
    let calls = (0..8).map(|_| slow_call(channel.clone(), &token)).collect();
    let ok = ran(calls).await;
    assert!(ok <= 2, "{ok} calls ran at once with a limit of 2");
    assert!(ok >= 1, "every call was shed");
}

/// Callers, each with its own connection, so the gateway's acceptor deals
/// them to both of its workers, and each its own subject, so the per-caller
/// share (a quarter of the limit) refuses none of them.
const CALLERS: usize = 8;

#[tokio::test]
async fn the_gateways_limit_is_the_whole_process_across_its_workers() {
    let backend = echo::start(|_| {}).await;
    // A quarter of 4 is one call per caller: each caller makes one.
    let gw = gateway::tuned_in_front_of(&[backend.addr], gateway::fast_tuning(), |a| a.concurrency_limit = 4).await;
    assert!(wait_serving(gw.addr, Duration::from_secs(10)).await);
    let mut calls = Vec::new();
    for caller in 0..CALLERS {
        calls.push(slow_call(
            gw.channel().await,
            &token_of(&format!("caller-{caller}"), &[]),
        ));
    }
    let ok = ran(calls).await;
    // With a limit per worker, two workers would run up to 8.
    assert!(ok <= 4, "{ok} calls ran at once through the gateway with a limit of 4");
    assert!(ok >= 1, "every call was shed");
}
