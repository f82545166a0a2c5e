//! The figures: conversion, ARR and listings count what was sold.

use std::time::Duration;

use tiejun_platform::{both_backends, testing::TestDatabase};
use tiejun_proto::billing::v1::{CreatePlanRequest, FeatureTier, catalog_service_client::CatalogServiceClient};
use tiejun_tests::{Svc, authed, wait_serving};
use tonic::Code;

use super::{admin, cny, feature};

async fn conversion_arr_and_listings_count_what_was_sold(db: TestDatabase) {
    use chrono::Duration as Span;
    use tiejun_platform::clock::{ManualClock, to_proto};
    use tiejun_proto::billing::v1::{
        GetAnnualRecurringRevenueRequest, GetConversionRateRequest, ListInvoicesRequest, ListSubscriptionsRequest,
        RecordPaymentRequest, RegisterMemberRequest, SubscribeRequest, SubscriptionState,
        account_service_client::AccountServiceClient, billing_report_service_client::BillingReportServiceClient,
        subscription_service_client::SubscriptionServiceClient,
    };
    let start_at = tiejun_tests::leads::monday_morning();
    let clock = ManualClock::new(start_at);
    let server = tiejun_tests::start_service_at(Svc::Billing, &db.url, std::sync::Arc::new(clock.clone())).await;
    assert!(wait_serving(server.addr, Duration::from_secs(30)).await);
    let channel = server.channel().await;
    let mut catalog = CatalogServiceClient::new(channel.clone());
    feature(&mut catalog, "verified_badge", FeatureTier::Paid).await;
    for (id, yuan) in [("trustpass", 2_980), ("china_supplier", 40_000)] {
        let plan = CreatePlanRequest {
            plan_id: id.into(),
            name: id.into(),
            price: cny(yuan),
            feature_keys: vec!["verified_badge".into()],
            ..Default::default()
        };
        catalog.create_plan(authed(plan, &admin())).await.expect("plan");
    }
    let mut accounts = AccountServiceClient::new(channel.clone());
    let mut subs = SubscriptionServiceClient::new(channel.clone());
    let mut ids = Vec::new();
    for i in 0..4 {
        let member = RegisterMemberRequest {
            company_name: format!("报表测试{i}"),
            contact_name: "丙".into(),
            phone: format!("1320000000{i}"),
            city: "杭州".into(),
            ..Default::default()
        };
        ids.push(
            accounts
                .register_member(authed(member, &admin()))
                .await
                .expect("member")
                .into_inner()
                .account
                .expect("a")
                .account_id,
        );
    }
    for (i, plan) in [(0, "trustpass"), (1, "china_supplier")] {
        let s = subs
            .subscribe(authed(
                SubscribeRequest {
                    account_id: ids[i].clone(),
                    plan_id: plan.into(),
                    ..Default::default()
                },
                &admin(),
            ))
            .await
            .expect("sub")
            .into_inner();
        let invoice = s.invoice.expect("invoice");
        let pay = RecordPaymentRequest {
            invoice_id: invoice.invoice_id,
            amount: invoice.amount,
            method: "bank_transfer".into(),
            idempotency_key: format!("r-{i}"),
            ..Default::default()
        };
        subs.record_payment(authed(pay, &admin())).await.expect("pay");
    }
    // An unpaid subscription is neither a conversion nor revenue.
    subs.subscribe(authed(
        SubscribeRequest {
            account_id: ids[2].clone(),
            plan_id: "trustpass".into(),
            ..Default::default()
        },
        &admin(),
    ))
    .await
    .expect("sub");
    clock.advance(Span::days(10));
    let mut reports = BillingReportServiceClient::new(channel.clone());
    let cohort = GetConversionRateRequest {
        signed_up_from: Some(to_proto(start_at - Span::days(1))),
        signed_up_to: Some(to_proto(start_at + Span::days(1))),
    };
    let conversion = reports
        .get_conversion_rate(authed(cohort, &admin()))
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
        .get_annual_recurring_revenue(authed(GetAnnualRecurringRevenueRequest { at: None }, &admin()))
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
        subs.list_subscriptions(authed(active, &admin()))
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

both_backends!(reports, conversion_arr_and_listings_count_what_was_sold);
