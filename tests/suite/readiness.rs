//! Readiness: NOT_SERVING until the database answers and migrations ran.

use std::time::Duration;

use tiejun_platform::testing::{PgCluster, TestDatabase};
use tiejun_tests::{Svc, health, start_service, wait_serving};
use tokio::net::{TcpListener, TcpStream};
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
