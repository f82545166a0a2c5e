//! Scoped tokens act only for their own account or learner: a token with
//! an `account_id` (or `learner_id`) claim reads and changes its own rows
//! and is refused, with nothing changed, for another's. (A rep's own leads:
//! `leads/scope.rs`.)

use std::time::Duration;

use tiejun_platform::{auth::TokenSpec, testing::TestDatabase};
use tiejun_proto::{
    billing::v1::{
        CancelSubscriptionRequest, CheckEntitlementRequest, GetAccountRequest, GetSubscriptionRequest,
        ListEntitlementsRequest, ListInvoicesRequest, account_service_client::AccountServiceClient,
        entitlement_service_client::EntitlementServiceClient, subscription_service_client::SubscriptionServiceClient,
    },
    training::v1::{
        CancelEnrollmentRequest, CheckRequirementRequest, EnrollRequest, GetEnrollmentRequest, ListEnrollmentsRequest,
    },
};
use tiejun_tests::{
    authed,
    billing::{BillingFixture, billing_admin},
    keys,
    training::{TrainingFixture, learner, trainer},
};
use tonic::Code;

/// A member's token: no staff role, scoped to `account`.
fn member(account: &str) -> String {
    scoped_operator(account, &[])
}

/// A token of `roles` that also carries an account scope. A role the RPC
/// does not list gets it admitted by the scope alone, so limited to it.
fn scoped_operator(account: &str, roles: &[tiejun_platform::auth::Role]) -> String {
    let mut spec = TokenSpec::new("member", roles, Duration::from_secs(600));
    spec.account_id = Some(account.to_owned());
    keys().mint(&spec).expect("mint")
}

fn refused<T: std::fmt::Debug>(answer: Result<T, tonic::Status>, what: &str) {
    let status = answer.expect_err(what);
    assert_eq!(status.code(), Code::PermissionDenied, "{what}: {status:?}");
}

#[tiejun_platform::both_backends]
async fn an_account_token_acts_only_for_its_own_account(db: TestDatabase) {
    let f = BillingFixture::start(db, None).await;
    f.catalog(&[("trustpass", 2980)]).await;
    let (mine, my_sub) = f.paid_member(1, "trustpass", "E1").await;
    let (theirs, their_sub) = f.paid_member(2, "trustpass", "E1").await;
    let token = member(&mine);
    let channel = f.calls().0;
    let mut accounts = AccountServiceClient::new(channel.clone());
    let mut subs = SubscriptionServiceClient::new(channel.clone());
    let mut entitlements = EntitlementServiceClient::new(channel);

    let get = |id: &str| GetAccountRequest { account_id: id.into() };
    accounts
        .get_account(authed(get(&mine), &token))
        .await
        .expect("own account");
    refused(
        accounts.get_account(authed(get(&theirs), &token)).await,
        "another's account",
    );

    let sub = |id: &str| GetSubscriptionRequest {
        subscription_id: id.into(),
    };
    subs.get_subscription(authed(sub(&my_sub), &token))
        .await
        .expect("own subscription");
    refused(
        subs.get_subscription(authed(sub(&their_sub), &token)).await,
        "another's subscription",
    );

    let invoices = |account: &str| ListInvoicesRequest {
        account_id: account.into(),
        ..Default::default()
    };
    let own = subs
        .list_invoices(authed(invoices(&mine), &token))
        .await
        .expect("own invoices")
        .into_inner();
    assert!(!own.invoices.is_empty() && own.invoices.iter().all(|i| i.account_id == mine));
    refused(
        subs.list_invoices(authed(invoices(&theirs), &token)).await,
        "another's invoices",
    );
    match subs.list_invoices(authed(invoices(""), &token)).await {
        Ok(all) => assert!(
            all.into_inner().invoices.iter().all(|i| i.account_id == mine),
            "an unfiltered list shows only the caller's invoices"
        ),
        Err(status) => assert_eq!(status.code(), Code::PermissionDenied, "{status:?}"),
    }

    let check = |account: &str| CheckEntitlementRequest {
        account_id: account.into(),
        feature_key: "verified_badge".into(),
    };
    assert!(
        entitlements
            .check_entitlement(authed(check(&mine), &token))
            .await
            .expect("own entitlement")
            .into_inner()
            .allowed
    );
    refused(
        entitlements.check_entitlement(authed(check(&theirs), &token)).await,
        "another's entitlement",
    );
    refused(
        entitlements
            .list_entitlements(authed(
                ListEntitlementsRequest {
                    account_id: theirs.clone(),
                },
                &token,
            ))
            .await,
        "another's entitlements",
    );

    let cancel = CancelSubscriptionRequest {
        subscription_id: their_sub.clone(),
        reason: "not mine to cancel".into(),
    };
    refused(
        subs.cancel_subscription(authed(cancel, &token)).await,
        "cancelling another's",
    );
    let after = subs
        .get_subscription(authed(sub(&their_sub), &billing_admin()))
        .await
        .expect("admin reads it")
        .into_inner()
        .subscription
        .expect("subscription");
    assert!(!after.cancel_at_period_end, "another's subscription is unchanged");
}

#[tiejun_platform::both_backends]
async fn a_learner_token_acts_only_for_its_own_learner(db: TestDatabase) {
    let f = TrainingFixture::start(db).await;
    f.onboarding().await;
    let session = f.session("Hangzhou", 14, 10).await;
    let theirs = f.enroll(&session, "L2").await.expect("L2 enrolled by a trainer");
    let token = learner("L1");
    let mut enrollments = f.enrollments().await;

    let enroll = |learner_id: &str| EnrollRequest {
        session_id: session.clone(),
        learner_id: learner_id.into(),
        idempotency_key: String::new(),
    };
    let mine = enrollments
        .enroll(authed(enroll("L1"), &token))
        .await
        .expect("enrols itself")
        .into_inner()
        .enrollment
        .expect("enrollment");
    refused(
        enrollments.enroll(authed(enroll("L3"), &token)).await,
        "enrolling another",
    );

    let get = |id: &str| GetEnrollmentRequest {
        enrollment_id: id.into(),
    };
    enrollments
        .get_enrollment(authed(get(&mine.enrollment_id), &token))
        .await
        .expect("own enrollment");
    refused(
        enrollments
            .get_enrollment(authed(get(&theirs.enrollment_id), &token))
            .await,
        "another's enrollment",
    );
    let list = |learner_id: &str| ListEnrollmentsRequest {
        learner_id: learner_id.into(),
        ..Default::default()
    };
    enrollments
        .list_enrollments(authed(list("L1"), &token))
        .await
        .expect("own list");
    refused(
        enrollments.list_enrollments(authed(list("L2"), &token)).await,
        "another's list",
    );
    let check = |person: &str| CheckRequirementRequest {
        person_id: person.into(),
        program_id: "employee_onboarding".into(),
        at: None,
    };
    let mut assignments =
        tiejun_proto::training::v1::assignment_service_client::AssignmentServiceClient::new(f.server.channel().await);
    assignments
        .check_requirement(authed(check("L1"), &token))
        .await
        .expect("own requirement");
    refused(
        assignments.check_requirement(authed(check("L2"), &token)).await,
        "another's requirement",
    );

    let cancel = CancelEnrollmentRequest {
        enrollment_id: theirs.enrollment_id.clone(),
        reason: "not mine".into(),
    };
    refused(
        enrollments.cancel_enrollment(authed(cancel, &token)).await,
        "cancelling another's",
    );
    let after = enrollments
        .get_enrollment(authed(get(&theirs.enrollment_id), &trainer()))
        .await
        .expect("trainer reads it")
        .into_inner()
        .enrollment
        .expect("enrollment");
    assert_eq!(after.status, theirs.status, "another's enrollment is unchanged");
}
