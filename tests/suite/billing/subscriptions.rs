//! The purchase path: a member subscribes, pays once and gets the plan's
//! features; upgrades prorate to the fen, downgrades and cancellations wait
//! for the period's end.

use tiejun_platform::{auth::Role, both_backends, on_pool_raw, testing::TestDatabase};
use tiejun_proto::billing::v1::{CreatePlanRequest, FeatureTier, Money, catalog_service_client::CatalogServiceClient};
use tiejun_tests::{
    authed,
    billing::{BillingFixture, billing_admin, cny},
    token,
};
use tonic::Code;
use tonic_types::StatusExt as _;

use super::names_the_existing;

#[both_backends]
async fn a_member_subscribes_pays_once_and_gets_the_plans_features(db: TestDatabase) {
    use tiejun_proto::billing::v1::{
        AccountKind, CheckEntitlementRequest, EntitlementSource, GetAccountRequest, InvoiceStatus,
        RecordPaymentRequest, RegisterMemberRequest, SubscribeRequest, SubscriptionState,
        account_service_client::AccountServiceClient, entitlement_service_client::EntitlementServiceClient,
        subscription_service_client::SubscriptionServiceClient,
    };
    let f = BillingFixture::start(db, None).await;
    let server = &f.server;
    let mut catalog = CatalogServiceClient::new(f.channel.clone());
    f.calls().feature("supplier_listing", FeatureTier::Free).await;
    f.calls().feature("verified_badge", FeatureTier::Paid).await;
    let plan = CreatePlanRequest {
        plan_id: "trustpass".into(),
        name: "TrustPass".into(),
        price: cny(2_980),
        feature_keys: vec!["verified_badge".into()],
        ..Default::default()
    };
    catalog.create_plan(authed(plan, &billing_admin())).await.expect("plan");
    let channel = server.channel().await;
    let mut accounts = AccountServiceClient::new(channel.clone());
    let member = RegisterMemberRequest {
        company_name: "温州鞋业".into(),
        contact_name: "黄".into(),
        phone: "13700001111".into(),
        city: "温州".into(),
        ..Default::default()
    };
    let account = accounts
        .register_member(authed(member, &billing_admin()))
        .await
        .expect("member")
        .into_inner()
        .account
        .expect("a");
    let mut entitlements = EntitlementServiceClient::new(channel.clone());
    let check = |feature: &str| CheckEntitlementRequest {
        account_id: account.account_id.clone(),
        feature_key: feature.into(),
    };
    let service = token(&[Role::Service]);
    let free = entitlements
        .check_entitlement(authed(check("supplier_listing"), &service))
        .await
        .expect("check")
        .into_inner();
    assert_eq!((free.allowed, free.source()), (true, EntitlementSource::FreeTier));
    let before = entitlements
        .check_entitlement(authed(check("verified_badge"), &service))
        .await
        .expect("check")
        .into_inner();
    assert!(!before.allowed, "not paid yet");

    let mut subs = SubscriptionServiceClient::new(channel.clone());
    let subscribe = SubscribeRequest {
        account_id: account.account_id.clone(),
        plan_id: "trustpass".into(),
        ..Default::default()
    };
    let subscribed = subs
        .subscribe(authed(subscribe.clone(), &billing_admin()))
        .await
        .expect("subscribe")
        .into_inner();
    let sub = subscribed.subscription.expect("subscription");
    let inv = subscribed.invoice.expect("invoice");
    assert_eq!(
        (sub.state(), inv.amount.clone().expect("amount").amount_minor),
        (SubscriptionState::PendingPayment, 298_000)
    );

    let pay = |amount: i64, key: &str| RecordPaymentRequest {
        invoice_id: inv.invoice_id.clone(),
        amount: Some(Money {
            amount_minor: amount,
            currency: "CNY".into(),
        }),
        method: "bank_transfer".into(),
        external_reference: format!("ICBC-{key}"),
        received_at: None,
        idempotency_key: key.into(),
    };
    let over = subs
        .record_payment(authed(pay(300_000, "p-over"), &billing_admin()))
        .await
        .expect_err("overpayment");
    assert_eq!(over.get_details_error_info().expect("ErrorInfo").reason, "OVERPAYMENT");
    let part = subs
        .record_payment(authed(pay(100_000, "p-1"), &billing_admin()))
        .await
        .expect("part")
        .into_inner();
    assert_eq!(part.invoice.expect("invoice").paid.expect("paid").amount_minor, 100_000);
    assert_eq!(
        part.subscription.expect("sub").state(),
        SubscriptionState::PendingPayment
    );

    // Twenty concurrent retries of the rest, one key: one payment.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let mut c = SubscriptionServiceClient::new(channel.clone());
            let request = pay(198_000, "p-2");
            tokio::spawn(async move {
                c.record_payment(authed(request, &billing_admin()))
                    .await
                    .map(|r| r.into_inner())
            })
        })
        .collect();
    let mut payment_ids = std::collections::HashSet::new();
    for task in tasks {
        let response = task.await.expect("task").expect("every retry answers");
        payment_ids.insert(response.payment.expect("payment").payment_id);
    }
    assert_eq!(payment_ids.len(), 1, "one payment for one key");
    let direct = f.db.clone();
    let (paid, count): (i64, i64) = on_pool_raw!(&direct, |p| sqlx::query_as(
        "SELECT CAST(SUM(amount_minor) AS BIGINT), count(*) FROM payments WHERE invoice_id = $1"
    )
    .bind(&inv.invoice_id)
    .fetch_one(p)
    .await
    .expect("sum"));
    assert_eq!((paid, count), (298_000, 2));

    let fresh = subs
        .get_subscription(authed(
            tiejun_proto::billing::v1::GetSubscriptionRequest {
                subscription_id: sub.subscription_id.clone(),
            },
            &billing_admin(),
        ))
        .await;
    let fresh = fresh.expect("get").into_inner().subscription.expect("sub");
    assert_eq!(fresh.state(), SubscriptionState::Active);
    let (start, end) = (fresh.period_start.expect("start"), fresh.period_end.expect("end"));
    let days = (end.seconds - start.seconds) / 86_400;
    assert!((365..=366).contains(&days), "an annual period: {days} days");
    assert_eq!(
        start.seconds % 86_400,
        16 * 3600,
        "periods start at midnight in Shanghai (16:00 UTC)"
    );
    let after = entitlements
        .check_entitlement(authed(check("verified_badge"), &service))
        .await
        .expect("check")
        .into_inner();
    assert_eq!((after.allowed, after.source()), (true, EntitlementSource::Plan));
    assert_eq!(after.valid_until.expect("until").seconds, end.seconds);
    let customer = accounts
        .get_account(authed(
            GetAccountRequest {
                account_id: account.account_id.clone(),
            },
            &billing_admin(),
        ))
        .await;
    assert_eq!(
        customer.expect("account").into_inner().account.expect("a").kind(),
        AccountKind::Customer
    );
    let activated: i64 = on_pool_raw!(&direct, |p| sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE event_type = 'CustomerActivated'"
    )
    .fetch_one(p)
    .await
    .expect("count"));
    assert_eq!(activated, 1);

    let again = subs
        .subscribe(authed(subscribe.clone(), &billing_admin()))
        .await
        .expect_err("second live subscription");
    assert_eq!(again.code(), Code::AlreadyExists);
    let existing = format!("{}/{}", subscribe.account_id, subscribe.plan_id);
    names_the_existing(again, &existing);
    let closed = subs
        .record_payment(authed(pay(1, "p-3"), &billing_admin()))
        .await
        .expect_err("paid invoice");
    assert_eq!(
        closed.get_details_error_info().expect("ErrorInfo").reason,
        "INVOICE_NOT_OPEN"
    );
    let status = subs
        .get_invoice(authed(
            tiejun_proto::billing::v1::GetInvoiceRequest {
                invoice_id: inv.invoice_id.clone(),
            },
            &billing_admin(),
        ))
        .await;
    let status = status.expect("invoice").into_inner();
    assert_eq!(
        (status.invoice.expect("invoice").status(), status.payments.len()),
        (InvoiceStatus::Paid, 2)
    );
}

#[both_backends]
async fn upgrades_prorate_to_the_fen_and_downgrades_and_cancellations_wait_for_the_end(db: TestDatabase) {
    use chrono::Duration as Span;

    use tiejun_proto::billing::v1::{
        CancelSubscriptionRequest, ChangePlanRequest, CheckEntitlementRequest, GetSubscriptionRequest,
        RecordPaymentRequest, RunRenewalCycleRequest, SubscriptionState,
        entitlement_service_client::EntitlementServiceClient, subscription_service_client::SubscriptionServiceClient,
    };
    let f = BillingFixture::start(db, None).await;
    f.catalog(&[("lite", 1_000), ("trustpass", 2_980), ("premium", 40_000)])
        .await;
    let (clock, channel) = (f.clock.clone(), f.channel.clone());
    let mut subs = SubscriptionServiceClient::new(channel.clone());
    let ops = token(&[Role::Operator]);
    let mut active = Vec::new();
    for i in 0..3 {
        active.push(f.paid_member(i, "trustpass", "").await);
    }

    // Day 100 of 365: an upgrade charges the difference for the 265 days left, rounded down.
    clock.advance(Span::days(100));
    let upgrade = ChangePlanRequest {
        subscription_id: active[0].1.clone(),
        plan_id: "premium".into(),
        idempotency_key: String::new(),
    };
    let upgraded = subs
        .change_plan(authed(upgrade, &billing_admin()))
        .await
        .expect("upgrade")
        .into_inner();
    let charge = upgraded
        .proration_invoice
        .expect("proration invoice")
        .amount
        .expect("amount")
        .amount_minor;
    assert_eq!(charge, (4_000_000 - 298_000) * 265 / 365);
    assert_eq!(charge, 2_687_753);
    let now_premium = upgraded.subscription.expect("sub");
    assert_eq!(
        (
            now_premium.plan_id.as_str(),
            now_premium.price.expect("price").amount_minor
        ),
        ("premium", 4_000_000)
    );

    // A downgrade waits; a cancellation keeps the plan until the end.
    let downgrade = ChangePlanRequest {
        subscription_id: active[1].1.clone(),
        plan_id: "lite".into(),
        idempotency_key: String::new(),
    };
    let pending = subs
        .change_plan(authed(downgrade, &billing_admin()))
        .await
        .expect("downgrade")
        .into_inner();
    let pending = pending.subscription.expect("sub");
    assert_eq!(
        (pending.plan_id.as_str(), pending.pending_plan_id.as_str()),
        ("trustpass", "lite")
    );
    let cancel = subs
        .cancel_subscription(authed(
            CancelSubscriptionRequest {
                subscription_id: active[2].1.clone(),
                reason: "closing".into(),
            },
            &billing_admin(),
        ))
        .await;
    assert!(
        cancel
            .expect("cancel")
            .into_inner()
            .subscription
            .expect("sub")
            .cancel_at_period_end
    );
    let mut ent = EntitlementServiceClient::new(channel.clone());
    let check = |account: &str| CheckEntitlementRequest {
        account_id: account.into(),
        feature_key: "verified_badge".into(),
    };
    assert!(
        ent.check_entitlement(authed(check(&active[2].0), &billing_admin()))
            .await
            .expect("check")
            .into_inner()
            .allowed,
        "until the end"
    );

    // The renewal of the downgraded one is quoted at the lite price; paid, it renews onto lite.
    clock.advance(Span::days(365 - 100 - 40));
    subs.run_renewal_cycle(authed(RunRenewalCycleRequest {}, &ops))
        .await
        .expect("cycle");
    let direct = f.db.clone();
    let (invoice_id, amount): (String, i64) = on_pool_raw!(&direct, |p| sqlx::query_as(
        "SELECT invoice_id, amount_minor FROM invoices WHERE subscription_id = $1 AND kind = 'RENEWAL'"
    )
    .bind(&active[1].1)
    .fetch_one(p)
    .await
    .expect("renewal invoice"));
    assert_eq!(amount, 100_000, "quoted on the downgraded plan");
    let pay = RecordPaymentRequest {
        invoice_id,
        amount: cny(1_000),
        method: "alipay".into(),
        idempotency_key: "renew-lite".into(),
        ..Default::default()
    };
    subs.record_payment(authed(pay, &billing_admin()))
        .await
        .expect("renewal paid");
    clock.advance(Span::days(41));
    subs.run_renewal_cycle(authed(RunRenewalCycleRequest {}, &ops))
        .await
        .expect("cycle");
    let get = |id: &str| GetSubscriptionRequest {
        subscription_id: id.into(),
    };
    let lite = subs
        .get_subscription(authed(get(&active[1].1), &billing_admin()))
        .await
        .expect("get")
        .into_inner()
        .subscription
        .expect("s");
    assert_eq!(
        (lite.state(), lite.plan_id.as_str(), lite.price.expect("p").amount_minor),
        (SubscriptionState::Active, "lite", 100_000)
    );
    let canceled = subs
        .get_subscription(authed(get(&active[2].1), &billing_admin()))
        .await
        .expect("get")
        .into_inner()
        .subscription
        .expect("s");
    assert_eq!(canceled.state(), SubscriptionState::Canceled);
    assert!(
        !ent.check_entitlement(authed(check(&active[2].0), &billing_admin()))
            .await
            .expect("check")
            .into_inner()
            .allowed,
        "ended"
    );
}
