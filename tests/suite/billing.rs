//! membership-billing from outside: the catalog under the free-forever rule
//! and plan versions, member accounts, the purchase path (subscribe, pay
//! once, entitlements), plan changes, the renewal cycle and the renewal
//! book, conversion and ARR. Both backends.

use std::time::Duration;

use tiejun_platform::{
    auth::Role,
    both_backends,
    db::{Database, PoolSettings},
    on_pool_raw,
    testing::TestDatabase,
};
use tiejun_proto::billing::v1::{
    ChangePlanPriceRequest, CreateFeatureRequest, CreatePlanRequest, FeatureTier, GetPlanRequest, ListPlansRequest,
    Money, UpdateFeatureRequest, catalog_service_client::CatalogServiceClient,
};
use tiejun_tests::{Svc, authed, billing::BillingFixture, start_service, token, wait_serving};
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt as _;

async fn start(db: &TestDatabase) -> (tiejun_tests::Running, CatalogServiceClient<Channel>) {
    let server = start_service(Svc::Billing, &db.url).await;
    assert!(wait_serving(server.addr, Duration::from_secs(30)).await);
    let client = CatalogServiceClient::new(server.channel().await);
    (server, client)
}

fn admin() -> String {
    token(&[Role::BillingAdmin])
}

fn cny(yuan: i64) -> Option<Money> {
    Some(Money {
        amount_minor: yuan * 100,
        currency: "CNY".into(),
    })
}

async fn feature(c: &mut CatalogServiceClient<Channel>, key: &str, tier: FeatureTier) {
    let request = CreateFeatureRequest {
        feature_key: key.into(),
        name: key.into(),
        description: String::new(),
        tier: tier as i32,
    };
    c.create_feature(authed(request, &admin())).await.expect("feature");
}

fn free_forever(status: tonic::Status) {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(
        status.get_details_error_info().expect("ErrorInfo").reason,
        "FREE_FOREVER"
    );
}

async fn what_is_free_stays_free_from_every_angle(db: TestDatabase) {
    let (_server, mut c) = start(&db).await;
    feature(&mut c, "supplier_listing", FeatureTier::Free).await;
    feature(&mut c, "buyer_inquiries", FeatureTier::Free).await;
    feature(&mut c, "verified_badge", FeatureTier::Paid).await;
    feature(&mut c, "top_search_ranking", FeatureTier::Paid).await;

    // Updating a feature: FREE -> PAID refused; PAID -> FREE allowed, and then it is free forever too.
    let paid = UpdateFeatureRequest {
        feature_key: "supplier_listing".into(),
        tier: FeatureTier::Paid as i32,
        ..Default::default()
    };
    free_forever(
        c.update_feature(authed(paid, &admin()))
            .await
            .expect_err("free to paid"),
    );
    let freed = UpdateFeatureRequest {
        feature_key: "verified_badge".into(),
        tier: FeatureTier::Free as i32,
        ..Default::default()
    };
    c.update_feature(authed(freed, &admin())).await.expect("paid to free");
    let back = UpdateFeatureRequest {
        feature_key: "verified_badge".into(),
        tier: FeatureTier::Paid as i32,
        ..Default::default()
    };
    free_forever(
        c.update_feature(authed(back, &admin()))
            .await
            .expect_err("back to paid"),
    );
    let renamed = UpdateFeatureRequest {
        feature_key: "supplier_listing".into(),
        name: "Supplier listing".into(),
        ..Default::default()
    };
    c.update_feature(authed(renamed, &admin()))
        .await
        .expect("renaming a free feature is fine");

    // The database refuses too, whatever the code does.
    let direct = Database::connect(&db.url, &PoolSettings::default())
        .await
        .expect("connect");
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
    free_forever(c.create_plan(authed(edit_free, &admin())).await.expect_err("free plan"));
    let price_free = ChangePlanPriceRequest {
        plan_id: "free".into(),
        price: cny(1),
    };
    free_forever(
        c.change_plan_price(authed(price_free, &admin()))
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
        c.create_plan(authed(sells_free, &admin()))
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

async fn a_price_change_makes_a_new_version_and_keeps_the_old_one(db: TestDatabase) {
    let (_server, mut c) = start(&db).await;
    feature(&mut c, "top_search_ranking", FeatureTier::Paid).await;
    let create = CreatePlanRequest {
        plan_id: "china_supplier".into(),
        name: "China Supplier".into(),
        price: cny(40_000),
        feature_keys: vec!["top_search_ranking".into()],
        ..Default::default()
    };
    let v1 = c
        .create_plan(authed(create, &admin()))
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
            &admin(),
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
            &admin(),
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
        .list_plans(authed(ListPlansRequest::default(), &admin()))
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

/// `status` is ALREADY_EXISTS with `ResourceInfo` naming `existing`.
fn names_the_existing(status: tonic::Status, existing: &str) {
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    let info = status.get_details_resource_info().expect("ResourceInfo");
    assert_eq!(info.resource_name, existing, "{status:?}");
}

/// Every create of the catalog whose key is taken names the row that has it
/// (features, plans; subscriptions in the purchase test).
async fn a_duplicate_in_the_catalog_names_the_row_that_exists(db: TestDatabase) {
    let (_server, mut c) = start(&db).await;
    feature(&mut c, "top_search_ranking", FeatureTier::Paid).await;
    let again = CreateFeatureRequest {
        feature_key: "top_search_ranking".into(),
        name: "again".into(),
        description: String::new(),
        tier: FeatureTier::Paid as i32,
    };
    let status = c.create_feature(authed(again, &admin())).await.expect_err("taken");
    names_the_existing(status, "top_search_ranking");
    let plan = CreatePlanRequest {
        plan_id: "china_supplier".into(),
        name: "China Supplier".into(),
        price: cny(40_000),
        feature_keys: vec!["top_search_ranking".into()],
        ..Default::default()
    };
    c.create_plan(authed(plan.clone(), &admin())).await.expect("first");
    let status = c.create_plan(authed(plan, &admin())).await.expect_err("taken");
    names_the_existing(status, "china_supplier");
}

both_backends!(free_forever_rule, what_is_free_stays_free_from_every_angle);
both_backends!(catalog_duplicates, a_duplicate_in_the_catalog_names_the_row_that_exists);
both_backends!(plan_versions, a_price_change_makes_a_new_version_and_keeps_the_old_one);

async fn members_register_free_and_a_converted_lead_makes_one_account(db: TestDatabase) {
    use tiejun_proto::billing::v1::{
        AccountKind, CreateAccountFromLeadRequest, GetAccountRequest, RegisterMemberRequest,
        account_service_client::AccountServiceClient,
    };
    let server = start_service(Svc::Billing, &db.url).await;
    assert!(wait_serving(server.addr, Duration::from_secs(30)).await);
    let mut c = AccountServiceClient::new(server.channel().await);
    let register = RegisterMemberRequest {
        company_name: "义乌小商品贸易".into(),
        contact_name: "陈经理".into(),
        phone: "+86 139 0000 1111".into(),
        email: "chen@example.com".into(),
        city: "义乌".into(),
        time_zone: String::new(),
        idempotency_key: "signup-1".into(),
    };
    let first = c
        .register_member(authed(register.clone(), &admin()))
        .await
        .expect("register")
        .into_inner();
    let again = c
        .register_member(authed(register, &admin()))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, again, "registration is idempotent on its key");
    let member = first.account.expect("account");
    assert_eq!(
        (member.kind(), member.time_zone.as_str()),
        (AccountKind::User, "Asia/Shanghai")
    );

    let from_lead = CreateAccountFromLeadRequest {
        lead_id: "lead-42".into(),
        sold_by_person_id: "E1001".into(),
        company_name: "宁波甬江纺织".into(),
        contact_name: "王经理".into(),
        phone: "13812345678".into(),
        email: String::new(),
        city: "宁波".into(),
    };
    let made = c
        .create_account_from_lead(authed(from_lead.clone(), &token(&[Role::Service])))
        .await
        .expect("from lead")
        .into_inner();
    let repeat = c
        .create_account_from_lead(authed(from_lead, &token(&[Role::Service])))
        .await
        .expect("repeat")
        .into_inner();
    assert!(made.created && !repeat.created, "one account per lead");
    let account = made.account.expect("account");
    assert_eq!(repeat.account.expect("account").account_id, account.account_id);
    assert_eq!(
        (account.sold_by_person_id.as_str(), account.lead_id.as_str()),
        ("E1001", "lead-42")
    );

    // An account-scoped token reads only its own account; operators see contact data masked.
    let mut own = tiejun_platform::auth::TokenSpec::new("member", &[], Duration::from_secs(600));
    own.account_id = Some(member.account_id.clone());
    let own = tiejun_tests::keys().mint(&own).expect("mint");
    let mine = c
        .get_account(authed(
            GetAccountRequest {
                account_id: member.account_id.clone(),
            },
            &own,
        ))
        .await
        .expect("own");
    assert_eq!(mine.into_inner().account.expect("account").phone, "+86 139 0000 1111");
    let other = c
        .get_account(authed(
            GetAccountRequest {
                account_id: account.account_id.clone(),
            },
            &own,
        ))
        .await;
    assert_eq!(other.expect_err("another account").code(), Code::PermissionDenied);
    let masked = c
        .get_account(authed(
            GetAccountRequest {
                account_id: account.account_id,
            },
            &token(&[Role::Operator]),
        ))
        .await;
    assert_eq!(
        masked.expect("operator").into_inner().account.expect("account").phone,
        "138****5678"
    );
}

both_backends!(accounts, members_register_free_and_a_converted_lead_makes_one_account);

async fn a_member_subscribes_pays_once_and_gets_the_plans_features(db: TestDatabase) {
    use tiejun_proto::billing::v1::{
        AccountKind, CheckEntitlementRequest, EntitlementSource, GetAccountRequest, InvoiceStatus,
        RecordPaymentRequest, RegisterMemberRequest, SubscribeRequest, SubscriptionState,
        account_service_client::AccountServiceClient, entitlement_service_client::EntitlementServiceClient,
        subscription_service_client::SubscriptionServiceClient,
    };
    let (server, mut catalog) = start(&db).await;
    feature(&mut catalog, "supplier_listing", FeatureTier::Free).await;
    feature(&mut catalog, "verified_badge", FeatureTier::Paid).await;
    let plan = CreatePlanRequest {
        plan_id: "trustpass".into(),
        name: "TrustPass".into(),
        price: cny(2_980),
        feature_keys: vec!["verified_badge".into()],
        ..Default::default()
    };
    catalog.create_plan(authed(plan, &admin())).await.expect("plan");
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
        .register_member(authed(member, &admin()))
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
        .subscribe(authed(subscribe.clone(), &admin()))
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
        .record_payment(authed(pay(300_000, "p-over"), &admin()))
        .await
        .expect_err("overpayment");
    assert_eq!(over.get_details_error_info().expect("ErrorInfo").reason, "OVERPAYMENT");
    let part = subs
        .record_payment(authed(pay(100_000, "p-1"), &admin()))
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
                c.record_payment(authed(request, &admin()))
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
    let direct = Database::connect(&db.url, &PoolSettings::default())
        .await
        .expect("connect");
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
            &admin(),
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
            &admin(),
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
        .subscribe(authed(subscribe.clone(), &admin()))
        .await
        .expect_err("second live subscription");
    assert_eq!(again.code(), Code::AlreadyExists);
    let existing = format!("{}/{}", subscribe.account_id, subscribe.plan_id);
    names_the_existing(again, &existing);
    let closed = subs
        .record_payment(authed(pay(1, "p-3"), &admin()))
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
            &admin(),
        ))
        .await;
    let status = status.expect("invoice").into_inner();
    assert_eq!(
        (status.invoice.expect("invoice").status(), status.payments.len()),
        (InvoiceStatus::Paid, 2)
    );
}

both_backends!(purchase, a_member_subscribes_pays_once_and_gets_the_plans_features);

async fn a_renewal_book_gives_exact_rates_per_rep(db: TestDatabase) {
    use chrono::Duration as Span;
    use tiejun_platform::clock::to_proto;
    use tiejun_proto::billing::v1::{
        CheckEntitlementRequest, EntitlementSource, GetRenewalRateRequest, RecordPaymentRequest, RenewalGrouping,
        RunRenewalCycleRequest, billing_report_service_client::BillingReportServiceClient,
        entitlement_service_client::EntitlementServiceClient, subscription_service_client::SubscriptionServiceClient,
    };
    let start_at = tiejun_tests::leads::monday_morning();
    let f = BillingFixture::start(&db.url, None).await;
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
            &admin(),
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
    let direct = Database::connect(&db.url, &PoolSettings::default())
        .await
        .expect("connect");
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
        subs.record_payment(authed(pay(invoice, amount, format!("renew-{i}")), &admin()))
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
        .check_entitlement(authed(check(&account_ids[90], "verified_badge"), &admin()))
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
        .check_entitlement(authed(check(&account_ids[90], "verified_badge"), &admin()))
        .await
        .expect("check")
        .into_inner();
    assert!(!gone.allowed, "expired: back to free features only");
    let free = entitlements
        .check_entitlement(authed(check(&account_ids[90], "supplier_listing"), &admin()))
        .await
        .expect("check")
        .into_inner();
    assert!(free.allowed, "free features stay");
    let renewed = entitlements
        .check_entitlement(authed(check(&account_ids[0], "verified_badge"), &admin()))
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
        .get_renewal_rate(authed(window, &admin()))
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
        .get_renewal_rate(authed(before, &admin()))
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

both_backends!(renewal_book, a_renewal_book_gives_exact_rates_per_rep);

async fn upgrades_prorate_to_the_fen_and_downgrades_and_cancellations_wait_for_the_end(db: TestDatabase) {
    use chrono::Duration as Span;
    use tiejun_platform::clock::ManualClock;
    use tiejun_proto::billing::v1::{
        CancelSubscriptionRequest, ChangePlanRequest, CheckEntitlementRequest, GetSubscriptionRequest,
        RecordPaymentRequest, RegisterMemberRequest, RunRenewalCycleRequest, SubscribeRequest, SubscriptionState,
        account_service_client::AccountServiceClient, entitlement_service_client::EntitlementServiceClient,
        subscription_service_client::SubscriptionServiceClient,
    };
    let clock = ManualClock::new(tiejun_tests::leads::monday_morning());
    let server = tiejun_tests::start_service_at(Svc::Billing, &db.url, std::sync::Arc::new(clock.clone())).await;
    assert!(wait_serving(server.addr, Duration::from_secs(30)).await);
    let channel = server.channel().await;
    let mut catalog = CatalogServiceClient::new(channel.clone());
    feature(&mut catalog, "verified_badge", FeatureTier::Paid).await;
    for (id, yuan) in [("lite", 1_000), ("trustpass", 2_980), ("premium", 40_000)] {
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
    let ops = token(&[Role::Operator]);
    let mut active = Vec::new();
    for i in 0..3 {
        let member = RegisterMemberRequest {
            company_name: format!("变更测试{i}"),
            contact_name: "甲".into(),
            phone: format!("1350000000{i}"),
            city: "杭州".into(),
            ..Default::default()
        };
        let account = accounts
            .register_member(authed(member, &admin()))
            .await
            .expect("member")
            .into_inner()
            .account
            .expect("a");
        let s = subs
            .subscribe(authed(
                SubscribeRequest {
                    account_id: account.account_id.clone(),
                    plan_id: "trustpass".into(),
                    ..Default::default()
                },
                &admin(),
            ))
            .await
            .expect("subscribe")
            .into_inner();
        let invoice = s.invoice.expect("invoice");
        let pay = RecordPaymentRequest {
            invoice_id: invoice.invoice_id,
            amount: invoice.amount,
            method: "alipay".into(),
            idempotency_key: format!("pay-{i}"),
            ..Default::default()
        };
        subs.record_payment(authed(pay, &admin())).await.expect("pay");
        active.push((account.account_id, s.subscription.expect("sub").subscription_id));
    }

    // Day 100 of 365: an upgrade charges the difference for the 265 days left, rounded down.
    clock.advance(Span::days(100));
    let upgrade = ChangePlanRequest {
        subscription_id: active[0].1.clone(),
        plan_id: "premium".into(),
        idempotency_key: String::new(),
    };
    let upgraded = subs
        .change_plan(authed(upgrade, &admin()))
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
        .change_plan(authed(downgrade, &admin()))
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
            &admin(),
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
        ent.check_entitlement(authed(check(&active[2].0), &admin()))
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
    let direct = Database::connect(&db.url, &PoolSettings::default())
        .await
        .expect("connect");
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
    subs.record_payment(authed(pay, &admin())).await.expect("renewal paid");
    clock.advance(Span::days(41));
    subs.run_renewal_cycle(authed(RunRenewalCycleRequest {}, &ops))
        .await
        .expect("cycle");
    let get = |id: &str| GetSubscriptionRequest {
        subscription_id: id.into(),
    };
    let lite = subs
        .get_subscription(authed(get(&active[1].1), &admin()))
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
        .get_subscription(authed(get(&active[2].1), &admin()))
        .await
        .expect("get")
        .into_inner()
        .subscription
        .expect("s");
    assert_eq!(canceled.state(), SubscriptionState::Canceled);
    assert!(
        !ent.check_entitlement(authed(check(&active[2].0), &admin()))
            .await
            .expect("check")
            .into_inner()
            .allowed,
        "ended"
    );
}

both_backends!(
    plan_changes,
    upgrades_prorate_to_the_fen_and_downgrades_and_cancellations_wait_for_the_end
);

async fn the_renewal_cycle_runs_by_itself(db: TestDatabase) {
    use chrono::Duration as Span;
    use tiejun_platform::clock::ManualClock;
    use tiejun_proto::billing::v1::{
        RecordPaymentRequest, RegisterMemberRequest, SubscribeRequest, account_service_client::AccountServiceClient,
        subscription_service_client::SubscriptionServiceClient,
    };
    let clock = ManualClock::new(tiejun_tests::leads::monday_morning());
    let server = tiejun_tests::start_service_with_jobs(
        Svc::Billing,
        &db.url,
        std::sync::Arc::new(clock.clone()),
        Duration::from_millis(100),
    )
    .await;
    assert!(wait_serving(server.addr, Duration::from_secs(30)).await);
    let channel = server.channel().await;
    let mut catalog = CatalogServiceClient::new(channel.clone());
    feature(&mut catalog, "verified_badge", FeatureTier::Paid).await;
    let plan = CreatePlanRequest {
        plan_id: "trustpass".into(),
        name: "TrustPass".into(),
        price: cny(2_980),
        feature_keys: vec!["verified_badge".into()],
        ..Default::default()
    };
    catalog.create_plan(authed(plan, &admin())).await.expect("plan");
    let member = RegisterMemberRequest {
        company_name: "自动续费".into(),
        contact_name: "乙".into(),
        phone: "13300000000".into(),
        city: "杭州".into(),
        ..Default::default()
    };
    let account = AccountServiceClient::new(channel.clone())
        .register_member(authed(member, &admin()))
        .await
        .expect("member")
        .into_inner()
        .account
        .expect("a");
    let mut subs = SubscriptionServiceClient::new(channel);
    let s = subs
        .subscribe(authed(
            SubscribeRequest {
                account_id: account.account_id,
                plan_id: "trustpass".into(),
                ..Default::default()
            },
            &admin(),
        ))
        .await
        .expect("subscribe")
        .into_inner();
    let invoice = s.invoice.expect("invoice");
    let pay = RecordPaymentRequest {
        invoice_id: invoice.invoice_id,
        amount: invoice.amount,
        method: "card".into(),
        idempotency_key: "auto-1".into(),
        ..Default::default()
    };
    subs.record_payment(authed(pay, &admin())).await.expect("pay");
    let direct = Database::connect(&db.url, &PoolSettings::default())
        .await
        .expect("connect");
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
    clock.advance(Span::days(330)); // inside the 45-day notice window
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

both_backends!(renewal_job, the_renewal_cycle_runs_by_itself);

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
