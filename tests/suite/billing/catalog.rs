//! The catalog: what is free stays free from every angle, a price change
//! makes a new plan version and keeps the old one, and a duplicate names the
//! row that exists.

use tiejun_platform::{auth::Role, both_backends, on_pool_raw, testing::TestDatabase};
use tiejun_proto::billing::v1::{
    ChangePlanPriceRequest, CreateFeatureRequest, CreatePlanRequest, FeatureTier, GetPlanRequest, ListPlansRequest,
    UpdateFeatureRequest, catalog_service_client::CatalogServiceClient,
};
use tiejun_tests::{
    authed,
    billing::{BillingFixture, billing_admin, cny},
    token,
};
use tonic::Code;
use tonic_types::StatusExt as _;

use super::names_the_existing;

fn free_forever(status: tonic::Status) {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(
        status.get_details_error_info().expect("ErrorInfo").reason,
        "FREE_FOREVER"
    );
}

#[both_backends]
async fn what_is_free_stays_free_from_every_angle(db: TestDatabase) {
    let f = BillingFixture::start(db, None).await;
    let mut c = CatalogServiceClient::new(f.channel.clone());
    f.calls().feature("supplier_listing", FeatureTier::Free).await;
    f.calls().feature("buyer_inquiries", FeatureTier::Free).await;
    f.calls().feature("verified_badge", FeatureTier::Paid).await;
    f.calls().feature("top_search_ranking", FeatureTier::Paid).await;

    // Updating a feature: FREE -> PAID refused; PAID -> FREE allowed, and then it is free forever too.
    let paid = UpdateFeatureRequest {
        feature_key: "supplier_listing".into(),
        tier: FeatureTier::Paid as i32,
        ..Default::default()
    };
    free_forever(
        c.update_feature(authed(paid, &billing_admin()))
            .await
            .expect_err("free to paid"),
    );
    let freed = UpdateFeatureRequest {
        feature_key: "verified_badge".into(),
        tier: FeatureTier::Free as i32,
        ..Default::default()
    };
    c.update_feature(authed(freed, &billing_admin()))
        .await
        .expect("paid to free");
    let back = UpdateFeatureRequest {
        feature_key: "verified_badge".into(),
        tier: FeatureTier::Paid as i32,
        ..Default::default()
    };
    free_forever(
        c.update_feature(authed(back, &billing_admin()))
            .await
            .expect_err("back to paid"),
    );
    let renamed = UpdateFeatureRequest {
        feature_key: "supplier_listing".into(),
        name: "Supplier listing".into(),
        ..Default::default()
    };
    c.update_feature(authed(renamed, &billing_admin()))
        .await
        .expect("renaming a free feature is fine");

    // The database refuses too, whatever the code does.
    let direct = f.db.clone();
    let bypass = on_pool_raw!(&direct, |p| sqlx::query(
        "UPDATE features SET tier = 'PAID' WHERE feature_key = 'buyer_inquiries'"
    )
    .execute(p)
    .await
    .map(drop));
    assert!(bypass.is_err(), "the database let a free feature become paid");
    let delete = on_pool_raw!(&direct, |p| sqlx::query(
        "DELETE FROM features WHERE feature_key = 'buyer_inquiries'"
    )
    .execute(p)
    .await
    .map(drop));
    assert!(delete.is_err(), "the database let a free feature be removed");

    // Editing the free plan, or selling a free feature in a new plan.
    let edit_free = CreatePlanRequest {
        plan_id: "free".into(),
        name: "Free".into(),
        price: cny(1),
        ..Default::default()
    };
    free_forever(
        c.create_plan(authed(edit_free, &billing_admin()))
            .await
            .expect_err("free plan"),
    );
    let price_free = ChangePlanPriceRequest {
        plan_id: "free".into(),
        price: cny(1),
    };
    free_forever(
        c.change_plan_price(authed(price_free, &billing_admin()))
            .await
            .expect_err("pricing the free plan"),
    );
    let sells_free = CreatePlanRequest {
        plan_id: "trustpass".into(),
        name: "TrustPass".into(),
        price: cny(2_980),
        feature_keys: vec!["top_search_ranking".into(), "supplier_listing".into()],
        ..Default::default()
    };
    free_forever(
        c.create_plan(authed(sells_free, &billing_admin()))
            .await
            .expect_err("free feature in a plan"),
    );

    // The free plan holds every FREE feature, including one that became free.
    let free = c
        .get_plan(authed(
            GetPlanRequest {
                plan_id: "free".into(),
                version: 0,
            },
            &token(&[Role::SalesRep]),
        ))
        .await;
    let free = free.expect("free plan").into_inner().plan.expect("plan");
    assert!(free.free);
    assert_eq!(
        free.feature_keys,
        ["buyer_inquiries", "supplier_listing", "verified_badge"]
    );
}

#[both_backends]
async fn a_price_change_makes_a_new_version_and_keeps_the_old_one(db: TestDatabase) {
    let f = BillingFixture::start(db, None).await;
    let mut c = CatalogServiceClient::new(f.channel.clone());
    f.calls().feature("top_search_ranking", FeatureTier::Paid).await;
    let create = CreatePlanRequest {
        plan_id: "china_supplier".into(),
        name: "China Supplier".into(),
        price: cny(40_000),
        feature_keys: vec!["top_search_ranking".into()],
        ..Default::default()
    };
    let v1 = c
        .create_plan(authed(create, &billing_admin()))
        .await
        .expect("create")
        .into_inner()
        .plan
        .expect("plan");
    assert_eq!(
        (v1.version, v1.price.clone().expect("price").amount_minor),
        (1, 4_000_000)
    );
    let v2 = c
        .change_plan_price(authed(
            ChangePlanPriceRequest {
                plan_id: "china_supplier".into(),
                price: cny(50_000),
            },
            &billing_admin(),
        ))
        .await
        .expect("price change")
        .into_inner()
        .plan
        .expect("plan");
    assert_eq!(
        (v2.version, v2.feature_keys.clone()),
        (2, vec!["top_search_ranking".to_owned()])
    );
    let old = c
        .get_plan(authed(
            GetPlanRequest {
                plan_id: "china_supplier".into(),
                version: 1,
            },
            &billing_admin(),
        ))
        .await;
    assert_eq!(
        old.expect("v1")
            .into_inner()
            .plan
            .expect("plan")
            .price
            .expect("price")
            .amount_minor,
        4_000_000
    );
    let plans = c
        .list_plans(authed(ListPlansRequest::default(), &billing_admin()))
        .await
        .expect("list")
        .into_inner()
        .plans;
    let listed: Vec<_> = plans.iter().map(|p| (p.plan_id.as_str(), p.version)).collect();
    assert_eq!(listed, [("free", 1), ("china_supplier", 2)]);
    let denied = c
        .change_plan_price(authed(
            ChangePlanPriceRequest {
                plan_id: "china_supplier".into(),
                price: cny(1),
            },
            &token(&[Role::SalesRep]),
        ))
        .await
        .expect_err("a rep cannot price plans");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

/// Every create of the catalog whose key is taken names the row that has it
/// (features, plans; subscriptions in the purchase test).
#[both_backends]
async fn a_duplicate_in_the_catalog_names_the_row_that_exists(db: TestDatabase) {
    let f = BillingFixture::start(db, None).await;
    let mut c = CatalogServiceClient::new(f.channel.clone());
    f.calls().feature("top_search_ranking", FeatureTier::Paid).await;
    let again = CreateFeatureRequest {
        feature_key: "top_search_ranking".into(),
        name: "again".into(),
        description: String::new(),
        tier: FeatureTier::Paid as i32,
    };
    let status = c
        .create_feature(authed(again, &billing_admin()))
        .await
        .expect_err("taken");
    names_the_existing(status, "top_search_ranking");
    let plan = CreatePlanRequest {
        plan_id: "china_supplier".into(),
        name: "China Supplier".into(),
        price: cny(40_000),
        feature_keys: vec!["top_search_ranking".into()],
        ..Default::default()
    };
    c.create_plan(authed(plan.clone(), &billing_admin()))
        .await
        .expect("first");
    let status = c.create_plan(authed(plan, &billing_admin())).await.expect_err("taken");
    names_the_existing(status, "china_supplier");
}
