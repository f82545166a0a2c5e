//! Member accounts: registered free, and a converted lead makes one account.

use std::time::Duration;

use tiejun_platform::{auth::Role, both_backends, testing::TestDatabase};
use tiejun_tests::{Svc, authed, billing::billing_admin, start_service, token, wait_serving};
use tonic::Code;

#[both_backends]
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
        .register_member(authed(register.clone(), &billing_admin()))
        .await
        .expect("register")
        .into_inner();
    let again = c
        .register_member(authed(register, &billing_admin()))
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
