//! What the gateway adds: CheckEntitlement on the billing service, direct,
//! through the gateway (in this process, in front of the same service) as
//! gRPC, and through the gateway as Connect JSON over HTTP/1.1 (what `curl`
//! and a browser send: transcoded with the descriptors), at a fixed rate
//! (latency added) and flat out (throughput kept). The runs alternate
//! direct / gateway / connect so drift on a noisy machine hits all alike.

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use tiejun_gateway::{BackendSpec, GatewaySettings, GatewayTuning, SystemResolver};
use tiejun_platform::{auth::Role, config::ServerArgs};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use super::{
    GatewayArgs, Report,
    drive::run_suffix,
    entitlement::{checker, connect_checker, seed},
    load::{Outcome, Progress, fixed_rate, flat_out},
    report::Latency,
    service::{Service, Which},
};

async fn start_gateway(
    service: SocketAddr,
    keys: tiejun_platform::auth::JwtKeys,
) -> anyhow::Result<(
    SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let settings = GatewaySettings {
        server: ServerArgs::listening_on(addr),
        keys,
        backends: vec![BackendSpec::parse("tiejun.billing.v1", &[format!("http://{service}")])?],
        // The limit would measure the bucket, not the forwarding.
        tuning: GatewayTuning {
            rate_limit: 0,
            ..GatewayTuning::default()
        },
        resolver: Arc::new(SystemResolver),
    };
    let stop = CancellationToken::new();
    let task = tokio::spawn(tiejun_gateway::run(settings, listener, stop.clone()));
    let started = std::time::Instant::now();
    while !crate::suite::is_serving(addr).await {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the gateway did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((addr, stop, task))
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Runs the four measurements and reports the differences and ratios.
pub async fn run(args: &GatewayArgs) -> anyhow::Result<Report> {
    let s = Service::start(&args.target, Which::Billing).await?;
    let seed_started = std::time::Instant::now();
    let (account, feature) = seed(&s.channel, &s.token(&[Role::BillingAdmin], None)?, &run_suffix()).await?;
    let token = s.token(&[Role::Service], None)?;
    let (gateway, stop_gateway, gateway_task) = start_gateway(
        s.addr
            .context("bench gateway starts its own service and gateway: use entitlement --target for one elsewhere")?,
        s.keys().clone(),
    )
    .await?;
    let via = Channel::from_shared(format!("http://{gateway}"))?.connect().await?;
    let direct = checker(s.channel.clone(), account.clone(), feature.clone(), token.clone());
    let through = checker(via, account.clone(), feature.clone(), token.clone());
    let connect = connect_checker(&format!("http://{gateway}"), &account, &feature, &token)?;
    let seed_seconds = seed_started.elapsed().as_secs_f64();

    let progress = Progress::new();
    let line = progress.show("gateway");
    let mut runs: BTreeMap<&str, Outcome> = BTreeMap::new();
    for (name, call) in [("direct", &direct), ("gateway", &through)] {
        flat_out(args.concurrency, args.warmup, &progress, call.clone()).await;
        runs.insert(
            if name == "direct" {
                "rate_direct"
            } else {
                "rate_gateway"
            },
            fixed_rate(args.rate, args.duration, &progress, call.clone()).await,
        );
    }
    flat_out(args.concurrency, args.warmup, &progress, connect.clone()).await;
    runs.insert(
        "rate_connect",
        fixed_rate(args.rate, args.duration, &progress, connect.clone()).await,
    );
    for (name, call) in [("direct", &direct), ("gateway", &through)] {
        flat_out(args.concurrency, args.warmup, &progress, call.clone()).await;
        runs.insert(
            if name == "direct" {
                "flat_direct"
            } else {
                "flat_gateway"
            },
            flat_out(args.concurrency, args.duration, &progress, call.clone()).await,
        );
    }
    flat_out(args.concurrency, args.warmup, &progress, connect.clone()).await;
    runs.insert(
        "flat_connect",
        flat_out(args.concurrency, args.duration, &progress, connect.clone()).await,
    );
    drop(line);
    stop_gateway.cancel();
    gateway_task.await.context("gateway task")??;
    let backend = s.backend.to_owned();
    s.stop().await?;

    let get = |k: &str| runs.get(k).context("every run was made");
    let (rate_direct, rate_gateway) = (get("rate_direct")?, get("rate_gateway")?);
    let (flat_direct, flat_gateway) = (get("flat_direct")?, get("flat_gateway")?);
    let (rate_connect, flat_connect) = (get("rate_connect")?, get("flat_connect")?);
    let q = |o: &Outcome, p: f64| ms(o.histogram.value_at_quantile(p));
    let mut report = Report::new("gateway", &backend, flat_gateway.elapsed, flat_gateway.histogram.len());
    report.seed_seconds = seed_seconds;
    report.latency = Some(Latency::of(&flat_gateway.histogram));
    for (name, outcome) in &runs {
        for (code, n) in &outcome.errors {
            *report.errors.entry(format!("{name} {code}")).or_default() += n;
        }
    }
    report.settings = BTreeMap::from([
        ("rate".into(), args.rate.to_string()),
        ("concurrency".into(), args.concurrency.to_string()),
        ("duration".into(), format!("{:?}", args.duration)),
        ("warmup".into(), format!("{:?}", args.warmup)),
    ]);
    report.figures = BTreeMap::from([
        ("fixed_direct_p50_ms".into(), format!("{:.3}", q(rate_direct, 0.5))),
        ("fixed_direct_p99_ms".into(), format!("{:.3}", q(rate_direct, 0.99))),
        ("fixed_gateway_p50_ms".into(), format!("{:.3}", q(rate_gateway, 0.5))),
        ("fixed_gateway_p99_ms".into(), format!("{:.3}", q(rate_gateway, 0.99))),
        (
            "fixed_added_p50_ms".into(),
            format!("{:.3}", q(rate_gateway, 0.5) - q(rate_direct, 0.5)),
        ),
        (
            "fixed_added_p99_ms".into(),
            format!("{:.3}", q(rate_gateway, 0.99) - q(rate_direct, 0.99)),
        ),
        ("fixed_achieved_direct".into(), format!("{:.0}/s", rate_direct.rate())),
        ("fixed_achieved_gateway".into(), format!("{:.0}/s", rate_gateway.rate())),
        ("flat_direct_per_s".into(), format!("{:.0}", flat_direct.rate())),
        ("flat_gateway_per_s".into(), format!("{:.0}", flat_gateway.rate())),
        (
            "flat_ratio_gateway_to_direct".into(),
            format!("{:.2}", flat_gateway.rate() / flat_direct.rate().max(1.0)),
        ),
        ("fixed_connect_p50_ms".into(), format!("{:.3}", q(rate_connect, 0.5))),
        ("fixed_connect_p99_ms".into(), format!("{:.3}", q(rate_connect, 0.99))),
        ("fixed_achieved_connect".into(), format!("{:.0}/s", rate_connect.rate())),
        ("flat_connect_per_s".into(), format!("{:.0}", flat_connect.rate())),
        (
            "flat_ratio_connect_to_gateway".into(),
            format!("{:.2}", flat_connect.rate() / flat_gateway.rate().max(1.0)),
        ),
    ]);
    Ok(report)
}
