//! Authentication and authorisation at a service's own port.

use std::time::Duration;

use tiejun_platform::{
    auth::{Claims, JwtKeys, Role, TokenSpec},
    testing::TestDatabase,
};
use tiejun_proto::leads::v1::{GetRepRequest, rep_service_client::RepServiceClient};
use tiejun_tests::{Svc, authed, health, keys, start_service, token, wait_serving};
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;

async fn get_rep(addr: std::net::SocketAddr, request: Request<GetRepRequest>) -> Code {
    let mut client = RepServiceClient::new(tiejun_tests::channel(addr).await);
    match client.get_rep(request).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

fn rep() -> GetRepRequest {
    GetRepRequest {
        person_id: "E1001".into(),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

#[tokio::test]
async fn missing_expired_and_wrongly_signed_tokens_are_unauthenticated() {
    let db = TestDatabase::sqlite();
    let server = start_service(Svc::Leads, &db.url).await;
    assert!(wait_serving(server.addr, Duration::from_secs(30)).await);

    assert_eq!(
        get_rep(server.addr, Request::new(rep())).await,
        Code::Unauthenticated,
        "no token"
    );

    let expired = keys()
        .encode(&Claims {
            sub: "x".into(),
            roles: vec!["admin".into()],
            exp: now() - 600,
            ..Default::default()
        })
        .expect("encode");
    assert_eq!(
        get_rep(server.addr, authed(rep(), &expired)).await,
        Code::Unauthenticated,
        "expired"
    );

    let foreign = JwtKeys::from_secret(b"some-other-secret-entirely-1234567")
        .expect("keys")
        .mint(&TokenSpec::new("x", &[Role::Admin], Duration::from_secs(60)))
        .expect("mint");
    assert_eq!(
        get_rep(server.addr, authed(rep(), &foreign)).await,
        Code::Unauthenticated,
        "wrong signature"
    );

    assert_eq!(
        get_rep(server.addr, authed(rep(), "not-a-jwt")).await,
        Code::Unauthenticated,
        "garbage"
    );

    let mut basic = Request::new(rep());
    basic
        .metadata_mut()
        .insert("authorization", "Basic dXNlcjpwYXNz".parse().expect("ascii"));
    assert_eq!(
        get_rep(server.addr, basic).await,
        Code::Unauthenticated,
        "not a bearer token"
    );
}

#[tokio::test]
async fn a_role_not_allowed_is_permission_denied_and_an_allowed_one_reaches_the_service() {
    let db = TestDatabase::sqlite();
    let server = start_service(Svc::Leads, &db.url).await;
    assert!(wait_serving(server.addr, Duration::from_secs(30)).await);

    assert_eq!(
        get_rep(server.addr, authed(rep(), &token(&[Role::Trainer]))).await,
        Code::PermissionDenied
    );
    assert_eq!(
        get_rep(server.addr, authed(rep(), &token(&[Role::BillingAdmin]))).await,
        Code::PermissionDenied
    );
    // Allowed: the call reaches the service, which knows no such rep.
    assert_eq!(
        get_rep(server.addr, authed(rep(), &token(&[Role::SalesManager]))).await,
        Code::NotFound
    );
}

#[tokio::test]
async fn health_and_reflection_need_no_token() {
    let db = TestDatabase::sqlite();
    for svc in Svc::ALL {
        let server = start_service(svc, &db_for(&db, svc)).await;
        assert!(
            wait_serving(server.addr, Duration::from_secs(30)).await,
            "{svc:?} never SERVING"
        );
        for service in svc.services() {
            assert_eq!(
                health(server.addr, &service).await,
                Some(ServingStatus::Serving),
                "{service}"
            );
        }
        assert!(!tiejun_tests::reflection::list_v1(server.addr).await.is_empty());
        assert!(!tiejun_tests::reflection::list_v1alpha(server.addr).await.is_empty());
    }
}

/// One SQLite file per service in the same temporary directory.
fn db_for(db: &TestDatabase, svc: Svc) -> String {
    format!("{}-{svc:?}.db", db.url.trim_end_matches(".db"))
}

/// A token far over the limit, on the connection a rep's live feed uses:
/// the call with it is refused alone (UNAUTHENTICATED under the header
/// budget, HTTP 431 just over it), and the feed and the connection's other
/// calls go on. At the gateway and at a service's own port.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oversized_token_is_refused_for_its_call_alone() {
    use tiejun_proto::leads::v1::{
        ReassignLeadRequest, WatchRepEventsRequest, lead_service_client::LeadServiceClient,
        watch_rep_events_response::Event,
    };
    use tiejun_tests::leads::{admin, lead_input, rep_token};
    let suite = tiejun_tests::connected::Connected::start(TestDatabase::sqlite()).await;
    let setup = suite.channel().await;
    let mut reps = RepServiceClient::new(setup.clone());
    for id in ["BIG1"] {
        reps.register_rep(authed(tiejun_tests::leads::registration(id), &admin()))
            .await
            .expect("register");
        reps.activate_rep(authed(
            tiejun_proto::leads::v1::ActivateRepRequest {
                person_id: id.into(),
                reason: String::new(),
            },
            &admin(),
        ))
        .await
        .expect("activate");
    }
    let mut leads = LeadServiceClient::new(setup.clone());
    let imported = leads
        .import_leads(authed(
            tokio_stream::iter((0..2).map(|i| tiejun_proto::leads::v1::ImportLeadsRequest {
                row: i + 1,
                lead: Some(lead_input(9000 + i as usize, "杭州", 50)),
            })),
            &admin(),
        ))
        .await
        .expect("import")
        .into_inner();
    let ids: Vec<String> = imported.results.into_iter().map(|r| r.lead_id).collect();

    for (round, (endpoint, channel)) in [
        ("gateway", suite.channel().await),
        ("leads directly", suite.direct(Svc::Leads).await),
    ]
    .into_iter()
    .enumerate()
    {
        // One HTTP/2 connection: the feed and the calls below share it.
        let mut client = LeadServiceClient::new(channel.clone());
        let mut feed = client
            .watch_rep_events(authed(
                WatchRepEventsRequest {
                    person_id: "BIG1".into(),
                    after_sequence: None,
                },
                &rep_token("BIG1"),
            ))
            .await
            .expect("watch")
            .into_inner();
        for size in [100 * 1024, 140 * 1024] {
            let huge = "x".repeat(size);
            let mut same = RepServiceClient::new(channel.clone());
            let status = same
                .get_rep(authed(rep(), &huge))
                .await
                .expect_err("an oversized token");
            if size < tiejun_platform::config::DEFAULT_MAX_HEADER_BYTES as usize {
                assert_eq!(
                    status.code(),
                    Code::Unauthenticated,
                    "{endpoint}, {size} bytes: {status:?}"
                );
                assert!(status.message().contains("over 16384 bytes"), "{}", status.message());
            } else {
                // Over the header budget HTTP/2 itself refuses the call (431).
                assert_eq!(status.code(), Code::Unknown, "{endpoint}, {size} bytes: {status:?}");
                assert!(status.message().contains("431"), "{}", status.message());
            }
            // The connection lives: a normal call on it goes through.
            let fine = same
                .get_rep(authed(rep(), &token(&[Role::Admin])))
                .await
                .expect_err("no rep E1001");
            assert_eq!(fine.code(), Code::NotFound, "{endpoint} after {size} bytes: {fine:?}");
        }
        // And the feed still delivers.
        let reassign = ReassignLeadRequest {
            lead_id: ids[round].clone(),
            to_person_id: "BIG1".into(),
            reason: "hot".into(),
        };
        leads.reassign_lead(authed(reassign, &admin())).await.expect("reassign");
        let event = tokio::time::timeout(Duration::from_secs(5), feed.message())
            .await
            .unwrap_or_else(|_| panic!("{endpoint}: the feed went quiet"))
            .expect("the feed is open")
            .expect("an event");
        assert!(matches!(event.event, Some(Event::Assigned(_))), "{endpoint}: {event:?}");
    }
}
