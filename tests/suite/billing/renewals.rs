//! Renewals: the renewal book's exact rates per rep, and the renewal cycle
//! running by itself.

use std::time::Duration;

use tiejun_platform::{auth::Role, both_backends, on_pool_raw, testing::TestDatabase};
use tiejun_proto::billing::v1::{ChangePlanPriceRequest, Money, catalog_service_client::CatalogServiceClient};
use tiejun_tests::{
    authed,
    billing::{BillingFixture, billing_admin, cny},
    token,
};

#[both_backends]
async fn a_renewal_book_gives_exact_rates_per_rep(db: TestDatabase) {
    use chrono::Duration as Span;
    use tiejun_platform::clock::to_proto;
    use tiejun_proto::billing::v1::{
        CheckEntitlementRequest, EntitlementSource, GetRenewalRateRequest, RecordPaymentRequest, RenewalGrouping,
        RunRenewalCycleRequest, billing_report_service_client::BillingReportServiceClient,
        entitlement_service_client::EntitlementServiceClient, subscription_service_client::SubscriptionServiceClient,
    };
    let start_at = tiejun_tests::leads::monday_morning();
    let f = BillingFixture::start(db, None).await;
    let (clock, channel) = (f.clock.clone(), f.channel.clone());
    f.catalog(&[("trustpass", 2_980), ("premium", 40_000)]).await;
    let mut catalog = CatalogServiceClient::new(channel.clone());
    let mut subs = SubscriptionServiceClient::new(channel.clone());
    let pay = |invoice_id: String, amount: i64, key: String| RecordPaymentRequest {
        invoice_id,
        amount: Some(Money {
            amount_minor: amount,
            currency: "CNY".into(),
        }),
        method: "bank_transfer".into(),
        idempotency_key: key,
        ..Default::default()
    };
    let mut account_ids = Vec::new();
    let mut subscription_ids = Vec::new();
    for i in 0..100 {
        let plan = if i < 60 { "trustpass" } else { "premium" };
        let (account, subscription) = f.paid_member(i, plan, if i % 2 == 0 { "E1" } else { "E2" }).await;
        account_ids.push(account);
        subscription_ids.push(subscription);
    }
    // The premium plan costs more at renewal: renewing it is an expansion.
    catalog
        .change_plan_price(authed(
            ChangePlanPriceRequest {
                plan_id: "premium".into(),
                price: cny(50_000),
            },
            &billing_admin(),
        ))
        .await
        .expect("price");

    // 44 days before the end: notices. Five cycles racing make one invoice each.
    clock.advance(Span::days(365 - 44));
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let mut c = SubscriptionServiceClient::new(channel.clone());
            tokio::spawn(async move {
                c.run_renewal_cycle(authed(RunRenewalCycleRequest {}, &token(&[Role::Operator])))
                    .await
                    .expect("cycle")
                    .into_inner()
            })
        })
        .collect();
    let mut notices = 0;
    for task in tasks {
        notices += task.await.expect("task").renewal_invoices_issued;
    }
    assert_eq!(notices, 100);
    let direct = f.db.clone();
    let renewal_invoices: Vec<(String, String, i64)> = on_pool_raw!(&direct, |p| sqlx::query_as(
        "SELECT subscription_id, invoice_id, amount_minor FROM invoices WHERE kind = 'RENEWAL'"
    )
    .fetch_all(p)
    .await
    .expect("invoices"));
    assert_eq!(renewal_invoices.len(), 100, "one renewal invoice per subscription");
    let renewal_due: i64 = on_pool_raw!(&direct, |p| sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE event_type = 'RenewalDue'"
    )
    .fetch_one(p)
    .await
    .expect("n"));
    assert_eq!(renewal_due, 100);

    // 78 pay their renewal.
    for (i, sub) in subscription_ids.iter().enumerate().take(78) {
        let (_, invoice, amount) = renewal_invoices
            .iter()
            .find(|(s, _, _)| s == sub)
            .expect("renewal invoice")
            .clone();
        subs.record_payment(authed(pay(invoice, amount, format!("renew-{i}")), &billing_admin()))
            .await
            .expect("renewal paid");
    }
    clock.advance(Span::days(45)); // past the end
    let ended = subs
        .run_renewal_cycle(authed(RunRenewalCycleRequest {}, &token(&[Role::Operator])))
        .await
        .expect("cycle")
        .into_inner();
    assert_eq!((ended.renewed, ended.moved_past_due), (78, 22));
    let mut entitlements = EntitlementServiceClient::new(channel.clone());
    let check = |account: &str, feature: &str| CheckEntitlementRequest {
        account_id: account.into(),
        feature_key: feature.into(),
    };
    let grace = entitlements
        .check_entitlement(authed(check(&account_ids[90], "verified_badge"), &billing_admin()))
        .await
        .expect("check")
        .into_inner();
    assert_eq!(
        (grace.allowed, grace.source()),
        (true, EntitlementSource::Grace),
        "entitlements kept in grace"
    );
    clock.advance(Span::days(31)); // past grace
    let expired = subs
        .run_renewal_cycle(authed(RunRenewalCycleRequest {}, &token(&[Role::Operator])))
        .await
        .expect("cycle")
        .into_inner();
    assert_eq!(expired.expired, 22);
    let gone = entitlements
        .check_entitlement(authed(check(&account_ids[90], "verified_badge"), &billing_admin()))
        .await
        .expect("check")
        .into_inner();
    assert!(!gone.allowed, "expired: back to free features only");
    let free = entitlements
        .check_entitlement(authed(check(&account_ids[90], "supplier_listing"), &billing_admin()))
        .await
        .expect("check")
        .into_inner();
    assert!(free.allowed, "free features stay");
    let renewed = entitlements
        .check_entitlement(authed(check(&account_ids[0], "verified_badge"), &billing_admin()))
        .await
        .expect("check")
        .into_inner();
    assert_eq!((renewed.allowed, renewed.source()), (true, EntitlementSource::Plan));

    let window = GetRenewalRateRequest {
        from: Some(to_proto(start_at)),
        to: Some(to_proto(start_at + Span::days(730))),
        group_by: RenewalGrouping::Rep as i32,
    };
    let rate = BillingReportServiceClient::new(channel.clone())
        .get_renewal_rate(authed(window, &billing_admin()))
        .await
        .expect("rate")
        .into_inner();
    let total = rate.total.expect("total");
    assert_eq!(
        (total.up_for_renewal, total.renewed, total.churned, total.expanded),
        (100, 78, 22, 18)
    );
    assert_eq!((total.renewal_rate_bp, total.expansion_rate_bp), (7800, 2307));
    assert_eq!(total.decided, 100, "the rate's denominator beside it");
    let before = GetRenewalRateRequest {
        from: Some(to_proto(start_at - Span::days(730))),
        to: Some(to_proto(start_at - Span::days(365))),
        group_by: RenewalGrouping::Rep as i32,
    };
    let nothing = BillingReportServiceClient::new(channel.clone())
        .get_renewal_rate(authed(before, &billing_admin()))
        .await
        .expect("rate")
        .into_inner()
        .total
        .expect("total");
    assert_eq!(
        (nothing.up_for_renewal, nothing.decided),
        (0, 0),
        "a window with nothing up for renewal says nothing was decided, not a 0% rate"
    );
    let reps: Vec<_> = rate
        .rows
        .iter()
        .map(|r| {
            (
                r.group_key.as_str(),
                r.up_for_renewal,
                r.renewed,
                r.expanded,
                r.renewal_rate_bp,
                r.expansion_rate_bp,
            )
        })
        .collect();
    assert_eq!(reps, [("E1", 50, 39, 9, 7800, 2307), ("E2", 50, 39, 9, 7800, 2307)]);
}

#[both_backends]
async fn the_renewal_cycle_runs_by_itself(db: TestDatabase) {
    use chrono::Duration as Span;

    let f = BillingFixture::start(db, Some(Duration::from_millis(100))).await;
    f.catalog(&[("trustpass", 2_980)]).await;
    f.paid_member(0, "trustpass", "").await;
    let direct = f.db.clone();
    let renewal_invoices = || async {
        on_pool_raw!(&direct, |p| sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM invoices WHERE kind = 'RENEWAL'"
        )
        .fetch_one(p)
        .await
        .expect("n"))
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(renewal_invoices().await, 0, "nothing due yet");
    f.clock.advance(Span::days(330)); // inside the 45-day notice window
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while renewal_invoices().await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the job issued no renewal invoice"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(renewal_invoices().await, 1, "once, however many ticks");
}
