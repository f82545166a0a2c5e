//! Load shedding: calls over the concurrency limit are refused at once with
//! RESOURCE_EXHAUSTED and a RetryInfo delay.

use std::time::Duration;

use tiejun_proto::bench::v1::{EchoRequest, echo_service_client::EchoServiceClient};
use tiejun_tests::{authed, echo, token, wait_serving};
use tonic::Code;
use tonic_types::StatusExt as _;

#[tokio::test]
async fn calls_over_the_concurrency_limit_are_shed_with_retry_info() {
    let server = echo::start(|a| a.concurrency_limit = 2).await;
    assert!(wait_serving(server.addr, Duration::from_secs(10)).await);
    let channel = server.channel().await;
    let token = token(&[]);
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let mut client = EchoServiceClient::new(channel.clone());
            let request = authed(
                EchoRequest {
                    payload: vec![1],
                    delay: Some(Duration::from_secs(2).try_into().expect("duration")),
                },
                &token,
            );
            tokio::spawn(async move { client.echo(request).await })
        })
        .collect();
    let mut ok = 0;
    let mut shed = 0;
    for call in calls {
        match call.await.expect("task") {
            Ok(_) => ok += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                assert!(status.get_details_retry_info().is_some(), "shed without RetryInfo");
                shed += 1;
            }
        }
    }
    assert!(ok <= 2, "{ok} calls ran at once with a limit of 2");
    assert!(ok >= 1 && shed >= 6, "ok {ok}, shed {shed}");
}
