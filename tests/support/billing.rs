//! A membership-billing server on a manual clock, with a small catalog and
//! helpers for the member → subscribe → pay path most billing tests start from.

use std::time::Duration;

use tiejun_platform::{auth::Role, testing::TestDatabase};
use tiejun_proto::billing::v1::{
    CreateFeatureRequest, CreatePlanRequest, FeatureTier, Money, RecordPaymentRequest, RegisterMemberRequest,
    SubscribeRequest, account_service_client::AccountServiceClient, catalog_service_client::CatalogServiceClient,
    subscription_service_client::SubscriptionServiceClient,
};
use tonic::transport::Channel;

use crate::{Svc, authed, fixture::Fixture, token};

/// A billing admin's token.
pub fn billing_admin() -> String {
    token(&[Role::BillingAdmin])
}

/// Yuan as a CNY amount in fen.
pub fn cny(yuan: i64) -> Option<Money> {
    Some(Money {
        amount_minor: yuan * 100,
        currency: "CNY".into(),
    })
}

/// A running billing service at Monday 09:00 Shanghai time: the [`Fixture`]
/// and the calls billing's tests make.
#[derive(Debug)]
pub struct BillingFixture(Fixture);

impl std::ops::Deref for BillingFixture {
    type Target = Fixture;

    fn deref(&self) -> &Fixture {
        &self.0
    }
}

impl BillingFixture {
    /// Starts the service on `test_db`; with `jobs_every`, its renewal job runs too.
    pub async fn start(test_db: TestDatabase, jobs_every: Option<Duration>) -> Self {
        Self(Fixture::start(Svc::Billing, test_db, jobs_every).await)
    }

    /// The calls below, on this service.
    pub fn calls(&self) -> BillingCalls {
        BillingCalls(self.channel.clone())
    }

    /// See [`BillingCalls::catalog`].
    pub async fn catalog(&self, plans: &[(&str, i64)]) {
        self.calls().catalog(plans).await;
    }

    /// See [`BillingCalls::member`].
    pub async fn member(&self, n: usize) -> String {
        self.calls().member(n).await
    }

    /// See [`BillingCalls::subscribe_and_pay`].
    pub async fn subscribe_and_pay(&self, account: &str, plan: &str, sold_by: &str) -> String {
        self.calls().subscribe_and_pay(account, plan, sold_by).await
    }

    /// See [`BillingCalls::paid_member`].
    pub async fn paid_member(&self, n: usize, plan: &str, sold_by: &str) -> (String, String) {
        self.calls().paid_member(n, plan, sold_by).await
    }
}

/// Billing calls a test makes, on any channel to billing (direct or the gateway).
#[derive(Debug, Clone)]
pub struct BillingCalls(pub Channel);

impl BillingCalls {
    /// A feature of `tier` named by its key.
    pub async fn feature(&self, key: &str, tier: FeatureTier) {
        let request = CreateFeatureRequest {
            feature_key: key.into(),
            name: key.into(),
            description: String::new(),
            tier: tier as i32,
        };
        CatalogServiceClient::new(self.0.clone())
            .create_feature(authed(request, &billing_admin()))
            .await
            .expect("feature");
    }

    /// A free feature (`supplier_listing`), a paid one (`verified_badge`), and
    /// one plan per `(id, yuan a year)` selling the paid feature.
    pub async fn catalog(&self, plans: &[(&str, i64)]) {
        self.feature("supplier_listing", FeatureTier::Free).await;
        self.feature("verified_badge", FeatureTier::Paid).await;
        let mut c = CatalogServiceClient::new(self.0.clone());
        for (id, yuan) in plans {
            let plan = CreatePlanRequest {
                plan_id: (*id).into(),
                name: (*id).into(),
                price: cny(*yuan),
                feature_keys: vec!["verified_badge".into()],
                ..Default::default()
            };
            c.create_plan(authed(plan, &billing_admin())).await.expect("plan");
        }
    }

    /// Registers free member number `n`; returns its account id.
    pub async fn member(&self, n: usize) -> String {
        let member = RegisterMemberRequest {
            company_name: format!("测试会员{n:04}号"),
            contact_name: "联系人".into(),
            phone: format!("1360000{n:04}"),
            city: "杭州".into(),
            ..Default::default()
        };
        let response = AccountServiceClient::new(self.0.clone())
            .register_member(authed(member, &billing_admin()))
            .await;
        response
            .expect("member")
            .into_inner()
            .account
            .expect("account")
            .account_id
    }

    /// Subscribes `account` to `plan` credited to `sold_by` and pays the first
    /// invoice in full; returns the subscription id.
    pub async fn subscribe_and_pay(&self, account: &str, plan: &str, sold_by: &str) -> String {
        let mut subs = SubscriptionServiceClient::new(self.0.clone());
        let subscribe = SubscribeRequest {
            account_id: account.into(),
            plan_id: plan.into(),
            sold_by_person_id: sold_by.into(),
            idempotency_key: String::new(),
        };
        let s = subs
            .subscribe(authed(subscribe, &billing_admin()))
            .await
            .expect("subscribe")
            .into_inner();
        let invoice = s.invoice.expect("invoice");
        let pay = RecordPaymentRequest {
            idempotency_key: format!("first-{}", invoice.invoice_id),
            invoice_id: invoice.invoice_id,
            amount: invoice.amount,
            method: "bank_transfer".into(),
            ..Default::default()
        };
        subs.record_payment(authed(pay, &billing_admin())).await.expect("pay");
        s.subscription.expect("subscription").subscription_id
    }

    /// A new member, subscribed and paid: (account id, subscription id).
    pub async fn paid_member(&self, n: usize, plan: &str, sold_by: &str) -> (String, String) {
        let account = self.member(n).await;
        let subscription = self.subscribe_and_pay(&account, plan, sold_by).await;
        (account, subscription)
    }
}
