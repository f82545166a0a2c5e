//! The figures: conversion, ARR and listings count what was sold.

use std::time::Duration;

use tiejun_platform::{both_backends, testing::TestDatabase};
use tiejun_tests::{
    authed,
    billing::{BillingFixture, billing_admin},
};
use tonic::Code;

#[both_backends]
async fn conversion_arr_and_listings_count_what_was_sold(db: TestDatabase) {
    use chrono::Duration as Span;
    use tiejun_platform::clock::to_proto;
    use tiejun_proto::billing::v1::{
        GetAnnualRecurringRevenueRequest, GetConversionRateRequest, ListInvoicesRequest, ListSubscriptionsRequest,
        SubscribeRequest, SubscriptionState, billing_report_service_client::BillingReportServiceClient,
        subscription_service_client::SubscriptionServiceClient,
    };
    let start_at = tiejun_tests::leads::monday_morning();
    let f = BillingFixture::start(db, None).await;
    f.catalog(&[("trustpass", 2_980), ("china_supplier", 40_000)]).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(f.member(i).await);
    }
    for (i, plan) in [(0, "trustpass"), (1, "china_supplier")] {
        f.subscribe_and_pay(&ids[i], plan, "").await;
    }
    let channel = f.channel.clone();
    let mut subs = SubscriptionServiceClient::new(channel.clone());
    // An unpaid subscription is neither a conversion nor revenue.
    subs.subscribe(authed(
        SubscribeRequest {
            account_id: ids[2].clone(),
            plan_id: "trustpass".into(),
            ..Default::default()
        },
        &billing_admin(),
    ))
    .await
    .expect("sub");
    f.clock.advance(Span::days(10));
    let mut reports = BillingReportServiceClient::new(channel.clone());
    let cohort = GetConversionRateRequest {
        signed_up_from: Some(to_proto(start_at - Span::days(1))),
        signed_up_to: Some(to_proto(start_at + Span::days(1))),
    };
    let conversion = reports
        .get_conversion_rate(authed(cohort, &billing_admin()))
        .await
        .expect("conversion")
        .into_inner();
    assert_eq!(
        (
            conversion.signed_up,
            conversion.converted,
            conversion.conversion_rate_bp
        ),
        (4, 2, 5000)
    );
    let arr = reports
        .get_annual_recurring_revenue(authed(GetAnnualRecurringRevenueRequest { at: None }, &billing_admin()))
        .await
        .expect("arr")
        .into_inner();
    assert_eq!(arr.subscriptions, 2);
    assert_eq!(
        (arr.arr[0].currency.as_str(), arr.arr[0].amount_minor),
        ("CNY", 298_000 + 4_000_000)
    );

    let active = ListSubscriptionsRequest {
        state: SubscriptionState::Active as i32,
        ..Default::default()
    };
    assert_eq!(
        subs.list_subscriptions(authed(active, &billing_admin()))
            .await
            .expect("list")
            .into_inner()
            .subscriptions
            .len(),
        2
    );
    let mut own = tiejun_platform::auth::TokenSpec::new("member", &[], Duration::from_secs(600));
    own.account_id = Some(ids[0].clone());
    let own = tiejun_tests::keys().mint(&own).expect("mint");
    let mine = subs
        .list_invoices(authed(ListInvoicesRequest::default(), &own))
        .await
        .expect("own invoices")
        .into_inner()
        .invoices;
    assert_eq!(mine.len(), 1);
    assert!(mine.iter().all(|i| i.account_id == ids[0]));
    let other = ListInvoicesRequest {
        account_id: ids[1].clone(),
        ..Default::default()
    };
    assert_eq!(
        subs.list_invoices(authed(other, &own))
            .await
            .expect_err("another's")
            .code(),
        Code::PermissionDenied
    );
}
