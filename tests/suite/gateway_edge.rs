//! The gateway's edge: every call kind forwarded with metadata and trailers
//! intact, tokens checked before a backend is touched, per-principal rate
//! limits, deadlines, message limits and unknown services.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use tiejun_platform::auth::{Role, TokenSpec};
use tiejun_proto::bench::v1::{
    CollectRequest, ConverseRequest, EchoRequest, ExpandRequest, echo_service_client::EchoServiceClient,
    stream_service_client::StreamServiceClient,
};
use tiejun_tests::{
    authed, echo,
    gateway::{self, fast_tuning},
    keys, token,
};
use tokio::net::TcpListener;
use tonic::{Code, Request};
use tonic_types::StatusExt as _;

async fn echo_server() -> (tiejun_tests::Running, Arc<echo::Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    echo::start_on(listener, |_| {}).await
}

fn echo_request(delay: Option<Duration>) -> EchoRequest {
    EchoRequest {
        payload: b"ping".to_vec(),
        delay: delay.map(|d| d.try_into().expect("small duration")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_four_call_kinds_pass_through_with_metadata_and_trailers_intact() {
    let (backend, seen) = echo_server().await;
    let gw = gateway::in_front_of(&[backend.addr]).await;
    let token = token(&[Role::Admin]);
    let channel = gw.channel().await;

    // Unary, with a traceparent carried to the backend and a header back.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut request = authed(echo_request(None), &token);
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().expect("ascii"));
    let response = EchoServiceClient::new(channel.clone())
        .echo(request)
        .await
        .expect("unary through the gateway");
    assert_eq!(response.get_ref().payload, b"ping");
    assert_eq!(
        response
            .metadata()
            .get("x-echo-traceparent")
            .and_then(|v| v.to_str().ok()),
        Some(traceparent)
    );
    assert_eq!(
        seen.last_traceparent.lock().expect("lock").as_deref(),
        Some(traceparent)
    );

    let mut streams = StreamServiceClient::new(channel);
    // Server streaming.
    let mut expanded = streams
        .expand(authed(
            ExpandRequest {
                payload: b"x".to_vec(),
                count: 25,
            },
            &token,
        ))
        .await
        .expect("server streaming")
        .into_inner();
    let mut indexes = Vec::new();
    while let Some(answer) = expanded.message().await.expect("a message") {
        indexes.push(answer.index);
    }
    assert_eq!(indexes, (0..25).collect::<Vec<_>>());

    // Client streaming.
    let parts = ["甲", "乙", "丙"].map(|p| CollectRequest {
        payload: p.as_bytes().to_vec(),
    });
    let collected = streams
        .collect(authed(tokio_stream::iter(parts), &token))
        .await
        .expect("client streaming")
        .into_inner();
    assert_eq!((collected.count, collected.payload), (3, "甲乙丙".as_bytes().to_vec()));

    // Bidirectional, ending in an error whose details and trailers survive.
    let said = ["a", "b"]
        .iter()
        .map(|p| p.as_bytes())
        .chain([echo::FAIL])
        .map(|p| ConverseRequest { payload: p.to_vec() });
    let mut answers = streams
        .converse(authed(tokio_stream::iter(said), &token))
        .await
        .expect("bidirectional")
        .into_inner();
    assert_eq!(answers.message().await.expect("a").expect("a").payload, b"a");
    assert_eq!(answers.message().await.expect("b").expect("b").payload, b"b");
    let status = answers.message().await.expect_err("the third fails");
    assert_eq!(status.code(), Code::InvalidArgument);
    let violations = status.get_error_details().bad_request().cloned().expect("BadRequest");
    assert_eq!(violations.field_violations[0].field, "payload");
    assert_eq!(
        status.metadata().get("x-echo-trailer").and_then(|v| v.to_str().ok()),
        Some("kept")
    );
    assert_eq!(seen.calls(), 4);
}

#[tokio::test]
async fn calls_without_a_valid_token_are_refused_before_any_backend_is_touched() {
    let (backend, seen) = echo_server().await;
    let gw = gateway::in_front_of(&[backend.addr]).await;
    let mut client = EchoServiceClient::new(gw.channel().await);
    let none = client
        .echo(Request::new(echo_request(None)))
        .await
        .expect_err("no token");
    assert_eq!(none.code(), Code::Unauthenticated);
    let forged = tiejun_platform::auth::JwtKeys::from_secret(b"another-secret-of-sufficient-length")
        .expect("keys")
        .mint(&TokenSpec::new("mallory", &[Role::Admin], Duration::from_secs(60)))
        .expect("mint");
    let wrong = client
        .echo(authed(echo_request(None), &forged))
        .await
        .expect_err("wrong signature");
    assert_eq!(wrong.code(), Code::Unauthenticated);
    assert_eq!(seen.calls(), 0, "the backend never saw them");
}

/// Each principal's bucket is the process's: the calls go over eight
/// connections, which the gateway's two workers accept between them, and
/// still only the burst passes.
#[tokio::test]
async fn each_principal_is_rate_limited_with_retry_info() {
    let (backend, seen) = echo_server().await;
    let tuning = tiejun_gateway::GatewayTuning {
        rate_limit: 1,
        rate_burst: 3,
        ..fast_tuning()
    };
    let gw = gateway::tuned_in_front_of(&[backend.addr], tuning, |_| {}).await;
    let mut clients = Vec::new();
    for _ in 0..8 {
        let mut client = EchoServiceClient::new(gw.channel().await);
        client
            .echo(echo_request(None))
            .await
            .expect_err("no token: refused, but the connection is open");
        clients.push(client);
    }
    let mint = |sub: &str| {
        keys()
            .mint(&TokenSpec::new(sub, &[Role::SalesRep], Duration::from_secs(60)))
            .expect("mint")
    };
    let (alice, bob) = (mint("alice"), mint("bob"));
    let mut answers = Vec::new();
    for client in &mut clients {
        answers.push(client.echo(authed(echo_request(None), &alice)).await);
    }
    let passed = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(passed, 3, "the burst, over every connection and worker: {answers:?}");
    let limited = answers
        .into_iter()
        .find_map(Result::err)
        .expect("a call over the limit");
    assert_eq!(limited.code(), Code::ResourceExhausted);
    let delay = limited
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay)
        .expect("RetryInfo with a delay");
    assert!(delay > Duration::ZERO && delay <= Duration::from_secs(1), "{delay:?}");
    clients[0]
        .echo(authed(echo_request(None), &bob))
        .await
        .expect("bob has his own bucket");
    assert_eq!(seen.calls(), 4, "the limited calls never reached the backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_deadline_is_passed_on_shortened_and_answered_deadline_exceeded() {
    let (backend, seen) = echo_server().await;
    let gw = gateway::in_front_of(&[backend.addr]).await;
    let (raw, origin) = tiejun_tests::raw_client(gw.addr);
    let mut client = EchoServiceClient::with_origin(raw, origin);
    let token = token(&[Role::Admin]);

    let mut request = authed(echo_request(Some(Duration::from_secs(3))), &token);
    request.set_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let status = client.echo(request).await.expect_err("too slow");
    let elapsed = started.elapsed();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        elapsed >= Duration::from_millis(180) && elapsed < Duration::from_millis(1500),
        "answered after {elapsed:?}"
    );
    let seen_ms = seen.last_deadline_ms.load(Ordering::SeqCst);
    assert!((1..=200).contains(&seen_ms), "the backend saw {seen_ms} ms");

    // Within its deadline the same call succeeds and the backend saw the rest of it.
    let mut request = authed(echo_request(None), &token);
    request.set_timeout(Duration::from_secs(5));
    let answer = client.echo(request).await.expect("in time").into_inner();
    assert!((4000..=5000).contains(&answer.deadline_ms), "{}", answer.deadline_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unary_call_without_a_deadline_gets_the_default_one() {
    let (backend, seen) = echo_server().await;
    let gw = gateway::tuned_in_front_of(&[backend.addr], fast_tuning(), |server| {
        server.default_deadline = Duration::from_millis(300);
    })
    .await;
    let mut client = EchoServiceClient::new(gw.channel().await);
    let token = token(&[Role::Admin]);
    let status = client
        .echo(authed(echo_request(Some(Duration::from_secs(3))), &token))
        .await
        .expect_err("the default deadline ends it");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let seen_ms = seen.last_deadline_ms.load(Ordering::SeqCst);
    assert!((1..=300).contains(&seen_ms), "the backend saw {seen_ms} ms");

    // Streams get no default deadline: a 25-answer stream is not cut.
    let mut streams = StreamServiceClient::new(gw.channel().await);
    let _ = streams
        .expand(authed(
            ExpandRequest {
                payload: vec![],
                count: 1,
            },
            &token,
        ))
        .await
        .expect("stream")
        .into_inner()
        .message()
        .await
        .expect("message");
    assert_eq!(
        seen.last_deadline_ms.load(Ordering::SeqCst),
        0,
        "no grpc-timeout on a stream"
    );
}

#[tokio::test]
async fn an_oversized_request_is_refused_at_the_edge_and_the_gateway_stays_up() {
    let (backend, seen) = echo_server().await;
    let gw = gateway::tuned_in_front_of(&[backend.addr], fast_tuning(), |server| server.max_message_bytes = 1024).await;
    let mut client = EchoServiceClient::new(gw.channel().await);
    let token = token(&[Role::Admin]);
    let big = EchoRequest {
        payload: vec![7; 4096],
        delay: None,
    };
    let status = client.echo(authed(big, &token)).await.expect_err("too big");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(seen.calls(), 0);
    client
        .echo(authed(echo_request(None), &token))
        .await
        .expect("the next call is served");
}

#[tokio::test]
async fn a_service_no_backend_serves_is_unimplemented() {
    let (backend, _seen) = echo_server().await;
    let gw = gateway::in_front_of(&[backend.addr]).await;
    let mut programs =
        tiejun_proto::training::v1::program_service_client::ProgramServiceClient::new(gw.channel().await);
    let status = programs
        .list_programs(authed(Default::default(), &token(&[Role::Admin])))
        .await
        .expect_err("not routed here");
    assert_eq!(status.code(), Code::Unimplemented);
}

#[tokio::test]
async fn only_calls_safe_to_repeat_are_retried_and_only_as_often_as_allowed() {
    let (backend, seen) = echo_server().await;
    let gw = gateway::in_front_of(&[backend.addr]).await;
    let channel = gw.channel().await;
    let token = token(&[Role::Admin]);

    // Echo is declared free of side effects: two refusals are retried away.
    seen.fail_next.store(2, Ordering::SeqCst);
    EchoServiceClient::new(channel.clone())
        .echo(authed(echo_request(None), &token))
        .await
        .expect("served on the third attempt");
    assert_eq!(seen.calls(), 3);

    // Three refusals exceed the two retries allowed.
    seen.fail_next.store(3, Ordering::SeqCst);
    let status = EchoServiceClient::new(channel.clone())
        .echo(authed(echo_request(None), &token))
        .await
        .expect_err("out of retries");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(seen.calls(), 6);

    // A client stream is never held, so never repeated.
    seen.fail_next.store(1, Ordering::SeqCst);
    let one = [CollectRequest { payload: vec![1] }];
    let status = StreamServiceClient::new(channel)
        .collect(authed(tokio_stream::iter(one), &token))
        .await
        .expect_err("not retried");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(seen.calls(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_grpc_timeout_is_refused_invalid_argument_at_the_gateway_and_the_backend() {
    let (backend, seen) = echo_server().await;
    let gw = gateway::in_front_of(&[backend.addr]).await;
    let token = token(&[Role::Admin]);
    for (name, addr) in [("the gateway", gw.addr), ("the backend", backend.addr)] {
        let (raw, origin) = tiejun_tests::raw_client(addr);
        let mut client = EchoServiceClient::with_origin(raw, origin);
        for bad in ["abc", "-5m", "123456789m", "5", "1.5S", "10x"] {
            let mut request = authed(echo_request(None), &token);
            request
                .metadata_mut()
                .insert("grpc-timeout", bad.parse().expect("ascii"));
            let status = client.echo(request).await.expect_err("refused");
            assert_eq!(status.code(), Code::InvalidArgument, "{name}, {bad:?}: {status:?}");
            let fields: Vec<_> = status
                .get_details_bad_request()
                .expect("BadRequest")
                .field_violations
                .into_iter()
                .map(|v| v.field)
                .collect();
            assert_eq!(fields, ["grpc-timeout"], "{name}, {bad:?}");
        }
        // A well-formed one still passes.
        let mut request = authed(echo_request(None), &token);
        request
            .metadata_mut()
            .insert("grpc-timeout", "5S".parse().expect("ascii"));
        client.echo(request).await.expect("a valid grpc-timeout");
    }
    assert_eq!(
        seen.calls.load(Ordering::SeqCst),
        2,
        "only the two well-formed calls reached the backend's handler"
    );
}
