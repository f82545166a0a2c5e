//! membership-billing from outside, on both backends, one file per part of
//! the service: the catalog under the free-forever rule and plan versions
//! (`catalog`), member accounts (`accounts`), the purchase path and plan
//! changes (`subscriptions`), the renewal cycle and the renewal book
//! (`renewals`), conversion and ARR (`reports`). The calls several of them
//! make are here.

use std::time::Duration;

use tiejun_platform::{auth::Role, testing::TestDatabase};
use tiejun_proto::billing::v1::{
    CreateFeatureRequest, FeatureTier, Money, catalog_service_client::CatalogServiceClient,
};
use tiejun_tests::{Svc, authed, start_service, token, wait_serving};
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt as _;

mod accounts;
mod catalog;
mod renewals;
mod reports;
mod subscriptions;

pub(super) async fn start(db: &TestDatabase) -> (tiejun_tests::Running, CatalogServiceClient<Channel>) {
    let server = start_service(Svc::Billing, &db.url).await;
    assert!(wait_serving(server.addr, Duration::from_secs(30)).await);
    let client = CatalogServiceClient::new(server.channel().await);
    (server, client)
}

pub(super) fn admin() -> String {
    token(&[Role::BillingAdmin])
}

pub(super) fn cny(yuan: i64) -> Option<Money> {
    Some(Money {
        amount_minor: yuan * 100,
        currency: "CNY".into(),
    })
}

pub(super) async fn feature(c: &mut CatalogServiceClient<Channel>, key: &str, tier: FeatureTier) {
    let request = CreateFeatureRequest {
        feature_key: key.into(),
        name: key.into(),
        description: String::new(),
        tier: tier as i32,
    };
    c.create_feature(authed(request, &admin())).await.expect("feature");
}

/// `status` is ALREADY_EXISTS with `ResourceInfo` naming `existing`.
pub(super) fn names_the_existing(status: tonic::Status, existing: &str) {
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    let info = status.get_details_resource_info().expect("ResourceInfo");
    assert_eq!(info.resource_name, existing, "{status:?}");
}
