//! Telemetry across the services, in a process of its own: the tracing
//! subscriber and OpenTelemetry providers these tests install are global
//! state, which the many tests of `suite` running side by side would share.

use std::sync::{Arc, Mutex};

use tiejun_platform::{auth::Role, testing::TestDatabase};
use tiejun_proto::leads::v1::rep_service_client::RepServiceClient;
use tiejun_tests::{
    authed,
    connected::{Connected, applied_once, onboarding_programme},
    leads::registration,
    token,
};

fn admin() -> String {
    token(&[Role::Admin])
}

/// What this process's telemetry records into: spans and metrics in memory,
/// metrics also in a Prometheus registry, behind the global subscriber,
/// propagator and meter provider, installed once for every test here.
struct Installed {
    spans: opentelemetry_sdk::trace::InMemorySpanExporter,
    metrics: opentelemetry_sdk::metrics::InMemoryMetricExporter,
    meter: opentelemetry_sdk::metrics::SdkMeterProvider,
    registry: tiejun_platform::metrics::Registry,
    /// Every log line, as the JSON logs of a container write them.
    logs: Arc<Mutex<Vec<u8>>>,
}

/// Appends log output to a shared buffer.
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn install() -> &'static Installed {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::{
        metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider},
        propagation::TraceContextPropagator,
        trace::{InMemorySpanExporter, SdkTracerProvider},
    };
    use tracing_subscriber::{Layer as _, layer::SubscriberExt as _};
    static INSTALLED: std::sync::OnceLock<Installed> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        let spans = InMemorySpanExporter::default();
        let tracer = SdkTracerProvider::builder().with_simple_exporter(spans.clone()).build();
        let metrics = InMemoryMetricExporter::default();
        let registry = tiejun_platform::metrics::Registry::new();
        let prometheus = tiejun_platform::metrics::prometheus_reader(&registry).expect("prometheus");
        let meter = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .with_reader(prometheus)
            .build();
        opentelemetry::global::set_meter_provider(meter.clone());
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        // The production layers: JSON logs with trace ids, and the spans.
        let json = tiejun_platform::telemetry::logs::json(move || Capture(sink.clone())).with_filter(
            tracing_subscriber::EnvFilter::new(
                "info,tiejun=debug,tiejun_platform=debug,tiejun_leads=debug,tiejun_billing=debug,\
                 tiejun_training=debug,tiejun_gateway=debug",
            ),
        );
        let subscriber = tracing_subscriber::registry()
            .with(tiejun_platform::telemetry::span_layers(tracer.tracer("test")))
            .with(json);
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this process");
        Installed {
            spans,
            metrics,
            meter,
            registry,
            logs,
        }
    })
}

/// The sum of counter `name` where attribute `key` is `value`, in what
/// `exporter` received.
fn counted(exporter: &opentelemetry_sdk::metrics::InMemoryMetricExporter, name: &str, key: &str, value: &str) -> u64 {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    let exported = exporter.get_finished_metrics().expect("metrics");
    let mut total = 0;
    for resource in &exported {
        for scope in resource.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == name) {
                if let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() {
                    total += sum
                        .data_points()
                        .filter(|p| {
                            p.attributes()
                                .any(|kv| kv.key.as_str() == key && kv.value.as_str() == value)
                        })
                        .map(|p| p.value())
                        .max()
                        .unwrap_or(0);
                }
            }
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumers_span_continues_the_producers_trace_and_deliveries_are_measured() {
    let installed = install();
    let (spans, metrics, meter) = (&installed.spans, &installed.metrics, &installed.meter);

    let suite = Connected::start(TestDatabase::sqlite()).await;
    onboarding_programme(&suite).await;
    onboarding_session(&suite).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut request = authed(registration("T0001"), &admin());
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01").parse().expect("ascii"),
    );
    RepServiceClient::new(suite.channel().await)
        .register_rep(request)
        .await
        .expect("hired through the gateway");
    applied_once(&suite, 1).await;

    let finished = spans.get_finished_spans().expect("spans");
    let in_trace: Vec<String> = finished
        .iter()
        .filter(|s| s.span_context.trace_id().to_string() == trace_id)
        .filter_map(|s| attribute(s, tiejun_platform::telemetry::COMPONENT))
        .collect();
    assert!(
        finished.iter().any(|s| s
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "rpc.method" && kv.value.as_str() == "RegisterRep")),
        "spans carry the RPC semantic-convention attributes"
    );
    let writes: Vec<String> = finished
        .iter()
        .filter(|s| s.span_context.trace_id().to_string() == trace_id && s.name.starts_with("INSERT "))
        .filter_map(|s| attribute(s, tiejun_platform::telemetry::COMPONENT))
        .collect();
    assert!(
        writes.iter().any(|c| c == "leads") && writes.iter().any(|c| c == "training"),
        "the producer's and the consumer's writes are statements of the caller's trace: {writes:?} among {:?}",
        finished
            .iter()
            .filter(|s| s.span_context.trace_id().to_string() == trace_id)
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
    );
    let mut read = authed(
        tiejun_proto::leads::v1::GetRepRequest {
            person_id: "T0001".into(),
        },
        &admin(),
    );
    let read_trace = "5cf92f3577b34da6a3ce929d0e0e4737";
    read.metadata_mut().insert(
        "traceparent",
        format!("00-{read_trace}-00f067aa0ba902b7-01").parse().expect("ascii"),
    );
    RepServiceClient::new(suite.channel().await)
        .get_rep(read)
        .await
        .expect("read through the gateway");
    let finished = spans.get_finished_spans().expect("spans");
    let reads: Vec<_> = finished
        .iter()
        .filter(|s| s.span_context.trace_id().to_string() == read_trace && s.name == "SELECT reps")
        .collect();
    assert!(
        !reads.is_empty(),
        "a read outside a transaction is a span in the caller's trace"
    );
    assert!(
        reads[0]
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "db.system" && kv.value.as_str() == "sqlite"),
        "the read names its database system: {:?}",
        reads[0].attributes
    );
    assert_eq!(reads[0].span_kind, opentelemetry::trace::SpanKind::Client);
    let text = reads[0]
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "db.query.text")
        .map(|kv| kv.value.as_str().into_owned())
        .unwrap_or_default();
    assert!(
        text.contains("$1") && !text.contains("T0001"),
        "the statement's text is parameterised: {text}"
    );
    for hop in ["gateway", "leads", "training"] {
        assert!(
            in_trace.iter().any(|s| s == hop),
            "no {hop} span in the caller's trace: {in_trace:?} among {} spans: {:?}",
            finished.len(),
            finished
                .iter()
                .map(|s| (
                    s.name.clone(),
                    s.span_context.trace_id().to_string(),
                    s.parent_span_id.to_string()
                ))
                .take(12)
                .collect::<Vec<_>>()
        );
    }

    meter.force_flush().expect("flush");
    assert!(counted(metrics, "tiejun.outbox.delivered", "consumer", "training") >= 1);
    assert!(
        counted(metrics, "tiejun.training.enrollments", "result", "ENROLLED") >= 1,
        "the learner RepHired enrolled is counted as an AutoEnroll call's would be"
    );
}

/// A session of the onboarding programme in Hangzhou, a week after the
/// suite's clock.
async fn onboarding_session(suite: &Connected) {
    use tiejun_proto::training::v1::Session;
    let starts = tiejun_tests::leads::monday_morning() + chrono::Duration::days(7);
    let session = Session {
        program_id: "employee_onboarding".into(),
        city: "Hangzhou".into(),
        venue: "HQ".into(),
        starts_at: Some(tiejun_platform::clock::to_proto(starts)),
        ends_at: Some(tiejun_platform::clock::to_proto(starts + chrono::Duration::hours(8))),
        capacity: 10,
        ..Default::default()
    };
    tiejun_tests::training::schedule(&suite.channel().await, session).await;
}

async fn get_metrics(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: tiejun\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_is_measured_by_code_and_served_as_prometheus_text() {
    use tiejun_proto::leads::v1::GetRepRequest;
    let installed = install();
    let suite = Connected::start(TestDatabase::sqlite()).await;
    let mut reps = RepServiceClient::new(suite.channel().await);
    reps.register_rep(authed(registration("M0001"), &admin()))
        .await
        .expect("registered");
    let missing = reps
        .get_rep(authed(
            GetRepRequest {
                person_id: "M9999".into(),
            },
            &admin(),
        ))
        .await
        .expect_err("no such rep");
    assert_eq!(missing.code(), tonic::Code::NotFound);

    let billing = tiejun_tests::billing::BillingCalls(suite.channel().await);
    billing.catalog(&[("trustpass", 2_980)]).await;
    let member = billing.member(1).await;
    let check = tiejun_proto::billing::v1::CheckEntitlementRequest {
        account_id: member,
        feature_key: "supplier_listing".into(),
    };
    let free =
        tiejun_proto::billing::v1::entitlement_service_client::EntitlementServiceClient::new(suite.channel().await)
            .check_entitlement(authed(check, &admin()))
            .await
            .expect("checked")
            .into_inner();
    assert!(free.allowed);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(tiejun_platform::metrics::serve(
        listener,
        installed.registry.clone(),
        stop.clone(),
    ));
    let text = get_metrics(addr).await;
    let line = |method: &str, code: &str| {
        text.lines().any(|l| {
            l.starts_with("rpc_server_duration_milliseconds_count{")
                && l.contains(&format!("rpc_method=\"{method}\""))
                && l.contains(&format!("rpc_grpc_status_code=\"{code}\""))
                && l.contains("rpc_system=\"grpc\"")
        })
    };
    assert!(line("RegisterRep", "0"), "no RegisterRep OK count in:\n{text}");
    assert!(line("GetRep", "5"), "no GetRep NOT_FOUND count in:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("tiejun_billing_entitlement_checks_total{") && l.contains("allowed=\"true\"")),
        "no domain counter of entitlement checks in:\n{text}"
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_trace_id_and_never_a_whole_phone_or_email() {
    use tiejun_proto::{
        billing::v1::{RegisterMemberRequest, account_service_client::AccountServiceClient},
        leads::v1::{CreateLeadRequest, LeadInput, RunDistributionRequest, lead_service_client::LeadServiceClient},
    };
    let installed = install();
    let suite = Connected::start(TestDatabase::sqlite()).await;
    let (phone, email) = ("13912345678", "buyer.pii@example.com");
    let member = RegisterMemberRequest {
        company_name: "隐私测试有限公司".into(),
        contact_name: "张三".into(),
        phone: phone.into(),
        email: email.into(),
        city: "杭州".into(),
        ..Default::default()
    };
    AccountServiceClient::new(suite.channel().await)
        .register_member(authed(member, &admin()))
        .await
        .expect("member");
    let lead = LeadInput {
        company_name: "隐私线索贸易".into(),
        contact_name: "李四".into(),
        phone: "+86 138 8765 4321".into(),
        email: "lead.pii@example.com".into(),
        city: "Hangzhou".into(),
        ..Default::default()
    };
    let mut leads = LeadServiceClient::new(suite.channel().await);
    leads
        .create_lead(authed(
            CreateLeadRequest {
                lead: Some(lead),
                idempotency_key: String::new(),
            },
            &admin(),
        ))
        .await
        .expect("lead");
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let mut run = authed(RunDistributionRequest::default(), &admin());
    run.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-b7ad6b7169203331-01").parse().expect("ascii"),
    );
    leads.run_distribution(run).await.expect("distribution");

    let logs = String::from_utf8_lossy(&installed.logs.lock().expect("lock")).into_owned();
    assert!(
        logs.lines()
            .any(|l| l.contains("distribution ran") && l.contains(trace_id)),
        "the distribution's log line lacks the caller's trace id:\n{logs}"
    );
    for secret in [phone, email, "13887654321", "lead.pii@example.com"] {
        assert!(!logs.contains(secret), "{secret} was logged whole");
    }
}

/// The trace and span a span context names (a link's is remote).
fn ids(sc: &opentelemetry::trace::SpanContext) -> (opentelemetry::trace::TraceId, opentelemetry::trace::SpanId) {
    (sc.trace_id(), sc.span_id())
}

/// `message` as an admin's call in the caller's trace `trace`.
fn traced<T>(message: T, trace: &str) -> tonic::Request<T> {
    let mut request = authed(message, &admin());
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace}-00f067aa0ba902b7-01").parse().expect("ascii"),
    );
    request
}

/// The value of attribute `key` of `span`.
fn attribute(span: &opentelemetry_sdk::trace::SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

/// The `process` spans of event `event_id`'s deliveries, with the attempt
/// each records (the other tests of this binary deliver events too).
fn deliveries(
    spans: &[opentelemetry_sdk::trace::SpanData],
    event_id: &str,
) -> Vec<(i64, opentelemetry_sdk::trace::SpanData)> {
    spans
        .iter()
        .filter(|s| s.name.starts_with("process ") && attribute(s, "messaging.message.id").as_deref() == Some(event_id))
        .map(|s| {
            let attempt = s
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == "tiejun.delivery.attempt")
                .and_then(|kv| kv.value.as_str().parse().ok())
                .unwrap_or(0);
            (attempt, s.clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_and_replays_are_traces_of_their_own_linked_to_the_producer() {
    use tiejun_proto::leads::v1::{
        GetOutboxStatusRequest, ReplayParkedEventsRequest, outbox_service_client::OutboxServiceClient,
    };
    let installed = install();
    let suite = Connected::start(TestDatabase::sqlite()).await;
    // No onboarding programme yet: every delivery fails until it parks.
    let hired = "6c0a3f2a9b1e4d5c8f7e6d5c4b3a2910";
    RepServiceClient::new(suite.channel().await)
        .register_rep(traced(registration("R0001"), hired))
        .await
        .expect("hired");
    let mut outbox = OutboxServiceClient::new(suite.channel().await);
    let parked = tiejun_tests::connected::eventually(std::time::Duration::from_secs(20), || {
        let mut outbox = outbox.clone();
        async move {
            let status = outbox
                .get_outbox_status(authed(GetOutboxStatusRequest {}, &admin()))
                .await
                .expect("status")
                .into_inner()
                .status
                .expect("status");
            (status.parked == 1).then_some(())
        }
    })
    .await;
    assert!(parked.is_some(), "the event parked");

    let finished = installed.spans.get_finished_spans().expect("spans");
    let published = finished
        .iter()
        .find(|s| s.name == "publish RepHired" && s.span_context.trace_id().to_string() == hired)
        .expect("the PRODUCER span is in the hiring call's trace");
    let publish = published.span_context.clone();
    let event_id = attribute(published, "messaging.message.id").expect("the event's id");
    let attempts = deliveries(&finished, &event_id);
    assert_eq!(
        attempts.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        vec![1, 2, 3, 4],
        "one CONSUMER span per attempt"
    );
    for (attempt, span) in &attempts {
        let links: Vec<_> = span.links.iter().map(|l| ids(&l.span_context)).collect();
        if *attempt == 1 {
            assert_eq!(
                span.parent_span_id,
                publish.span_id(),
                "the first attempt continues the producer"
            );
            assert_eq!(span.span_context.trace_id(), publish.trace_id());
        } else {
            assert_ne!(
                span.span_context.trace_id(),
                publish.trace_id(),
                "retry {attempt} is its own trace"
            );
            assert_eq!(links, vec![ids(&publish)], "retry {attempt} links to the producer");
        }
        assert_eq!(
            span.status,
            opentelemetry::trace::Status::error(
                "FailedPrecondition NO_ONBOARDING_PROGRAM: no employee onboarding programme exists yet; replay \
                 this event once it does"
            ),
            "attempt {attempt} failed, and says why"
        );
    }

    onboarding_programme(&suite).await;
    let replay = "7d1b4e3bac2f5e6d9a8f7e6d5c4b3a21";
    outbox
        .replay_parked_events(traced(
            ReplayParkedEventsRequest {
                event_id: String::new(),
                all: true,
            },
            replay,
        ))
        .await
        .expect("replayed");
    applied_once(&suite, 1).await;
    let finished = installed.spans.get_finished_spans().expect("spans");
    let replay_span = finished
        .iter()
        .find(|s| {
            s.span_context.trace_id().to_string() == replay
                && s.name == "tiejun.leads.v1.OutboxService/ReplayParkedEvents"
                && s.span_kind == opentelemetry::trace::SpanKind::Server
                && s.attributes
                    .iter()
                    .any(|kv| kv.key.as_str() == tiejun_platform::telemetry::COMPONENT && kv.value.as_str() == "leads")
        })
        .expect("the replay's span in lead-distribution");
    let after: Vec<_> = deliveries(&finished, &event_id)
        .into_iter()
        .filter(|(_, s)| s.status == opentelemetry::trace::Status::Unset)
        .collect();
    assert_eq!(after.len(), 1, "one delivery after the replay, and it succeeded");
    let (_, delivered) = &after[0];
    let links: Vec<_> = delivered.links.iter().map(|l| ids(&l.span_context)).collect();
    assert!(
        links.contains(&ids(&publish)) && links.contains(&ids(&replay_span.span_context)),
        "the replayed delivery links to the producer and to the replay: {links:?}"
    );
    assert_ne!(delivered.span_context.trace_id(), publish.trace_id());
}
