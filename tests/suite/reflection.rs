//! Reflection v1 and v1alpha list every service, on each service's port.

use std::time::Duration;

use tiejun_platform::testing::TestDatabase;
use tiejun_tests::{Svc, reflection, start_service, wait_serving};

#[tokio::test]
async fn reflection_v1_and_v1alpha_list_every_service_of_each_server() {
    for svc in Svc::ALL {
        let db = TestDatabase::sqlite();
        let server = start_service(svc, &db.url).await;
        assert!(wait_serving(server.addr, Duration::from_secs(30)).await);
        for listed in [
            reflection::list_v1(server.addr).await,
            reflection::list_v1alpha(server.addr).await,
        ] {
            for expected in svc.services() {
                assert!(
                    listed.contains(&expected),
                    "{svc:?}: {expected} missing from {listed:?}"
                );
            }
            assert!(listed.contains(&"grpc.health.v1.Health".to_owned()));
            assert!(listed.contains(&"grpc.reflection.v1alpha.ServerReflection".to_owned()));
        }
        // Error details decode in grpcurl only if their types are resolvable.
        assert!(reflection::resolves_symbol(server.addr, "google.rpc.BadRequest").await);
        assert!(reflection::resolves_symbol(server.addr, "google.rpc.ErrorInfo").await);
    }
}
