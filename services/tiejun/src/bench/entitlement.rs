//! CheckEntitlement, the hot path other services call: a paying account
//! with a paid feature is seeded through the public RPCs, then checked at a
//! fixed rate or flat out, at `--target` (the service, the gateway, nginx)
//! or on a billing service started in this process.

use anyhow::Context as _;
use tiejun_platform::auth::Role;
use tiejun_proto::billing::v1::{
    CheckEntitlementRequest, CreateFeatureRequest, CreatePlanRequest, FeatureTier, Money, RecordPaymentRequest,
    RegisterMemberRequest, SubscribeRequest, account_service_client::AccountServiceClient,
    catalog_service_client::CatalogServiceClient, entitlement_service_client::EntitlementServiceClient,
    subscription_service_client::SubscriptionServiceClient,
};
use tonic::{Status, transport::Channel};

use super::{
    Report,
    drive::{BenchProtocol, DriveArgs, measure, report, run_suffix},
    service::{Service, Which, authed},
};

/// A paying account with a paid feature to check, seeded through `channel`;
/// returns the account id and the feature key. `suffix` keeps the ids apart
/// from an earlier run's on the same database.
pub(super) async fn seed(channel: &Channel, admin: &str, suffix: &str) -> anyhow::Result<(String, String)> {
    let feature_key = format!("bench_badge_{suffix}");
    let plan_id = format!("bench_plan_{suffix}");
    let mut catalog = CatalogServiceClient::new(channel.clone());
    let feature = CreateFeatureRequest {
        feature_key: feature_key.clone(),
        name: "Verified".into(),
        description: String::new(),
        tier: FeatureTier::Paid as i32,
    };
    catalog
        .create_feature(authed(feature, admin)?)
        .await
        .context("CreateFeature")?;
    let plan = CreatePlanRequest {
        plan_id: plan_id.clone(),
        name: "TrustPass".into(),
        price: Some(Money {
            amount_minor: 298_000,
            currency: "CNY".into(),
        }),
        feature_keys: vec![feature_key.clone()],
        ..Default::default()
    };
    catalog.create_plan(authed(plan, admin)?).await.context("CreatePlan")?;
    let member = RegisterMemberRequest {
        company_name: format!("基准会员{suffix}"),
        contact_name: "甲".into(),
        phone: format!("138{:08}", rand::random_range(0..100_000_000u32)),
        city: "杭州".into(),
        ..Default::default()
    };
    let account = AccountServiceClient::new(channel.clone())
        .register_member(authed(member, admin)?)
        .await?
        .into_inner()
        .account
        .context("no account")?;
    let mut subs = SubscriptionServiceClient::new(channel.clone());
    let subscribed = subs
        .subscribe(authed(
            SubscribeRequest {
                account_id: account.account_id.clone(),
                plan_id,
                ..Default::default()
            },
            admin,
        )?)
        .await?
        .into_inner();
    let invoice = subscribed.invoice.context("no invoice")?;
    let pay = RecordPaymentRequest {
        invoice_id: invoice.invoice_id,
        amount: invoice.amount,
        method: "bank_transfer".into(),
        idempotency_key: format!("bench-{suffix}"),
        ..Default::default()
    };
    subs.record_payment(authed(pay, admin)?)
        .await
        .context("RecordPayment")?;
    Ok((account.account_id, feature_key))
}

/// One CheckEntitlement that must answer allowed.
pub(super) fn checker(
    channel: Channel,
    account: String,
    feature: String,
    token: String,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<(), Status>> + Send>> + Clone + Send + 'static {
    let client = EntitlementServiceClient::new(channel);
    move || {
        let mut client = client.clone();
        let request = authed(
            CheckEntitlementRequest {
                account_id: account.clone(),
                feature_key: feature.clone(),
            },
            &token,
        );
        Box::pin(async move {
            let request = request.map_err(|e| Status::internal(e.to_string()))?;
            if client.check_entitlement(request).await?.into_inner().allowed {
                Ok(())
            } else {
                Err(Status::internal("not allowed"))
            }
        })
    }
}

/// One call being measured.
pub(super) type Check = std::pin::Pin<Box<dyn Future<Output = Result<(), tonic::Status>> + Send>>;

/// One CheckEntitlement as Connect JSON over HTTP/1.1 through the gateway
/// at `base` (`http://host:port`; a pool of keep-alive connections),
/// answering allowed.
pub(super) fn connect_checker(
    base: &str,
    account: &str,
    feature: &str,
    token: &str,
) -> anyhow::Result<impl Fn() -> Check + Clone + Send + 'static> {
    use http_body_util::{BodyExt as _, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let uri: http::Uri = format!(
        "{}/tiejun.billing.v1.EntitlementService/CheckEntitlement",
        base.trim_end_matches('/')
    )
    .parse()?;
    let body = bytes::Bytes::from(serde_json::to_vec(&serde_json::json!({
        "accountId": account,
        "featureKey": feature,
    }))?);
    let bearer = format!("Bearer {token}");
    Ok(move || {
        let request = http::Request::post(uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::AUTHORIZATION, bearer.as_str())
            .body(Full::new(body.clone()));
        let client = client.clone();
        Box::pin(async move {
            let request = request.map_err(|e| tonic::Status::internal(e.to_string()))?;
            let response = client
                .request(request)
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?
                .to_bytes();
            let answer: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| tonic::Status::internal(e.to_string()))?;
            if status == http::StatusCode::OK && answer["allowed"] == serde_json::Value::Bool(true) {
                Ok(())
            } else {
                Err(tonic::Status::internal(format!("{status}: {answer}")))
            }
        }) as Check
    })
}

/// Seeds, then drives CheckEntitlement as `args` says: as gRPC, or (with
/// `--protocol connect`, at a `--target` gateway) as Connect JSON.
pub async fn run(args: &DriveArgs) -> anyhow::Result<Report> {
    let s = Service::start(&args.store, Which::Billing).await?;
    let seeding = std::time::Instant::now();
    let (account, feature) = seed(&s.channel, &s.token(&[Role::BillingAdmin], None)?, &run_suffix()).await?;
    let seed_seconds = seeding.elapsed().as_secs_f64();
    let token = s.token(&[Role::Service], None)?;
    let (outcome, processes) = match args.protocol {
        BenchProtocol::Grpc => {
            measure("entitlement", args, checker(s.channel.clone(), account, feature, token)).await?
        }
        BenchProtocol::Connect => {
            let base = args
                .store
                .endpoint
                .as_deref()
                .context("--protocol connect needs --target: the gateway's http://host:port")?;
            measure("entitlement", args, connect_checker(base, &account, &feature, &token)?).await?
        }
    };
    let mut report = report("entitlement", s.backend, args, outcome, processes);
    report.seed_seconds = seed_seconds;
    s.stop().await?;
    Ok(report)
}
