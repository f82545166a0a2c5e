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
            iat: None,
            nbf: None,
            rep_id: None,
            account_id: None,
            learner_id: None,
            team: None,
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
