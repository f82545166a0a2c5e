//! CheckEntitlement against the framework's limit, in one run: a bare tonic
//! echo server (no auth, no layers) and then the billing service, each
//! driven flat out at the same concurrency for the same time.

use std::collections::BTreeMap;

use anyhow::Context as _;
use tiejun_platform::auth::Role;
use tiejun_proto::{
    bench::v1::{
        EchoRequest, EchoResponse,
        echo_service_client::EchoServiceClient,
        echo_service_server::{EchoService, EchoServiceServer},
    },
    billing::v1::{
        CheckEntitlementRequest, CreateFeatureRequest, CreatePlanRequest, FeatureTier, Money, RecordPaymentRequest,
        RegisterMemberRequest, SubscribeRequest, account_service_client::AccountServiceClient,
        catalog_service_client::CatalogServiceClient, entitlement_service_client::EntitlementServiceClient,
        subscription_service_client::SubscriptionServiceClient,
    },
};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status, transport::Channel};

use super::{
    EntitlementArgs, Report,
    load::flat_out,
    report::Latency,
    service::{Service, Which, authed},
};

/// The bare echo: the framework's limit.
#[derive(Debug, Clone, Copy)]
struct BareEcho;

#[tonic::async_trait]
impl EchoService for BareEcho {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(EchoResponse {
            payload: request.into_inner().payload,
            deadline_ms: 0,
        }))
    }
}

async fn echo_baseline(args: &EntitlementArgs) -> anyhow::Result<(f64, Latency)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(EchoServiceServer::new(BareEcho))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))),
    );
    let channel = Channel::from_shared(format!("http://{addr}"))?.connect().await?;
    let client = EchoServiceClient::new(channel);
    let outcome = flat_out(args.concurrency, args.duration, move || {
        let mut c = client.clone();
        async move {
            c.echo(EchoRequest {
                payload: vec![7; 32],
                delay: None,
            })
            .await
            .map(drop)
        }
    })
    .await;
    server.abort();
    Ok((outcome.rate(), Latency::of(&outcome.histogram)))
}

/// A paying account with a paid feature to check.
pub(super) async fn seed(s: &Service) -> anyhow::Result<String> {
    let admin = s.token(&[Role::BillingAdmin], None)?;
    let mut catalog = CatalogServiceClient::new(s.channel.clone());
    let feature = CreateFeatureRequest {
        feature_key: "verified_badge".into(),
        name: "Verified".into(),
        description: String::new(),
        tier: FeatureTier::Paid as i32,
    };
    catalog
        .create_feature(authed(feature, &admin)?)
        .await
        .context("CreateFeature")?;
    let plan = CreatePlanRequest {
        plan_id: "trustpass".into(),
        name: "TrustPass".into(),
        price: Some(Money {
            amount_minor: 298_000,
            currency: "CNY".into(),
        }),
        feature_keys: vec!["verified_badge".into()],
        ..Default::default()
    };
    catalog.create_plan(authed(plan, &admin)?).await.context("CreatePlan")?;
    let member = RegisterMemberRequest {
        company_name: "基准会员".into(),
        contact_name: "甲".into(),
        phone: "13800000000".into(),
        city: "杭州".into(),
        ..Default::default()
    };
    let account = AccountServiceClient::new(s.channel.clone())
        .register_member(authed(member, &admin)?)
        .await?
        .into_inner()
        .account
        .context("no account")?;
    let mut subs = SubscriptionServiceClient::new(s.channel.clone());
    let subscribed = subs
        .subscribe(authed(
            SubscribeRequest {
                account_id: account.account_id.clone(),
                plan_id: "trustpass".into(),
                ..Default::default()
            },
            &admin,
        )?)
        .await?
        .into_inner();
    let invoice = subscribed.invoice.context("no invoice")?;
    let pay = RecordPaymentRequest {
        invoice_id: invoice.invoice_id,
        amount: invoice.amount,
        method: "bank_transfer".into(),
        idempotency_key: "bench".into(),
        ..Default::default()
    };
    subs.record_payment(authed(pay, &admin)?)
        .await
        .context("RecordPayment")?;
    Ok(account.account_id)
}

/// Echo flat out, then CheckEntitlement flat out; reports both and the ratio.
pub async fn run(args: &EntitlementArgs) -> anyhow::Result<Report> {
    let (echo_rate, echo_latency) = echo_baseline(args).await?;
    let s = Service::start(&args.target, Which::Billing).await?;
    let account = seed(&s).await?;
    let token = s.token(&[Role::Service], None)?;
    let client = EntitlementServiceClient::new(s.channel.clone());
    let outcome = flat_out(args.concurrency, args.duration, move || {
        let mut c = client.clone();
        let request = authed(
            CheckEntitlementRequest {
                account_id: account.clone(),
                feature_key: "verified_badge".into(),
            },
            &token,
        );
        async move {
            let response = c
                .check_entitlement(request.map_err(|e| Status::internal(e.to_string()))?)
                .await?;
            if response.into_inner().allowed {
                Ok(())
            } else {
                Err(Status::internal("not allowed"))
            }
        }
    })
    .await;
    let mut report = Report::new(
        "entitlement",
        s.backend.as_str(),
        outcome.elapsed,
        outcome.histogram.len(),
    );
    report.latency = Some(Latency::of(&outcome.histogram));
    report.errors = outcome.errors;
    report.settings = BTreeMap::from([
        ("concurrency".into(), args.concurrency.to_string()),
        ("duration".into(), format!("{:?}", args.duration)),
    ]);
    report.figures = BTreeMap::from([
        ("echo_rate_per_s".into(), format!("{echo_rate:.0}")),
        ("echo_p99_ms".into(), format!("{:.2}", echo_latency.p99_ms)),
        (
            "ratio_to_echo".into(),
            format!("{:.2}", report.rate_per_second / echo_rate.max(1.0)),
        ),
    ]);
    s.stop().await?;
    Ok(report)
}
