//! Readiness: NOT_SERVING until the database answers and migrations ran,
//! then the rule of `platform::server::readiness` (SERVING while the last
//! check of the database succeeded), and a call waiting for the database
//! ends at its deadline.

use std::time::{Duration, Instant};

use tiejun_platform::{
    auth::Role,
    server::readiness::{CHECK_EVERY, CHECK_WITHIN},
    testing::{PgCluster, TestDatabase},
};
use tiejun_proto::billing::v1::{ListPlansRequest, catalog_service_client::CatalogServiceClient};
use tiejun_tests::{
    Svc, authed, health,
    proxy::{Mode, Proxy},
    start_service, token, wait_serving,
};
use tokio::net::{TcpListener, TcpStream};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

/// Observes NOT_SERVING for a while (the service keeps retrying meanwhile).
async fn stays_not_serving(addr: std::net::SocketAddr) {
    for _ in 0..5 {
        assert_eq!(health(addr, "").await, Some(ServingStatus::NotServing));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sqlite_not_serving_until_its_directory_exists_then_serving() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("later");
    let url = format!("sqlite://{}", dir.join("leads.db").display());
    let server = start_service(Svc::Leads, &url).await;

    stays_not_serving(server.addr).await;
    std::fs::create_dir(&dir).expect("mkdir");
    assert!(
        wait_serving(server.addr, Duration::from_secs(30)).await,
        "never SERVING after the directory appeared"
    );
}

#[tokio::test]
async fn postgres_not_serving_until_the_database_is_reachable_then_serving() {
    // A fresh database on the test cluster, reached through a port that
    // nothing listens on yet: the database is "down" until the proxy starts.
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let cluster = PgCluster::shared().expect("cluster started by TestDatabase::postgres");
    let proxy = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let proxy_port = proxy.local_addr().expect("addr").port();
    drop(proxy);
    let url = db
        .url
        .replace(&format!(":{}/", cluster.port()), &format!(":{proxy_port}/"));
    let server = start_service(Svc::Billing, &url).await;

    stays_not_serving(server.addr).await;
    let listener = TcpListener::bind(("127.0.0.1", proxy_port))
        .await
        .expect("rebinding the proxy port");
    let upstream = cluster.port();
    let proxy = tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", upstream)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    assert!(
        wait_serving(server.addr, Duration::from_secs(30)).await,
        "never SERVING after PostgreSQL appeared"
    );
    proxy.abort();
}

/// How long after `since` `addr` first reported `status` (checked every 50 ms).
async fn reports(addr: std::net::SocketAddr, status: ServingStatus, since: Instant) -> Duration {
    tokio::time::timeout(Duration::from_secs(20), async {
        while health(addr, "").await != Some(status) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never {status:?}"));
    since.elapsed()
}

/// A read through a client that has no deadline timer of its own: how the
/// call ends is the server's answer.
async fn list_plans(addr: std::net::SocketAddr, timeout: Duration) -> Result<(), tonic::Status> {
    let (raw, origin) = tiejun_tests::raw_client(addr);
    let mut client = CatalogServiceClient::with_origin(raw, origin);
    let mut request = authed(ListPlansRequest::default(), &token(&[Role::Admin]));
    request.set_timeout(timeout);
    client.list_plans(request).await.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_readiness_follows_the_database_by_its_rule_and_a_waiting_call_ends_at_its_deadline() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let cluster = PgCluster::shared().expect("cluster started by TestDatabase::postgres");
    let proxy = Proxy::start(([127, 0, 0, 1], cluster.port()).into()).await;
    let url = db
        .url
        .replace(&format!(":{}/", cluster.port()), &format!(":{}/", proxy.addr().port()));
    let server = start_service(Svc::Billing, &url).await;
    assert!(wait_serving(server.addr, Duration::from_secs(30)).await);
    list_plans(server.addr, Duration::from_secs(5))
        .await
        .expect("a read while up");

    // The rule's bounds, and what this machine's scheduling may add.
    let slack = Duration::from_millis(700);
    for mode in [Mode::Refuse, Mode::Blackhole] {
        let cut = Instant::now();
        proxy.set(mode);
        let down = reports(server.addr, ServingStatus::NotServing, cut).await;
        assert!(
            down <= CHECK_EVERY + CHECK_WITHIN + slack,
            "{mode:?}: NOT_SERVING {down:?} after the database went"
        );

        let deadline = Duration::from_millis(500);
        let started = Instant::now();
        let status = list_plans(server.addr, deadline).await.expect_err("no database");
        let took = started.elapsed();
        assert!(
            matches!(status.code(), Code::DeadlineExceeded | Code::Unavailable),
            "{mode:?}: {status:?}"
        );
        assert!(
            took <= deadline + slack,
            "{mode:?}: answered after {took:?}, the deadline was {deadline:?}"
        );

        let back = Instant::now();
        proxy.set(Mode::Pass);
        let up = reports(server.addr, ServingStatus::Serving, back).await;
        assert!(
            up <= CHECK_EVERY + CHECK_WITHIN + slack,
            "{mode:?}: SERVING {up:?} after the database came back"
        );
        list_plans(server.addr, Duration::from_secs(5))
            .await
            .unwrap_or_else(|status| panic!("{mode:?}: a read once back: {status:?}"));
        println!(
            "{mode:?}: NOT_SERVING after {down:?}, SERVING again after {up:?}; a {deadline:?} call during it ended in {took:?}"
        );
    }
}
